import numpy as np
import pandas as pd
import pytest

from benchmark.manifest import (
    ManifestError,
    clip_boxes,
    read_boxes,
    read_manifest,
    read_skipped,
    validate_boxes,
    write_boxes,
    write_manifest,
    write_skipped,
)


def manifest_rows(**change):
    rows = {
        "video_id": ["a", "b"],
        "source_name": ["A/a", "B/b"],
        "path": ["", ""],
        "label": [0, 3],
        "label_name": ["x", "y"],
        "split": ["train", "test"],
        "num_frames": [10, 5],
        "fps": [25.0, 25.0],
        "width": [320, 320],
        "height": [240, 240],
    }
    rows.update(change)
    return pd.DataFrame(rows)


def boxes_rows(**change):
    rows = {
        "video_id": ["a", "b"],
        "frame": [0, 4],
        "actor": [0, 0],
        "x1": [1.0, 300.0],
        "y1": [2.0, -5.0],
        "x2": [10.0, 340.0],
        "y2": [20.0, 30.0],
    }
    rows.update(change)
    return pd.DataFrame(rows)


def test_round_trip_and_sidecar(tmp_path):
    manifest = write_manifest(tmp_path / "manifest.csv", manifest_rows())
    assert read_manifest(tmp_path / "manifest.csv").equals(manifest)
    write_boxes(tmp_path / "boxes.parquet", boxes_rows(), "pyannot")
    boxes = read_boxes(tmp_path / "boxes.parquet", manifest)
    assert boxes["frame"].tolist() == [0, 4]
    assert '"annotation_source": "pyannot"' in (tmp_path / "boxes.json").read_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"video_id": ["a", "a"]}, "duplicate video_id"),
        ({"video_id": ["a", "b c"]}, r"row 3 \(video_id b c\): video_id: .* matching"),
        ({"split": ["train", "holdout"]}, r"row 3 \(video_id b\): split: 'holdout' .*one of"),
        ({"label": [0, -1]}, "label: -1 must be a finite integer >= 0"),
        ({"fps": [25.0, 0.0]}, "fps: 0.0 must be a finite number > 0"),
    ],
)
def test_bad_manifests_name_the_problem(tmp_path, change, message):
    with pytest.raises(ManifestError, match=message) as caught:
        write_manifest(tmp_path / "manifest.csv", manifest_rows(**change))
    assert str(tmp_path / "manifest.csv") in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "manifest.csv").exists()


def test_a_manifest_and_boxes_read_back_as_written_to_the_same_bytes(tmp_path):
    """Ingest's tables go through benchmark.table_files: what is written is pandas' plain CSV /
    parquet of the typed table, read back equal, and written again to the same bytes."""
    manifest = write_manifest(tmp_path / "manifest.csv", manifest_rows(label_name=[7, "y"]))
    assert manifest["label_name"].tolist() == [
        "7",
        "y",
    ]  # names are text, whatever the adapter gave
    assert (tmp_path / "manifest.csv").read_bytes() == manifest.to_csv(
        index=False, lineterminator="\n"
    ).encode()
    back = read_manifest(tmp_path / "manifest.csv")
    write_manifest(tmp_path / "again.csv", back)
    assert (tmp_path / "again.csv").read_bytes() == (tmp_path / "manifest.csv").read_bytes()
    write_boxes(tmp_path / "boxes.parquet", boxes_rows(frame=[3, 0]), "pyannot")
    boxes = read_boxes(tmp_path / "boxes.parquet", back)
    assert boxes["video_id"].tolist() == ["a", "b"] and boxes["frame"].dtype == np.int64
    write_boxes(tmp_path / "again.parquet", boxes, "pyannot")
    assert (tmp_path / "again.parquet").read_bytes() == (tmp_path / "boxes.parquet").read_bytes()


def test_a_bad_manifest_file_names_the_file_and_its_line(tmp_path):
    path = tmp_path / "manifest.csv"
    manifest_rows().astype(str).assign(num_frames=["10", "many"]).to_csv(path, index=False)
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    assert str(caught.value).startswith(f"{path}: manifest table row 3 (video_id b): num_frames:")
    assert "python -m benchmark.ingest" in str(caught.value)


def test_missing_manifest_says_what_to_run(tmp_path):
    with pytest.raises(ManifestError, match="run the ingest stage"):
        read_manifest(tmp_path / "manifest.csv")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"x1": [1.0, np.nan]}, "x1: nan must be a finite number"),
        ({"x2": [1.0, 340.0]}, "zero or negative area"),
        ({"frame": [0, 5]}, "past the last frame"),
        ({"video_id": ["a", "zzz"]}, "not in the manifest"),
    ],
)
def test_bad_boxes_name_the_problem(change, message):
    with pytest.raises(ManifestError, match=message):
        validate_boxes(boxes_rows(**change), manifest_rows())


def test_boxes_outside_the_frame_are_clipped_and_counted():
    clipped, changed = clip_boxes(boxes_rows(), manifest_rows())
    assert changed == 1
    assert clipped.loc[1, ["x1", "y1", "x2", "y2"]].tolist() == [300.0, 0.0, 320.0, 30.0]
    gone, changed = clip_boxes(boxes_rows(x1=[1.0, 330.0]), manifest_rows())
    assert len(gone) == 1 and changed == 1


def test_skipped_files_round_trip_and_must_exist(tmp_path):
    write_skipped(
        tmp_path / "ingest" / "skipped.csv",
        [{"video_id": "a", "mask_source": "", "stage": "ingest", "reason": "truncated"}],
    )
    write_skipped(tmp_path / "other.csv", [])
    skipped = read_skipped([tmp_path / "ingest" / "skipped.csv", tmp_path / "other.csv"])
    assert skipped["video_id"].tolist() == ["a"]
    with pytest.raises(ManifestError, match="did not finish"):
        read_skipped([tmp_path / "nope.csv"])
