"""Generic adapter: a folder of videos + labels CSV + boxes CSV, and the shared box checks."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.config import ConfigError, validate_config
from benchmark.datasets import generic
from benchmark.datasets.generic import IngestError
from benchmark.video import write_frame_folder, write_video

LABELS = [
    ("jump 01.mp4", "jump", "train"),
    ("jump_02.mp4", "jump", "train"),
    ("clips/wave.mp4", "wave", "test"),
    ("sit_frames", "sit", "test"),
]
BOXES = [
    ("jump 01.mp4", 0, 0, 1.5, 2, 10, 12),
    ("jump 01.mp4", 0, 1, 20, 2, 40, 30),  # past the right and bottom edges: clipped
    ("jump 01.mp4", 3, 0, 1, 1, 5, 5),
    ("clips/wave.mp4", 5, 0, 0, 0, 32, 24),
    ("sit_frames", 1, 2, 3, 4, 8, 9),
]


def write_dataset(root: Path, labels=LABELS, boxes=BOXES) -> dict:
    videos = root / "videos"
    rng = np.random.default_rng(0)
    for video, _, _ in labels:
        frames = rng.integers(0, 256, (6, 24, 32, 3), dtype=np.uint8)
        if video.endswith(".mp4"):
            write_video(videos / video, frames, fps=12)
        else:
            write_frame_folder(videos / video, frames[:4])
    pd.DataFrame(labels, columns=["video", "label_name", "split"]).to_csv(
        root / "labels.csv", index=False
    )
    columns = ["video", "frame", "actor", "x1", "y1", "x2", "y2"]
    pd.DataFrame(boxes, columns=columns).to_csv(root / "boxes.csv", index=False)
    return settings(root)


def settings(root: Path, **overrides) -> dict:
    base = {
        "video_root": str(root / "videos"),
        "labels_csv": str(root / "labels.csv"),
        "boxes_csv": str(root / "boxes.csv"),
        "classes": [],
        "frames_fps": 10.0,
        "val_fraction": 0.0,
        "annotation_source": "my-boxes",
    }
    return {**base, **overrides}


def test_folder_with_csvs(tmp_path):
    result = generic.ingest(
        write_dataset(tmp_path), tmp_path / "out", seed=0, n_shards=2, on_error="fail"
    )
    manifest = result.manifest.set_index("video_id")
    assert list(manifest.index) == ["jump_01", "jump_02", "wave", "sit_frames"]
    assert manifest.loc["jump_01", "source_name"] == "jump 01.mp4"
    assert manifest.loc["wave", "path"] == str(tmp_path / "videos/clips/wave.mp4")
    # Labels are the sorted label names when no class list is given.
    assert manifest["label"].tolist() == [0, 0, 2, 1]
    assert manifest.loc["jump_01", ["num_frames", "fps", "width", "height"]].tolist() == [
        6,
        12.0,
        32,
        24,
    ]
    assert manifest.loc["sit_frames", ["num_frames", "fps"]].tolist() == [4, 10.0]
    assert result.annotation_source == "my-boxes"
    boxes = result.boxes
    assert boxes[["video_id", "frame", "actor"]].values.tolist() == [
        ["jump_01", 0, 0],
        ["jump_01", 0, 1],
        ["jump_01", 3, 0],
        ["sit_frames", 1, 2],
        ["wave", 5, 0],
    ]
    assert boxes.iloc[1][["x1", "y1", "x2", "y2"]].tolist() == [20, 2, 32, 24]
    assert boxes.iloc[0][["x1", "y1", "x2", "y2"]].tolist() == [1.5, 2, 10, 12]
    assert result.report["boxes_clipped"] == 1
    assert result.report["frames_with_boxes"] == 4 and result.report["frames"] == 6 + 6 + 6 + 4
    assert result.skipped == []


def test_class_list_and_unknown_labels(tmp_path):
    config = write_dataset(tmp_path)
    result = generic.ingest(
        {**config, "classes": ["wave", "sit", "jump"]},
        tmp_path,
        seed=0,
        n_shards=1,
        on_error="fail",
    )
    assert result.manifest["label"].tolist() == [2, 2, 0, 1]
    with pytest.raises(IngestError, match="sit_frames: .*unknown label 'sit'"):
        generic.ingest(
            {**config, "classes": ["jump", "wave"]}, tmp_path, seed=0, n_shards=1, on_error="fail"
        )
    result = generic.ingest(
        {**config, "classes": ["jump", "wave"]}, tmp_path, seed=0, n_shards=1, on_error="skip"
    )
    assert [row["video_id"] for row in result.skipped] == ["sit_frames"]
    assert "sit_frames" not in set(result.boxes["video_id"]) and len(result.manifest) == 3


@pytest.mark.parametrize(
    ("box", "reason"),
    [
        (("jump_02.mp4", 0, 0, np.nan, 1, 5, 5), "1 NaN or infinite box coordinates"),
        (("jump_02.mp4", 6, 0, 1, 1, 5, 5), "1 boxes past the last frame"),
        (("jump_02.mp4", 2, 0, 5, 1, 5, 5), "1 boxes with zero or negative area"),
        (("jump_02.mp4", 2, 0, 9, 9, 3, 12), "1 boxes with zero or negative area"),
        (("jump_02.mp4", 2, 0, 40, 1, 45, 5), "1 boxes wholly outside the frame"),
    ],
)
def test_bad_boxes(tmp_path, box, reason):
    config = write_dataset(tmp_path, boxes=[*BOXES, box])
    with pytest.raises(IngestError, match=rf"jump_02: {reason}"):
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="fail")
    result = generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    assert result.skipped == [
        {
            "video_id": "jump_02",
            "mask_source": "",
            "stage": "ingest",
            "reason": result.skipped[0]["reason"],
        }
    ]
    assert reason in result.skipped[0]["reason"]
    assert "jump_02" not in set(result.manifest["video_id"]) and len(result.boxes) == len(BOXES)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("missing", "file not found"),
        ("garbage", "unreadable video"),
        ("empty_folder", "no frame images"),
    ],
)
def test_bad_videos(tmp_path, damage, reason):
    config = write_dataset(tmp_path)
    if damage == "missing":
        (tmp_path / "videos/clips/wave.mp4").unlink()
        target = "wave"
    elif damage == "garbage":
        (tmp_path / "videos/clips/wave.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40)
        target = "wave"
    else:
        for frame in (tmp_path / "videos/sit_frames").iterdir():
            frame.unlink()
        target = "sit_frames"
    with pytest.raises(IngestError, match=rf"{target}: .*{reason}"):
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="fail")
    result = generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    assert [row["video_id"] for row in result.skipped] == [target]
    assert target not in set(result.manifest["video_id"]) | set(result.boxes["video_id"])


def test_structural_errors(tmp_path):
    config = write_dataset(tmp_path, labels=[*LABELS, ("jump_01.mp4", "jump", "train")])
    with pytest.raises(
        IngestError, match="'jump 01.mp4' and 'jump_01.mp4' both map to id 'jump_01'"
    ):
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    config = write_dataset(tmp_path, boxes=[*BOXES, ("other.mp4", 0, 0, 1, 1, 2, 2)])
    with pytest.raises(
        IngestError,
        match=r"boxes.csv: boxes for videos not listed in .*labels.csv: \['other.mp4'\]",
    ):
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    pd.DataFrame({"video": ["a.mp4"], "label": ["x"]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(IngestError, match=r"labels.csv: lacks columns \['label_name', 'split'\]"):
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    with pytest.raises(IngestError, match="nope.csv: not found .*generic.boxes_csv"):
        generic.ingest(
            {**config, "boxes_csv": str(tmp_path / "nope.csv")},
            tmp_path,
            seed=0,
            n_shards=1,
            on_error="skip",
        )


def test_bad_split_and_seeded_validation(tmp_path):
    labels = [*LABELS, ("jump_03.mp4", "jump", "training")]
    config = write_dataset(tmp_path, labels=labels)
    with pytest.raises(IngestError, match="jump_03: .*split 'training' is not one of"):
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="fail")
    result = generic.ingest(
        {**config, "val_fraction": 0.5}, tmp_path, seed=7, n_shards=1, on_error="skip"
    )
    assert [row["video_id"] for row in result.skipped] == ["jump_03"]
    splits = result.manifest.set_index("video_id")["split"]
    assert sorted(splits[["jump_01", "jump_02"]]) == ["train", "val"]
    assert splits[["wave", "sit_frames"]].tolist() == ["test", "test"]
    again = generic.ingest(
        {**config, "val_fraction": 0.5}, tmp_path, seed=7, n_shards=1, on_error="skip"
    )
    pd.testing.assert_frame_equal(result.manifest, again.manifest)
    # The choice depends on the seed only through stable digests: some seed picks the other video.
    picks = {
        generic.ingest(
            {**config, "val_fraction": 0.5}, tmp_path, seed=s, n_shards=1, on_error="skip"
        )
        .manifest.set_index("video_id")
        .loc["jump_01", "split"]
        for s in range(6)
    }
    assert picks == {"train", "val"}


def test_config_schema_defaults_and_type_errors():
    config = validate_config(
        {"dataset": {"name": "mine", "kind": "generic", "generic": {"video_root": "v"}}}
    )
    section = config["dataset"]["generic"]
    assert (
        section["classes"] == []
        and section["val_fraction"] == 0
        and section["annotation_source"] == "generic"
    )
    with pytest.raises(ConfigError, match="dataset.generic.classes"):
        validate_config({"dataset": {"kind": "generic", "generic": {"classes": "jump,wave"}}})
    with pytest.raises(ConfigError, match="dataset.generic.val_fraction"):
        validate_config({"dataset": {"kind": "generic", "generic": {"val_fraction": 1.5}}})
