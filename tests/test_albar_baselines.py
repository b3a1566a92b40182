"""VideoMix, ActorCutMix and SDN: exact behaviour on hand-made tensors (known boxes, masks and λ,
seeded), label mixing to the decimal, SDN's gradient reversal by its sign, actor masks loaded
with the same crop and flip as the clip, the scene-label tables, and short training runs on a tiny
real synthetic dataset (with SDN's exact resume)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from albar.data import Augmentation, DataError, train_transform
from albar.methods import MethodContext, build_method
from albar.methods.actorcutmix import actorcutmix_batch, actorcutmix_weight
from albar.methods.sdn import SceneHead, negative_entropy, reverse_gradient
from albar.methods.videomix import mixed_cross_entropy, videomix_batch, videomix_cuboid
from albar.runs import (
    RunConfigError,
    check_run_masks,
    check_run_scenes,
    effective_training,
    find_run,
    scene_labels_relpath,
)
from albar.scenes import (
    classifier_scene_labels,
    planted_scene_labels,
    read_scene_labels,
    write_scene_labels,
)
from albar.train import train_run
from benchmark.config import validate_config
from benchmark.table_files import TableError

B, C, T, H, W, K = 6, 3, 4, 8, 8, 5


def _tagged_batch(batch: int = B):
    """Clip b holds the value b + 1 at every pixel (0 stays free for 'cut out'); labels b % K."""
    clip = torch.zeros(batch, C, T, H, W)
    for b in range(batch):
        clip[b] = b + 1
    return clip, torch.arange(batch) % K


def _soft_targets(mixed, classes: int = K) -> torch.Tensor:
    own = F.one_hot(mixed.labels, classes).float()
    partner = F.one_hot(mixed.partner_labels, classes).float()
    weight = mixed.weight.view(-1, 1)
    return weight * own + (1 - weight) * partner


class Linear(nn.Module):
    def __init__(self, steps: int = T, size: int = H):
        super().__init__()
        self.head = nn.Linear(C * steps * size * size, K)

    def forward(self, x):
        return self.head(x.flatten(1))


# --- VideoMix ------------------------------------------------------------------------------------


def test_videomix_cuboid_sides_follow_lambda_and_clamp_at_the_frame():
    # λ = 0.75 on 8×8: side int(8·√0.25) = 4; seed 1 centres it inside, seed 0 clamps it at the
    # bottom (rows 5..7); every frame
    assert videomix_cuboid(4, 8, 8, 0.75, "spatial", torch.Generator().manual_seed(1)) == (
        0,
        4,
        1,
        5,
        3,
        7,
    )
    assert videomix_cuboid(4, 8, 8, 0.75, "spatial", torch.Generator().manual_seed(0)) == (
        0,
        4,
        5,
        8,
        2,
        6,
    )
    # temporal λ = 0.5 on 4 frames: 2 frames, the whole picture
    t1, t2, y1, y2, x1, x2 = videomix_cuboid(
        4, 8, 8, 0.5, "temporal", torch.Generator().manual_seed(1)
    )
    assert (t2 - t1, y1, y2, x1, x2) == (2, 0, 8, 0, 8)
    # spatio-temporal λ = 0.875 on 8×8×8: each side 8·0.125^(1/3) = 4
    t1, t2, y1, y2, x1, x2 = videomix_cuboid(
        8, 8, 8, 0.875, "spatiotemporal", torch.Generator().manual_seed(1)
    )
    assert (t2 - t1, y2 - y1, x2 - x1) == (4, 4, 4)
    with pytest.raises(ValueError, match="spatial"):
        videomix_cuboid(4, 8, 8, 0.5, "diagonal", torch.Generator())


@pytest.mark.parametrize("cuboid", ["spatial", "temporal", "spatiotemporal"])
def test_videomix_pastes_the_partner_inside_the_cuboid_and_mixes_labels_by_its_volume(cuboid):
    clip, labels = _tagged_batch()
    mixed = videomix_batch(
        clip,
        labels,
        alpha=1.0,
        prob_aug=1.0,
        mode=cuboid,
        generator=torch.Generator().manual_seed(5),
        lam=0.5,
    )
    assert mixed.mixed.all()
    assert sorted(mixed.partner.tolist()) == list(range(B))  # a permutation
    shares = set()
    for b in range(B):
        partner = int(mixed.partner[b])
        assert int(mixed.partner_labels[b]) == int(labels[partner])
        if partner == b:  # a fixed point of the permutation pastes the clip into itself
            assert torch.equal(mixed.clip[b], clip[b])
            continue
        foreign = mixed.clip[b] != b + 1
        assert set(mixed.clip[b][foreign].unique().tolist()) == {partner + 1}
        share = 1.0 - float(foreign.float().mean())
        shares.add(share)
        # the label weight is exactly the share of the clip outside the cuboid
        assert math.isclose(float(mixed.weight[b]), share, abs_tol=1e-7)
    assert len(shares) == 1 and 0 < shares.pop() < 1  # one cuboid for the whole batch
    # soft-target cross-entropy to the decimal
    logits = torch.randn(B, K, generator=torch.Generator().manual_seed(0))
    expected = F.cross_entropy(logits, _soft_targets(mixed))
    assert math.isclose(float(mixed_cross_entropy(logits, mixed)), float(expected), rel_tol=1e-6)


def test_videomix_at_a_known_box_gives_weight_three_quarters():
    # λ = 0.75, 8×8, no clamping (found by the seed): a 4×4 box of the partner in every frame
    clip, labels = _tagged_batch()
    mixed = videomix_batch(
        clip,
        labels,
        alpha=1.0,
        prob_aug=1.0,
        mode="spatial",
        generator=torch.Generator().manual_seed(2),
        lam=0.75,
    )
    pasted = 0
    for b in range(B):
        foreign = mixed.clip[b, 0] != b + 1  # (T, H, W)
        if foreign.any():
            pasted += 1
            assert int(foreign.sum()) == T * 16
            rows = foreign.any(0).any(1).nonzero().flatten()
            cols = foreign.any(0).any(0).nonzero().flatten()
            assert foreign.all(0).sum() == foreign.any(0).sum()  # same box in every frame
            assert len(rows) * len(cols) == int(foreign[0].sum())  # a rectangle
    assert pasted == int((mixed.partner != torch.arange(B)).sum()) > 0
    assert torch.allclose(mixed.weight, torch.full((B,), 0.75))  # 1 − 16/64


def test_videomix_prob_aug_leaves_unselected_clips_and_labels_alone():
    clip, labels = _tagged_batch()
    mixed = videomix_batch(
        clip,
        labels,
        alpha=1.0,
        prob_aug=0.5,
        mode="spatial",
        generator=torch.Generator().manual_seed(4),
        lam=0.5,
    )
    assert 0 < int(mixed.mixed.sum()) < B
    for b in range(B):
        if not mixed.mixed[b]:
            assert torch.equal(mixed.clip[b], clip[b]) and float(mixed.weight[b]) == 1.0
    none = videomix_batch(
        clip, labels, alpha=1.0, prob_aug=0.0, mode="spatial", generator=torch.Generator()
    )
    assert torch.equal(none.clip, clip) and bool((none.weight == 1).all())


# --- ActorCutMix ---------------------------------------------------------------------------------


def test_actorcutmix_weight_is_one_minus_the_fourth_power():
    assert float(actorcutmix_weight(torch.tensor(0.25))) == pytest.approx(0.68359375, abs=1e-9)
    assert float(actorcutmix_weight(torch.tensor(1.0))) == 1.0
    assert float(actorcutmix_weight(torch.tensor(0.0))) == 0.0


def test_actorcutmix_pastes_the_actor_on_the_mirrored_background_with_its_hole():
    batch = 4
    clip, labels = _tagged_batch(batch)
    masks = torch.zeros(batch, 1, T, H, W)
    masks[0, :, :, 2:6, 2:6] = 1  # a 4×4 actor in every frame: r = 16/64 = 0.25
    masks[3, :, :, 0:2, 0:8] = 1  # sample 0's mirror: its own actor in rows 0-1
    # sample 1 has no actor, sample 2 is all actor: both left as they are
    masks[2] = 1
    mixed = actorcutmix_batch(
        clip, labels, masks, prob_aug=1.0, generator=torch.Generator().manual_seed(0)
    )
    out = mixed.clip[0, 0, 0]  # (H, W) of frame 0
    assert bool((out[2:6, 2:6] == 1).all())  # own actor
    assert bool((out[0:2, :] == 0).all())  # the mirror's actor cut out (0 = the mean colour)
    outside = torch.ones(H, W, dtype=torch.bool)
    outside[2:6, 2:6] = False
    outside[0:2, :] = False
    assert bool((out[outside] == 4).all())  # the mirror's background
    assert float(mixed.weight[0]) == pytest.approx(0.68359375, abs=1e-7)
    assert int(mixed.partner_labels[0]) == int(labels[3])
    # sample 3 (r = 16/64 too) takes sample 0's background minus sample 0's actor
    assert float(mixed.weight[3]) == pytest.approx(0.68359375, abs=1e-7)
    assert bool((mixed.clip[3, 0, 0, 2:6, 2:6] == 0).all())
    for b in (1, 2):
        assert torch.equal(mixed.clip[b], clip[b]) and float(mixed.weight[b]) == 1.0
    assert mixed.mixed.tolist() == [True, False, False, True]
    logits = torch.randn(batch, K, generator=torch.Generator().manual_seed(1))
    expected = F.cross_entropy(logits, _soft_targets(mixed))
    assert math.isclose(float(mixed_cross_entropy(logits, mixed)), float(expected), rel_tol=1e-6)


def test_actorcutmix_leaves_the_middle_of_an_odd_batch_and_follows_prob_aug():
    clip, labels = _tagged_batch(5)
    masks = torch.zeros(5, 1, T, H, W)
    masks[:, :, :, 0:4, 0:4] = 1
    mixed = actorcutmix_batch(clip, labels, masks, prob_aug=1.0, generator=torch.Generator())
    assert mixed.mixed.tolist() == [True, True, False, True, True]
    assert torch.equal(mixed.clip[2], clip[2])
    some = actorcutmix_batch(
        clip, labels, masks, prob_aug=0.5, generator=torch.Generator().manual_seed(0)
    )
    drawn = torch.rand(5, generator=torch.Generator().manual_seed(0)) < 0.5  # one draw per clip
    assert some.mixed.tolist() == (drawn & torch.tensor([1, 1, 0, 1, 1]).bool()).tolist()
    assert 0 < int(some.mixed.sum()) < 4
    for b in range(5):
        if not some.mixed[b]:
            assert torch.equal(some.clip[b], clip[b]) and float(some.weight[b]) == 1.0
    with pytest.raises(ValueError, match="do not fit"):
        actorcutmix_batch(clip, labels, masks[:, :, :2], prob_aug=1.0, generator=torch.Generator())


# --- SDN -----------------------------------------------------------------------------------------


def test_gradient_reversal_flips_the_sign_and_scales():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    weight = torch.tensor([0.5, 1.5, -2.0])
    y = reverse_gradient(x, 2.0)
    assert torch.equal(y, x)  # identity forward
    (y * weight).sum().backward()
    assert torch.equal(x.grad, -2.0 * weight)


def test_scene_head_learns_normally_while_the_features_get_the_reversed_gradient():
    torch.manual_seed(0)
    head = SceneHead(features=6, scenes=3, hidden=2, alpha=1.0)
    features = torch.randn(4, 6)
    scenes = torch.tensor([0, 1, 2, 1])
    reversed_in = features.clone().requires_grad_(True)
    F.cross_entropy(head(reversed_in), scenes).backward()
    head_grads = [p.grad.clone() for p in head.parameters()]
    head.zero_grad()
    plain_in = features.clone().requires_grad_(True)
    F.cross_entropy(head.mlp(plain_in), scenes).backward()  # the same head without the reversal
    assert torch.allclose(reversed_in.grad, -plain_in.grad)
    assert reversed_in.grad.abs().sum() > 0
    for got, plain in zip(head_grads, [p.grad for p in head.parameters()], strict=True):
        assert torch.allclose(got, plain)  # the head itself descends on the scene loss


def test_negative_entropy_is_minus_log_k_at_the_uniform_prediction():
    assert float(negative_entropy(torch.zeros(2, K))[0]) == pytest.approx(-math.log(K), abs=1e-6)
    assert float(negative_entropy(torch.tensor([[50.0, 0, 0, 0, 0]]))[0]) == pytest.approx(
        0, abs=1e-6
    )


class Recording(nn.Module):
    """Linear model that keeps every input it saw."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(C * T * H * W, K)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.head(x.flatten(1))


