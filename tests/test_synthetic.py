"""The planted-bias synthetic dataset: determinism, geometry of boxes / masks / context object, and
a cheap linear probe showing that motion, not a single frame, defines the class unless bias is planted."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from benchmark.datasets.synthetic import SyntheticParams, plan_video, render_video
from benchmark.manifest import read_boxes, read_manifest
from benchmark.masks import read_actor_masks
from benchmark.video import read_video


def single_frame_features(frame: np.ndarray) -> np.ndarray:
    """A 16x16 thumbnail plus colour histograms of one frame: everything a frame shows, no motion."""
    size = frame.shape[0]
    small = frame.reshape(16, size // 16, 16, size // 16, 3).mean((1, 3)).ravel()
    hist = [
        np.histogram(frame[..., c], bins=8, range=(0, 1))[0] / frame[..., c].size for c in range(3)
    ]
    return np.concatenate([small, *hist])


def frame_difference_features(clip: np.ndarray) -> np.ndarray:
    """Trajectory statistics of the motion-energy centroid: only what changes between frames."""
    energy = np.abs(np.diff(clip, axis=0)).mean(-1)  # (T-1, H, W)
    size = energy.shape[1]
    yy, xx = np.mgrid[0:size, 0:size] / size
    total = energy.sum((1, 2)) + 1e-6
    cy = (energy * yy).sum((1, 2)) / total
    cx = (energy * xx).sum((1, 2)) / total
    t = np.arange(len(cy)) - len(cy) / 2
    return np.array(
        [
            np.polyfit(t, cy, 1)[0],
            np.polyfit(t, cx, 1)[0],
            np.abs(np.diff(cx)).mean(),
            np.abs(np.diff(cy)).mean(),
            total.std() / total.mean(),
            np.abs(np.diff(total)).mean() / total.mean(),
            cy.std(),
            cx.std(),
        ]
    )


def ridge_accuracy(train_x, train_y, test_x, test_y, classes: int) -> float:
    """A linear (ridge, one-vs-rest) classifier: fit on train, accuracy on test."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a = np.c_[(train_x - mean) / std, np.ones(len(train_x))]
    b = np.c_[(test_x - mean) / std, np.ones(len(test_x))]
    weights = np.linalg.solve(
        a.T @ a + 1e-2 * len(a) * np.eye(a.shape[1]), a.T @ np.eye(classes)[train_y]
    )
    return float(((b @ weights).argmax(1) == test_y).mean())


