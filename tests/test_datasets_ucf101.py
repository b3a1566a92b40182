"""UCF101 adapter: split lists, 101-class labels, pyannot / UCF101v2-GT boxes, videos, bad input.

Fixtures are written in the real formats: pickles of numpy values (uint8 / uint16 where the real
pyannot.pkl has them), UCF101 split lists, .avi files (MPEG-4 Part 2, as UCF101 ships) and frame
folders. The real pyannot.pkl in ../shared is checked against its published counts when present.
"""

import os
import pickle
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from benchmark.config import ConfigError, validate_config
from benchmark.datasets import ucf101
from benchmark.datasets.generic import IngestError
from benchmark.datasets.ucf101_classes import UCF101_24_CLASSES, UCF101_CLASSES
from benchmark.safe_pickle import PickleLoadError, UnsafePickleError, load_pickle
from benchmark.video import write_frame_folder

REAL_DATA = Path(__file__).resolve().parents[1] / "../shared/data/ucf101-24"


def settings(**overrides) -> dict:
    base = {
        "video_root": "",
        "video_format": "avi",
        "frames_fps": 25.0,
        "train_list": "",
        "test_list": "",
        "test_list_24": "",
        "class_index": "",
        "box_source": "pyannot",
        "box_file": "",
        "val_fraction": 0.0,
    }
    return {
        **base,
        **{
            key: str(value) if isinstance(value, Path) else value
            for key, value in overrides.items()
        },
    }


