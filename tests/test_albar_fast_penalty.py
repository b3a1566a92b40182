"""The fast gradient penalty (albar.double_backprop) against the formulation it replaced.

`old_objective` below is the ALBAR loss as albar.losses computed it before the fast path: the
static clip materialised, two passes through PyTorch's own Conv3d / BatchNorm nodes, the penalty by
double backprop through them. The new path must give the same loss terms, parameter gradients and
BatchNorm running statistics on a seeded tiny3d (the default model) and batch.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import gradcheck, gradgradcheck

from albar.double_backprop import (
    _BatchNorm,
    _BatchNormBackward,
    _Conv,
    _ConvSpec,
    fast_second_order,
)
from albar.losses import albar_objective
from albar.models import build_model

B, T, S, K = 4, 8, 32, 5  # 8 frames as the default clip; 32 px keeps tiny3d's four blocks


def old_objective(model, clip, labels, *, w_adv, w_ent, w_gp, reduction, bound, frame=T // 2):
    """The pre-2026-12-02 formulation, written out: returns (loss, terms)."""
    static = clip.detach()[:, :, frame].unsqueeze(2).repeat(1, 1, clip.shape[2], 1, 1)
    static.requires_grad_(True)
    logits = model(clip).float()  # as albar_objective: the loss terms in float32
    static_logits = model(static).float()
    ce = F.cross_entropy(logits, labels)
    log_p = F.log_softmax(static_logits, 1)
    static_ce = F.nll_loss(log_p, labels, reduction="none")
    neg_entropy = (log_p.exp() * log_p).sum(1).mean()
    (grad,) = torch.autograd.grad(static_logits.sum(), static, create_graph=True)
    if reduction == "released":
        gp = torch.sqrt(grad.pow(2).sum(dim=(1, 2, 3)) + 1e-12).mean()
    else:
        gp = torch.sqrt(grad.pow(2).flatten(1).sum(1) + 1e-12).mean()
    adv = static_ce if bound is None else torch.clamp(static_ce, max=bound)
    loss = ce - w_adv * adv.mean() + w_ent * neg_entropy + w_gp * gp
    terms = {"ce": ce, "static_ce": static_ce.mean(), "neg_entropy": neg_entropy, "gp": gp}
    return loss, {k: v.detach() for k, v in terms.items()}


def _setup(dtype, seed=0):
    torch.manual_seed(seed)
    model = build_model("tiny3d", num_classes=K).train().to(dtype)
    g = torch.Generator().manual_seed(seed)
    clip = torch.randn(B, 3, T, S, S, generator=g).to(dtype)
    labels = torch.randint(K, (B,), generator=g)
    return model, clip, labels


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


def _relative(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


SETTINGS = [
    dict(w_adv=1.0, w_ent=4.25, w_gp=10.0, reduction="released", bound=None),  # released
    dict(w_adv=1.0, w_ent=1.0, w_gp=1.0, reduction="released", bound=math.log(K)),  # `albar`
    dict(w_adv=0.5, w_ent=2.0, w_gp=3.0, reduction="paper", bound=None),
]


# albar_objective takes its loss terms in float32 (logits.float()), so even a float64 model agrees
# only to float32's rounding there; test_the_static_pass_is_exact_in_float64 checks the nodes alone.
@pytest.mark.parametrize(
    "dtype,term_tol,grad_tol", [(torch.float64, 1e-9, 1e-6), (torch.float32, 1e-6, 1e-5)]
)
@pytest.mark.parametrize("settings", SETTINGS)
def test_fast_penalty_equals_the_old_formulation(dtype, term_tol, grad_tol, settings):
    model, clip, labels = _setup(dtype)
    reference = copy.deepcopy(model)
    loss, terms = albar_objective(
        model, clip, labels, w_ce=1.0, w_adv=settings["w_adv"], w_ent=settings["w_ent"],
        w_gp=settings["w_gp"], gp_reduction=settings["reduction"],
        adv_bound=None if settings["bound"] is None else "log_k",
    )  # fmt: skip
    old_loss, old_terms = old_objective(reference, clip, labels, **settings)
    value, old_value = float(loss.detach()), float(old_loss.detach())
    assert abs(value - old_value) <= term_tol * max(1.0, abs(old_value))
    for name, value in old_terms.items():
        assert abs(float(terms[name]) - float(value)) <= term_tol * max(1.0, abs(float(value))), (
            name
        )
    assert float(terms["gp"]) > 0
    new, old = _grads(model, loss), _grads(reference, old_loss)
    assert set(new) == set(old) and len(new) == 14
    for name in old:
        assert old[name].abs().max() > 0, name
        assert _relative(new[name], old[name]) <= grad_tol, (name, _relative(new[name], old[name]))
    for (name, mine), theirs in zip(model.named_buffers(), reference.buffers(), strict=True):
        assert torch.allclose(
            mine.to(torch.float64), theirs.to(torch.float64), rtol=grad_tol, atol=0
        ), name


def test_the_static_pass_is_exact_in_float64():
    """The penalty-style loss through the fast nodes vs PyTorch's, all in float64: same maths."""
    model, clip, labels = _setup(torch.float64)
    reference = copy.deepcopy(model)
    frame = clip[:, :, T // 2 : T // 2 + 1]
    results = []
    for net, fast in [(model, True), (reference, False)]:
        static = frame.expand(-1, -1, T, -1, -1)
        static = (static if fast else static.contiguous()).requires_grad_(True)
        with fast_second_order(fast):
            logits = net(static)
        (grad,) = torch.autograd.grad(logits.sum(), static, create_graph=True)
        loss = F.cross_entropy(logits, labels) + 3.0 * grad.pow(2).sum(dim=(1, 2, 3)).sqrt().mean()
        results.append((float(loss.detach()), _grads(net, loss)))
    (loss, new), (old_loss, old) = results
    assert abs(loss - old_loss) < 1e-12
    for name in old:
        assert _relative(new[name], old[name]) < 1e-12, name


def test_old_path_is_still_pytorch_own_nodes():
    """fast_penalty=False is the old formulation (kept for perf/train_step.py's comparison)."""
    model, clip, labels = _setup(torch.float64)
    reference = copy.deepcopy(model)
    loss, _ = albar_objective(model, clip, labels, fast_penalty=False)
    names = set()

    def walk(fn, seen=set()):  # noqa: B006 - a local cache
        if fn is None or fn in seen:
            return
        seen.add(fn)
        names.add(type(fn).__name__)
        for nxt, _ in fn.next_functions:
            walk(nxt, seen)

    walk(loss.grad_fn)
    assert "ConvolutionBackwardBackward0" in names and not any("_Conv" in n for n in names)
    old_loss, _ = old_objective(
        reference, clip, labels, w_adv=1.0, w_ent=4.25, w_gp=10.0, reduction="released", bound=None
    )
    loss, old_loss = loss.detach(), old_loss.detach()
    assert abs(float(loss) - float(old_loss)) < 1e-12
    fast_loss, _ = albar_objective(copy.deepcopy(reference), clip, labels)
    names.clear()
    walk(fast_loss.grad_fn, set())
    assert "_ConvInputGradBackward" in names and "_BatchNormBackwardBackward" in names


def test_the_second_derivatives_by_finite_differences():
    """gradgradcheck (float64) of each node: strides, paddings, bias, BatchNorm's three outputs."""
    torch.manual_seed(0)
    d = torch.float64
    x = (torch.randn(2, 3, 2, 3, 3, dtype=d) * 2 + 1.5).requires_grad_(True)
    gamma = (torch.rand(3, dtype=d) + 0.5).requires_grad_(True)
    beta = torch.randn(3, dtype=d, requires_grad=True)
    assert gradgradcheck(
        lambda x, w, b: _BatchNorm.apply(x, w, b, None, None, 0.1, 1e-5), (x, gamma, beta)
    )

    def bn_backward(grad_y, x, w):  # (gx, gγ, gβ) as functions of grad_y, x and γ
        with torch.no_grad():
            _, mean, invstd = torch.ops.aten.native_batch_norm(
                x, w, None, None, None, True, 0.1, 1e-5
            )
        return _BatchNormBackward.apply(grad_y, x, w, mean, invstd, 1e-5)

    assert gradcheck(bn_backward, (torch.randn_like(x, requires_grad=True), x, gamma))
    clip = torch.randn(1, 2, 4, 5, 5, dtype=d, requires_grad=True)
    for stride, padding, bias in [((1, 2, 2), 1, True), (2, (1, 0, 1), False), (1, 0, False)]:
        spec = _ConvSpec(3, stride, padding, 1, 1)
        weight = torch.randn(2, 2, 3, 3, 3, dtype=d, requires_grad=True)
        b = torch.randn(2, dtype=d, requires_grad=True) if bias else None
        inputs = (clip, weight) + ((b,) if bias else ())
        assert gradgradcheck(
            lambda x, w, *b, spec=spec: _Conv.apply(x, w, b[0] if b else None, spec), inputs
        )


@pytest.mark.parametrize(
    "stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (2, 0, 1), (1, 2, 2), (3, 1, 1)]
)
def test_a_repeated_frame_convolves_as_the_materialised_clip(stride, padding, dilation):
    """The stride-0 (one frame expanded over time) path: output and weight gradient equal the
    ordinary Conv3d of the materialised clip, whatever the temporal stride, padding, dilation."""
    torch.manual_seed(1)
    d = torch.float64
    frame = torch.randn(2, 3, 1, 9, 9, dtype=d)
    expanded = frame.expand(-1, -1, 7, -1, -1).requires_grad_(True)
    dense = frame.expand(-1, -1, 7, -1, -1).contiguous().requires_grad_(True)
    conv = nn.Conv3d(3, 4, 3, stride=(stride, 1, 2), padding=padding, dilation=dilation).to(d)
    with fast_second_order():
        out = conv(expanded)
    expected = conv(dense)
    assert out.shape == expected.shape and torch.allclose(out, expected, rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(out)
    gw, gb, gx = torch.autograd.grad((out * upstream).sum(), [conv.weight, conv.bias, expanded])
    ew, eb, ex = torch.autograd.grad((expected * upstream).sum(), [conv.weight, conv.bias, dense])
    assert torch.allclose(gw, ew, rtol=1e-12, atol=1e-12) and torch.allclose(gb, eb)
    assert torch.allclose(gx, ex, rtol=1e-12, atol=1e-12)  # one gradient per repeated copy
    assert not torch.equal(gx[:, :, 0], gx[:, :, 3])


def test_calls_the_fast_nodes_do_not_cover_fall_through_unchanged():
    """Eval-mode BatchNorm, a string padding and 2-D inputs give PyTorch's own results."""
    torch.manual_seed(2)
    norm = nn.BatchNorm3d(3).eval()
    norm.running_mean.normal_()
    conv = nn.Conv3d(3, 3, 3, padding="same")
    conv2d = nn.Conv2d(3, 2, 3, padding=1)
    x = torch.randn(2, 3, 4, 6, 6, requires_grad=True)
    with fast_second_order():
        a = conv(norm(x))
        c = conv2d(x[:, :, 0])
    assert a.grad_fn.name() == "ConvolutionBackward0"
    assert torch.equal(a, conv(norm(x))) and torch.equal(c, conv2d(x[:, :, 0]))
    assert c.grad_fn.name() == "_ConvBackward"  # 2-D convolutions take the fast node too
