"""SAM 2 tracker (optional extra `sam2`): the package's own `SAM2VideoPredictor` tracking every
actor of a video through memory, prompted with the actor's boxes.

One inference state per video; every actor is one SAM 2 object id. Prompts follow the shared plan
(`tubes.plan_video`): with `tracking.sam2.prompt: every_box` (the default, as the sam tracker)
every annotated box is a prompt, with `first` only each tube's first box is, and SAM 2 propagates
from it; reviewer points and redrawn boxes are prompts in both modes (box first, then points, the
way SAM 2 was trained). One forward pass from the earliest prompt to the last tube frame yields
every actor's masks; the memory of a frame attends to all of the actor's prompted frames, before
and after it. Every tube begins at a prompt (its first box, or a reviewer prompt), so no frame of a
tube lies before its first prompt and no backward pass is needed. An actor's outputs on frames
outside its tube are dropped from the state as soon as they are made, so its memory holds only its
own tube, exactly as if it were tracked alone. Masks are then clipped, cleaned and stored like every
tracker's (`tubes.run_plan`).

Frames reach the predictor one at a time: the state's `images` is a view that resizes and
normalises a frame when the predictor asks for it, instead of `init_state`'s tensor of every frame
at 1024² (≈12.6 MB a frame; a 900-frame UCF101 video would take 11 GB). On CPU the predictor runs in
float32 (its stored memories are bf16, which is cast back before memory attention); on CUDA under
bf16 autocast (`tracking.sam2.bf16`), optionally compiled (`vos_optimized`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmark.masks import ActorMasks
from benchmark.tracking import TrackerSetupError, to_actor_masks
from benchmark.tracking.sam2_models import load_predictor, model_spec, require_package
from benchmark.tracking.tubes import ActorPrompt, VideoPlan, run_plan

PROMPT_MODES = ("every_box", "first")
# Normalisation of the predictor's own frame loader (sam2.utils.misc.load_video_frames).
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


class ModelFrames:
    """A video's (T, H, W, 3) uint8 RGB frames as the predictor's input, made on request: item t is
    (3, S, S) float32, resized with PIL's default filter and normalised as the package's loader
    does. Nothing is kept, so memory stays the uint8 video plus one model-sized frame."""

    def __init__(self, frames: np.ndarray, image_size: int, device: torch.device) -> None:
        self.frames = frames
        self.image_size = image_size
        self.device = device
        self.mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(IMAGE_STD, dtype=torch.float32)[:, None, None]
        self.seconds = 0.0  # time spent preparing frames (counted outside the model)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, t: int) -> torch.Tensor:
        started = time.perf_counter()
        size = (self.image_size, self.image_size)
        pixels = np.asarray(Image.fromarray(self.frames[t]).resize(size), dtype=np.float32)
        image = torch.from_numpy(pixels / 255.0).permute(2, 0, 1)  # (3, S, S)
        image = ((image - self.mean) / self.std).to(self.device)
        self.seconds += time.perf_counter() - started
        return image


def new_inference_state(predictor, frames: ModelFrames, height: int, width: int) -> dict:
    """The state `predictor.init_state` builds, with `frames` as its images (no frame is read or
    encoded here). tests/test_tracking_sam2.py checks the keys against the package's init_state."""
    device = predictor.device
    return {
        "images": frames,
        "num_frames": len(frames),
        "offload_video_to_cpu": False,
        "offload_state_to_cpu": False,
        "video_height": height,
        "video_width": width,
        "device": device,
        "storage_device": device,
        "point_inputs_per_obj": {},
        "mask_inputs_per_obj": {},
        "cached_features": {},
        "constants": {},
        "obj_id_to_idx": OrderedDict(),
        "obj_idx_to_id": OrderedDict(),
        "obj_ids": [],
        "output_dict_per_obj": {},
        "temp_output_dict_per_obj": {},
        "frames_tracked_per_obj": {},
    }