def _sdn(w_scene: float, w_mask: float, *, mask_alpha: float = 1.0, hidden: int = 1, features: int):
    method = build_method(
        {"name": "sdn", "method": "sdn", "actor_masks": "truth", "scene_source": "planted",
         "scene_weights": None, "scene_arch": "resnet18", "w_scene": w_scene, "w_mask": w_mask,
         "scene_alpha": 1.0, "scene_hidden_layers": hidden, "mask_alpha": mask_alpha,
         "mask_hidden_layers": hidden}
    )  # fmt: skip
    method.setup(
        MethodContext(K, (0.5,) * 3, (0.25,) * 3, head="head.", feature_dim=features, num_scenes=3)
    )
    return method


def _actor_masks() -> torch.Tensor:
    masks = torch.zeros(B, 1, T, H, W)
    masks[:4, :, :, 2:6, 2:6] = 1  # clips 4 and 5 have no actor
    return masks


def test_sdn_step_adds_the_scene_adversary_and_the_confusion_on_the_actor_removed_clip():
    torch.manual_seed(0)
    clip = torch.randn(B, C, T, H, W)
    labels = torch.arange(B) % K
    scenes = torch.tensor([0, 1, 2, 0, 1, 2])
    method = _sdn(0.5, 2.0, features=C * T * H * W)
    model = Recording()
    result = method.step(
        model, clip, labels, torch.Generator(), masks=_actor_masks(), scenes=scenes
    )
    assert len(model.seen) == 2
    removed = model.seen[1]
    assert removed.shape[0] == 4  # only clips with an actor
    assert bool((removed[:, :, :, 2:6, 2:6] == 0).all())  # actor pixels removed
    assert torch.equal(removed[:, :, :, :2], clip[:4, :, :, :2])  # the rest kept
    with torch.no_grad():
        ce = F.cross_entropy(model.head(clip.flatten(1)), labels)
        scene_ce = F.cross_entropy(method.scene_head.mlp(clip.flatten(1)), scenes)
        # the confusion term is on the confusion head (the release's hm_mlp), not the action head
        neg_entropy = negative_entropy(method.confusion_head.mlp(removed.flatten(1))).mean()
    expected = ce + 0.5 * scene_ce + 2.0 * neg_entropy
    assert float(result.loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert float(result.terms["scene_ce"]) == pytest.approx(float(scene_ce), rel=1e-5)
    assert float(result.terms["neg_entropy"]) == pytest.approx(float(neg_entropy), rel=1e-5)
    result.loss.backward()
    assert all(p.grad is not None for p in method.trainable().parameters())


class Backboned(nn.Module):
    """A linear backbone (the features) under a linear action head."""

    def __init__(self, features: int):
        super().__init__()
        self.backbone = nn.Linear(C * T * H * W, features, bias=False)
        self.head = nn.Linear(features, K)

    def forward(self, x):
        return self.head(self.backbone(x.flatten(1)))


def test_sdn_loss_has_exact_values_on_hand_set_heads():
    clip = torch.ones(B, C, T, H, W)
    labels = torch.arange(B) % K
    scenes = torch.tensor([0, 1, 2, 0, 1, 2])
    method = _sdn(0.5, 2.0, hidden=0, features=4)
    model = Backboned(4)
    p = torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1])
    with torch.no_grad():
        for head in (model.head, method.scene_head.mlp[0], method.confusion_head.mlp[0]):
            head.weight.zero_()  # every prediction is its head's bias
            head.bias.zero_()
        method.confusion_head.mlp[0].bias.copy_(p.log())  # softmax of the bias = p
    result = method.step(
        model, clip, labels, torch.Generator(), masks=_actor_masks(), scenes=scenes
    )
    # uniform action prediction over 5 classes: log 5; uniform over 3 scenes: log 3;
    # the confusion head predicts p on every actor-removed clip: sum p log p
    plogp = 0.4 * math.log(0.4) + 0.3 * math.log(0.3) + 3 * 0.1 * math.log(0.1)
    assert float(result.terms["ce"]) == pytest.approx(math.log(5), abs=1e-6)
    assert float(result.terms["scene_ce"]) == pytest.approx(math.log(3), abs=1e-6)
    assert float(result.terms["neg_entropy"]) == pytest.approx(plogp, abs=1e-6)  # -1.1988...
    expected = math.log(5) + 0.5 * math.log(3) + 2.0 * plogp
    assert float(result.loss.detach()) == pytest.approx(expected, abs=1e-5)


