"""HMDB51 + JHMDB adapter on a miniature dataset written in the real formats.

HMDB51 split files (`<class>_test_split1.txt`, `name.avi 0|1|2`), videos with HMDB's odd names
(`#`, `(`, `!`, `&`, `,`), JHMDB `puppet_mask.mat` files written with scipy.io.savemat
(`part_mask` H x W x T) and JHMDB `Rename_Images` png folders.
"""

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import scipy.io

from benchmark.config import ConfigError, validate_config
from benchmark.datasets import hmdb51
from benchmark.datasets.generic import IngestError
from benchmark.ids import shard_of
from benchmark.masks import mask_path, mask_sha256, read_actor_masks
from benchmark.video import write_frame_folder

WIDTH, HEIGHT, FRAMES = 32, 24, 6
BRUSH_TEST = "Brushing_Hair_with_Beautiful_Girl_brush_hair_f_nm_np1_fr_goo_0"
CLAP_TEST = "#20_Rhythm_clap_u_nm_np1_fr_goo_0"
SPLITS = {
    "brush_hair": [
        ("April_09_brush_hair_u_nm_np1_ba_goo_0", 1),
        (BRUSH_TEST, 2),
        ("red_head_brush_hair_u_cm_np1_ba_goo_0", 0),
        ("Aussie_Brush_hair_brush_hair_h_nm_np1_le_goo_1", 1),
    ],
    "clap": [
        (CLAP_TEST, 2),
        ("(Faith!)_&_Clap,_Please_clap_u_cm_np1_fr_med_1", 1),
        ("Clap_clap_u_nm_np1_fr_med_0", 2),
        ("clap_ten_clap_f_nm_np1_fr_goo_0", 1),
    ],
}