def write_avi(
    path: Path, num_frames: int, width: int = 64, height: int = 48, seed: int = 0
) -> None:
    """An MPEG-4 .avi like UCF101's (random frames; content does not matter here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()
        for _ in range(num_frames):
            array = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def tube(sf: int, boxes, dtype=np.uint8, label: int = 0) -> dict:
    boxes = np.asarray(boxes, dtype=dtype).reshape(-1, 4)
    return {"label": label, "sf": sf, "ef": sf + len(boxes), "boxes": boxes}


def write_pickle(path: Path, data, protocol: int = pickle.HIGHEST_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


@pytest.fixture
def tiny_pyannot(tmp_path) -> tuple[Path, Path]:
    """A pyannot.pkl-shaped file (uint8 numf and boxes that overflow if added as uint8) + its list."""
    data = {
        "Basketball/v_Basketball_g01_c01": {
            "numf": np.uint8(6),
            "label": 0,
            "annotations": [
                tube(1, [[250, 10, 20, 30], [251, 10, 20, 30], [252, 11, 20, 30]]),
                tube(0, [[5, 5, 10, 10], [6, 6, 10, 10]]),
            ],
        },
        "Skiing/v_Skiing_g02_c03": {
            "numf": np.uint16(300),
            "label": 16,
            "annotations": [tube(290, [[300, 200, 40, 60]] * 10, dtype=np.uint16, label=16)],
        },
        "Biking/v_Biking_g03_c01": {"numf": np.uint8(9), "label": 2, "annotations": []},
    }
    box_file = write_pickle(tmp_path / "pyannot.pkl", data, protocol=3)
    test_list = tmp_path / "testlist01_24.txt"
    # The real list has no newline after its last line.
    test_list.write_text("Basketball/v_Basketball_g01_c01\nSkiing/v_Skiing_g02_c03")
    return box_file, test_list


def test_class_constants_are_classind_order():
    assert len(UCF101_CLASSES) == 101 and len(set(UCF101_CLASSES)) == 101
    # classInd.txt numbers (1-based) of a few classes, and its case-insensitive alphabetical order.
    assert UCF101_CLASSES[:11] == (
        "ApplyEyeMakeup",
        "ApplyLipstick",
        "Archery",
        "BabyCrawling",
        "BalanceBeam",
        "BandMarching",
        "BaseballPitch",
        "Basketball",
        "BasketballDunk",
        "BenchPress",
        "Biking",
    )
    assert UCF101_CLASSES.index("HandstandPushups") == 36
    assert UCF101_CLASSES.index("Hammering") == 34 and UCF101_CLASSES.index("HammerThrow") == 35
    assert UCF101_CLASSES.index("JumpingJack") == 46 and UCF101_CLASSES.index("JumpRope") == 47
    assert UCF101_CLASSES[-1] == "YoYo"
    assert list(UCF101_CLASSES) == sorted(UCF101_CLASSES, key=str.lower)
    assert len(UCF101_24_CLASSES) == 24 and set(UCF101_24_CLASSES) <= set(UCF101_CLASSES)


def test_pyannot_annotation_only_casts_before_adding_and_maps_101_labels(tmp_path, tiny_pyannot):
    box_file, test_list = tiny_pyannot
    result = ucf101.ingest(
        settings(test_list_24=test_list, box_file=box_file),
        tmp_path / "out",
        seed=0,
        n_shards=2,
        on_error="fail",
    )
    manifest = result.manifest.set_index("video_id")
    assert list(manifest.index) == ["v_Basketball_g01_c01", "v_Skiing_g02_c03"]
    assert manifest.loc["v_Basketball_g01_c01", "source_name"] == "Basketball/v_Basketball_g01_c01"
    assert manifest["label"].tolist() == [7, 80]  # 101-class indices, not the 0..23 of the pickle
    assert manifest["label_name"].tolist() == ["Basketball", "Skiing"]
    assert manifest["num_frames"].tolist() == [6, 300]  # uint16 numf kept whole
    assert (manifest["path"] == "").all() and (manifest["split"] == "test").all()
    assert manifest[["width", "height", "fps"]].drop_duplicates().values.tolist() == [
        [320, 240, 25.0]
    ]
    assert result.annotation_source == "pyannot"

    boxes = result.boxes
    basket = boxes[boxes["video_id"] == "v_Basketball_g01_c01"]
    assert basket[["frame", "actor"]].values.tolist() == [[0, 1], [1, 0], [1, 1], [2, 0], [3, 0]]
    first = basket[basket["actor"] == 0].iloc[0]
    # 250 + 20 in uint8 would wrap to 14.
    assert [first.x1, first.y1, first.x2, first.y2] == [250.0, 10.0, 270.0, 40.0]
    ski = boxes[boxes["video_id"] == "v_Skiing_g02_c03"]
    assert ski["frame"].tolist() == list(range(290, 300))
    # (300, 200) + (40, 60) is clipped to the 320x240 frame, and counted.
    assert ski[["x1", "y1", "x2", "y2"]].drop_duplicates().values.tolist() == [[300, 200, 320, 240]]
    assert result.report["boxes_clipped"] == 10
    assert result.report["frames_with_boxes"] == 4 + 10
    assert result.report["frames"] == 306 and result.skipped == []


def test_ucf101v2_gt_frames_become_zero_based(tmp_path):
    rows = np.array([[1, 10.5, 20, 50.5, 80], [2, 11, 21, 51, 81]], dtype=np.float32)
    data = {
        "labels": list(UCF101_24_CLASSES),
        "nframes": {"Fencing/v_Fencing_g01_c01": 4},
        "resolution": {"Fencing/v_Fencing_g01_c01": (240, 320)},
        "train_videos": [[]],
        "test_videos": [["Fencing/v_Fencing_g01_c01"]],
        "gttubes": {"Fencing/v_Fencing_g01_c01": {6: [rows, rows[:1] + [2, 0, 0, 0, 0]]}},
    }
    box_file = write_pickle(tmp_path / "UCF101v2-GT.pkl", data, protocol=2)
    test_list = tmp_path / "test24.txt"
    test_list.write_text("Fencing/v_Fencing_g01_c01\n")
    result = ucf101.ingest(
        settings(test_list_24=test_list, box_file=box_file, box_source="ucf101v2"),
        tmp_path,
        seed=0,
        n_shards=1,
        on_error="fail",
    )
    assert result.annotation_source == "UCF101v2-GT"
    assert result.manifest["num_frames"].tolist() == [4]
    assert result.manifest["label"].tolist() == [UCF101_CLASSES.index("Fencing")]
    assert result.boxes[["frame", "actor", "x1", "y1", "x2", "y2"]].values.tolist() == [
        [0, 0, 10.5, 20, 50.5, 80],
        [1, 0, 11, 21, 51, 81],
        [2, 1, 10.5, 20, 50.5, 80],
    ]


@pytest.fixture
def ucf101_tree(tmp_path) -> dict:
    """A miniature UCF101: .avi videos, official-style split lists, classInd.txt, pyannot boxes."""
    root = tmp_path / "UCF-101"
    train = [
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01", 1),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01", 1),
        ("Basketball/v_Basketball_g08_c01", 8),
        ("Basketball/v_Basketball_g09_c01", 8),
        ("HandstandPushups/v_HandStandPushups_g08_c01", 37),
    ]
    test = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01", "Basketball/v_Basketball_g01_c01"]
    for seed, name in enumerate([n for n, _ in train] + test):
        write_avi(root / f"{name}.avi", num_frames=5, seed=seed)
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    # UCF101's own lists use CRLF line ends.
    (lists / "trainlist01.txt").write_bytes("".join(f"{n}.avi {k}\r\n" for n, k in train).encode())
    (lists / "testlist01.txt").write_bytes("".join(f"{n}.avi\r\n" for n in test).encode())
    (lists / "classInd.txt").write_text(
        "".join(f"{i + 1} {c}\r\n" for i, c in enumerate(UCF101_CLASSES))
    )
    boxes = {
        "Basketball/v_Basketball_g01_c01": {
            "numf": np.uint8(5),
            "label": 0,
            "annotations": [tube(0, [[10, 10, 20, 20], [50, 30, 30, 30], [12, 10, 20, 20]])],
        },
        "Basketball/v_Basketball_g08_c01": {
            "numf": np.uint8(5),
            "label": 0,
            "annotations": [tube(2, [[1, 1, 4, 4]])],
        },
    }
    box_file = write_pickle(tmp_path / "pyannot.pkl", boxes)
    return {
        "root": root,
        "train_list": lists / "trainlist01.txt",
        "test_list": lists / "testlist01.txt",
        "class_index": lists / "classInd.txt",
        "box_file": box_file,
        "tmp": tmp_path,
    }


def tree_settings(tree: dict, **overrides) -> dict:
    keys = ("train_list", "test_list", "class_index", "box_file")
    return settings(video_root=tree["root"], **{**{key: tree[key] for key in keys}, **overrides})


def test_full_ucf101_with_avi_videos_and_seeded_val(ucf101_tree):
    result = ucf101.ingest(
        tree_settings(ucf101_tree, val_fraction=0.5),
        ucf101_tree["tmp"] / "out",
        seed=3,
        n_shards=2,
        on_error="fail",
    )
    manifest = result.manifest.set_index("video_id")
    assert len(manifest) == 7
    assert manifest.loc["v_HandStandPushups_g08_c01", "label"] == 36  # the folder's class name
    assert manifest.loc["v_HandStandPushups_g08_c01", "label_name"] == "HandstandPushups"
    assert manifest.loc["v_Basketball_g01_c01", "path"] == str(
        ucf101_tree["root"] / "Basketball/v_Basketball_g01_c01.avi"
    )
    assert manifest[["num_frames", "width", "height"]].drop_duplicates().values.tolist() == [
        [5, 64, 48]
    ]
    assert manifest["fps"].unique().tolist() == [25.0]
    # One of the two train videos of each class goes to val; a class's only video stays in train.
    val = manifest[manifest["split"] == "val"]
    assert sorted(val["label_name"]) == ["ApplyEyeMakeup", "Basketball"]
    assert manifest.loc["v_HandStandPushups_g08_c01", "split"] == "train"
    assert (
        manifest.loc[["v_ApplyEyeMakeup_g01_c01", "v_Basketball_g01_c01"], "split"] == "test"
    ).all()
    again = ucf101.ingest(
        tree_settings(ucf101_tree, val_fraction=0.5),
        ucf101_tree["tmp"] / "out",
        seed=3,
        n_shards=2,
        on_error="fail",
    )
    pd.testing.assert_frame_equal(again.manifest, result.manifest)
    # The box of frame 1 (50 + 30 > 64 wide) is clipped to the 64x48 video and counted.
    test_boxes = result.boxes[result.boxes["video_id"] == "v_Basketball_g01_c01"]
    assert test_boxes[["frame", "x1", "y1", "x2", "y2"]].values.tolist() == [
        [0, 10, 10, 30, 30],
        [1, 50, 30, 64, 48],
        [2, 12, 10, 32, 30],
    ]
    assert result.report["boxes_clipped"] == 1
    assert result.report["videos_with_boxes"] == 2
    assert result.report["frame_count_differs_from_box_file"] == 0


def test_frame_folders(tmp_path):
    root = tmp_path / "rgb-images"
    frames = np.zeros((4, 48, 64, 3), dtype=np.uint8)
    write_frame_folder(root / "Diving/v_Diving_g01_c01", frames, ext=".jpg")
    test_list = tmp_path / "test24.txt"
    test_list.write_text("Diving/v_Diving_g01_c01\n")
    box_file = write_pickle(
        tmp_path / "pyannot.pkl",
        {
            "Diving/v_Diving_g01_c01": {
                "numf": np.uint8(4),
                "label": 5,
                "annotations": [tube(0, [[1, 2, 3, 4]] * 4)],
            }
        },
    )
    result = ucf101.ingest(
        settings(
            video_root=root,
            video_format="frames",
            test_list_24=test_list,
            box_file=box_file,
            frames_fps=24.0,
        ),
        tmp_path,
        seed=0,
        n_shards=1,
        on_error="fail",
    )
    row = result.manifest.iloc[0]
    assert row["path"] == str(root / "Diving/v_Diving_g01_c01")
    assert [row["num_frames"], row["width"], row["height"], row["fps"]] == [4, 64, 48, 24.0]
    assert len(result.boxes) == 4


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("garbage", "unreadable video"),
        ("truncated", "unreadable video"),
        ("zero_frames", "zero frames"),
        ("missing", "file not found"),
    ],
)
def test_bad_videos_fail_or_are_skipped(ucf101_tree, damage, reason):
    video = ucf101_tree["root"] / "Basketball/v_Basketball_g01_c01.avi"
    if damage == "garbage":
        video.write_bytes(b"this is not a video" * 10)
    elif damage == "truncated":
        video.write_bytes(video.read_bytes()[:300])
    elif damage == "zero_frames":
        write_avi(video, num_frames=0)
    else:
        video.unlink()
    with pytest.raises(IngestError, match=rf"v_Basketball_g01_c01.*{reason}"):
        ucf101.ingest(
            tree_settings(ucf101_tree), ucf101_tree["tmp"], seed=0, n_shards=1, on_error="fail"
        )
    result = ucf101.ingest(
        tree_settings(ucf101_tree), ucf101_tree["tmp"], seed=0, n_shards=1, on_error="skip"
    )
    assert [row["video_id"] for row in result.skipped] == ["v_Basketball_g01_c01"]
    assert result.skipped[0]["stage"] == "ingest" and reason in result.skipped[0]["reason"]
    assert "v_Basketball_g01_c01" not in set(result.manifest["video_id"])
    assert "v_Basketball_g01_c01" not in set(result.boxes["video_id"])
    assert len(result.manifest) == 6 and result.report["videos_skipped"] == 1


def _one_video_pickle(tmp_path, annotations) -> dict:
    box_file = write_pickle(
        tmp_path / "pyannot.pkl",
        {"Biking/v_Biking_g01_c01": {"numf": np.uint8(5), "label": 2, "annotations": annotations}},
    )
    test_list = tmp_path / "t.txt"
    test_list.write_text("Biking/v_Biking_g01_c01\n")
    return settings(box_file=box_file, test_list_24=test_list)


@pytest.mark.parametrize(
    ("annotations", "reason"),
    [
        ([tube(3, [[1, 1, 5, 5]] * 4)], "2 boxes past the last frame"),
        ([tube(0, [[1, 1, 0, 5], [1, 1, 5, 5]])], "1 boxes with zero or negative area"),
        ([tube(0, [[330, 1, 5, 5]], dtype=np.uint16)], "1 boxes wholly outside the frame"),
    ],
)
def test_bad_boxes_fail_or_are_skipped(tmp_path, annotations, reason):
    config = _one_video_pickle(tmp_path, annotations)
    with pytest.raises(IngestError, match=rf"v_Biking_g01_c01: {reason}"):
        ucf101.ingest(config, tmp_path, seed=0, n_shards=1, on_error="fail")
    result = ucf101.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    assert (
        result.skipped[0]["video_id"] == "v_Biking_g01_c01"
        and reason in result.skipped[0]["reason"]
    )
    assert result.manifest.empty and result.boxes.empty


def test_nan_boxes_in_ucf101v2(tmp_path):
    rows = np.array([[1, np.nan, 2, 30, 40], [2, 1, 2, 30, 40]], dtype=np.float32)
    box_file = write_pickle(
        tmp_path / "gt.pkl",
        {
            "nframes": {"Biking/v_Biking_g01_c01": 3},
            "gttubes": {"Biking/v_Biking_g01_c01": {2: [rows]}},
        },
        protocol=2,
    )
    test_list = tmp_path / "t.txt"
    test_list.write_text("Biking/v_Biking_g01_c01\n")
    config = settings(box_file=box_file, box_source="ucf101v2", test_list_24=test_list)
    with pytest.raises(IngestError, match="v_Biking_g01_c01: 1 NaN or infinite box coordinates"):
        ucf101.ingest(config, tmp_path, seed=0, n_shards=1, on_error="fail")
    result = ucf101.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    assert "NaN" in result.skipped[0]["reason"] and result.boxes.empty


def test_unknown_class_and_unannotated_video(tmp_path):
    config = _one_video_pickle(tmp_path, [tube(0, [[1, 1, 5, 5]])])
    Path(config["test_list_24"]).write_text(
        "Biking/v_Biking_g01_c01\nDancing/v_Dancing_g01_c01\nDiving/v_Diving_g01_c01\n"
    )
    with pytest.raises(IngestError, match="v_Dancing_g01_c01: unknown class 'Dancing'"):
        ucf101.ingest(config, tmp_path, seed=0, n_shards=1, on_error="fail")
    result = ucf101.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    reasons = {row["video_id"]: row["reason"] for row in result.skipped}
    assert set(reasons) == {"v_Dancing_g01_c01", "v_Diving_g01_c01"}
    assert "not in the box file" in reasons["v_Diving_g01_c01"]
    assert result.manifest["video_id"].tolist() == ["v_Biking_g01_c01"]


def test_duplicate_and_overlapping_lists_are_errors(tmp_path, ucf101_tree):
    twice = tmp_path / "twice.txt"
    twice.write_text("Biking/v_Biking_g01_c01.avi\nBiking/v_Biking_g01_c01.avi\n")
    with pytest.raises(IngestError, match="listed twice"):
        ucf101.ingest(
            settings(test_list=twice, box_file=ucf101_tree["box_file"]),
            tmp_path,
            seed=0,
            n_shards=1,
            on_error="skip",
        )
    overlap = tmp_path / "overlap.txt"
    overlap.write_text("Basketball/v_Basketball_g08_c01.avi\n")
    with pytest.raises(IngestError, match="both the train and the test list"):
        ucf101.ingest(
            tree_settings(ucf101_tree, test_list=overlap),
            tmp_path,
            seed=0,
            n_shards=1,
            on_error="skip",
        )
    not_subset = tmp_path / "test24.txt"
    not_subset.write_text("Diving/v_Diving_g01_c01\n")
    with pytest.raises(IngestError, match="not in .*testlist01.txt"):
        ucf101.ingest(
            tree_settings(ucf101_tree, test_list_24=not_subset),
            tmp_path,
            seed=0,
            n_shards=1,
            on_error="skip",
        )


def test_wrong_classind_and_trainlist_numbers_are_errors(tmp_path, ucf101_tree):
    wrong = tmp_path / "classInd.txt"
    names = list(UCF101_CLASSES)
    names[34], names[35] = names[35], names[34]  # case-sensitive sorting swaps these two
    wrong.write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(names)))
    with pytest.raises(
        IngestError, match=r"classInd.txt does not match.*\(35, 'HammerThrow', 'Hammering'\)"
    ):
        ucf101.ingest(
            tree_settings(ucf101_tree, class_index=wrong),
            tmp_path,
            seed=0,
            n_shards=1,
            on_error="fail",
        )
    bad_train = tmp_path / "trainlist.txt"
    bad_train.write_text("Basketball/v_Basketball_g08_c01.avi 7\n")
    with pytest.raises(IngestError, match=r"trainlist.txt:1: label 7 for class Basketball"):
        ucf101.ingest(
            tree_settings(ucf101_tree, train_list=bad_train),
            tmp_path,
            seed=0,
            n_shards=1,
            on_error="fail",
        )


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    box_file = write_pickle(tmp_path / "pyannot.pkl", {"Biking/v_Biking_g01_c01": Exploit()})
    test_list = tmp_path / "t.txt"
    test_list.write_text("Biking/v_Biking_g01_c01\n")
    with pytest.raises(
        UnsafePickleError, match=r"pyannot.pkl: refused global (posix|os|nt)\.system"
    ):
        ucf101.ingest(
            settings(box_file=box_file, test_list_24=test_list),
            tmp_path,
            seed=0,
            n_shards=1,
            on_error="skip",
        )
    assert not marker.exists()
    # Other classic gadgets are refused too, even inside an admitted structure.
    for module, name in (("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load")):
        payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x001\x85R."
        path = write_pickle(tmp_path / "gadget.pkl", None)
        path.write_bytes(payload)
        with pytest.raises(UnsafePickleError, match=f"refused global {module}.{name}"):
            load_pickle(path)


def test_truncated_pickle_is_a_clear_error(tmp_path, tiny_pyannot):
    box_file, test_list = tiny_pyannot
    box_file.write_bytes(box_file.read_bytes()[:100])
    with pytest.raises(PickleLoadError, match="pyannot.pkl: not a readable pickle"):
        ucf101.ingest(
            settings(box_file=box_file, test_list_24=test_list),
            tmp_path,
            seed=0,
            n_shards=1,
            on_error="skip",
        )


def test_config_schema_defaults_and_type_errors():
    config = validate_config(
        {"dataset": {"name": "ucf101", "kind": "ucf101", "ucf101": {"box_file": "a.pkl"}}}
    )
    section = config["dataset"]["ucf101"]
    assert (
        section["box_source"] == "pyannot"
        and section["video_root"] == ""
        and section["val_fraction"] == 0.1
    )
    with pytest.raises(ConfigError, match="dataset.ucf101.val_fraction"):
        validate_config({"dataset": {"kind": "ucf101", "ucf101": {"val_fraction": "half"}}})
    with pytest.raises(ConfigError, match="dataset.ucf101.box_source"):
        validate_config({"dataset": {"kind": "ucf101", "ucf101": {"box_source": "yolo"}}})
    with pytest.raises(ConfigError, match="dataset.ucf101"):
        validate_config({"dataset": {"kind": "ucf101", "ucf101": {"boxfile": "a.pkl"}}})


@pytest.mark.skipif(
    not (REAL_DATA / "pyannot.pkl").exists(),
    reason=f"real UCF101-24 annotations not found at {REAL_DATA} (../shared is absent on this machine)",
)
def test_real_pyannot_split1_test_counts(tmp_path):
    """The published facts of UCF101-24 split 1, through the ingest stage's writers."""
    from benchmark.ingest import run_ingest
    from benchmark.manifest import read_boxes, read_manifest

    config = validate_config(
        {
            "results": str(tmp_path),
            "dataset": {
                "name": "ucf101_24",
                "kind": "ucf101",
                "ucf101": {
                    "test_list_24": str(REAL_DATA / "testlist01.txt"),
                    "box_file": str(REAL_DATA / "pyannot.pkl"),
                },
            },
        }
    )
    result = run_ingest(config)
    assert result.report["videos"] == 910
    assert result.report["frames"] == 159_289
    assert result.report["frames_with_boxes"] == 138_527
    assert result.report["boxes_clipped"] == 0 and result.skipped == []
    manifest = read_manifest(tmp_path / "ucf101_24/manifest.csv")
    boxes = read_boxes(tmp_path / "ucf101_24/boxes.parquet", manifest)
    assert len(manifest) == 910 and manifest["num_frames"].sum() == 159_289
    assert len(boxes[["video_id", "frame"]].drop_duplicates()) == 138_527
    assert boxes.groupby("video_id")["actor"].max().max() == 9  # up to 10 tubes per video
    assert set(manifest["label_name"]) == set(UCF101_24_CLASSES)
    assert (manifest["label"] == manifest["label_name"].map(UCF101_CLASSES.index)).all()