def test_sdn_confusion_loss_skips_the_action_head_and_reverses_into_the_backbone():
    torch.manual_seed(1)
    clip = torch.randn(B, C, T, H, W)
    labels = torch.arange(B) % K
    scenes = torch.tensor([0, 1, 2, 0, 1, 2])
    masks = _actor_masks()
    method = _sdn(0.0, 1.0, mask_alpha=0.5, features=4)  # the confusion term alone beside the CE
    model = Backboned(4)
    method.step(model, clip, labels, torch.Generator(), masks=masks, scenes=scenes).loss.backward()
    got_head = [q.grad.clone() for q in model.head.parameters()]
    got_backbone = model.backbone.weight.grad.clone()
    got_confusion = [q.grad.clone() for q in method.confusion_head.parameters()]
    # the same terms by hand, without any reversal
    model.zero_grad()
    method.trainable().zero_grad()
    F.cross_entropy(model(clip), labels).backward()
    ce_head = [q.grad.clone() for q in model.head.parameters()]
    ce_backbone = model.backbone.weight.grad.clone()
    model.zero_grad()
    removed = (clip * (1.0 - masks))[:4]
    negative_entropy(
        method.confusion_head.mlp(model.backbone(removed.flatten(1)))
    ).mean().backward()
    ent_backbone = model.backbone.weight.grad.clone()
    for got, want in zip(got_head, ce_head, strict=True):
        assert torch.allclose(got, want, atol=1e-6)  # the action head sees only its CE
    for got, plain in zip(got_confusion, method.confusion_head.parameters(), strict=True):
        assert torch.allclose(got, plain.grad, atol=1e-6)  # the confusion head descends on -H
    assert ent_backbone.abs().sum() > 0
    # the backbone: its CE gradient minus mask_alpha times the confusion gradient
    assert torch.allclose(got_backbone, ce_backbone - 0.5 * ent_backbone, atol=1e-6)