def _memory_in_query_dtype(module, args, kwargs):
    """SAM 2 stores memories as bf16 and relies on CUDA autocast to mix them with float32 queries;
    without autocast (CPU) memory attention fails (facebookresearch/sam2 issues 308, 577)."""
    curr = kwargs.get("curr", args[0] if args else None)
    query = curr[0] if isinstance(curr, list | tuple) else curr
    if "memory" in kwargs and query is not None:
        kwargs["memory"] = kwargs["memory"].to(query.dtype)
        kwargs["memory_pos"] = kwargs["memory_pos"].to(query.dtype)
    return args, kwargs


def conditioning_prompts(plan: VideoPlan, mode: str) -> dict[int, dict[int, ActorPrompt]]:
    """frame -> actor -> the prompts given to SAM 2: boxes per `mode`, and every prompt that
    carries reviewer input (points, or a reviewer frame with a box)."""
    if mode not in PROMPT_MODES:
        raise TrackerSetupError(
            f"tracking.sam2.prompt {mode!r} unknown; choose from {PROMPT_MODES}"
        )
    chosen: dict[int, dict[int, ActorPrompt]] = {}
    seen: set[int] = set()
    for t, prompts in enumerate(plan.frames):
        for actor, prompt in sorted(prompts.items()):
            has_points = len(prompt.points) > 0
            if prompt.box is None and not has_points:
                continue  # propagate: SAM 2's memory does this
            first_box = prompt.box is not None and actor not in seen
            if mode == "every_box" or first_box or has_points or prompt.kind == "reviewer":
                chosen.setdefault(t, {})[actor] = prompt
                seen.add(actor)
    return chosen