def write_avi(path: Path, num_frames: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        container.start_encoding()
        for _ in range(num_frames):
            array = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def puppet(num_frames: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """A (H, W, T) uint8 part_mask: a blob moving right one pixel per frame, frame 2 empty."""
    part_mask = np.zeros((height, width, num_frames), dtype=np.uint8)
    for t in range(num_frames):
        if t != 2:
            part_mask[5:15, 3 + t : 10 + t, t] = 1
            part_mask[15, 6 + t, t] = 1  # a foot: the box reaches one row lower
    return part_mask


def write_puppet(root: Path, class_name: str, name: str, part_mask) -> Path:
    path = root / class_name / name / "puppet_mask.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"part_mask": part_mask})
    return path


@pytest.fixture
def hmdb_tree(tmp_path) -> dict:
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    for class_name, videos in SPLITS.items():
        # HMDB's files end each line with a space.
        text = "".join(f"{name}.avi {code} \n" for name, code in videos)
        (splits / f"{class_name}_test_split1.txt").write_text(text)
        (splits / f"{class_name}_test_split2.txt").write_text(text.replace(" 2 ", " 1 "))
    videos = tmp_path / "hmdb51_org"
    for seed, (class_name, name) in enumerate((c, n) for c, vs in SPLITS.items() for n, _ in vs):
        write_avi(videos / class_name / f"{name}.avi", FRAMES, seed)
    masks = tmp_path / "puppet_mask"
    write_puppet(masks, "brush_hair", BRUSH_TEST, puppet(FRAMES))
    write_puppet(masks, "clap", CLAP_TEST, puppet(FRAMES - 1))  # shorter than its video
    return {"splits": splits, "videos": videos, "masks": masks, "tmp": tmp_path}


def settings(tree: dict, **overrides) -> dict:
    base = {
        "split_dir": str(tree["splits"]),
        "split": 1,
        "video_root": str(tree["videos"]),
        "video_format": "avi",
        "frames_fps": 30.0,
        "jhmdb_masks": str(tree["masks"]),
        "subset": "jhmdb_test",
        "val_fraction": 0.0,
    }
    return {**base, **{k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()}}


def test_class_constants():
    assert len(hmdb51.HMDB51_CLASSES) == 51 and list(hmdb51.HMDB51_CLASSES) == sorted(
        hmdb51.HMDB51_CLASSES
    )
    assert len(hmdb51.JHMDB_CLASSES) == 21 and set(hmdb51.JHMDB_CLASSES) <= set(
        hmdb51.HMDB51_CLASSES
    )
    assert (
        hmdb51.HMDB51_CLASSES.index("brush_hair") == 0 and hmdb51.HMDB51_CLASSES.index("wave") == 50
    )


def test_jhmdb_test_subset_boxes_and_true_masks(hmdb_tree):
    out = hmdb_tree["tmp"] / "results"
    result = hmdb51.ingest(
        settings(hmdb_tree, val_fraction=0.5), out, seed=1, n_shards=3, on_error="fail"
    )
    manifest = result.manifest.set_index("video_id")
    clap_id, odd_id = "20_Rhythm_clap_u_nm_np1_fr_goo_0", "Faith_Clap_Please_clap_u_cm_np1_fr_med_1"
    # Unused (0) videos are left out; test keeps only JHMDB videos; train keeps all.
    assert sorted(manifest.index) == sorted(
        [
            "April_09_brush_hair_u_nm_np1_ba_goo_0",
            BRUSH_TEST,
            "Aussie_Brush_hair_brush_hair_h_nm_np1_le_goo_1",
            clap_id,
            odd_id,
            "clap_ten_clap_f_nm_np1_fr_goo_0",
        ]
    )
    assert manifest.loc[clap_id, "source_name"] == f"clap/{CLAP_TEST}"
    assert manifest.loc[odd_id, "path"] == str(
        hmdb_tree["videos"] / "clap" / "(Faith!)_&_Clap,_Please_clap_u_cm_np1_fr_med_1.avi"
    )
    assert manifest.loc[[BRUSH_TEST, clap_id], "split"].tolist() == ["test", "test"]
    assert sorted(manifest.loc[manifest["split"] == "val", "label_name"]) == ["brush_hair", "clap"]
    assert (manifest["split"] == "train").sum() == 2
    assert manifest.loc[BRUSH_TEST, "label"] == 0 and manifest.loc[clap_id, "label"] == 4
    assert manifest[["num_frames", "width", "height", "fps"]].drop_duplicates().values.tolist() == [
        [6, 32, 24, 30.0]
    ]
    assert result.annotation_source == "jhmdb-puppet"

    boxes = result.boxes[result.boxes["video_id"] == BRUSH_TEST]
    # Tight boxes, x2/y2 exclusive; frame 2 has an empty mask and so no box.
    assert boxes[["frame", "actor", "x1", "y1", "x2", "y2"]].values.tolist() == [
        [t, 0, 3 + t, 5, 10 + t, 16] for t in (0, 1, 3, 4, 5)
    ]
    assert result.report["frames_with_boxes"] == 5 + 4
    assert result.report["masks_shorter_than_video"] == 1 and result.report["truth_masks"] == 2

    truth = read_actor_masks(mask_path(out / "masks", "truth", clap_id))
    assert truth.num_frames == 6 and (truth.height, truth.width) == (24, 32)
    expected = np.moveaxis(puppet(FRAMES - 1) > 0, -1, 0)
    np.testing.assert_array_equal(truth.foreground()[:5], expected)
    assert truth.frames[2] == {} and truth.frames[5] == {}  # empty mask; past the mask's end
    assert truth.provenance["mask_frames"] == 5 and truth.provenance["source"] == "jhmdb-puppet"
    assert result.truth_masks[clap_id] == mask_sha256(truth)

    index = pd.concat(
        [
            pd.read_csv(out / f"masks/truth/shards/shard-{k:03d}.csv").assign(shard=k)
            for k in range(3)
        ]
    )
    assert sorted(index["video_id"]) == sorted([BRUSH_TEST, clap_id])
    assert all(shard_of(v, 3) == k for v, k in zip(index["video_id"], index["shard"], strict=True))
    assert dict(zip(index["video_id"], index["mask_sha256"], strict=True)) == result.truth_masks


def test_subsets_and_split_choice(hmdb_tree):
    every = hmdb51.ingest(
        settings(hmdb_tree, subset="all"), hmdb_tree["tmp"], seed=0, n_shards=1, on_error="fail"
    )
    assert len(every.manifest) == 7 and (every.manifest["split"] == "test").sum() == 3
    assert set(every.boxes["video_id"]) == {BRUSH_TEST, "20_Rhythm_clap_u_nm_np1_fr_goo_0"}
    only = hmdb51.ingest(
        settings(hmdb_tree, subset="jhmdb"), hmdb_tree["tmp"], seed=0, n_shards=1, on_error="fail"
    )
    assert sorted(only.manifest["video_id"]) == sorted(
        [BRUSH_TEST, "20_Rhythm_clap_u_nm_np1_fr_goo_0"]
    )
    split2 = hmdb51.ingest(
        settings(hmdb_tree, subset="all", split=2),
        hmdb_tree["tmp"],
        seed=0,
        n_shards=1,
        on_error="fail",
    )
    assert (split2.manifest["split"] == "train").all() and len(split2.manifest) == 7
    no_masks = hmdb51.ingest(
        settings(hmdb_tree, subset="all", jhmdb_masks=""),
        hmdb_tree["tmp"] / "plain",
        seed=0,
        n_shards=2,
        on_error="fail",
    )
    assert no_masks.boxes.empty and no_masks.truth_masks == {}
    # Every shard has its index file, even with no masks at all.
    for k in range(2):
        assert pd.read_csv(hmdb_tree["tmp"] / f"plain/masks/truth/shards/shard-{k:03d}.csv").empty


def test_annotation_only_and_rename_images_frames(hmdb_tree):
    result = hmdb51.ingest(
        settings(hmdb_tree, video_root="", subset="jhmdb"),
        hmdb_tree["tmp"],
        seed=0,
        n_shards=1,
        on_error="fail",
    )
    manifest = result.manifest.set_index("video_id")
    assert (manifest["path"] == "").all()
    assert manifest.loc[BRUSH_TEST, ["num_frames", "width", "height", "fps"]].tolist() == [
        6,
        32,
        24,
        30.0,
    ]
    assert manifest.loc["20_Rhythm_clap_u_nm_np1_fr_goo_0", "num_frames"] == 5  # the mask's length
    with pytest.raises(IngestError, match="needs hmdb51.subset: jhmdb"):
        hmdb51.ingest(
            settings(hmdb_tree, video_root=""),
            hmdb_tree["tmp"],
            seed=0,
            n_shards=1,
            on_error="fail",
        )

    frames_root = hmdb_tree["tmp"] / "Rename_Images"
    for class_name, name in (("brush_hair", BRUSH_TEST), ("clap", CLAP_TEST)):
        write_frame_folder(
            frames_root / class_name / name, np.zeros((7, HEIGHT, WIDTH, 3), np.uint8)
        )
    result = hmdb51.ingest(
        settings(
            hmdb_tree,
            video_root=frames_root,
            video_format="frames",
            subset="jhmdb",
            frames_fps=30.0,
        ),
        hmdb_tree["tmp"],
        seed=0,
        n_shards=1,
        on_error="fail",
    )
    row = result.manifest.set_index("video_id").loc[BRUSH_TEST]
    assert row["path"] == str(frames_root / "brush_hair" / BRUSH_TEST)
    assert row[["num_frames", "fps"]].tolist() == [7, 30.0]
    assert result.report["masks_shorter_than_video"] == 2


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("mask_longer", "boxes past the last frame"),
        ("mask_size", "mask size 40x24 differs from the video's 32x24"),
        ("mat_garbage", "unreadable .mat file"),
        ("mat_no_part_mask", "has no 'part_mask' variable"),
        ("video_garbage", "unreadable video"),
        ("video_missing", "file not found"),
    ],
)
def test_bad_input_fails_or_is_skipped(hmdb_tree, damage, reason):
    masks, video = hmdb_tree["masks"], hmdb_tree["videos"] / "brush_hair" / f"{BRUSH_TEST}.avi"
    mat = masks / "brush_hair" / BRUSH_TEST / "puppet_mask.mat"
    if damage == "mask_longer":
        write_puppet(masks, "brush_hair", BRUSH_TEST, puppet(FRAMES + 2))
    elif damage == "mask_size":
        write_puppet(masks, "brush_hair", BRUSH_TEST, puppet(FRAMES, width=40))
    elif damage == "mat_garbage":
        mat.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 7)
    elif damage == "mat_no_part_mask":
        scipy.io.savemat(str(mat), {"pos_img": np.zeros((2, 15, 6))})
    elif damage == "video_garbage":
        video.write_bytes(b"\x00garbage" * 50)
    else:
        video.unlink()
    with pytest.raises(IngestError, match=rf"{BRUSH_TEST}: .*{reason}"):
        hmdb51.ingest(
            settings(hmdb_tree), hmdb_tree["tmp"] / "a", seed=0, n_shards=2, on_error="fail"
        )
    out = hmdb_tree["tmp"] / "b"
    result = hmdb51.ingest(settings(hmdb_tree), out, seed=0, n_shards=2, on_error="skip")
    assert [row["video_id"] for row in result.skipped] == [BRUSH_TEST]
    assert reason in result.skipped[0]["reason"] and result.skipped[0]["stage"] == "ingest"
    assert BRUSH_TEST not in set(result.manifest["video_id"]) | set(result.boxes["video_id"])
    assert list(result.truth_masks) == ["20_Rhythm_clap_u_nm_np1_fr_goo_0"]
    assert not mask_path(out / "masks", "truth", BRUSH_TEST).exists()