# --- actor masks through the training clip rule ------------------------------------------------


def test_actor_masks_get_the_clips_crop_and_flip():
    rng = np.random.default_rng(0)
    mask = np.zeros((T, 16, 16), dtype=bool)
    mask[:, 3:9, 2:7] = True  # not symmetric: a flip moves it
    frames = np.where(mask[..., None], 255, 0).astype(np.uint8).repeat(3, axis=-1)
    flipped = 0
    for seed in range(8):
        aug = Augmentation(16, 16, (0.4, 1.0), (0.75, 1.33), True, (0.0,) * 3, (1.0,) * 3)
        rng = np.random.default_rng(seed)
        plain = train_transform(frames, aug, np.random.default_rng(seed))
        clip, cut = train_transform(frames, aug, rng, mask=mask)
        assert torch.equal(plain, clip)  # the mask draws nothing: clips are unchanged
        assert cut.shape == (1, T, 16, 16) and set(cut.unique().tolist()) <= {0.0, 1.0}
        white = clip[0] > 0.5  # (T, S, S): where the actor's pixels landed
        # nearest vs bilinear differ only on the border of the actor: ≥ 90% agreement
        assert float((white == cut[0].bool()).float().mean()) > 0.9
        flipped += int(cut[0, 0, :, 8:].sum() > cut[0, 0, :, :8].sum())
    assert 0 < flipped < 8  # some clips were flipped, their masks with them
    with pytest.raises(DataError, match="do not match"):
        train_transform(frames, aug, np.random.default_rng(0), mask=mask[:, :8])


