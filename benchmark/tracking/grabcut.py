"""GrabCut tracker: OpenCV's GrabCut seeded by each box and carried along with the previous mask.

The weight-free default, for CPU-only users and the embedded synthetic run. On an actor's first
frame (or when the previous frame gave nothing) the box initialises GrabCut: the box's core is
probable foreground, a ring along its border (`init_border`, since boxes are drawn with slack) and
the rest of the box probable background, the crop margin around the box sure background. On the
following frames the previous mask seeds it (why: colour models alone confuse actor and background
when they share a palette; the previous shape is the strongest prior): the eroded previous mask is
sure foreground, the previous mask (dilated by `dilation`, 0 by default: dilating every frame lets
the mask swell onto objects beside the actor) probable foreground, the rest of the box probable
background, outside the box sure background. A reviewer's points become sure-foreground /
sure-background discs, a redrawn box replaces the annotated one.

Each crop is resized so its long side is `work_size` pixels before GrabCut: small crops gain the
pixels its Gaussian-mixture colour models need, large ones (320×240 video) cost less time; the
result is resized back and thresholded at one half. When GrabCut ends with an empty mask, the frame
is redone from the box alone, then from the plain box without the border prior (counted as
`restarted_frames` in the provenance), so an actor is not lost for the rest of its tube.

OpenCV's k-means initialisation draws from its global RNG, so it is reseeded per frame from the
config seed and the video id: results do not depend on which videos share a shard.
"""

from __future__ import annotations

import cv2
import numpy as np

from benchmark.ids import stable_digest
from benchmark.masks import ActorMasks
from benchmark.tracking import to_actor_masks
from benchmark.tracking.tubes import (
    ActorPrompt,
    VideoPlan,
    box_region,
    grown_box,
    run_plan,
)


