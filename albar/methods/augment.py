"""Plain cross-entropy and the clip-augmentation baselines BE, FAME and Mixup, as StillMix trains them.

The three follow the mini-batch blendings of StillMix's mmaction2 code (`BEIntraBlending`,
`FameBlending`, `MixupBlending_fixbs`); docs/baselines.md lists what still differs and why. All three
share one selection step: each clip of the batch is augmented with probability `prob_aug`, and the
augmented clips are moved to the front of the batch with their labels (`augmented_first`).
- BE (Background Erasing, Wang et al. 2021): ONE λ = max_lambda·U(0, 1) per batch (0.3 as in
  StillMix); x' = (1−λ)·x + λ·F with F one random frame of the same clip repeated over time; labels
  unchanged.
- FAME (Ding et al., CVPR 2022): ONE foreground mask per clip (the same for every frame): the
  absolute frame differences summed over colour and averaged over the clip, Gaussian-blurred
  (kernel int(0.1·S)//2·2+1 at clip size S — 23 at 224 — and σ = kernel/3), min-max normalised;
  refined by a 10×10×10 HSV colour histogram of the clip's time-mean frame seeded by the top 50% /
  bottom 10% pixels, blurred again, and the top 50% kept as foreground; pasted onto the clip of a
  batch partner chosen by a random permutation; the foreground clip's label is kept.
- Mixup (Zhang et al. 2018): one λ ~ Beta(α, α) per batch and a random permutation; the clips that
  the `prob_aug` draw selects become λ·x + (1−λ)·x[perm] with the loss mixed likewise, the others
  stay clean.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from albar.methods.base import Method, StepResult, accuracy, numpy_rng


def augmented_first(
    augmented: torch.Tensor, clean: torch.Tensor, chosen: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch StillMix's blendings return: the chosen samples of `augmented`, then the others of
    `clean`, each in their original order. Returns (batch, order) with order[i] the source index of
    new position i, to reorder labels and partners with."""
    order = torch.cat([torch.nonzero(chosen).flatten(), torch.nonzero(~chosen).flatten()])
    device_order = order.to(augmented.device)
    keep = chosen.to(augmented.device).view(-1, *([1] * (augmented.dim() - 1)))
    return torch.where(keep, augmented, clean)[device_order], order


def _choose(batch: int, prob_aug: float, generator: torch.Generator) -> torch.Tensor:
    """(B,) bool: which clips are augmented (each with probability prob_aug)."""
    return torch.rand(batch, generator=generator) < prob_aug


class Vanilla(Method):
    """Cross-entropy on the motion clip."""

    name = "vanilla"

    def __init__(self) -> None:
        pass

    def step(self, model, clip, labels, generator) -> StepResult:
        logits = model(clip).float()
        loss = F.cross_entropy(logits, labels)
        return StepResult(loss, {"ce": loss.detach(), "accuracy": accuracy(logits, labels)})


