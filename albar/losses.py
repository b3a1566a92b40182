"""The ALBAR objective (Fioresi et al., ICLR 2025), usable with any training loop.

One call computes the supervised loss on the motion clip and the three static-clip terms:
the adversarial term (−CE on a clip made of one repeated frame), the negative entropy of the
static prediction and the gradient penalty (double backprop through the static clip). See
`albar_objective` for the exact formulae and the two gradient-penalty reductions (`released`, the
official code's, which ω_gp = 10 was tuned for; `paper`, Eq. 4).

One extension beyond the paper, off by default: `adv_bound` caps each sample's static CE before the
minus sign (e.g. at log K, where the static prediction is no better than chance). Training from
scratch the unbounded term diverges (the static CE can grow without limit by being confidently
wrong); the bound stops that push once a static clip carries no evidence for its label.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from albar.double_backprop import fast_second_order

STATIC_FRAME_CHOICES = ("middle", "first", "last", "random")
GP_REDUCTIONS = ("released", "paper")
TERM_NAMES = ("ce", "static_ce", "neg_entropy", "gp", "static_max_prob")


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def uses_batch_statistics(model: nn.Module) -> bool:
    """True when a layer normalises with batch statistics (BatchNorm and friends).

    Such a model must see the motion and the static clips in two separate forward passes: in one
    concatenated batch the static clips would shift the motion clips' normalisation statistics
    (and the reverse), which is not the objective of the paper or its release.
    """
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in _unwrap(model).modules())


def static_frame_indices(
    static_frame: str | int, batch: int, frames: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Index of the frozen frame for each sample: (B,) int64 on the CPU."""
    if isinstance(static_frame, bool):
        raise ValueError(f"static_frame must be one of {STATIC_FRAME_CHOICES} or an int")
    if isinstance(static_frame, int):
        if not -frames <= static_frame < frames:
            raise ValueError(f"static_frame {static_frame} is outside a clip of {frames} frames")
        return torch.full((batch,), static_frame % frames, dtype=torch.int64)
    if static_frame == "middle":
        # T // 2: the released code's index 16 of 32.
        return torch.full((batch,), frames // 2, dtype=torch.int64)
    if static_frame == "first":
        return torch.zeros(batch, dtype=torch.int64)
    if static_frame == "last":
        return torch.full((batch,), frames - 1, dtype=torch.int64)
    if static_frame == "random":
        return torch.randint(frames, (batch,), generator=generator)
    raise ValueError(
        f"static_frame must be one of {STATIC_FRAME_CHOICES} or an int, got {static_frame!r}"
    )


def make_static_clip(
    source: torch.Tensor, indices: torch.Tensor, materialise: bool = True
) -> torch.Tensor:
    """The static clip: frame `indices[b]` of `source[b]` repeated over time, as a grad leaf.

    source: (B, C, T, H, W). The result is a (B, C, T, H, W) leaf of its own — the gradient
    penalty is taken with respect to every repeated copy, not to one frame that is then expanded.
    materialise=False keeps the copies as a stride-0 view of the frame (the same leaf to
    autograd, with one gradient per copy), which `albar.double_backprop` convolves frame-wise.
    """
    batch, _, frames = source.shape[:3]
    index = indices.to(source.device)
    frame = source.detach()[torch.arange(batch, device=source.device), :, index]  # (B, C, H, W)
    static = frame.unsqueeze(2).expand(-1, -1, frames, -1, -1)  # (B, C, T, H, W)
    return (static.contiguous() if materialise else static).requires_grad_(True)


def gradient_penalty(grad: torch.Tensor, reduction: str = "released") -> torch.Tensor:
    """Reduce ∂(Σ logits)/∂static_clip (B, C, T, H, W) to a scalar.

    released: sqrt(Σ_{C,T,H} g² + 1e-12), averaged over batch *and width* (the official code
    reduces the 5-D tensor this way). paper (Eq. 4): the per-sample L2 norm over the whole clip,
    averaged over the batch (1e-12 under the root too, so the norm is differentiable at 0).
    """
    if reduction == "released":
        return torch.sqrt(grad.pow(2).sum(dim=(1, 2, 3)) + 1e-12).mean()
    if reduction == "paper":
        return torch.sqrt(grad.pow(2).flatten(1).sum(dim=1) + 1e-12).mean()
    raise ValueError(f"gp_reduction must be one of {GP_REDUCTIONS}, got {reduction!r}")


def _check_inputs(clip: torch.Tensor, labels: torch.Tensor) -> None:
    if clip.ndim != 5:
        raise ValueError(f"clip must be (B, C, T, H, W); got shape {tuple(clip.shape)}")
    if labels.ndim != 1 or labels.shape[0] != clip.shape[0]:
        raise ValueError(
            f"labels must be (B,) with B = {clip.shape[0]}; got shape {tuple(labels.shape)}"
        )
    if labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must be integer class indices; got dtype {labels.dtype}")


def check_labels(labels: torch.Tensor, num_classes: int) -> None:
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes - 1}] (the model has {num_classes} classes); "
            f"got values from {low} to {high}"
        )


def resolve_adv_bound(adv_bound: float | str | None, num_classes: int) -> float | None:
    if adv_bound is None:
        return None
    if adv_bound == "log_k":
        return math.log(num_classes)
    if isinstance(adv_bound, int | float) and not isinstance(adv_bound, bool) and adv_bound > 0:
        return float(adv_bound)
    raise ValueError(f"adv_bound must be null, 'log_k' or a positive number, got {adv_bound!r}")


