"""The prompt plan shared by every tracker: which actor is prompted how on which frame, and clean-up.

An actor's *tube* spans its first to its last annotated frame. Inside the tube a frame with a box is
prompted with that box (`box`); a frame without one is prompted with the bounding box of the
actor's mask on the previous frame (`propagate`, resolved while tracking); outside the tube the actor
has no mask. A reviewer's extra prompts (`benchmark.tracking.prompts`) name a frame, not an actor,
so each is attached to one tube:

- a redrawn box goes to the actor whose reference box on that frame overlaps it most (IoU);
- foreground points without a box go to the actor whose reference box holds most of them;
- ties go to the lowest actor id; a frame where no tube is open goes to the tube nearest in time,
  which is then prompted there too (`reviewer`, so a reviewer can extend a tube);
- background points are given to every actor prompted on the frame.
The reference box of an actor on a frame is its annotated box there, else its nearest annotated box
in time. The plan, with every resolved prompt box, is recorded in each mask file's provenance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import ndimage

from benchmark.masks import encode_mask
from benchmark.tracking.prompts import ReviewerPrompt

PROMPT_KINDS = ("box", "propagate", "reviewer")


class BadInputError(ValueError):
    """The video's input (boxes, frames) cannot be tracked; the message names the video."""


@dataclass
class ActorPrompt:
    """How one actor is prompted on one frame. `box` (4,) x1, y1, x2, y2 in pixels (x2/y2
    exclusive) or None (`propagate`: taken from the previous mask while tracking); `points` (N, 2)
    x, y and `labels` (N,) 1 = foreground, 0 = background."""

    actor: int
    kind: str
    box: np.ndarray | None
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0,), dtype=np.int64))


@dataclass
class VideoPlan:
    video_id: str
    num_frames: int
    height: int
    width: int
    frames: list[dict[int, ActorPrompt]]  # per frame: actor -> prompt

    @property
    def actors(self) -> list[int]:
        return sorted({actor for prompts in self.frames for actor in prompts})


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _reference_box(actor_boxes: dict[int, np.ndarray], frame: int) -> np.ndarray:
    """The actor's box on `frame`, else its annotated box nearest in time (earlier wins a tie)."""
    if frame in actor_boxes:
        return actor_boxes[frame]
    nearest = min(actor_boxes, key=lambda f: (abs(f - frame), f))
    return actor_boxes[nearest]


def _target_actor(
    prompt: ReviewerPrompt, open_actors: list[int], boxes: dict[int, dict[int, np.ndarray]]
) -> int:
    """The tube a reviewer prompt belongs to (rules in the module docstring)."""
    candidates = open_actors
    if not candidates:
        spans = {a: (min(b), max(b)) for a, b in boxes.items()}
        distance = {
            a: max(lo - prompt.frame, prompt.frame - hi, 0) for a, (lo, hi) in spans.items()
        }
        return min(distance, key=lambda a: (distance[a], a))
    references = {a: _reference_box(boxes[a], prompt.frame) for a in candidates}
    if prompt.box is not None:
        box = np.asarray(prompt.box)
        return max(candidates, key=lambda a: (_iou(box, references[a]), -a))
    fg = prompt.foreground

    def inside(actor: int) -> int:
        x1, y1, x2, y2 = references[actor]
        return int(((fg[:, 0] >= x1) & (fg[:, 0] < x2) & (fg[:, 1] >= y1) & (fg[:, 1] < y2)).sum())

    return max(candidates, key=lambda a: (inside(a), -a))


