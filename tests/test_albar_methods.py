"""Training methods: StillMix batch alignment (the release's misalignment must not exist), the
ALBAR + StillMix static source, BE / FAME / Mixup, the frame bank, and method construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import albar.methods.albar as albar_module
from albar.methods import MethodContext, build_method
from albar.methods.augment import fame_colour_bins, fame_foreground, fame_kernel, gaussian_blur
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
        ("be", {"max_lambda": 0.3, "prob_aug": 0.5}),
        ("fame", {"prob_aug": 1.0}),
        ("mixup", {"alpha": 0.2, "prob_aug": 0.5}),
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


def test_be_one_lambda_per_batch_a_frame_of_the_same_clip_blended_clips_first():
    clip, labels = _tagged_batch()
    method = _method("be", max_lambda=0.3, prob_aug=0.5)
    method.setup(CONTEXT)
    out, out_labels, chosen, lam = method.blend(clip, labels, torch.Generator().manual_seed(0))
    n = int(chosen.sum())
    assert 0 < n < B and chosen[:n].all() and not chosen[n:].any()  # blended clips first
    assert 0.0 < lam <= 0.3
    sources = out[:, 0, 0, 0, 0].floor().long()  # the tag b of each clip survives (λ·t/100 < 1)
    assert sorted(sources.tolist()) == list(range(B))
    for i, b in enumerate(sources.tolist()):
        assert out_labels[i] == labels[b]
        diff = out[i] - clip[b]  # (C, T, H, W): λ·(t − f)/100 at frame f for blended frame t
        if not chosen[i]:
            assert torch.equal(diff, torch.zeros_like(diff))
            continue
        # one λ for the whole batch: read it back from the slope over frames
        slope = (diff[0, 0, 0, 0] - diff[0, 1, 0, 0]) * 100
        assert abs(float(slope) - lam) < 1e-5
        t = float(diff[0, 0, 0, 0]) * 100 / lam  # the blended frame of the same clip
        assert abs(t - round(t)) < 1e-3 and 0 <= round(t) < T


def test_be_applies_to_a_prob_aug_share_of_clips():
    clip, labels = _tagged_batch()
    method = _method("be", max_lambda=0.3, prob_aug=0.25)
    method.setup(CONTEXT)
    counts = [
        int(method.blend(clip, labels, torch.Generator().manual_seed(s))[2].sum())
        for s in range(200)
    ]
    assert abs(sum(counts) / (200 * B) - 0.25) < 0.04
    untouched = _method("be", max_lambda=0.3, prob_aug=0.0)
    untouched.setup(CONTEXT)
    same, same_labels, _, _ = untouched.blend(clip, labels, torch.Generator().manual_seed(0))
    assert torch.equal(same, clip) and torch.equal(same_labels, labels)


def _fame_clip():
    """16×16, 4 frames, normalised with mean 0.5 / std 0.25. Columns 0-5 flicker around red
    (0.75, 0.25, 0.25) ± 0.125 (the only motion); columns 6-7 are that red, still; 8-15 blue."""
    red = torch.tensor([0.75, 0.25, 0.25]).view(3, 1, 1, 1)
    blue = torch.tensor([0.25, 0.25, 0.75]).view(3, 1, 1, 1)
    rgb = blue.expand(3, 4, 16, 16).clone()
    rgb[:, :, :, :8] = red
    rgb[:, 0::2, :, :6] += 0.125
    rgb[:, 1::2, :, :6] -= 0.125
    return ((rgb - 0.5) / 0.25).unsqueeze(0)  # (1, 3, 4, 16, 16)


def test_fame_mask_from_motion_refined_by_the_colours_of_the_time_mean_frame():
    """Columns 6-7 do not move but have the moving actor's time-mean colour: the HSV histogram
    makes them foreground, so the mask is exactly columns 0-7 (128 = half the pixels)."""
    mask = fame_foreground(_fame_clip(), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert mask.shape == (1, 1, 1, 16, 16)
    expected = torch.zeros(16, 16)
    expected[:, :8] = 1
    assert torch.equal(mask[0, 0, 0], expected)


def test_fame_colour_bins_are_a_10x10x10_hsv_histogram():
    rgb = torch.tensor([[1.0, 0, 0], [0, 0, 0], [1, 1, 1], [0, 0, 1.0]]).T.reshape(1, 3, 1, 4)
    # red: s=1, h=0 -> x=1, y=0.5 -> bins (10, round(5.5)=6, 10); black: (5.5->6, 6, 1);
    # white: s=0 -> (6, 6, 10); blue: h=2/3 -> x=0.25, y≈0.067 -> (round(3.25)=3, round(1.6)=2, 10)
    assert fame_colour_bins(rgb).tolist() == [
        [10 + 5 * 10 + 900, 6 + 5 * 10, 6 + 5 * 10 + 900, 3 + 1 * 10 + 900]
    ]


def test_fame_blur_is_kernel_23_sigma_23_over_3_at_224():
    assert fame_kernel(224) == 23 and fame_kernel(32) == 3 and fame_kernel(16) == 1
    impulse = torch.zeros(1, 1, 31, 31)
    impulse[0, 0, 15, 15] = 1.0
    blurred = gaussian_blur(impulse, 23)[0, 0]
    sigma = 23 / 3
    ratio = float(blurred[15, 16] / blurred[15, 15])
    assert abs(ratio - np.exp(-1 / (2 * sigma**2))) < 1e-6  # OpenCV's σ for 23 would be 3.8
    assert abs(float(blurred.sum()) - 1.0) < 1e-5


def test_fame_pastes_on_a_random_permutation_partner_first_and_keeps_labels():
    torch.manual_seed(0)
    clip = torch.randn(B, 3, T, 16, 16)
    labels = torch.arange(B) % K
    method = _method("fame", prob_aug=0.5)
    method.setup(CONTEXT)
    partners = set()
    for seed in range(6):
        out, out_labels, chosen, partner = method.blend(
            clip, labels, torch.Generator().manual_seed(seed)
        )
        assert sorted(partner.tolist()) == list(range(B))
        partners.add(tuple(partner.tolist()))
        mask = fame_foreground(clip, CONTEXT.mean, CONTEXT.std)
        n = int(chosen.sum())
        assert chosen[:n].all() and not chosen[n:].any()
        # recover each output's source: the clip equal to it inside (or everywhere) its mask
        for i in range(B):
            source = next(b for b in range(B) if torch.equal(out[i] * mask[b], clip[b] * mask[b]))
            assert out_labels[i] == labels[source]
            if chosen[i]:
                background = clip[partner[source]] * (1 - mask[source])
                assert torch.equal(out[i] * (1 - mask[source]), background)
            else:
                assert torch.equal(out[i], clip[source])
    roll = tuple(torch.roll(torch.arange(B), 1).tolist())
    assert len(partners) == 6 and roll not in partners  # a fresh permutation, not a roll by one


def test_mixup_mixes_a_prob_aug_share_of_clips_with_one_lambda():
    clip, labels = _tagged_batch()
    method = _method("mixup", alpha=0.2, prob_aug=0.5)
    method.setup(CONTEXT)
    out, own, partner_labels, weight = method.blend(clip, labels, torch.Generator().manual_seed(4))
    mixed = weight < 1
    n = int(mixed.sum())
    assert 0 < n < B and mixed[:n].all() and not mixed[n:].any()  # mixed clips first
    lam = float(weight[0])
    assert torch.allclose(weight[:n], torch.full((n,), lam))  # one λ per batch
    for i in range(B):
        if i >= n:  # clean clips keep their tag b + t/100 and label
            b = int(out[i, 0, 0, 0, 0].round())
            assert torch.equal(out[i], clip[b]) and own[i] == labels[b]
    # the loss is the soft-label cross-entropy of the mixed targets
    model = Linear()
    result = method.step(model, clip, labels, torch.Generator().manual_seed(4))
    logits = model(out)
    target = weight[:, None] * F.one_hot(own, K) + (1 - weight[:, None]) * F.one_hot(
        partner_labels, K
    )
    soft = -(target * logits.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(result.loss, soft)


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
