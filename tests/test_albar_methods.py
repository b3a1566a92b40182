"""Training methods: StillMix batch alignment (the release's misalignment must not exist), the
ALBAR + StillMix static source, BE / FAME / Mixup, the frame bank, and method construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import albar.methods.albar as albar_module
from albar.methods import MethodContext, build_method
from albar.methods.augment import fame_foreground
from albar.methods.stillmix import build_frame_bank, stillmix_batch

B, C, T, H, W, K = 8, 3, 4, 6, 6, 5
CONTEXT = MethodContext(K, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def _tagged_batch():
    """Clip b is filled with the value b at every pixel of frame t plus t/100: a clip's identity
    and frame can be read back from any pixel; labels are b % K."""
    clip = torch.zeros(B, C, T, H, W)
    for b in range(B):
        for t in range(T):
            clip[b, :, t] = b + t / 100
    labels = torch.arange(B) % K
    return clip, labels


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(C * T * H * W, K)

    def forward(self, x):
        return self.head(x.flatten(1))


@pytest.mark.parametrize("use_bank", [True, False])
def test_stillmix_reorders_clips_clean_clips_and_labels_together(use_bank):
    clip, labels = _tagged_batch()
    bank = torch.full((3, C, H, W), -50.0) if use_bank else None
    mixed = stillmix_batch(
        clip,
        labels,
        bank,
        prob_aug=0.5,
        alpha=(200, 200),
        generator=torch.Generator().manual_seed(3),
    )
    order = mixed.order.tolist()
    assert sorted(order) == list(range(B))
    n_mixed = int(mixed.mixed.sum())
    assert 0 < n_mixed < B  # the seed mixes some and leaves some
    assert mixed.mixed[:n_mixed].all() and not mixed.mixed[n_mixed:].any()  # augmented first
    for i, source in enumerate(order):
        assert torch.equal(mixed.clean[i], clip[source])  # static source aligned with its clip
        assert mixed.labels[i] == labels[source]  # label aligned with its clip
        if mixed.mixed[i]:
            if use_bank:
                expected = mixed.lam * clip[source] + (1 - mixed.lam) * -50.0
            else:
                # F is one frame of another clip: the mixed pixel reveals that clip's tag
                other = (mixed.clip[i, 0, 0, 0, 0] - mixed.lam * clip[source, 0, 0, 0, 0]) / (
                    1 - mixed.lam
                )
                assert int(other.round()) != source
                continue
            torch.testing.assert_close(mixed.clip[i], expected)
        else:
            assert torch.equal(mixed.clip[i], clip[source])
    assert 0.4 < mixed.lam < 0.6  # Beta(200, 200)


def test_albar_stillmix_passes_the_clean_static_source_in_the_batch_order(monkeypatch):
    clip, labels = _tagged_batch()
    seen = {}

    def spy(model, clip_arg, labels_arg, **kwargs):
        seen.update(clip=clip_arg, labels=labels_arg, **kwargs)
        return clip_arg.sum() * 0.0, {"ce": torch.tensor(0.0)}

    monkeypatch.setattr(albar_module, "albar_objective", spy)
    method = build_method(
        {
            "name": "a",
            "method": "albar_stillmix",
            "training": {},
            "w_ce": 1.0,
            "w_adv": 1.0,
            "w_ent": 4.25,
            "w_gp": 10.0,
            "gp_reduction": "released",
            "static_frame": "middle",
            "adv_bound": None,
            "plain_epochs": 0,
            "prob_aug": 0.5,
            "alpha": [200.0, 200.0],
            "stillmix_source": "bank",
            "bank": {},
        }
    )
    bank = torch.zeros(4, H, W, 3, dtype=torch.uint8)  # black frames
    method.setup(CONTEXT, bank=bank)
    method.step(Linear(), clip, labels, torch.Generator().manual_seed(3))
    static_source, mixed_clip, mixed_labels = seen["static_clip"], seen["clip"], seen["labels"]
    assert not torch.equal(mixed_clip, static_source)  # some clips were mixed
    for i in range(B):
        tag = int(static_source[i, 0, 0, 0, 0].round())  # which original clip this row is
        assert torch.equal(static_source[i], clip[tag])  # clean, unmixed
        assert mixed_labels[i] == labels[tag]  # label of that very clip
        # the motion clip in the same row is that clip (mixed or not)
        ratio = (mixed_clip[i] - mixed_clip[i].mean()) / (clip[tag] - clip[tag].mean())
        finite = ratio[~ratio.isnan()]
        torch.testing.assert_close(
            finite, torch.full_like(finite, float(finite[0])), rtol=1e-4, atol=1e-4
        )


def _method(name, **params):
    return build_method({"name": name, "method": name, "training": {}, **params})


@pytest.mark.parametrize(
    "name, params",
    [
        ("vanilla", {}),
        ("be", {"max_lambda": 0.3}),
        ("fame", {"prob_aug": 1.0}),
        ("mixup", {"alpha": 0.2}),
        ("stillmix_random", {"prob_aug": 0.5, "alpha": [200.0, 200.0]}),
    ],
)
def test_every_method_gives_a_finite_loss_with_gradients(name, params):
    torch.manual_seed(0)
    clip = torch.randn(B, C, T, H, W)
    labels = torch.arange(B) % K
    method = _method(name, **params)
    method.setup(CONTEXT)
    model = Linear()
    result = method.step(model, clip, labels, torch.Generator().manual_seed(1))
    assert torch.isfinite(result.loss)
    result.loss.backward()
    assert model.head.weight.grad.abs().sum() > 0
    assert 0.0 <= float(result.terms["accuracy"]) <= 1.0


def test_be_blends_a_frame_of_the_same_clip():
    clip, labels = _tagged_batch()
    captured = []

    class Capture(Linear):
        def forward(self, x):
            captured.append(x)
            return super().forward(x)

    method = _method("be", max_lambda=0.3)
    method.setup(CONTEXT)
    method.step(Capture(), clip, labels, torch.Generator().manual_seed(0))
    out = captured[0]
    assert torch.allclose(out.round(), clip.round())  # only frames of the same clip (tags kept)
    assert (out - clip).abs().max() <= 0.3 * (T - 1) / 100 + 1e-6


def test_fame_mask_keeps_half_the_pixels_and_follows_motion():
    torch.manual_seed(0)
    clip = torch.zeros(2, 3, 4, 16, 16)
    clip[:, :, ::2, 4:8, 4:8] = 1.0  # a blinking square: the only motion
    mask = fame_foreground(clip, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert mask.shape == (2, 1, 1, 16, 16)
    assert mask.sum().item() == 2 * 16 * 16 // 2
    assert mask[:, 0, 0, 4:8, 4:8].all()  # the moving square is foreground


def test_frame_bank_keeps_confident_frames_at_the_clip_size():
    rng = np.random.default_rng(0)
    videos = [
        (f"v{i}", rng.integers(0, 255, (3, 20, 24, 3), dtype=np.uint8), i % 3) for i in range(6)
    ]
    settings = {
        "reference_model": "resnet18",
        "reference_weights": None,
        "reference_size": 16,
        "reference_epochs": 1,
        "reference_batch_size": 3,
        "reference_lr": 1e-3,
        "lo": 0.5,
        "bank_size": 6,
        "crop_size": 16,
    }
    bank = build_frame_bank(
        videos, settings, num_classes=3, seed=0, device=torch.device("cpu"), log=lambda _: None
    )
    assert bank["frames"].shape == (6, 16, 16, 3) and bank["frames"].dtype == torch.uint8
    assert bank["scored_frames"] == 18
    assert (bank["scores"] >= bank["threshold"] - 1e-6).all()
    assert set(bank["video_ids"]) <= {v for v, _, _ in videos}
    again = build_frame_bank(
        videos, settings, num_classes=3, seed=0, device=torch.device("cpu"), log=lambda _: None
    )
    assert torch.equal(again["frames"], bank["frames"])  # seeded


def test_unknown_method_or_parameter_names_the_run():
    with pytest.raises(ValueError, match="run 'x'.*unknown method"):
        build_method({"name": "x", "method": "no_such_method"})
    with pytest.raises(ValueError, match="run 'x' \\(method vanilla\\)"):
        build_method({"name": "x", "method": "vanilla", "w_adv": 1.0})
    method = _method("stillmix", prob_aug=0.5, alpha=[200.0, 200.0], bank={})
    with pytest.raises(ValueError, match="needs a StillMix frame bank"):
        method.setup(CONTEXT)


def test_plain_epochs_switch_the_static_terms_on_later():
    method = _method(
        "albar",
        w_ce=1.0,
        w_adv=1.0,
        w_ent=4.25,
        w_gp=10.0,
        gp_reduction="released",
        static_frame="middle",
        adv_bound=None,
        plain_epochs=2,
    )
    method.setup(CONTEXT)
    clip, labels = _tagged_batch()
    calls = []
    model = Linear()
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    for epoch, expected in [(0, [B]), (1, [B]), (2, [B, B])]:  # plain CE, then both passes
        calls.clear()
        method.set_epoch(epoch)
        result = method.step(model, clip, labels, torch.Generator().manual_seed(0))
        assert calls == expected
        assert torch.isnan(result.terms["gp"]) == (epoch < 2)