def plan_video(
    video_id: str,
    video_boxes: pd.DataFrame,
    num_frames: int,
    height: int,
    width: int,
    reviewer_prompts: list[ReviewerPrompt] | None = None,
) -> VideoPlan:
    """The per-frame prompts of one video from its (clipped) boxes and optional reviewer prompts.

    Raises `BadInputError` when the video has no box at all (nothing to ground a tracker on) or a
    prompt names a frame past the video's end.
    """
    if video_boxes.empty:
        raise BadInputError(
            f"{video_id}: no boxes in boxes.parquet (none annotated, or all outside the frame); "
            "a tracker needs at least one box to ground the actor"
        )
    boxes: dict[int, dict[int, np.ndarray]] = {}
    for row in video_boxes.sort_values(["actor", "frame"], kind="stable").itertuples(index=False):
        if int(row.frame) >= num_frames:
            raise BadInputError(
                f"{video_id}: box on frame {row.frame} past its {num_frames} frames"
            )
        box = np.array([row.x1, row.y1, row.x2, row.y2], dtype=np.float64)
        boxes.setdefault(int(row.actor), {})[int(row.frame)] = box
    frames: list[dict[int, ActorPrompt]] = [{} for _ in range(num_frames)]
    for actor, actor_boxes in boxes.items():
        first, last = min(actor_boxes), max(actor_boxes)
        for t in range(first, last + 1):
            box = actor_boxes.get(t)
            frames[t][actor] = ActorPrompt(actor, "box" if box is not None else "propagate", box)
    for prompt in reviewer_prompts or []:
        if prompt.frame >= num_frames:
            raise BadInputError(
                f"{video_id}: reviewer prompt on frame {prompt.frame}, video has {num_frames} frames"
            )
        t = prompt.frame
        actor = _target_actor(prompt, sorted(frames[t]), boxes)
        current = frames[t].get(actor) or ActorPrompt(actor, "reviewer", None)
        box = np.asarray(prompt.box, dtype=np.float64) if prompt.box is not None else current.box
        fg = prompt.foreground
        frames[t][actor] = ActorPrompt(
            actor,
            "reviewer",
            box,
            np.concatenate([current.points, fg]),
            np.concatenate([current.labels, np.ones(len(fg), dtype=np.int64)]),
        )
        bg = prompt.background
        if len(bg):
            for other, entry in frames[t].items():
                frames[t][other] = ActorPrompt(
                    other,
                    entry.kind,
                    entry.box,
                    np.concatenate([entry.points, bg]),
                    np.concatenate([entry.labels, np.zeros(len(bg), dtype=np.int64)]),
                )
    return VideoPlan(video_id, num_frames, height, width, frames)


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """Tight (4,) x1, y1, x2, y2 box (x2/y2 exclusive) of a (H, W) mask, None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)


def grown_box(box: np.ndarray, margin: float, height: int, width: int) -> np.ndarray:
    """Box grown by `margin` of its size per side, clipped to the frame (float pixels)."""
    x1, y1, x2, y2 = box
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    return np.array(
        [
            max(0.0, x1 - dx),
            max(0.0, y1 - dy),
            min(float(width), x2 + dx),
            min(float(height), y2 + dy),
        ]
    )


def box_region(box: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool of the pixels a box covers: rows int(y1)..ceil(y2)-1, cols int(x1)..ceil(x2)-1."""
    region = np.zeros((height, width), dtype=bool)
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    region[y1:y2, x1:x2] = True
    return region


# A tracker's per-frame step: (frame index, resolved prompts) -> actor -> (mask (H, W) bool, score).
SegmentFrame = Callable[[int, dict[int, ActorPrompt]], dict[int, tuple[np.ndarray, float | None]]]


@dataclass
class TrackedVideo:
    frames: list[dict[int, tuple[dict, float | None]]]  # per frame: actor -> (RLE, score or None)
    prompt_log: list[list]  # [frame, actor, kind, x1, y1, x2, y2, points]


def _clean_frame(mask: np.ndarray, settings: dict) -> np.ndarray:
    """The per-frame clean-up: largest component, hole filling."""
    if settings["largest_component"] and mask.any():
        labels, count = ndimage.label(mask)
        if count > 1:
            sizes = np.bincount(labels.ravel())[1:]
            mask = labels == (int(np.argmax(sizes)) + 1)
    if settings["fill_holes"]:
        mask = ndimage.binary_fill_holes(mask)
    return mask