def test_colliding_names_unknown_class_and_bad_lines(hmdb_tree):
    splits = hmdb_tree["splits"]
    clap = splits / "clap_test_split1.txt"
    original = clap.read_text()
    clap.write_text(
        original + "a&b_clap_u_nm_np1_fr_med_0.avi 1\na_b_clap_u_nm_np1_fr_med_0.avi 1\n"
    )
    with pytest.raises(
        IngestError,
        match="'clap/a&b_clap_u_nm_np1_fr_med_0' and 'clap/a_b_clap_u_nm_np1_fr_med_0' both map to id",
    ):
        hmdb51.ingest(
            settings(hmdb_tree, subset="all"), hmdb_tree["tmp"], seed=0, n_shards=1, on_error="skip"
        )
    clap.write_text(original + "Clap_clap_u_nm_np1_fr_med_0.avi 1\n")
    with pytest.raises(IngestError, match="listed twice"):
        hmdb51.ingest(
            settings(hmdb_tree, subset="all"), hmdb_tree["tmp"], seed=0, n_shards=1, on_error="skip"
        )
    clap.write_text(original + "broken line\n")
    with pytest.raises(IngestError, match=r"clap_test_split1.txt:5: expected 'name.avi 0\|1\|2'"):
        hmdb51.ingest(
            settings(hmdb_tree, subset="all"), hmdb_tree["tmp"], seed=0, n_shards=1, on_error="skip"
        )
    clap.write_text(original)

    (splits / "dance_test_split1.txt").write_text("Dancing_Queen_dance_f_nm_np1_fr_goo_0.avi 1 \n")
    with pytest.raises(
        IngestError, match="Dancing_Queen_dance_f_nm_np1_fr_goo_0: unknown class 'dance'"
    ):
        hmdb51.ingest(
            settings(hmdb_tree, subset="all"), hmdb_tree["tmp"], seed=0, n_shards=1, on_error="fail"
        )
    result = hmdb51.ingest(
        settings(hmdb_tree, subset="all"), hmdb_tree["tmp"], seed=0, n_shards=1, on_error="skip"
    )
    assert [row["video_id"] for row in result.skipped] == ["Dancing_Queen_dance_f_nm_np1_fr_goo_0"]
    assert len(result.manifest) == 7


def test_config_schema_defaults_and_type_errors():
    config = validate_config({"dataset": {"name": "hmdb51", "kind": "hmdb51"}})
    section = config["dataset"]["hmdb51"]
    assert (
        section["subset"] == "jhmdb_test" and section["split"] == 1 and section["frames_fps"] == 30
    )
    with pytest.raises(ConfigError, match="dataset.hmdb51.split"):
        validate_config({"dataset": {"kind": "hmdb51", "hmdb51": {"split": 4}}})
    with pytest.raises(ConfigError, match="dataset.hmdb51.subset"):
        validate_config({"dataset": {"kind": "hmdb51", "hmdb51": {"subset": "jhmdb_all"}}})
