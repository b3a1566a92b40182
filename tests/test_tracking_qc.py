"""QC rows on hand-made masks: every column's definition and every flag, and the table schema."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.masks import actor_masks_from_arrays
from benchmark.table_files import TableError, read_qc, table_columns, write_qc
from benchmark.tracking.qc import QcError, qc_video

THRESHOLDS = {
    "tiny_box_fill": 0.05,
    "fills_box": 0.95,
    "low_score": 0.7,
    "area_jump": 0.5,
    "low_iou_gt": 0.5,
    "leaky_gt": 0.3,
}


def boxes_for(frames: list[int], box=(0.0, 0.0, 10.0, 10.0)) -> pd.DataFrame:
    return pd.DataFrame(
        [("v", t, 0, *box) for t in frames],
        columns=["video_id", "frame", "actor", "x1", "y1", "x2", "y2"],
    )


def stack(*areas: tuple[int, int]) -> np.ndarray:
    """(T, 20, 20) masks: frame t covers rows 0..h-1, cols 0..w-1 for (h, w) = areas[t]."""
    masks = np.zeros((len(areas), 20, 20), dtype=bool)
    for t, (h, w) in enumerate(areas):
        masks[t, :h, :w] = True
    return masks


def test_columns_against_truth_and_context():
    mask = stack((5, 10), (5, 10), (0, 0))
    truth = stack((10, 10), (5, 10), (0, 0))
    context = np.zeros_like(mask)
    context[:2, 4:6, 0:10] = True  # 20 px per frame, half inside the mask's rows 0..4
    masks = actor_masks_from_arrays(
        "v", "grabcut", {0: mask}, scores={0: np.array([0.9, 0.5, 0.0])}
    )
    row = qc_video(
        masks,
        boxes_for([0, 1]),
        THRESHOLDS,
        actor_masks_from_arrays("v", "truth", {0: truth}),
        actor_masks_from_arrays("v", "context", {0: context}),
    )
    assert list(row) == table_columns("qc")
    assert row["frames"] == 3 and row["empty_frames"] == 1
    assert row["mean_score"] == pytest.approx(0.7)  # frames 0 and 1 have entries
    assert row["area_mean"] == pytest.approx(50 / 400)
    assert row["box_fill_mean"] == pytest.approx(0.5)
    assert row["max_area_jump"] == 0.0
    assert row["iou_gt_mean"] == pytest.approx((0.5 + 1.0) / 2)  # frame 2 is empty in both
    assert row["leak_gt"] == 0.0
    assert row["leak_context_gt"] == pytest.approx(20 / 40)
    assert row["flags"] == ""


def test_every_flag_fires_on_its_condition():
    # frame 0 tiny, frame 1 big (area jump), frame 2 empty though annotated, frame 3 outside span
    mask = stack((1, 1), (4, 4), (0, 0), (3, 3))
    masks = actor_masks_from_arrays("v", "sam", {0: mask}, scores={0: np.full(4, 0.2)})
    truth = actor_masks_from_arrays("v", "truth", {0: stack((10, 10), (2, 2), (10, 10), (10, 10))})
    row = qc_video(masks, boxes_for([0, 1, 2], box=(0.0, 0.0, 20.0, 20.0)), THRESHOLDS, truth)
    assert row["box_fill_mean"] == pytest.approx((1 + 16 + 0) / 400 / 3)
    assert row["max_area_jump"] == pytest.approx(15 / 16)
    assert row["leak_gt"] == pytest.approx(12 / 26)
    assert row["flags"].split(";") == [
        "tiny",
        "low_score",
        "area_jump",
        "empty_in_span",
        "outside_span",
        "low_iou_gt",
        "leaky_gt",
    ]
    rectangle = actor_masks_from_arrays("v", "box_first", {0: stack((10, 10))})
    row = qc_video(rectangle, boxes_for([0]), THRESHOLDS)
    assert (
        row["flags"] == "fills_box" and np.isnan(row["iou_gt_mean"]) and np.isnan(row["mean_score"])
    )
    row = qc_video(rectangle, boxes_for([]), THRESHOLDS)
    assert row["flags"] == "no_boxes" and np.isnan(row["box_fill_mean"])


def test_size_mismatch_with_truth_is_an_error():
    masks = actor_masks_from_arrays("v", "sam", {0: stack((2, 2))})
    truth = actor_masks_from_arrays("v", "truth", {0: stack((2, 2), (2, 2))})
    with pytest.raises(QcError, match="v: truth masks are 2x20x20"):
        qc_video(masks, boxes_for([0]), THRESHOLDS, truth)


def test_qc_table_round_trip_and_schema(tmp_path):
    masks = actor_masks_from_arrays("v", "sam", {0: stack((2, 2), (3, 3))})
    row = qc_video(masks, boxes_for([0, 1]), THRESHOLDS)
    write_qc(tmp_path / "qc.csv", [row])
    table = read_qc(tmp_path / "qc.csv")
    assert list(table.columns) == table_columns("qc") and table["video_id"].tolist() == ["v"]
    assert table["mean_score"].isna().all() and table["flags"].tolist() == ["area_jump"]
    broken = dict(row, flags="tiny;made_up")
    with pytest.raises(TableError, match="flags"):
        write_qc(tmp_path / "bad.csv", [broken])
    assert not (tmp_path / "bad.csv").exists()
