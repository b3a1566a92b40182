"""ActorCutMix (StillMix paper's baseline): sample i's actor on the background of its mirror sample.

With the actor mask m_i of each training clip (same crop and flip as the clip; the run's
`actor_masks` source, loaded by albar.data), sample i becomes
    x'_i = m_i·x_i + (1 − m_i)·(1 − m_j)·x_j,   j = B − 1 − i (the batch mirrored),
so the partner's own actor is cut out of its background (left at 0, the normalised mean colour,
as StillMix's `ActorCutmixBlending` does). Its target is w·onehot(y_i) + (1 − w)·onehot(y_j) with
w = 1 − (r − 1)⁴ and r the actor's share of the whole clip (every frame's pixels). Clips with no
actor or only actor, and the middle clip of an odd batch (its own mirror), are left as they are
(w = 1). Each clip is augmented with probability `prob_aug`.
"""

from __future__ import annotations

import torch

from albar.methods.base import Method, StepResult, accuracy
from albar.methods.videomix import LabelMixedBatch, mixed_cross_entropy


def actorcutmix_weight(share: torch.Tensor) -> torch.Tensor:
    """Label weight of the actor's own class for an actor covering `share` of the clip."""
    return 1.0 - (share - 1.0) ** 4


def actorcutmix_batch(
    clip: torch.Tensor,
    labels: torch.Tensor,
    masks: torch.Tensor,
    *,
    prob_aug: float,
    generator: torch.Generator,
) -> LabelMixedBatch:
    """clip (B, C, T, H, W), masks (B, 1, T, H, W) 0/1 -> actors pasted on mirrored backgrounds."""
    batch = clip.shape[0]
    masks = masks.to(clip.dtype)
    if masks.shape[0] != batch or masks.shape[2:] != clip.shape[2:]:
        raise ValueError(f"actor masks {tuple(masks.shape)} do not fit clips {tuple(clip.shape)}")
    share = masks.flatten(1).mean(1)  # (B,) actor share of the whole clip
    valid = (share > 0) & (share < 1)
    if batch % 2:
        valid[batch // 2] = False  # its mirror is itself
    selected = (torch.rand(batch, generator=generator) < prob_aug).to(clip.device)
    apply = valid & selected
    mirror = torch.arange(batch - 1, -1, -1, device=clip.device)
    background = (1.0 - masks[mirror]) * clip[mirror]  # the partner with its own actor cut out
    pasted = masks * clip + (1.0 - masks) * background
    weight = torch.where(apply, actorcutmix_weight(share), torch.ones_like(share))
    return LabelMixedBatch(
        clip=torch.where(apply.view(batch, 1, 1, 1, 1), pasted, clip),
        labels=labels,
        partner_labels=labels[mirror.to(labels.device)],
        partner=mirror.cpu(),
        weight=weight,
        mixed=apply,
    )


class ActorCutMix(Method):
    """Cross-entropy on ActorCutMix-ed clips against the actor-share-weighted labels."""

    name = "actorcutmix"

    def __init__(self, *, prob_aug: float, actor_masks: str) -> None:
        self.prob_aug, self.actor_masks = prob_aug, actor_masks

    def step(self, model, clip, labels, generator, *, masks=None) -> StepResult:
        if masks is None:
            raise ValueError("actorcutmix needs the actor masks of the training clips")
        mixed = actorcutmix_batch(clip, labels, masks, prob_aug=self.prob_aug, generator=generator)
        logits = model(mixed.clip).float()
        loss = mixed_cross_entropy(logits, mixed)
        terms = {"ce": loss.detach(), "accuracy": accuracy(logits, labels)}
        return StepResult(loss, terms)
