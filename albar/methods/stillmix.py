"""StillMix (Li et al., ICCV 2023): mix biased still frames into training clips, labels unchanged.

The real method has two parts:
1. the frame bank (`build_frame_bank`): a 2-D reference network (torchvision resnet18, optional
   local weights, from scratch by default) is trained on single random frames of the training
   videos; it scores every training frame (its top-class probability); the frames above the `lo`
   quantile — the ones a static network finds most telling, i.e. the most biased — are kept, and a
   seeded sample of `bank_size` of them, resized to the clip size, is the bank, fixed for the whole
   training (stored once per settings and seed under runs/_stillmix_bank/<bank_hash>/seed<k>/);
2. the mixing (`stillmix_batch`): one λ ~ Beta(α1, α2) per batch; each sample with probability
   `prob_aug` becomes λ·x + (1−λ)·F, F a random bank frame repeated over time; the augmented samples
   are moved to the front of the batch, and clips, clean clips and labels are reordered *together*
   with that one permutation (the official ALBAR + StillMix code reorders labels not at all and the
   static clips twice; ours cannot misalign, see tests/test_albar_methods.py).
`stillmix_random` is the cheap variant: F is a random frame of another video in the same batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from albar.methods.base import Method, MethodContext, StepResult, accuracy, numpy_rng
from benchmark.safe_torch import load_torch_file, tensor_state_dict


@dataclass
class MixedBatch:
    clip: torch.Tensor  # (B, C, T, H, W) mixed clips, augmented ones first
    labels: torch.Tensor  # (B,) reordered with the clips
    clean: torch.Tensor  # (B, C, T, H, W) the unmixed clips, same order (ALBAR's static source)
    order: torch.Tensor  # (B,) the permutation applied: new position i holds old sample order[i]
    mixed: torch.Tensor  # (B,) bool, after reordering
    lam: float


def stillmix_batch(
    clip: torch.Tensor,
    labels: torch.Tensor,
    frames: torch.Tensor | None,
    *,
    prob_aug: float,
    alpha: Sequence[float],
    generator: torch.Generator,
) -> MixedBatch:
    """Mix still frames into a batch. frames: (N, C, H, W) normalised bank frames, or None for the
    random variant (a random frame of another clip of the batch). Returns everything reordered once."""
    batch, _, steps, height, width = clip.shape
    lam = float(numpy_rng(generator).beta(alpha[0], alpha[1]))
    mixed = torch.rand(batch, generator=generator) < prob_aug  # (B,)
    if frames is not None:
        pick = torch.randint(frames.shape[0], (batch,), generator=generator)
        still = frames[pick].to(clip.device, clip.dtype)  # (B, C, h, w)
        if still.shape[-2:] != (height, width):
            still = F.interpolate(still, size=(height, width), mode="bilinear", align_corners=False)
    else:
        if batch < 2:
            raise ValueError("stillmix_random needs batches of at least 2 clips")
        # another clip of the batch: shift by 1..B-1, so never the sample itself
        other = (
            torch.arange(batch) + torch.randint(1, batch, (batch,), generator=generator)
        ) % batch
        t = torch.randint(steps, (batch,), generator=generator)
        still = clip.detach()[other.to(clip.device), :, t.to(clip.device)]  # (B, C, H, W)
    still = still.unsqueeze(2)  # (B, C, 1, H, W), broadcast over time
    mask = mixed.to(clip.device).view(batch, 1, 1, 1, 1)
    out = torch.where(mask, lam * clip + (1.0 - lam) * still, clip)
    # augmented samples first (stable), one permutation for clips, clean clips and labels
    order = torch.cat([torch.nonzero(mixed).flatten(), torch.nonzero(~mixed).flatten()])
    device_order = order.to(clip.device)
    return MixedBatch(
        clip=out[device_order],
        labels=labels[device_order.to(labels.device)],
        clean=clip[device_order],
        order=order,
        mixed=mixed[order],
        lam=lam,
    )


def normalise_bank(bank: torch.Tensor, context: MethodContext) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) normalised with the model's statistics."""
    mean = torch.tensor(context.mean).view(1, 3, 1, 1)
    std = torch.tensor(context.std).view(1, 3, 1, 1)
    return (bank.permute(0, 3, 1, 2).float() / 255.0 - mean) / std


class StillMix(Method):
    """Cross-entropy on StillMix-augmented clips (bank frames)."""

    name = "stillmix"

    def __init__(self, *, prob_aug: float, alpha: Sequence[float], bank: dict) -> None:
        self.prob_aug, self.alpha, self.bank_settings = prob_aug, tuple(alpha), bank

    def setup(self, context: MethodContext, bank: torch.Tensor | None = None) -> None:
        super().setup(context, bank)
        self.frames = normalise_bank(bank, context) if self.uses_bank else None

    def mix(self, clip, labels, generator) -> MixedBatch:
        frames = None if self.frames is None else self.frames.to(clip.device)
        return stillmix_batch(
            clip, labels, frames, prob_aug=self.prob_aug, alpha=self.alpha, generator=generator
        )

    def step(self, model, clip, labels, generator) -> StepResult:
        mixed = self.mix(clip, labels, generator)
        logits = model(mixed.clip).float()
        loss = F.cross_entropy(logits, mixed.labels)
        terms = {"ce": loss.detach(), "accuracy": accuracy(logits, mixed.labels)}
        return StepResult(loss, terms)