# --- scene labels ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """3 classes x (6 train, 1 val, 2 test) videos of 16 frames at 32x32, with truth masks."""
    from benchmark.ingest import run_ingest

    root = tmp_path_factory.mktemp("baselines_data")
    config = validate_config(
        {
            "results": str(root),
            "dataset": {
                "name": "synthetic",
                "kind": "synthetic",
                "synthetic": {
                    "classes": 3,
                    "videos_per_class": {"train": 6, "val": 1, "test": 2},
                    "size": 32,
                },
            },
            "training": {"epochs": 2, "batch_size": 6, "crop_size": 32, "resize": 32},
            "runs": [
                {"name": "videomix", "method": "videomix"},
                {"name": "actorcutmix", "method": "actorcutmix", "prob_aug": 1.0},
                {"name": "sdn", "method": "sdn"},
            ],
        }
    )
    run_ingest(config, threads=1)
    results = root / "synthetic"
    labels = planted_scene_labels(results / "manifest.csv", results / "synthetic_factors.csv")
    write_scene_labels(results / "runs" / scene_labels_relpath(find_run(config, "sdn")), labels)
    return config, results


def test_planted_scene_labels_are_the_generators_scene_families(dataset):
    _, results = dataset
    table = read_scene_labels(results / "runs" / "_scene_labels" / "planted.csv")
    factors = pd.read_csv(results / "synthetic_factors.csv").set_index("video_id")
    manifest = pd.read_csv(results / "manifest.csv")
    assert sorted(table["video_id"]) == sorted(
        manifest.loc[manifest["split"] == "train", "video_id"]
    )
    names = sorted(set(table["scene_name"]))
    for row in table.itertuples():
        assert row.scene_name == factors.loc[row.video_id, "scene"]
        assert row.scene == names.index(row.scene_name)
    assert set(table["source"]) == {"planted"}


