"""The ALBAR objective against an independent, loop-by-loop computation on tiny models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from albar.losses import albar_objective, gradient_penalty, static_frame_indices

B, C, T, H, W, K = 4, 3, 6, 8, 10, 5


class TinyBN(nn.Module):
    """Conv3d + BatchNorm + linear head: a BatchNorm model (two separate passes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(C, 4, kernel_size=3, padding=1)
        self.norm = nn.BatchNorm3d(4)
        self.head = nn.Linear(4, K)

    def forward(self, x):
        return self.head(torch.tanh(self.norm(self.conv(x))).mean(dim=(2, 3, 4)))


class TinyLN(nn.Module):
    """No batch statistics: the objective may run motion and static clips in one pass."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(C, 4, kernel_size=3, padding=1)
        self.norm = nn.GroupNorm(1, 4)
        self.head = nn.Linear(4, K)

    def forward(self, x):
        return self.head(torch.tanh(self.norm(self.conv(x))).mean(dim=(2, 3, 4)))


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    clip = torch.randn(B, C, T, H, W, generator=g)
    labels = torch.randint(K, (B,), generator=g)
    return clip, labels


def _model(cls=TinyBN, seed=0):
    torch.manual_seed(seed)
    return cls().train()


def _static_by_loops(source, indices):
    static = torch.empty_like(source)
    for b in range(source.shape[0]):
        for t in range(source.shape[2]):
            static[b, :, t] = source[b, :, int(indices[b])]
    return static.requires_grad_(True)


def _reference(model, clip, labels, indices, source=None, reduction="released", bound=None):
    """Each term computed independently: explicit loops, log of explicit softmax sums."""
    source = clip if source is None else source
    logits = model(clip)
    static = _static_by_loops(source.detach(), indices)
    static_logits = model(static)

    def ce_of(z):
        values = []
        for b in range(z.shape[0]):
            log_norm = torch.log(torch.exp(z[b] - z[b].max()).sum()) + z[b].max()
            values.append(log_norm - z[b, labels[b]])
        return torch.stack(values)

    ce = ce_of(logits).mean()
    static_ce_each = ce_of(static_logits)
    adv_each = static_ce_each if bound is None else torch.clamp(static_ce_each, max=bound)
    probs = torch.softmax(static_logits.double(), 1)
    neg_entropy = (probs * torch.log(probs)).sum(1).mean().float()
    (grad,) = torch.autograd.grad(static_logits.sum(), static, create_graph=True)
    if reduction == "released":
        norms = [
            torch.sqrt((grad[b, :, :, :, w] ** 2).sum() + 1e-12)
            for b in range(grad.shape[0])
            for w in range(grad.shape[4])
        ]
    else:
        norms = [torch.sqrt((grad[b] ** 2).sum() + 1e-12) for b in range(grad.shape[0])]
    gp = torch.stack(norms).mean()
    return {
        "ce": ce,
        "static_ce": static_ce_each.mean(),
        "adv": adv_each.mean(),
        "neg_entropy": neg_entropy,
        "gp": gp,
        "static_max_prob": torch.softmax(static_logits, 1).max(1).values.mean(),
    }


@pytest.mark.parametrize("reduction", ["released", "paper"])
def test_every_term_and_the_total_match_an_independent_computation(reduction):
    clip, labels = _data()
    weights = dict(w_ce=0.7, w_adv=1.3, w_ent=4.25, w_gp=10.0)
    loss, terms = albar_objective(_model(), clip, labels, gp_reduction=reduction, **weights)
    ref = _reference(_model(), clip, labels, [T // 2] * B, reduction=reduction)
    for name in ("ce", "static_ce", "neg_entropy", "gp", "static_max_prob"):
        assert terms[name].item() == pytest.approx(ref[name].item(), rel=1e-4, abs=1e-6), name
    expected = 0.7 * ref["ce"] - 1.3 * ref["adv"] + 4.25 * ref["neg_entropy"] + 10.0 * ref["gp"]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)


@pytest.mark.parametrize(
    "term, weights",
    [
        ("ce", dict(w_ce=1.0, w_adv=0.0, w_ent=0.0, w_gp=0.0)),
        ("adv", dict(w_ce=0.0, w_adv=1.0, w_ent=0.0, w_gp=0.0)),
        ("neg_entropy", dict(w_ce=0.0, w_adv=0.0, w_ent=1.0, w_gp=0.0)),
        ("gp", dict(w_ce=0.0, w_adv=0.0, w_ent=0.0, w_gp=1.0)),
    ],
)
def test_each_term_alone_gives_loss_and_gradient_of_that_term(term, weights):
    clip, labels = _data(1)
    model = _model(seed=1)
    loss, _ = albar_objective(model, clip, labels, **weights)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    reference_model = _model(seed=1)
    ref = _reference(reference_model, clip, labels, [T // 2] * B)
    expected = -ref["adv"] if term == "adv" else ref[term]
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-6)
    expected.backward()
    for got, param in zip(grads, reference_model.parameters(), strict=True):
        want = (
            torch.zeros_like(param) if param.grad is None else param.grad
        )  # e.g. head bias for GP
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("choice", ["middle", "first", "last", 2, -1, "random"])
def test_static_frame_choices(choice):
    clip, labels = _data(2)
    expected_index = {"middle": [T // 2] * B, "first": [0] * B, "last": [T - 1] * B}
    if choice == "random":
        indices = torch.randint(T, (B,), generator=torch.Generator().manual_seed(5)).tolist()
    elif isinstance(choice, int):
        indices = [choice % T] * B
    else:
        indices = expected_index[choice]
    _, terms = albar_objective(
        _model(), clip, labels, static_frame=choice, generator=torch.Generator().manual_seed(5)
    )
    ref = _reference(_model(), clip, labels, indices)
    assert terms["static_ce"].item() == pytest.approx(ref["static_ce"].item(), rel=1e-5)
    assert terms["gp"].item() == pytest.approx(ref["gp"].item(), rel=1e-4)
    if choice == "random":
        assert len(set(indices)) > 1  # really one index per sample


def test_static_clip_argument_is_the_source_of_the_frozen_frame():
    clip, labels = _data(3)
    other, _ = _data(4)
    _, terms = albar_objective(_model(), clip, labels, static_clip=other, static_frame="first")
    ref = _reference(_model(), clip, labels, [0] * B, source=other)
    assert terms["static_ce"].item() == pytest.approx(ref["static_ce"].item(), rel=1e-5)
    assert terms["ce"].item() == pytest.approx(ref["ce"].item(), rel=1e-5)
    with pytest.raises(ValueError, match="static_clip must have"):
        albar_objective(_model(), clip, labels, static_clip=other[:, :, :2])


def test_one_batched_pass_without_batch_statistics_or_penalty_equals_two_passes():
    clip, labels = _data(5)
    model = _model(TinyLN, seed=5)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    loss, terms = albar_objective(model, clip, labels, w_gp=0)
    assert calls == [2 * B]  # motion and static clips together
    ref = _reference(_model(TinyLN, seed=5), clip, labels, [T // 2] * B)
    assert terms["static_ce"].item() == pytest.approx(ref["static_ce"].item(), rel=1e-5)
    assert terms["neg_entropy"].item() == pytest.approx(ref["neg_entropy"].item(), rel=1e-5)
    calls.clear()
    _, terms = albar_objective(model, clip, labels)
    assert calls == [B, B]  # with the penalty: two passes (double backprop on B clips only)
    assert terms["gp"].item() == pytest.approx(ref["gp"].item(), rel=1e-4)
    bn_calls = []
    bn_model = _model()
    bn_model.register_forward_hook(lambda m, i, o: bn_calls.append(i[0].shape[0]))
    albar_objective(bn_model, clip, labels)
    assert bn_calls == [B, B]  # BatchNorm: two passes


def test_zero_weights_skip_their_cost():
    clip, labels = _data(6)
    model = _model()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].requires_grad))
    loss, terms = albar_objective(model, clip, labels, w_adv=0, w_ent=0, w_gp=0)
    assert len(calls) == 1 and math.isnan(terms["gp"]) and math.isnan(terms["static_ce"])
    calls.clear()
    _, terms = albar_objective(model, clip, labels, w_gp=0)
    assert calls == [False, False]  # static clip needs no grad without the penalty
    assert math.isnan(terms["gp"]) and not math.isnan(terms["neg_entropy"])


def test_bounded_adversarial_term_stops_at_log_k():
    clip, labels = _data(7)
    weights = dict(w_ce=0.0, w_adv=1.0, w_ent=0.0, w_gp=0.0)
    bound = 0.5  # below the static CE of an untrained model (about log K)
    loss, terms = albar_objective(_model(), clip, labels, adv_bound=bound, **weights)
    ref = _reference(_model(), clip, labels, [T // 2] * B, bound=bound)
    assert loss.item() == pytest.approx(-ref["adv"].item(), rel=1e-5)
    assert loss.item() == pytest.approx(-bound)
    loss_k, _ = albar_objective(_model(), clip, labels, adv_bound="log_k", **weights)
    ref_k = _reference(_model(), clip, labels, [T // 2] * B, bound=math.log(K))
    assert loss_k.item() == pytest.approx(-ref_k["adv"].item(), rel=1e-5)


def test_entropy_is_nan_safe_when_probabilities_underflow():
    class Confident(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            logits = torch.zeros(x.shape[0], K)
            logits[:, 0] = 1e4
            return logits * self.scale

    clip, labels = _data(8)
    loss, terms = albar_objective(Confident(), clip, labels, w_gp=0)
    assert torch.isfinite(loss) and terms["neg_entropy"].item() == pytest.approx(0.0, abs=1e-6)
    loss.backward()


def test_penalty_gradient_matches_finite_differences():
    """Double backprop: d(GP)/d(weights) against central differences, in float64."""

    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(C * T * 2 * 2, 6)
            self.head = nn.Linear(6, K)

        def forward(self, x):
            return self.head(torch.tanh(self.hidden(x.flatten(1))))

    torch.manual_seed(9)
    model = Toy().double()
    g = torch.Generator().manual_seed(9)
    clip = torch.randn(3, C, T, 2, 2, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, 2])
    for reduction in ("released", "paper"):
        model.zero_grad()
        weights = dict(w_ce=0.0, w_adv=0.0, w_ent=0.0, w_gp=1.0, gp_reduction=reduction)
        loss, _ = albar_objective(model, clip, labels, **weights)
        loss.backward()
        param = model.hidden.weight
        analytic = param.grad.clone()
        eps = 1e-6
        for index in [(0, 0), (1, 5), (3, 17), (5, 23)]:
            original = param[index].item()
            values = []
            for shifted in (original + eps, original - eps):
                with torch.no_grad():
                    param[index] = shifted
                values.append(albar_objective(model, clip, labels, **weights)[0].item())
            with torch.no_grad():
                param[index] = original
            plus, minus = values
            numeric = (plus - minus) / (2 * eps)
            assert analytic[index].item() == pytest.approx(numeric, rel=1e-5, abs=1e-8)
        assert analytic.abs().sum() > 0  # the penalty really reaches the weights


def test_reductions_differ_by_about_sqrt_width_for_uniform_gradients():
    grad = torch.ones(2, C, T, H, W)
    released = gradient_penalty(grad, "released").item()
    paper = gradient_penalty(grad, "paper").item()
    assert released == pytest.approx(math.sqrt(C * T * H))
    assert paper == pytest.approx(math.sqrt(C * T * H * W))
    with pytest.raises(ValueError, match="gp_reduction"):
        gradient_penalty(grad, "mean")


def test_bad_inputs_are_clear_errors():
    clip, labels = _data(10)
    model = _model()
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        albar_objective(model, clip[0], labels)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\]"):
        albar_objective(model, clip, labels + K)
    with pytest.raises(ValueError, match="labels must be"):
        albar_objective(model, clip, labels[:2])
    with pytest.raises(ValueError, match="static_frame"):
        albar_objective(model, clip, labels, static_frame=T)
    with pytest.raises(ValueError, match="static_frame"):
        static_frame_indices("centre", B, T)