class Sam2Tracker:
    name = "sam2"

    def __init__(self, settings: dict, *, seed: int, predictor=None) -> None:
        """Load `tracking.sam2.checkpoint` into `tracking.sam2.model`; `predictor` (already built,
        e.g. random weights for a speed measurement) skips loading and is recorded as unsaved."""
        require_package()
        from benchmark.tracking.sam import file_sha256, resolve_device

        self.settings = settings
        self.seed = seed
        self.spec = model_spec(settings["model"])
        if settings["prompt"] not in PROMPT_MODES:
            raise TrackerSetupError(
                f"tracking.sam2.prompt {settings['prompt']!r} unknown; choose from {PROMPT_MODES}"
            )
        self.device = resolve_device(settings["device"], "tracking.sam2.device")
        cuda = self.device.type == "cuda"
        self.bf16 = bool(settings["bf16"]) and cuda
        self.vos_optimized = bool(settings["vos_optimized"]) and cuda
        if predictor is None:
            predictor = load_predictor(
                settings["model"],
                settings["checkpoint"],
                self.device,
                vos_optimized=self.vos_optimized,
            )
            self.checkpoint_sha256 = file_sha256(settings["checkpoint"])
        else:
            predictor = predictor.to(self.device).eval()
            self.checkpoint_sha256 = None
        self.predictor = predictor
        self.predictor.memory_attention.register_forward_pre_hook(
            _memory_in_query_dtype, with_kwargs=True
        )
        # Seconds inside the predictor vs. everything else, for perf/sam2_speed.py.
        self.model_seconds = 0.0

    def provenance(self) -> dict:
        return {
            "tracker": self.name,
            "model": self.spec.name,
            "config": self.spec.config,
            "config_overrides": list(self.spec.overrides),
            "checkpoint": Path(self.settings["checkpoint"]).name
            if self.checkpoint_sha256
            else None,
            "checkpoint_sha256": self.checkpoint_sha256,
            "sam2": importlib.metadata.version("sam2"),
            "torch": torch.__version__,
            "device": self.device.type,
            "dtype": "bfloat16" if self.bf16 else "float32",
            "vos_optimized": self.vos_optimized,
            "prompt": self.settings["prompt"],
            "cleanup": self.settings["cleanup"],
        }

    def _autocast(self):
        if self.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def _timed(self):
        started = time.perf_counter()
        try:
            yield
        finally:
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            self.model_seconds += time.perf_counter() - started

    def propagate(
        self, plan: VideoPlan, frames: np.ndarray
    ) -> tuple[dict[int, dict[int, np.ndarray]], list[list[int]]]:
        """(frame -> actor -> (H, W) bool mask on the actor's tube frames, the [frame, actor,
        points] SAM 2 was prompted with) for one video."""
        predictor = self.predictor
        tube = {
            actor: {t for t, prompts in enumerate(plan.frames) if actor in prompts}
            for actor in plan.actors
        }
        chosen = conditioning_prompts(plan, self.settings["prompt"])
        prompted = [[t, a, int(len(p.points))] for t, ps in chosen.items() for a, p in ps.items()]
        if not chosen:
            return {}, prompted
        model_frames = ModelFrames(frames, predictor.image_size, self.device)
        state = new_inference_state(predictor, model_frames, plan.height, plan.width)
        masks: dict[int, dict[int, np.ndarray]] = {}
        with torch.inference_mode(), self._autocast():
            for t in sorted(chosen):
                with self._timed():
                    for actor, prompt in chosen[t].items():
                        predictor.add_new_points_or_box(
                            state,
                            frame_idx=t,
                            obj_id=actor,
                            box=None if prompt.box is None else prompt.box.astype(np.float32),
                            points=prompt.points.astype(np.float32) if len(prompt.points) else None,
                            labels=prompt.labels.astype(np.int32) if len(prompt.points) else None,
                        )
                    # Encode this frame's memories now, while its image features are the cached
                    # ones; propagate_in_video would otherwise encode every prompted frame again.
                    predictor.propagate_in_video_preflight(state)
            start = min(chosen)
            end = max(max(frames_of) for frames_of in tube.values())
            first = {
                a: min((t for t in chosen if a in chosen[t]), default=end + 1) for a in plan.actors
            }
            steps = predictor.propagate_in_video(
                state, start_frame_idx=start, max_frame_num_to_track=end - start
            )
            while True:
                with self._timed():
                    step = next(steps, None)
                    if step is None:
                        break
                    t, obj_ids, logits = step
                    keep = (logits[:, 0] > 0).cpu().numpy()  # (A, H, W)
                for index, actor in enumerate(obj_ids):
                    if t in tube[actor] and t >= first[actor]:
                        masks.setdefault(t, {})[actor] = keep[index]
                    else:
                        self._forget(state, actor, t)
        self.model_seconds -= model_frames.seconds  # frame preparation ran inside the timed calls
        return masks, prompted

    @staticmethod
    def _forget(state: dict, actor: int, t: int) -> None:
        """Drop an actor's output on a frame outside its tube: later frames must not remember it."""
        index = state["obj_id_to_idx"][actor]
        state["output_dict_per_obj"][index]["non_cond_frame_outputs"].pop(t, None)
        state["frames_tracked_per_obj"][index].pop(t, None)

    def track(self, plan: VideoPlan, frames: np.ndarray) -> ActorMasks:
        if not isinstance(frames, np.ndarray):
            # SAM 2's memory bank visits a video out of order: it takes the whole video at once.
            frames = frames[range(plan.num_frames)]
        propagated, prompted = self.propagate(plan, frames)
        empty = np.zeros((plan.height, plan.width), dtype=bool)

        def segment(t: int, prompts: dict) -> dict:
            # run_plan clips each mask to its prompt box; a frame SAM 2 gave nothing stays empty.
            return {actor: (propagated.get(t, {}).get(actor, empty), None) for actor in prompts}

        tracked = run_plan(plan, segment, self.settings["cleanup"])
        provenance = {**self.provenance(), "sam2_prompts": sorted(prompted)}
        return to_actor_masks(plan, tracked, self.name, provenance)


def build(settings: dict, *, seed: int) -> Sam2Tracker:
    return Sam2Tracker(settings, seed=seed)