class BackgroundErasing(Method):
    name = "be"

    def __init__(self, *, max_lambda: float, prob_aug: float) -> None:
        self.max_lambda, self.prob_aug = max_lambda, prob_aug

    def blend(
        self, clip: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """(mixed batch, its labels, chosen flags in the new order, λ)."""
        batch, _, steps = clip.shape[:3]
        lam = self.max_lambda * float(torch.rand(1, generator=generator))  # one λ per batch
        t = torch.randint(steps, (batch,), generator=generator).to(clip.device)
        still = clip[torch.arange(batch, device=clip.device), :, t].unsqueeze(2)  # (B, C, 1, H, W)
        chosen = _choose(batch, self.prob_aug, generator)
        mixed, order = augmented_first((1.0 - lam) * clip + lam * still, clip, chosen)
        return mixed, labels[order.to(labels.device)], chosen[order], lam

    def step(self, model, clip, labels, generator) -> StepResult:
        mixed, labels, _, _ = self.blend(clip, labels, generator)
        logits = model(mixed).float()
        loss = F.cross_entropy(logits, labels)
        return StepResult(loss, {"ce": loss.detach(), "accuracy": accuracy(logits, labels)})


# --- FAME ---------------------------------------------------------------------------------------

FAME_BINS = 10  # per HSV axis: a 10×10×10 colour histogram
FAME_FOREGROUND = 0.5  # share of pixels kept as foreground, and of top pixels seeding its colours
FAME_BACKGROUND_SEED = 0.1  # share of lowest-motion pixels seeding the background colours
FAME_EPS = 1e-8


def fame_kernel(size: int) -> int:
    """FAME's blur kernel for a clip of side `size`: 10% of it, odd (23 at 224)."""
    return int(0.1 * size) // 2 * 2 + 1


def gaussian_blur(image: torch.Tensor, kernel: int) -> torch.Tensor:
    """(B, 1, H, W) blurred with a separable Gaussian of odd size `kernel` and σ = kernel / 3,
    reflect-padded (the settings of the kornia filter FAME uses)."""
    if kernel <= 1:
        return image
    sigma = kernel / 3.0
    x = torch.arange(kernel, dtype=image.dtype, device=image.device) - kernel // 2
    weights = torch.exp(-(x**2) / (2 * sigma**2))
    weights = weights / weights.sum()
    pad = kernel // 2
    height, width = image.shape[-2:]
    # reflect needs pad < side; tiny clips fall back to replicate
    mode = "reflect" if pad < min(height, width) else "replicate"
    image = F.pad(image, (pad, pad, pad, pad), mode=mode)
    image = F.conv2d(image, weights.view(1, 1, 1, -1))
    return F.conv2d(image, weights.view(1, 1, -1, 1))


def _min_max(score: torch.Tensor) -> torch.Tensor:
    """(B, N) -> per row (x − min) / (max − min + eps), FAME's normalisation."""
    score = score - score.min(dim=1, keepdim=True).values
    return score / (score.max(dim=1, keepdim=True).values + FAME_EPS)


def rgb_to_hsv(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """rgb (B, 3, H, W) in [0, 1] -> hue in [0, 1) (a turn), saturation and value in [0, 1]."""
    value, argmax = rgb.max(dim=1)
    low = rgb.min(dim=1).values
    delta = value - low
    r, g, b = rgb.unbind(1)
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(
        argmax == 0,
        ((g - b) / safe) % 6,
        torch.where(argmax == 1, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue)) % 1.0
    saturation = torch.where(
        value > 0, delta / torch.where(value > 0, value, torch.ones_like(value)), 0.0
    )
    return hue, saturation, value


def fame_colour_bins(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, H·W) colour index in 1..999 of FAME's 10×10×10 HSV histogram.

    Hue and saturation are binned as a point on the colour wheel (s·cos 2πh, s·sin 2πh), so similar
    greys and reds that wrap around hue 0 fall into the same bins; value is binned linearly."""
    hue, saturation, value = rgb_to_hsv(rgb)
    bins = FAME_BINS
    x = (saturation * torch.cos(2 * math.pi * hue) + 1) / 2
    y = (saturation * torch.sin(2 * math.pi * hue) + 1) / 2
    bx = torch.round(x * (bins - 1) + 1)
    by = torch.round(y * (bins - 1) + 1)
    bv = torch.round(value * (bins - 1) + 1)
    return (bx + (by - 1) * bins + (bv - 1) * bins * bins).long().flatten(1)


def _top(score: torch.Tensor, count: int, largest: bool = True) -> torch.Tensor:
    """Indices of the `count` largest (smallest) entries per row; ties by position (stable), so the
    mask never depends on the sort implementation."""
    return score.argsort(dim=1, descending=largest, stable=True)[:, :count]


def fame_foreground(clip: torch.Tensor, mean, std) -> torch.Tensor:
    """FAME's foreground mask: (B, C, T, H, W) normalised clip -> (B, 1, 1, H, W) float 0/1, one
    mask per clip (the same for every frame), exactly int(0.5·H·W) foreground pixels."""
    batch, _, steps, height, width = clip.shape
    mean_t = torch.tensor(mean, device=clip.device).view(1, 3, 1, 1, 1)
    std_t = torch.tensor(std, device=clip.device).view(1, 3, 1, 1, 1)
    rgb = (clip.detach().float() * std_t + mean_t).clamp(0, 1)  # (B, 3, T, H, W) in [0, 1]
    pixels = height * width
    kernel = fame_kernel(min(height, width))
    if steps > 1:  # accumulated motion: |frame differences| summed over colour, mean over time
        motion = (rgb[:, :, :-1] - rgb[:, :, 1:]).abs().sum(dim=1).mean(dim=1)  # (B, H, W)
    else:
        motion = torch.zeros(batch, height, width, device=clip.device)
    motion = _min_max(gaussian_blur(motion.unsqueeze(1), kernel).flatten(1))  # (B, H·W)
    colours = fame_colour_bins(rgb.mean(dim=2))  # (B, H·W) of the time-mean frame
    seeds_fg = colours.gather(1, _top(motion, int(FAME_FOREGROUND * pixels)))
    seeds_bg = colours.gather(1, _top(motion, int(FAME_BACKGROUND_SEED * pixels), largest=False))
    size = FAME_BINS**3
    hist_fg = torch.zeros(batch, size, device=clip.device).scatter_add_(
        1, seeds_fg, torch.ones_like(seeds_fg, dtype=torch.float32)
    )
    hist_bg = (
        torch.zeros(batch, size, device=clip.device).scatter_add_(
            1, seeds_bg, torch.ones_like(seeds_bg, dtype=torch.float32)
        )
        + 1.0  # every colour is a little background: a colour never seen there is not sure fg
    )
    hist_fg = hist_fg / (hist_fg.sum(1, keepdim=True) + FAME_EPS)
    hist_bg = hist_bg / (hist_bg.sum(1, keepdim=True) + FAME_EPS)
    p_fg, p_bg = hist_fg.gather(1, colours), hist_bg.gather(1, colours)
    refined = (p_fg / (p_bg + p_fg)).view(batch, 1, height, width)
    refined = _min_max(gaussian_blur(refined, kernel).flatten(1))
    keep = _top(refined, int(FAME_FOREGROUND * pixels))
    mask = torch.zeros(batch, pixels, device=clip.device).scatter_(1, keep, 1.0)
    return mask.view(batch, 1, 1, height, width)


class Fame(Method):
    name = "fame"

    def __init__(self, *, prob_aug: float) -> None:
        self.prob_aug = prob_aug

    def blend(
        self, clip: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mixed batch, its labels, chosen flags in the new order, the partner permutation)."""
        batch = clip.shape[0]
        mask = fame_foreground(clip, self.context.mean, self.context.std).to(clip)
        partner = torch.randperm(batch, generator=generator)  # the scene each clip is pasted on
        pasted = mask * clip + (1.0 - mask) * clip[partner.to(clip.device)]
        chosen = _choose(batch, self.prob_aug, generator)
        mixed, order = augmented_first(pasted, clip, chosen)
        return mixed, labels[order.to(labels.device)], chosen[order], partner

    def step(self, model, clip, labels, generator) -> StepResult:
        mixed, labels, _, _ = self.blend(clip, labels, generator)
        logits = model(mixed).float()
        loss = F.cross_entropy(logits, labels)
        return StepResult(loss, {"ce": loss.detach(), "accuracy": accuracy(logits, labels)})


class Mixup(Method):
    name = "mixup"

    def __init__(self, *, alpha: float, prob_aug: float) -> None:
        self.alpha, self.prob_aug = alpha, prob_aug

    def blend(self, clip: torch.Tensor, labels: torch.Tensor, generator: torch.Generator):
        """(batch, labels, partner labels, per-sample weight of `labels`), augmented clips first."""
        batch = clip.shape[0]
        lam = float(numpy_rng(generator).beta(self.alpha, self.alpha))
        perm = torch.randperm(batch, generator=generator)
        mixed_clip = lam * clip + (1.0 - lam) * clip[perm.to(clip.device)]
        chosen = _choose(batch, self.prob_aug, generator)
        mixed, order = augmented_first(mixed_clip, clip, chosen)
        device_order = order.to(labels.device)
        weight = torch.where(chosen, lam, 1.0)[order].to(labels.device)  # clean clips: weight 1
        return mixed, labels[device_order], labels[perm.to(labels.device)][device_order], weight

    def step(self, model, clip, labels, generator) -> StepResult:
        mixed, labels, partners, weight = self.blend(clip, labels, generator)
        logits = model(mixed).float()
        # soft-label cross-entropy: CE is linear in the target, so λ·CE(y) + (1−λ)·CE(y_perm)
        own = F.cross_entropy(logits, labels, reduction="none")
        other = F.cross_entropy(logits, partners, reduction="none")
        loss = (weight * own + (1.0 - weight) * other).mean()
        return StepResult(loss, {"ce": loss.detach(), "accuracy": accuracy(logits, labels)})
