"""VideoMix (Yun et al., 2020): paste a cuboid of one clip into another, labels mixed by its volume.

Per batch one λ ~ Beta(α, α), one cuboid and one partner permutation (StillMix's mmaction2
`CutmixBlending_fixbs`, which its configs use for the VideoMix rows). The cuboid is
- `spatial` (the paper's and StillMix's): a box of side int(H·√(1−λ)) × int(W·√(1−λ)) around a
  uniform centre, clamped to the frame, over every frame;
- `temporal`: frames [t1, t2) of length int(T·(1−λ)) around a uniform centre, the whole frame;
- `spatiotemporal`: both, each side scaled by (1−λ)^(1/3) so the volume share is again ≈ 1−λ.
The partner's pixels fill the cuboid; the label weight of the sample's own class is the share of
the clip outside the cuboid (after clamping), its partner's class gets the rest. Each sample is
mixed with probability `prob_aug` (the others keep their clip and label). The run key `cuboid`
chooses the variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from albar.methods.base import Method, StepResult, accuracy, numpy_rng

VIDEOMIX_MODES = ("spatial", "temporal", "spatiotemporal")


@dataclass
class LabelMixedBatch:
    """A batch whose targets are two classes per sample: weight·own + (1−weight)·partner."""

    clip: torch.Tensor  # (B, C, T, H, W)
    labels: torch.Tensor  # (B,) own class
    partner_labels: torch.Tensor  # (B,) the partner's class
    partner: torch.Tensor  # (B,) the partner's position in the batch (may be the sample itself)
    weight: torch.Tensor  # (B,) float, weight of the own class (1 = unmixed)
    mixed: torch.Tensor  # (B,) bool, samples that were changed


def mixed_cross_entropy(logits: torch.Tensor, batch: LabelMixedBatch) -> torch.Tensor:
    """Cross-entropy against the soft targets weight·onehot(own) + (1−weight)·onehot(partner)."""
    own = F.cross_entropy(logits, batch.labels, reduction="none")
    partner = F.cross_entropy(logits, batch.partner_labels, reduction="none")
    weight = batch.weight.to(logits.dtype)
    return (weight * own + (1.0 - weight) * partner).mean()


def _interval(size: int, cut: int, generator: torch.Generator) -> tuple[int, int]:
    """[lo, hi) of length `cut` around a uniform centre in [0, size), clamped (CutMix's rand_bbox)."""
    centre = int(torch.randint(size, (1,), generator=generator))
    return max(centre - cut // 2, 0), min(centre + cut // 2, size)


def videomix_cuboid(
    steps: int, height: int, width: int, lam: float, mode: str, generator: torch.Generator
) -> tuple[int, int, int, int, int, int]:
    """(t1, t2, y1, y2, x1, x2) of the pasted cuboid for mixing weight λ (half-open ranges)."""
    if mode not in VIDEOMIX_MODES:
        raise ValueError(f"VideoMix mode must be one of {VIDEOMIX_MODES}, got {mode!r}")
    t1, t2, y1, y2, x1, x2 = 0, steps, 0, height, 0, width
    if mode in ("spatial", "spatiotemporal"):
        side = math.sqrt(1.0 - lam) if mode == "spatial" else (1.0 - lam) ** (1.0 / 3.0)
        # x before y: the order of CutMix's draws (centre x, then centre y)
        x1, x2 = _interval(width, int(width * side), generator)
        y1, y2 = _interval(height, int(height * side), generator)
    if mode in ("temporal", "spatiotemporal"):
        side = 1.0 - lam if mode == "temporal" else (1.0 - lam) ** (1.0 / 3.0)
        t1, t2 = _interval(steps, int(steps * side), generator)
    return t1, t2, y1, y2, x1, x2


def videomix_batch(
    clip: torch.Tensor,
    labels: torch.Tensor,
    *,
    alpha: float,
    prob_aug: float,
    mode: str,
    generator: torch.Generator,
    lam: float | None = None,
) -> LabelMixedBatch:
    """Mix one cuboid of a permuted partner into each selected clip. lam: fixed λ (tests)."""
    batch, _, steps, height, width = clip.shape
    if lam is None:
        lam = float(numpy_rng(generator).beta(alpha, alpha))
    partner = torch.randperm(batch, generator=generator)
    t1, t2, y1, y2, x1, x2 = videomix_cuboid(steps, height, width, lam, mode, generator)
    selected = torch.rand(batch, generator=generator) < prob_aug  # (B,)
    pasted = clip.clone()
    device_partner = partner.to(clip.device)
    pasted[:, :, t1:t2, y1:y2, x1:x2] = clip[device_partner, :, t1:t2, y1:y2, x1:x2]
    share = 1.0 - (t2 - t1) * (y2 - y1) * (x2 - x1) / (steps * height * width)
    keep = selected.to(clip.device).view(batch, 1, 1, 1, 1)
    weight = torch.where(selected, torch.tensor(share), torch.tensor(1.0))
    return LabelMixedBatch(
        clip=torch.where(keep, pasted, clip),
        labels=labels,
        partner_labels=labels[device_partner.to(labels.device)],
        partner=partner,
        weight=weight.to(clip.device),
        mixed=selected,
    )


class VideoMix(Method):
    """Cross-entropy on VideoMix-ed clips against the volume-mixed labels."""

    name = "videomix"

    def __init__(self, *, alpha: float, prob_aug: float, cuboid: str) -> None:
        if cuboid not in VIDEOMIX_MODES:
            raise ValueError(f"cuboid must be one of {VIDEOMIX_MODES}, got {cuboid!r}")
        self.alpha, self.prob_aug, self.cuboid = alpha, prob_aug, cuboid

    def step(self, model, clip, labels, generator) -> StepResult:
        mixed = videomix_batch(
            clip,
            labels,
            alpha=self.alpha,
            prob_aug=self.prob_aug,
            mode=self.cuboid,
            generator=generator,
        )
        logits = model(mixed.clip).float()
        loss = mixed_cross_entropy(logits, mixed)
        return StepResult(loss, {"ce": loss.detach(), "accuracy": accuracy(logits, labels)})