class GrabCutTracker:
    name = "grabcut"

    def __init__(self, settings: dict, *, seed: int) -> None:
        self.settings = settings
        self.seed = seed
        self.fallback_frames = 0
        self.restarted_frames = 0

    def provenance(self) -> dict:
        return {
            "tracker": self.name,
            "opencv": cv2.__version__,
            "settings": self.settings,
            "seed": self.seed,
        }

    def _seed_mask(
        self,
        prompt: ActorPrompt,
        previous: np.ndarray | None,
        height: int,
        width: int,
        border: float,
    ) -> np.ndarray:
        """(H, W) uint8 GrabCut labels for the whole frame (cropped later)."""
        box = box_region(prompt.box, height, width)
        labels = np.full((height, width), cv2.GC_BGD, dtype=np.uint8)
        if previous is None or not (previous & box).any():
            # Boxes are drawn with slack around the actor: the ring along the box's border starts
            # as probable background, the core as probable foreground (GrabCut may flip either).
            labels[box] = cv2.GC_PR_BGD
            core = grown_box(prompt.box, -border, height, width)
            labels[box_region(core, height, width) & box] = cv2.GC_PR_FGD
        else:
            x1, y1, x2, y2 = prompt.box
            short = max(1.0, min(x2 - x1, y2 - y1))
            labels[box] = cv2.GC_PR_BGD
            grow = int(round(self.settings["dilation"] * short))
            shrink = int(round(self.settings["core_erosion"] * short))
            dilated = cv2.dilate(previous.astype(np.uint8), _disc(grow)) > 0 if grow else previous
            eroded = cv2.erode(previous.astype(np.uint8), _disc(shrink)) > 0 if shrink else previous
            labels[dilated & box] = cv2.GC_PR_FGD
            labels[eroded & box] = cv2.GC_FGD
        radius = int(self.settings["point_radius"])
        for (x, y), label in zip(prompt.points, prompt.labels, strict=True):
            value = cv2.GC_FGD if label == 1 else cv2.GC_BGD
            cv2.circle(labels, (int(round(x)), int(round(y))), radius, int(value), thickness=-1)
        return labels

    def segment_actor(
        self,
        image: np.ndarray,
        prompt: ActorPrompt,
        previous: np.ndarray | None,
        rng_seed: int,
        border: float | None = None,
    ) -> np.ndarray:
        """(H, W) bool mask of one actor on one frame; `border` overrides `init_border`."""
        height, width = image.shape[:2]
        border = self.settings["init_border"] if border is None else border
        labels = self._seed_mask(prompt, previous, height, width, border)
        seeded = previous is not None and bool(previous.any())
        iterations = self.settings["propagate_iterations" if seeded else "iterations"]
        crop = grown_box(prompt.box, self.settings["crop_margin"], height, width)
        x1, y1 = int(crop[0]), int(crop[1])
        x2, y2 = int(np.ceil(crop[2])), int(np.ceil(crop[3]))
        crop_image = np.ascontiguousarray(image[y1:y2, x1:x2])
        crop_labels = np.ascontiguousarray(labels[y1:y2, x1:x2])
        crop_h, crop_w = crop_labels.shape
        work_size = self.settings["work_size"]
        scale = work_size / max(crop_h, crop_w) if work_size else 1.0
        if scale != 1.0:
            size = (max(2, int(round(crop_w * scale))), max(2, int(round(crop_h * scale))))
            interpolation = cv2.INTER_LINEAR if scale > 1.0 else cv2.INTER_AREA
            crop_image = cv2.resize(crop_image, size, interpolation=interpolation)
            crop_labels = cv2.resize(crop_labels, size, interpolation=cv2.INTER_NEAREST)
        # Checked on the labels GrabCut sees: downscaling can drop a thin strip of one class (a
        # UCF101-24 box that leaves a pixel or two of the frame outside it).
        is_fg = (crop_labels == cv2.GC_FGD) | (crop_labels == cv2.GC_PR_FGD)
        if not is_fg.any() or is_fg.all():
            # GrabCut needs both classes to fit its colour models (a box filling the whole frame,
            # or one that degenerated): the box itself is the honest answer, and it is counted.
            self.fallback_frames += 1
            return box_region(prompt.box, height, width)
        background = np.zeros((1, 65), np.float64)
        foreground = np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(rng_seed)
        cv2.grabCut(
            crop_image, crop_labels, None, background, foreground, iterations, cv2.GC_INIT_WITH_MASK
        )
        result = ((crop_labels == cv2.GC_FGD) | (crop_labels == cv2.GC_PR_FGD)).astype(np.float32)
        if scale != 1.0:
            interpolation = cv2.INTER_AREA if scale > 1.0 else cv2.INTER_LINEAR
            result = cv2.resize(result, (crop_w, crop_h), interpolation=interpolation)
        mask = np.zeros((height, width), dtype=bool)
        mask[y1:y2, x1:x2] = result >= 0.5
        return mask

    def track(self, plan: VideoPlan, frames: np.ndarray) -> ActorMasks:
        last: dict[int, tuple[int, np.ndarray]] = {}  # actor -> (frame, mask) of its latest step
        self.fallback_frames = 0
        self.restarted_frames = 0
        base = stable_digest(self.seed, "grabcut", plan.video_id)

        def segment(t: int, prompts: dict[int, ActorPrompt]) -> dict:
            out = {}
            for actor, prompt in prompts.items():
                seen = last.get(actor)
                previous = seen[1] if seen is not None and seen[0] == t - 1 else None
                rng_seed = (base + 1009 * t + actor) % (2**31 - 1)
                mask = self.segment_actor(frames[t], prompt, previous, rng_seed)
                if not mask.any():
                    # The previous shape or the border prior led GrabCut astray (e.g. the actor
                    # left it): start over from the box, then from the plain box, rather than
                    # lose the actor.
                    self.restarted_frames += 1
                    if previous is not None:
                        mask = self.segment_actor(frames[t], prompt, None, rng_seed)
                    if not mask.any():
                        mask = self.segment_actor(frames[t], prompt, None, rng_seed, border=0.0)
                last[actor] = (t, mask)
                out[actor] = (mask, None)
            return out

        tracked = run_plan(plan, segment, self.settings["cleanup"])
        provenance = {
            **self.provenance(),
            "fallback_frames": self.fallback_frames,
            "restarted_frames": self.restarted_frames,
        }
        return to_actor_masks(plan, tracked, self.name, provenance)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def build(settings: dict, *, seed: int) -> GrabCutTracker:
    return GrabCutTracker(settings, seed=seed)
