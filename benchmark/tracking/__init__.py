"""Box-grounded actor trackers: turn a video's annotation boxes into per-actor masks.

A registry maps each tracker name (config `tracking.trackers`) to a builder taking that tracker's
settings (`tracking.<name>`) and the config seed; the builder checks everything a tracker needs —
weights, packages, devices — and fails before any video is touched. Every tracker follows the same
prompt plan (`tubes.plan_video`: boxes, propagation through gaps, reviewer prompts), returns an
`ActorMasks` (every frame listed, empty outside the tubes) and records its provenance.

    tracker = build_tracker("grabcut", config["tracking"]["grabcut"], seed=config["seed"])
    masks = tracker.track(plan, frames)        # frames[t] -> (H, W, 3) uint8 RGB, t ascending

Shard runners (`benchmark.tracking.run`) and the CLI (`python -m benchmark.tracking`) sit on top.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from benchmark.masks import ActorMasks
from benchmark.tracking.tubes import TrackedVideo, VideoPlan


@dataclass(frozen=True)
class TrackerEntry:
    """One tracker of the registry: its module and what a job running it needs."""

    # exposes `build(settings, *, seed) -> Tracker`; imported lazily so that the weight-free
    # default (and the Snakefile's parse) never imports torch
    module: str
    uses_gpu: bool = False  # runs on a GPU when its `device` asks for one (a GPU job resource)


TRACKERS: dict[str, TrackerEntry] = {
    "grabcut": TrackerEntry("benchmark.tracking.grabcut"),
    "sam": TrackerEntry("benchmark.tracking.sam", uses_gpu=True),
    "sam2": TrackerEntry("benchmark.tracking.sam2", uses_gpu=True),
}


class TrackerSetupError(RuntimeError):
    """A tracker cannot start (missing checkpoint, package or device); the message says what to do."""


class Tracker(Protocol):
    name: str

    def track(self, plan: VideoPlan, frames: np.ndarray) -> ActorMasks:
        """Masks of every actor of one video. `frames` is a (T, H, W, 3) uint8 RGB array or a
        `run.ForwardFrames` decoding as it is read: `frames[t]` and `frames[[t, ...]]` with t
        never going back, so a tracker holds a frame (or a batch), not the video."""
        ...

    def provenance(self) -> dict:
        """What made the masks (model, checkpoint hash, settings), stored in every mask file."""
        ...


def build_tracker(name: str, settings: dict, *, seed: int) -> Tracker:
    """The tracker `name` configured by `settings` (its `tracking.<name>` section)."""
    if name not in TRACKERS:
        raise TrackerSetupError(f"unknown tracker {name!r}; choose from {sorted(TRACKERS)}")
    module = importlib.import_module(TRACKERS[name].module)
    return module.build(settings, seed=seed)


def to_actor_masks(
    plan: VideoPlan, tracked: TrackedVideo, tracker: str, provenance: dict
) -> ActorMasks:
    """Package a tracked video as `ActorMasks`; the prompt log joins the provenance."""
    if not plan.actors:
        raise ValueError(f"{plan.video_id}: no actor masks given")
    return ActorMasks(
        plan.video_id,
        tracker,
        plan.height,
        plan.width,
        tracked.frames,
        {**provenance, "prompts": tracked.prompt_log},
    )