class _TubeWindow:
    """One actor's cleaned masks of the last frames, enough for the temporal majority vote: a frame
    is voted (and encoded) once every frame within `half` after it has been tracked, so memory holds
    `2 * half + 1` masks per actor however long the video is."""

    def __init__(self, half: int) -> None:
        self.half = half
        self.masks: dict[int, np.ndarray] = {}  # frame -> cleaned mask, present frames only
        self.scores: dict[int, float] = {}

    def add(self, t: int, mask: np.ndarray, score: float) -> None:
        self.masks[t] = mask
        self.scores[t] = score

    def finish(self, t: int) -> tuple[dict, float | None] | None:
        """The RLE and score of frame t (None where the actor has no entry), then forget what no
        later frame's vote needs."""
        entry = None
        if t in self.masks:
            mask = self.masks[t]
            if self.half:
                neighbours = [s for s in range(t - self.half, t + self.half + 1) if s in self.masks]
                votes = np.stack([self.masks[s] for s in neighbours]).sum(axis=0)
                mask = votes * 2 > len(neighbours)
            score = self.scores[t]
            entry = (encode_mask(mask), float(score) if np.isfinite(score) else None)
        self.masks.pop(t - self.half, None)
        self.scores.pop(t - self.half, None)
        return entry


def run_plan(plan: VideoPlan, segment_frame: SegmentFrame, cleanup: dict) -> TrackedVideo:
    """Walk the frames in order, resolve `propagate` prompts from the previous frame's mask, call the
    tracker's step, clip each mask to its prompt box grown by `cleanup.clip_margin` and clean it up:
    largest component, hole filling, and a temporal majority vote over the frames where the actor is
    present within `cleanup.temporal_window` (odd; 1 = off). Frames are encoded as soon as their vote
    is known, so a video of any length holds a window of masks per actor, never (T, H, W) arrays.
    A step that gives no score stores null."""
    window = int(cleanup["temporal_window"])
    if window % 2 == 0:
        raise ValueError(f"cleanup.temporal_window must be odd, got {window}")
    half = window // 2
    actors = plan.actors
    tubes = {a: _TubeWindow(half) for a in actors}
    previous: dict[
        int, tuple[int, np.ndarray]
    ] = {}  # actor -> (frame, clipped mask before clean-up)
    last_box: dict[int, np.ndarray] = {}
    prompt_log: list[list] = []
    frames: list[dict[int, tuple[dict, float | None]]] = [{} for _ in range(plan.num_frames)]

    def finish(t: int) -> None:
        for actor in actors:
            entry = tubes[actor].finish(t)
            if entry is not None:
                frames[t][int(actor)] = entry

    for t, prompts in enumerate(plan.frames):
        resolved: dict[int, ActorPrompt] = {}
        for actor, prompt in sorted(prompts.items()):
            box = prompt.box
            if box is None:
                seen = previous.get(actor)
                before = mask_box(seen[1]) if seen is not None and seen[0] == t - 1 else None
                box = before if before is not None else last_box.get(actor)
            if box is None and len(prompt.points):
                # A reviewer's points on a frame before any box: their bounding box, grown.
                fg = (
                    prompt.points[prompt.labels == 1]
                    if (prompt.labels == 1).any()
                    else prompt.points
                )
                box = grown_box(
                    np.array(
                        [fg[:, 0].min(), fg[:, 1].min(), fg[:, 0].max() + 1, fg[:, 1].max() + 1]
                    ),
                    0.5,
                    plan.height,
                    plan.width,
                )
            if box is None:
                continue  # a propagate step with nothing to propagate from: the actor stays empty
            resolved[actor] = ActorPrompt(actor, prompt.kind, box, prompt.points, prompt.labels)
            last_box[actor] = box
            prompt_log.append(
                [t, actor, prompt.kind, *(round(float(c), 2) for c in box), int(len(prompt.points))]
            )
        if resolved:
            for actor, (mask, score) in segment_frame(t, resolved).items():
                limit = box_region(
                    grown_box(resolved[actor].box, cleanup["clip_margin"], plan.height, plan.width),
                    plan.height,
                    plan.width,
                )
                clipped = mask & limit
                previous[actor] = (t, clipped)
                tubes[actor].add(
                    t, _clean_frame(clipped, cleanup), np.nan if score is None else float(score)
                )
        if t >= half:
            finish(t - half)
    for t in range(max(0, plan.num_frames - half), plan.num_frames):
        finish(t)
    return TrackedVideo(frames, prompt_log)
