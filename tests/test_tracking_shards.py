"""Shard jobs on bad input (no boxes, boxes outside the frame, a truncated video mid-shard), the
on_error modes, and the freezing of reviewer-approved masks."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from benchmark.config import validate_config
from benchmark.manifest import read_skipped, write_boxes, write_manifest
from benchmark.masks import box_masks, mask_path, read_actor_masks, write_actor_masks
from benchmark.tracking.__main__ import main as tracking_cli
from benchmark.tracking.qc import FLAGS
from benchmark.tracking.run import ShardError, build_box_masks_shard, track_shard
from benchmark.video import write_video

FRAMES, SIZE = 4, 32


def _video(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 80, size=(FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    frames[:, 8:24, 10:22] = (230, 200, 40)
    return frames


@pytest.fixture
def dataset(tmp_path):
    """Four test videos: `a_ok`, `b_truncated` (file cut in half), `c_noboxes`, `d_outside`
    (boxes partly and wholly outside the frame)."""
    results = tmp_path / "results" / "bad"
    names = ["a_ok", "b_truncated", "c_noboxes", "d_outside"]
    rows, boxes = [], []
    for index, name in enumerate(names):
        path = results / "videos" / f"{name}.mp4"
        write_video(path, _video(index), fps=8)
        rows.append((name, name, str(path), 0, "x", "test", FRAMES, 8.0, SIZE, SIZE))
        if name != "c_noboxes":
            for t in range(FRAMES):
                boxes.append((name, t, 0, 8.0, 6.0, 24.0, 26.0))
    boxes[-FRAMES:] = [("d_outside", t, 0, -10.0, 4.0, 20.0, 40.0) for t in range(FRAMES - 1)]
    boxes.append(("d_outside", FRAMES - 1, 0, 40.0, 40.0, 50.0, 50.0))  # wholly outside: dropped
    truncated = results / "videos" / "b_truncated.mp4"
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    manifest = pd.DataFrame(
        rows,
        columns=[
            "video_id",
            "source_name",
            "path",
            "label",
            "label_name",
            "split",
            "num_frames",
            "fps",
            "width",
            "height",
        ],
    )
    write_manifest(results / "manifest.csv", manifest)
    write_boxes(
        results / "boxes.parquet",
        pd.DataFrame(boxes, columns=["video_id", "frame", "actor", "x1", "y1", "x2", "y2"]),
        "hand-made",
    )
    config = validate_config(
        {
            "dataset": {"name": "bad", "kind": "generic"},
            "results": str(tmp_path / "results"),
            "n_shards": 1,
            "on_error": "skip",
            "review": {"decisions_dir": str(tmp_path / "reviews")},
        }
    )
    return config, results


def test_skip_completes_the_shard_and_records_each_bad_video(dataset):
    config, results = dataset
    result = track_shard(config, "grabcut", "shard-000")
    assert [row["video_id"] for row in result.index] == ["a_ok", "d_outside"]
    index = pd.read_csv(results / "masks" / "grabcut" / "shards" / "shard-000.csv")
    assert index["video_id"].tolist() == ["a_ok", "d_outside"]
    skipped = read_skipped([results / "masks" / "grabcut" / "shards" / "shard-000.skipped.csv"])
    assert skipped["video_id"].tolist() == ["b_truncated", "c_noboxes"]
    assert set(skipped["mask_source"]) == {"grabcut"} and set(skipped["stage"]) == {"track_actors"}
    assert "b_truncated.mp4" in skipped["reason"][0]
    assert "no boxes" in skipped["reason"][1]
    # boxes outside the frame are clipped; the wholly outside one leaves its frame empty
    outside = read_actor_masks(mask_path(results / "masks", "grabcut", "d_outside"))
    assert [sorted(entries) for entries in outside.frames] == [[0], [0], [0], []]
    assert not outside.foreground()[:, :, 20:].any()
    rectangles = build_box_masks_shard(config, "box_first", 0)
    assert [row["video_id"] for row in rectangles.index] == ["a_ok", "b_truncated", "d_outside"]
    assert [row["video_id"] for row in rectangles.skipped] == ["c_noboxes"]
    box = read_actor_masks(mask_path(results / "masks", "box_first", "d_outside")).foreground()
    assert box[0, 4:32, 0:20].all() and box[0].sum() == 28 * 20


def test_fail_names_the_truncated_file_and_writes_no_index(dataset):
    config, results = dataset
    config = {**config, "on_error": "fail"}
    with pytest.raises(ShardError) as error:
        track_shard(config, "grabcut", "shard-000")
    assert str(results / "videos" / "b_truncated.mp4") in str(error.value)
    assert not (results / "masks" / "grabcut" / "shards" / "shard-000.csv").exists()
    with pytest.raises(ShardError, match="c_noboxes: no boxes in .*boxes.parquet"):
        build_box_masks_shard(config, "box_first", "shard-000")


def test_approved_masks_are_frozen_unless_forced(dataset, tmp_path):
    config, results = dataset
    track_shard(config, "grabcut", "shard-000")
    path = mask_path(results / "masks", "grabcut", "a_ok")
    tracked_sha = pd.read_csv(results / "masks" / "grabcut" / "shards" / "shard-000.csv").set_index(
        "video_id"
    )["mask_sha256"]["a_ok"]
    # A reviewer approved a hand-corrected mask: a rectangle, different from what GrabCut makes.
    boxes = pd.read_parquet(results / "boxes.parquet")
    corrected = box_masks("a_ok", boxes[boxes.video_id == "a_ok"], FRAMES, SIZE, SIZE)
    corrected.tracker = "grabcut"
    approved_sha = write_actor_masks(path, corrected)
    assert approved_sha != tracked_sha
    reviews = tmp_path / "reviews" / "bad"
    reviews.mkdir(parents=True)
    decisions = pd.DataFrame(
        [
            ("a_ok", "reject", approved_sha, "ann", "", "2026-11-20T10:00:00Z"),
            ("a_ok", "approve", approved_sha, "ann", "fixed by hand", "2026-11-21T10:00:00Z"),
            (
                "d_outside",
                "approve",
                "0" * 64,
                "ann",
                "stale: another mask",
                "2026-11-21T10:00:00Z",
            ),
        ],
        columns=["video_id", "decision", "mask_sha256", "reviewer", "note", "decided_at"],
    )
    decisions.to_csv(reviews / "grabcut.csv", index=False)
    result = track_shard(config, "grabcut", "shard-000")
    assert result.frozen == ["a_ok"]
    assert dict((r["video_id"], r["mask_sha256"]) for r in result.index)["a_ok"] == approved_sha
    assert np.array_equal(read_actor_masks(path).foreground(), corrected.foreground())
    forced = copy.deepcopy(config)
    forced["tracking"]["force_rebuild"] = True
    result = track_shard(forced, "grabcut", "shard-000")
    assert result.frozen == []
    assert dict((r["video_id"], r["mask_sha256"]) for r in result.index)["a_ok"] == tracked_sha


def test_cli_reports_setup_errors_before_touching_data(tmp_path, capsys):
    config = {
        "results": str(tmp_path / "nowhere"),
        "seed": 0,
        "n_shards": 1,
        "on_error": "fail",
        "dataset": {"name": "x"},
        "tracking": {
            "splits": ["test"],
            "force_rebuild": False,
            "reviews_dir": "config/reviews",
            "sam": {"model_type": "vit_b", "checkpoint": None, "device": "cpu"},
        },
    }
    argv = [
        "track",
        "--tracker",
        "sam",
        "--shard",
        "shard-000",
        "--config-json",
        json.dumps(config),
    ]
    assert tracking_cli(argv) == 2
    stderr = capsys.readouterr().err
    assert "tracking.sam.checkpoint is not set" in stderr and "sam_vit_b_01ec64.pth" in stderr
    assert "manifest" not in stderr
    assert tracking_cli(["flags"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == list(FLAGS)
