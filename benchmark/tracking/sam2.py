"""SAM 2 tracker (optional extra): the SAM 2 video predictor propagating each actor from its boxes.

Needs the `sam2` package (`pip install sam2`, not a dependency of this project) and a SAM 2
checkpoint named by `tracking.sam2.checkpoint` with its model config `tracking.sam2.model_cfg`;
without them `build` fails before any video is read, saying what to install and which key to set.
Each actor is one SAM 2 object: every annotated box (or only each tube's first,
`prompt_every_box: false`) and the reviewer's points are added as prompts, then the predictor
propagates forward from the earliest prompt. Masks are kept only inside each actor's tube and clipped
to its box as for the other trackers. SAM 2 holds every frame at 1024² in memory (~2.2 GB for 175
frames) and its `init_state` assumes CUDA in places, so CPU use is best effort.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tempfile
from pathlib import Path

import numpy as np

from benchmark.masks import ActorMasks
from benchmark.safe_torch import load_torch_file
from benchmark.tracking import TrackerSetupError, to_actor_masks
from benchmark.tracking.tubes import VideoPlan, clean_up, run_plan

INSTALL_HINT = (
    "install the optional SAM 2 package (`pip install sam2`), download a SAM 2 checkpoint "
    "(e.g. sam2.1_hiera_tiny.pt from the SAM 2 release) and set tracking.sam2.checkpoint to its "
    "path and tracking.sam2.model_cfg to its config (e.g. configs/sam2.1/sam2.1_hiera_t.yaml); "
    "or track with `sam` or `grabcut`"
)


def check_available(settings: dict) -> None:
    """Raise `TrackerSetupError` unless the sam2 package and the checkpoint are present."""
    if importlib.util.find_spec("sam2") is None:
        raise TrackerSetupError(
            f"the sam2 tracker needs the `sam2` package, which is not installed: {INSTALL_HINT}"
        )
    checkpoint = settings["checkpoint"]
    if checkpoint is None:
        raise TrackerSetupError(f"tracking.sam2.checkpoint is not set: {INSTALL_HINT}")
    if not Path(checkpoint).is_file():
        raise TrackerSetupError(
            f"tracking.sam2.checkpoint {checkpoint!r} not found: {INSTALL_HINT}"
        )


class Sam2Tracker:
    name = "sam2"

    def __init__(self, settings: dict, *, seed: int) -> None:
        check_available(settings)
        import torch
        from sam2.build_sam import build_sam2_video_predictor

        from benchmark.tracking.sam import file_sha256, resolve_device

        self.settings = settings
        self.seed = seed
        self.device = resolve_device(settings["device"], "tracking.sam2.device")
        self.torch = torch
        # sam2 loads the file itself; reading it once with weights_only=True first means a crafted
        # checkpoint is refused here, whatever that sam2 version's own torch.load does.
        load_torch_file(
            settings["checkpoint"],
            what="SAM 2 checkpoint",
            fix=INSTALL_HINT,
            error=TrackerSetupError,
        )
        try:
            self.predictor = build_sam2_video_predictor(
                settings["model_cfg"], settings["checkpoint"], device=str(self.device)
            )
        except Exception as error:  # hydra / torch errors of many types: all mean a bad cfg or file
            raise TrackerSetupError(
                f"tracking.sam2: cannot build {settings['model_cfg']!r} from "
                f"{settings['checkpoint']!r} ({error}); {INSTALL_HINT}"
            ) from error
        self.checkpoint_sha256 = file_sha256(settings["checkpoint"])

    def provenance(self) -> dict:
        return {
            "tracker": self.name,
            "model_cfg": self.settings["model_cfg"],
            "checkpoint": Path(self.settings["checkpoint"]).name,
            "checkpoint_sha256": self.checkpoint_sha256,
            "sam2": importlib.metadata.version("sam2"),
            "device": self.device.type,
            "prompt_every_box": self.settings["prompt_every_box"],
            "cleanup": self.settings["cleanup"],
        }

    def _propagate(self, plan: VideoPlan, frames: np.ndarray) -> dict[int, dict[int, np.ndarray]]:
        """frame -> actor -> (H, W) bool from SAM 2's forward propagation."""
        from PIL import Image

        torch = self.torch
        results: dict[int, dict[int, np.ndarray]] = {}
        with tempfile.TemporaryDirectory(prefix="sam2-frames-") as folder:
            for t, frame in enumerate(frames):  # init_state reads a folder of <index>.jpg frames
                Image.fromarray(frame).save(Path(folder) / f"{t:05d}.jpg", quality=95)
            autocast = (
                torch.autocast("cuda", dtype=torch.bfloat16)
                if self.device.type == "cuda"
                else torch.autocast("cpu", enabled=False)
            )
            with torch.inference_mode(), autocast:
                state = self.predictor.init_state(video_path=folder)
                first_prompt = None
                seen: set[int] = set()
                for t, prompts in enumerate(plan.frames):
                    for actor, prompt in prompts.items():
                        if prompt.box is None and not len(prompt.points):
                            continue
                        if (
                            actor in seen
                            and not self.settings["prompt_every_box"]
                            and prompt.kind == "box"
                        ):
                            continue
                        seen.add(actor)
                        first_prompt = t if first_prompt is None else min(first_prompt, t)
                        kwargs = {"box": prompt.box} if prompt.box is not None else {}
                        if len(prompt.points):
                            kwargs["points"] = prompt.points.astype(np.float32)
                            kwargs["labels"] = prompt.labels.astype(np.int32)
                        self.predictor.add_new_points_or_box(
                            state, frame_idx=t, obj_id=int(actor), **kwargs
                        )
                if first_prompt is not None:
                    for t, obj_ids, logits in self.predictor.propagate_in_video(
                        state, start_frame_idx=first_prompt
                    ):
                        masks = (logits[:, 0] > 0).cpu().numpy()
                        results[int(t)] = {int(a): m for a, m in zip(obj_ids, masks, strict=True)}
                self.predictor.reset_state(state)
        return results

    def track(self, plan: VideoPlan, frames: np.ndarray) -> ActorMasks:
        propagated = self._propagate(plan, frames)
        empty = np.zeros((plan.height, plan.width), dtype=bool)

        def segment(t: int, prompts: dict) -> dict:
            # run_plan clips each mask to its prompt box; a frame SAM 2 gave nothing stays empty.
            return {actor: (propagated.get(t, {}).get(actor, empty), None) for actor in prompts}

        tracked = run_plan(plan, segment, self.settings["cleanup"]["clip_margin"])
        tracked = clean_up(tracked, self.settings["cleanup"])
        return to_actor_masks(plan, tracked, self.name, self.provenance())


def build(settings: dict, *, seed: int) -> Sam2Tracker:
    return Sam2Tracker(settings, seed=seed)
