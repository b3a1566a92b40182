"""Plain cross-entropy and the clip-augmentation baselines: BE, FAME, Mixup.

- BE (Background Erasing, Wang et al. 2021): x' = (1−λ)·x + λ·F, F a random frame of the same clip
  repeated over time, λ = 0.3·U per sample; labels unchanged.
- FAME (Ding et al., CVPR 2022): a foreground mask from temporal frame differences (Gaussian blur,
  23 px at 224 px, scaled to the clip size), refined by a hue–saturation histogram of the top 50% /
  bottom 10% difference pixels; the top 50% of the refined score is foreground, pasted onto another
  clip of the batch; the foreground clip's label is kept. Applied to each clip with `prob_aug`.
  The mask is computed on the clip's middle frame's colours and is the same for every frame
  (FAME computes it per frame; our toy clips are short and the actor small, so one mask suffices).
- Mixup (Zhang et al.): λ ~ Beta(α, α) per batch, x' = λ·x + (1−λ)·x[perm], loss mixed likewise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from albar.methods.base import Method, StepResult, accuracy, numpy_rng


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

    def __init__(self, *, max_lambda: float) -> None:
        self.max_lambda = max_lambda

    def step(self, model, clip, labels, generator) -> StepResult:
        batch, _, steps = clip.shape[:3]
        t = torch.randint(steps, (batch,), generator=generator).to(clip.device)
        lam = (self.max_lambda * torch.rand(batch, generator=generator)).to(clip)  # (B,)
        still = clip[torch.arange(batch, device=clip.device), :, t].unsqueeze(2)  # (B, C, 1, H, W)
        lam = lam.view(batch, 1, 1, 1, 1)
        mixed = (1.0 - lam) * clip + lam * still
        logits = model(mixed).float()
        loss = F.cross_entropy(logits, labels)
        return StepResult(loss, {"ce": loss.detach(), "accuracy": accuracy(logits, labels)})


def _gaussian_blur(image: torch.Tensor, kernel: int) -> torch.Tensor:
    """(B, 1, H, W) blurred with a separable Gaussian of odd size `kernel` (sigma as OpenCV's)."""
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    x = torch.arange(kernel, dtype=image.dtype, device=image.device) - (kernel - 1) / 2
    weights = torch.exp(-(x**2) / (2 * sigma**2))
    weights = weights / weights.sum()
    pad = kernel // 2
    image = F.pad(image, (pad, pad, pad, pad), mode="replicate")
    image = F.conv2d(image, weights.view(1, 1, 1, -1))
    return F.conv2d(image, weights.view(1, 1, -1, 1))


def _hue_saturation(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """rgb (B, 3, H, W) in [0, 1] -> hue in [0, 1), saturation in [0, 1]."""
    high, argmax = rgb.max(dim=1)
    low = rgb.min(dim=1).values
    delta = high - low
    r, g, b = rgb.unbind(1)
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    hue = torch.where(
        argmax == 0,
        ((g - b) / safe) % 6,
        torch.where(argmax == 1, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue))
    saturation = torch.where(
        high > 0, delta / torch.where(high > 0, high, torch.ones_like(high)), torch.zeros_like(high)
    )
    return hue % 1.0, saturation


def fame_foreground(clip: torch.Tensor, mean, std, bins: int = 8) -> torch.Tensor:
    """FAME's foreground mask: (B, C, T, H, W) normalised clip -> (B, 1, 1, H, W) float 0/1."""
    batch, _, steps, height, width = clip.shape
    mean_t = torch.tensor(mean, device=clip.device).view(1, 3, 1, 1, 1)
    std_t = torch.tensor(std, device=clip.device).view(1, 3, 1, 1, 1)
    rgb = (clip.detach().float() * std_t + mean_t).clamp(0, 1)  # (B, 3, T, H, W)
    if steps > 1:
        motion = (rgb[:, :, 1:] - rgb[:, :, :-1]).abs().sum(dim=1).mean(dim=1, keepdim=True)
    else:
        motion = torch.zeros(batch, 1, height, width, device=clip.device)
    kernel = max(3, int(round(23 * min(height, width) / 224)) | 1)
    motion = _gaussian_blur(motion, kernel).flatten(1)  # (B, H·W)
    hue, saturation = _hue_saturation(rgb[:, :, steps // 2])
    colour_bin = (hue * bins).long().clamp(max=bins - 1) * bins + (saturation * bins).long().clamp(
        max=bins - 1
    )
    colour_bin = colour_bin.flatten(1)  # (B, H·W)
    pixels = height * width
    order = motion.argsort(dim=1, descending=True)
    fg_seed = torch.zeros_like(motion, dtype=torch.bool).scatter_(1, order[:, : pixels // 2], True)
    bg_seed = torch.zeros_like(motion, dtype=torch.bool).scatter_(
        1, order[:, pixels - max(1, pixels // 10) :], True
    )
    hist_fg = torch.zeros(batch, bins * bins, device=clip.device).scatter_add_(
        1, colour_bin, fg_seed.float()
    )
    hist_bg = torch.zeros(batch, bins * bins, device=clip.device).scatter_add_(
        1, colour_bin, bg_seed.float()
    )
    hist_fg = hist_fg / hist_fg.sum(1, keepdim=True).clamp(min=1)
    hist_bg = hist_bg / hist_bg.sum(1, keepdim=True).clamp(min=1)
    likelihood = hist_fg.gather(1, colour_bin) / (
        hist_fg.gather(1, colour_bin) + hist_bg.gather(1, colour_bin) + 1e-6
    )
    spread = motion.max(1, keepdim=True).values - motion.min(1, keepdim=True).values
    score = (motion - motion.min(1, keepdim=True).values) / spread.clamp(min=1e-6) * likelihood
    keep = score.argsort(dim=1, descending=True)[:, : pixels // 2]
    mask = torch.zeros_like(score).scatter_(1, keep, 1.0)
    return mask.view(batch, 1, 1, height, width)


class Fame(Method):
    name = "fame"

    def __init__(self, *, prob_aug: float) -> None:
        self.prob_aug = prob_aug

    def step(self, model, clip, labels, generator) -> StepResult:
        batch = clip.shape[0]
        mask = fame_foreground(clip, self.context.mean, self.context.std).to(clip)
        other = torch.roll(
            torch.arange(batch, device=clip.device), shifts=1
        )  # another clip's scene
        pasted = mask * clip + (1.0 - mask) * clip[other]
        apply = (torch.rand(batch, generator=generator) < self.prob_aug).to(clip.device)
        mixed = torch.where(apply.view(batch, 1, 1, 1, 1), pasted, clip)
        logits = model(mixed).float()
        loss = F.cross_entropy(logits, labels)
        return StepResult(loss, {"ce": loss.detach(), "accuracy": accuracy(logits, labels)})


class Mixup(Method):
    name = "mixup"

    def __init__(self, *, alpha: float) -> None:
        self.alpha = alpha

    def step(self, model, clip, labels, generator) -> StepResult:
        lam = float(numpy_rng(generator).beta(self.alpha, self.alpha))
        perm = torch.randperm(clip.shape[0], generator=generator).to(clip.device)
        logits = model(lam * clip + (1.0 - lam) * clip[perm]).float()
        loss = lam * F.cross_entropy(logits, labels) + (1.0 - lam) * F.cross_entropy(
            logits, labels[perm]
        )
        return StepResult(loss, {"ce": loss.detach(), "accuracy": accuracy(logits, labels)})