def albar_objective(
    model: nn.Module,
    clip: torch.Tensor,
    labels: torch.Tensor,
    *,
    static_clip: torch.Tensor | None = None,
    static_frame: str | int = "middle",
    generator: torch.Generator | None = None,
    w_ce: float = 1.0,
    w_adv: float = 1.0,
    w_ent: float = 4.25,
    w_gp: float = 10.0,
    gp_reduction: str = "released",
    adv_bound: float | str | None = None,
    fast_penalty: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """loss = w_ce·CE(F(x), y) − w_adv·CE(F(x̄), y) + w_ent·Σ_c p̄ log p̄ + w_gp·GP.

    clip: the augmented, normalised motion clip x, (B, C, T, H, W). labels: (B,) class indices.
    static_clip: the clip the static frame is taken from when it is not `clip` (ALBAR + StillMix
    passes the clean, unmixed clip, already in the batch order of `clip`). static_frame: "middle"
    (T // 2), "first", "last", "random" (one index per sample, drawn from `generator`) or an int.
    x̄ = that frame repeated T times, a leaf with grad. Both passes run through `model` as it is
    (train mode in training); with w_gp = 0 a model without batch-statistics layers sees x and x̄
    in one concatenated forward (same result, one pass); otherwise two passes.
    GP = the reduced ∂(Σ_b Σ_c F(x̄)_bc)/∂x̄, by double backprop (create_graph=True).
    adv_bound (our extension, default off): each sample's static CE is capped at this value
    ("log_k" = log K) before averaging, so the adversarial term cannot run away.
    fast_penalty: on CPU, the static pass's convolutions and BatchNorms get the second
    derivatives of `albar.double_backprop` (same maths, float rounding apart; PyTorch's own are
    slow on CPU), x̄ stays one frame expanded over time, and the final backward skips the unused
    gradient with respect to x̄; False = PyTorch's own nodes throughout (the formulation before
    2026-12-02, kept for comparisons).

    A zero weight skips its term and its cost (no static pass at all when w_adv = w_ent = w_gp = 0;
    no double backprop when w_gp = 0); a skipped term is reported as NaN. Returns the scalar loss
    and `terms`: detached `ce`, `static_ce` (unbounded mean), `neg_entropy`, `gp`,
    `static_max_prob` (mean max softmax on static clips), and `accuracy` (motion clips, top-1).
    """
    _check_inputs(clip, labels)
    if gp_reduction not in GP_REDUCTIONS:
        raise ValueError(f"gp_reduction must be one of {GP_REDUCTIONS}, got {gp_reduction!r}")
    source = clip if static_clip is None else static_clip
    if source.shape != clip.shape:
        raise ValueError(
            f"static_clip must have the clip's shape {tuple(clip.shape)}; got {tuple(source.shape)}"
        )
    nan = torch.tensor(float("nan"), device=clip.device)
    need_static = w_adv != 0 or w_ent != 0 or w_gp != 0
    batch, _, frames = clip.shape[:3]

    static = None
    # measured on CPU only (perf/README_training.md); elsewhere PyTorch's nodes as before
    fast = fast_penalty and w_gp != 0 and clip.device.type == "cpu"
    if need_static:
        indices = static_frame_indices(static_frame, batch, frames, generator)
        static = make_static_clip(source, indices, materialise=not fast)
        if w_gp == 0:
            static.requires_grad_(False)

    # One concatenated pass only without batch statistics *and* without the penalty: with the
    # penalty, the double backprop would run through the whole 2B-clip graph (the motion half
    # for nothing) — measured 1.4x slower than two passes for swin3d_t on CPU (perf/README_training.md).
    if static is not None and w_gp == 0 and not uses_batch_statistics(model):
        logits_all = model(torch.cat([clip, static]))  # (2B, K): one pass for both clips
        logits, static_logits = logits_all[:batch], logits_all[batch:]
    else:
        logits = model(clip)  # (B, K)
        static_logits = None
        if static is not None:
            with fast_second_order(fast):
                static_logits = model(static)
    logits = logits.float()
    num_classes = logits.shape[1]
    check_labels(labels, num_classes)

    ce = F.cross_entropy(logits, labels)
    loss = w_ce * ce if w_ce != 0 else logits.sum() * 0.0
    terms = {
        "ce": ce.detach(),
        "static_ce": nan,
        "neg_entropy": nan,
        "gp": nan,
        "static_max_prob": nan,
        "accuracy": (logits.detach().argmax(1) == labels).float().mean(),
    }
    if static_logits is None:
        return loss, terms

    static_logits = static_logits.float()
    static_log_probs = F.log_softmax(
        static_logits, dim=1
    )  # log_softmax, never log(softmax): no NaN
    static_probs = static_log_probs.exp()
    static_ce_per_sample = F.nll_loss(static_log_probs, labels, reduction="none")  # (B,)
    terms["static_ce"] = static_ce_per_sample.detach().mean()
    terms["static_max_prob"] = static_probs.detach().max(dim=1).values.mean()
    neg_entropy = (static_probs * static_log_probs).sum(dim=1).mean()
    terms["neg_entropy"] = neg_entropy.detach()

    if w_adv != 0:
        bound = resolve_adv_bound(adv_bound, num_classes)
        adv_ce = static_ce_per_sample
        if bound is not None:
            adv_ce = torch.clamp(adv_ce, max=bound)
        loss = loss - w_adv * adv_ce.mean()
    if w_ent != 0:
        loss = loss + w_ent * neg_entropy
    if w_gp != 0:
        # Double backprop: create_graph=True so the penalty's own gradient reaches the weights.
        (grad,) = torch.autograd.grad(static_logits.sum(), static, create_graph=True)
        if fast:  # x̄'s own gradient is not needed again (the release does the same)
            static.requires_grad_(False)
        gp = gradient_penalty(grad, gp_reduction)
        terms["gp"] = gp.detach()
        loss = loss + w_gp * gp
    return loss, terms