def test_a_bad_scene_table_names_the_file(dataset, tmp_path):
    _, results = dataset
    table = read_scene_labels(results / "runs" / "_scene_labels" / "planted.csv")
    bad = tmp_path / "scenes.csv"
    pd.concat([table, table.iloc[:1]]).to_csv(bad, index=False)
    with pytest.raises(DataError, match="scenes.csv: videos listed twice"):
        read_scene_labels(bad)
    table.assign(scene=-1).to_csv(bad, index=False)
    with pytest.raises(TableError, match="scenes.csv.*row 2"):
        read_scene_labels(bad)
    with pytest.raises(DataError, match="only for the synthetic dataset"):
        planted_scene_labels(results / "manifest.csv", tmp_path / "synthetic_factors.csv")


def test_places365_labels_from_a_state_dict_file(dataset, tmp_path):
    import torchvision

    _, results = dataset
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=365)
    weights = tmp_path / "resnet18_places365.pt"
    # the CSAIL checkpoint layout: {"state_dict": {"module.<key>": ...}}
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, weights)
    first = classifier_scene_labels(results / "manifest.csv", weights, arch="resnet18", frames=1)
    again = classifier_scene_labels(results / "manifest.csv", weights, arch="resnet18", frames=1)
    assert first.equals(again) and len(first) == 18
    assert first["scene"].between(0, 364).all() and set(first["source"]) == {"places365"}
    written = write_scene_labels(tmp_path / "places.csv", first)
    assert written["scene_name"].tolist() == [f"places365_{k}" for k in written["scene"]]
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "wrong.pt")
    with pytest.raises(DataError, match="wrong.pt: not a resnet18 of 365 classes"):
        classifier_scene_labels(results / "manifest.csv", tmp_path / "wrong.pt", arch="resnet18")


# --- run checks and training -----------------------------------------------------------------------


def test_mask_and_scene_sources_are_checked_before_training(dataset):
    config, _ = dataset
    config = copy.deepcopy(config)
    run = {**find_run(config, "actorcutmix"), "actor_masks": "box_first"}
    with pytest.raises(RunConfigError, match="add train to tracking.splits"):
        check_run_masks(config, run)
    config["tracking"]["splits"] = ["train", "test"]
    check_run_masks(config, run)  # box_first is built for the train split now
    with pytest.raises(RunConfigError, match="is not built"):
        check_run_masks(config, {**run, "actor_masks": "sam"})
    real = copy.deepcopy(config)
    real["dataset"]["kind"] = "ucf101"
    with pytest.raises(RunConfigError, match="no true masks"):
        check_run_masks(real, find_run(config, "sdn"))
    with pytest.raises(RunConfigError, match="planted exists only"):
        check_run_scenes(real, find_run(config, "sdn"))
    sdn = {**find_run(config, "sdn"), "scene_source": "places365"}
    with pytest.raises(RunConfigError, match="needs scene_weights"):
        check_run_scenes(config, sdn)


def _train(config, results, name, out, **kwargs):
    run = find_run(config, name)
    relpath = scene_labels_relpath(run)
    return train_run(
        run=run,
        training=effective_training(config, run),
        seed=0,
        test_clip=config["benchmark"]["test_clip"],
        manifest_path=results / "manifest.csv",
        out_dir=out,
        masks_dir=results / "masks" / "truth" if run["method"] != "videomix" else None,
        scene_labels_path=results / "runs" / relpath if relpath else None,
        log=lambda _: None,
        **kwargs,
    )