def probe(bias: float) -> tuple[float, float]:
    params = SyntheticParams(
        bias_bg=bias, bias_fg=bias, context_bias=bias, train=40, val=0, test=20
    )
    features = {}
    for split in ("train", "test"):
        single, motion, labels = [], [], []
        for index in range(params.videos_in(split)):
            plan = plan_video(params, 0, split, index)
            clip = render_video(params, plan, 0).frames.astype(np.float32) / 255
            single.append(single_frame_features(clip[len(clip) // 2]))
            motion.append(frame_difference_features(clip))
            labels.append(plan.label)
        features[split] = (np.array(single), np.array(motion), np.array(labels))
    accuracies = []
    for which in (0, 1):
        accuracies.append(
            ridge_accuracy(
                features["train"][which],
                features["train"][2],
                features["test"][which],
                features["test"][2],
                5,
            )
        )
    return accuracies[0], accuracies[1]


@pytest.mark.slow
def test_motion_defines_the_class_and_bias_leaks_it_only_when_planted():
    single, motion = probe(bias=0.0)
    # 100 test clips, 5 classes: chance is 20%.
    assert single <= 0.32, "a single frame must not reveal the class on unbiased data"
    assert motion >= 0.80, "frame differences must reveal the class"
    single_biased, _ = probe(bias=0.9)
    assert single_biased >= 0.50, (
        "with the default biases a single frame must predict the class well"
    )


def test_same_config_same_bytes_and_independent_videos():
    params = SyntheticParams(train=2, val=0, test=1)
    first = render_video(params, plan_video(params, 0, "train", 3), 0)
    again = render_video(params, plan_video(params, 0, "train", 3), 0)
    assert (
        hashlib.sha256(first.frames.tobytes()).hexdigest()
        == hashlib.sha256(again.frames.tobytes()).hexdigest()
    )
    other_seed = render_video(params, plan_video(params, 1, "train", 3), 1)
    assert not np.array_equal(first.frames, other_seed.frames)
    # A bigger dataset does not change an existing video's draws.
    bigger = SyntheticParams(train=50, val=0, test=1)
    assert np.array_equal(
        render_video(bigger, plan_video(bigger, 0, "train", 3), 0).frames, first.frames
    )


def test_planted_factors_follow_the_bias_rates():
    params = SyntheticParams(train=200, val=0, test=0, bias_bg=0.6, bias_fg=0.3)
    plans = [plan_video(params, 0, "train", i) for i in range(params.videos_in("train"))]
    own_bg = np.mean([p.scene == p.label for p in plans])
    own_fg = np.mean([p.appearance == p.label for p in plans])
    # P(own) = bias + (1 - bias) / K
    assert own_bg == pytest.approx(0.6 + 0.4 / 5, abs=0.04)
    assert own_fg == pytest.approx(0.3 + 0.7 / 5, abs=0.04)


def test_context_object_size_scales_it_and_the_box_holds_it():
    small = SyntheticParams(train=3, val=0, test=0)
    large = SyntheticParams(train=3, val=0, test=0, context_size=0.6)
    for index in range(3):
        plan = plan_video(small, 0, "train", index)
        area_small = render_video(small, plan, 0).context_mask.sum(axis=(1, 2))
        rendered = render_video(large, plan, 0)
        area_large = rendered.context_mask.sum(axis=(1, 2))
        # Twice the half-size, about four times the area (the gap and the frame edge clip some).
        assert 2.5 < area_large.mean() / area_small.mean() < 5.0
        for frame, _, x1, y1, x2, y2 in rendered.boxes:
            rows, cols = np.nonzero(rendered.context_mask[frame])
            # the annotation box holds the object (up to the per-frame corner jitter)
            slack = 0.15 * (x2 - x1)
            assert cols.min() >= x1 - slack and cols.max() + 1 <= x2 + slack
            assert rows.min() >= y1 - slack and rows.max() + 1 <= y2 + slack


def test_ingested_files_agree(tiny_dataset):
    manifest = read_manifest(tiny_dataset / "manifest.csv")
    boxes = read_boxes(tiny_dataset / "boxes.parquet", manifest)
    assert manifest["split"].value_counts().to_dict() == {"train": 12, "test": 6, "val": 3}
    assert set(manifest["label_name"]) == {"rise", "fall", "sway"}
    for row in manifest[manifest["split"] == "test"].itertuples():
        frames, fps = read_video(row.path)
        assert frames.shape == (8, 48, 48, 3) and fps == 8.0
        truth = read_actor_masks(
            tiny_dataset / "masks" / "truth" / f"{row.video_id}.json.gz"
        ).foreground()
        context = read_actor_masks(
            tiny_dataset / "masks" / "context" / f"{row.video_id}.json.gz"
        ).foreground()
        assert truth.shape == (8, 48, 48) and truth.any(axis=(1, 2)).all()
        assert not (truth & context).any()
        for box in boxes[boxes["video_id"] == row.video_id].itertuples():
            inside = np.zeros((48, 48), bool)
            inside[int(box.y1) : int(box.y2), int(box.x1) : int(box.x2)] = True
            # Boxes hold the actor (up to jitter) and the context object: the leak rectangles carry.
            assert (truth[box.frame] & inside).sum() >= 0.9 * truth[box.frame].sum()
            if context[box.frame].any():
                assert (context[box.frame] & inside).sum() >= 0.6 * context[box.frame].sum()
    shards = pd.concat(
        pd.read_csv(p)
        for p in sorted((tiny_dataset / "masks" / "truth" / "shards").glob("shard-*.csv"))
    )
    assert sorted(shards["video_id"]) == sorted(manifest["video_id"])