class StillMixRandom(StillMix):
    """StillMix with frames of other videos of the batch (no bank; the ALBAR release's variant)."""

    name = "stillmix_random"

    def __init__(self, *, prob_aug: float, alpha: Sequence[float]) -> None:
        super().__init__(prob_aug=prob_aug, alpha=alpha, bank={})


# --- the frame bank -----------------------------------------------------------------------------


def _reference_network(name: str, num_classes: int, weights: str | None) -> nn.Module:
    import torchvision

    if name != "resnet18":
        raise ValueError(f"StillMix reference_model must be 'resnet18', got {name!r}")
    model = torchvision.models.resnet18(weights=None)
    if weights:
        fix = "point reference_weights at a torchvision resnet18 state dict"
        state = load_torch_file(weights, what="reference network weight file", fix=fix)
        state = tensor_state_dict(state, weights, what="state dict", fix=fix)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{weights}: not a torchvision resnet18 state dict "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
            )
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _frames_tensor(frames: np.ndarray, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) in ImageNet normalisation (resnet18's)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def build_frame_bank(
    videos: Sequence[tuple[str, np.ndarray, int]],
    settings: dict,
    *,
    num_classes: int,
    seed: int,
    device: torch.device,
    log=print,
) -> dict:
    """Train the reference network, score every frame, keep the most confident, sample the bank.

    videos: (video_id, frames (T, H, W, 3) uint8, label) of the training split.
    Returns {"frames": (N, S, S, 3) uint8 at crop_size, "video_ids", "frame_indices", "scores",
    "threshold", "settings", "seed", "scored_frames"}.
    """
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1031]))
    size = settings["reference_size"]
    model = _reference_network(
        settings["reference_model"], num_classes, settings["reference_weights"]
    )
    model.to(device).train()
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings["reference_lr"], weight_decay=0.01
    )
    batch_size = settings["reference_batch_size"]
    labels_all = torch.tensor([label for _, _, label in videos])
    for epoch in range(settings["reference_epochs"]):
        order = rng.permutation(len(videos))
        total, correct, seen = 0.0, 0, 0
        for start in range(0, len(order) - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            # one random frame per video, random flip: what a static classifier can learn
            frames = np.stack([videos[i][1][rng.integers(videos[i][1].shape[0])] for i in index])
            x = _frames_tensor(frames, size)
            flip = torch.from_numpy(rng.random(len(index)) < 0.5)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x).to(device)
            y = labels_all[index].to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(index)
        log(
            f"stillmix reference epoch {epoch + 1}/{settings['reference_epochs']}: "
            f"loss {total / max(seen, 1):.3f} frame acc {100 * correct / max(seen, 1):.1f}"
        )
    model.eval()
    scores, owners, indices = [], [], []
    with torch.inference_mode():
        for number, (_, frames, _) in enumerate(videos):
            probs = torch.softmax(model(_frames_tensor(frames, size).to(device)), dim=1)
            scores.append(probs.max(dim=1).values.cpu().numpy())
            owners += [number] * frames.shape[0]
            indices += list(range(frames.shape[0]))
    scores = np.concatenate(scores)
    threshold = float(np.quantile(scores, settings["lo"]))
    keep = np.flatnonzero(scores >= threshold)
    take = rng.choice(keep, size=settings["bank_size"], replace=len(keep) < settings["bank_size"])
    crop = settings["crop_size"]
    chosen = np.stack([videos[owners[i]][1][indices[i]] for i in take])  # (N, H, W, 3)
    bank = torch.from_numpy(chosen).permute(0, 3, 1, 2).float()
    bank = F.interpolate(bank, size=(crop, crop), mode="bilinear", align_corners=False)
    bank = bank.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    log(
        f"stillmix bank: scored {len(scores)} frames, kept {len(keep)} above {threshold:.3f}, "
        f"sampled {len(take)} in {time.perf_counter() - started:.1f} s"
    )
    return {
        "frames": bank,
        "video_ids": [videos[owners[i]][0] for i in take],
        "frame_indices": [int(indices[i]) for i in take],
        "scores": torch.from_numpy(scores[take].astype(np.float32)),
        "threshold": threshold,
        "scored_frames": int(len(scores)),
        "settings": settings,
        "seed": seed,
    }


def validate_bank(bank: dict, path, crop_size: int) -> torch.Tensor:
    frames = bank.get("frames") if isinstance(bank, dict) else None
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{path}: not a StillMix bank (expected frames (N, H, W, 3) uint8)")
    if frames.shape[1:3] != (crop_size, crop_size):
        raise ValueError(
            f"{path}: bank frames are {tuple(frames.shape[1:3])}, training crops {crop_size}; "
            "rebuild the bank with this crop size"
        )
    return frames