@pytest.mark.parametrize("name", ["videomix", "actorcutmix"])
def test_short_training_runs_end_with_finite_losses(dataset, tmp_path, name):
    torch.set_num_threads(1)
    config, results = dataset
    metrics = _train(config, results, name, tmp_path)
    assert metrics["method"] == name and metrics["steps"] == 2 * 3
    assert all(math.isfinite(h["loss"]) for h in metrics["history"])
    assert (tmp_path / "checkpoint.pt").exists()


def test_sdn_trains_and_resumes_its_scene_head_exactly(dataset, tmp_path):
    torch.set_num_threads(1)
    config, results = dataset
    config = copy.deepcopy(config)
    config["training"]["epochs"] = 2
    _train(config, results, "sdn", tmp_path / "straight")
    assert _train(config, results, "sdn", tmp_path / "resumed", stop_after_epochs=1) == {
        "stopped_after_epoch": 1
    }
    _train(config, results, "sdn", tmp_path / "resumed")
    straight = torch.load(tmp_path / "straight" / "state" / "last.pt", weights_only=False)
    resumed = torch.load(tmp_path / "resumed" / "state" / "last.pt", weights_only=False)
    for part in ("model", "method"):
        for key in straight[part]:
            assert torch.equal(straight[part][key], resumed[part][key]), (part, key)
    recorded = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    final = recorded["final"]
    assert final["scene_ce"] is not None and math.isfinite(final["scene_ce"])
    assert final["neg_entropy"] <= 0 and 0 <= final["scene_accuracy"] <= 100


def test_a_missing_mask_folder_is_a_clear_error(dataset, tmp_path):
    from albar.train import TrainingError

    config, results = dataset
    run = find_run(config, "actorcutmix")
    with pytest.raises(TrainingError, match="actor mask folder not found"):
        train_run(
            run=run,
            training=effective_training(config, run),
            seed=0,
            test_clip=config["benchmark"]["test_clip"],
            manifest_path=results / "manifest.csv",
            out_dir=tmp_path,
            masks_dir=tmp_path / "nowhere",
            log=lambda _: None,
        )


# --- boxes of training videos (dataset.training_boxes_csv) -------------------------------------


def test_training_boxes_are_added_for_train_videos_without_boxes(dataset, tmp_path):
    from benchmark.datasets.generic import IngestError
    from benchmark.ingest import add_training_boxes

    _, results = dataset
    manifest = pd.read_csv(results / "manifest.csv", dtype={"video_id": str, "source_name": str})
    boxes = pd.read_parquet(results / "boxes.parquet")
    train = manifest.loc[manifest["split"] == "train", "video_id"].tolist()
    rows = [(train[0], 0, 0, 1.0, 2.0, 10.0, 12.0), (train[0], 1, 0, 2.0, 2.0, 11.0, 12.0),
            (train[1], 0, 0, 3.0, 3.0, 9.0, 9.0)]  # fmt: skip
    path = tmp_path / "detections.csv"
    pd.DataFrame(rows, columns=["video", "frame", "actor", "x1", "y1", "x2", "y2"]).to_csv(
        path, index=False
    )
    # a dataset without boxes of its training videos gets the file's
    without = boxes[~boxes["video_id"].isin(train[:1])].reset_index(drop=True)
    merged, report = add_training_boxes(without, manifest, str(path))
    assert report == {"videos": 1, "boxes": 2, "kept_own": 1}  # train[1] keeps its own boxes
    added = merged[merged["video_id"] == train[0]]
    assert added[["frame", "x1", "y2"]].values.tolist() == [[0, 1.0, 12.0], [1, 2.0, 12.0]]
    assert len(merged) == len(without) + 2
    test_video = manifest.loc[manifest["split"] == "test", "video_id"].iloc[0]
    columns = ["video", "frame", "actor", "x1", "y1", "x2", "y2"]
    pd.DataFrame([(test_video, 0, 0, 1, 1, 5, 5)], columns=columns).to_csv(path, index=False)
    with pytest.raises(IngestError, match="detections.csv: boxes for 1 videos outside the train"):
        add_training_boxes(boxes, manifest, str(path))
    pd.DataFrame([("nope", 0, 0, 1, 1, 5, 5)], columns=columns).to_csv(path, index=False)
    with pytest.raises(IngestError, match="detections.csv: 1 videos not in the manifest"):
        add_training_boxes(boxes, manifest, str(path))
