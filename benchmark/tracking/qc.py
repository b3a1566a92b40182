"""Mask quality control: one row per video in `masks/<source>/qc.csv`, for every mask source.

Columns and definitions (docs/contracts.md; T = frames, M_t the mask's foreground — the union of its
actors — on frame t, G_t the true foreground, C_t the synthetic context object, B_t the union of the
frame's annotation boxes; "annotated frames" are frames with at least one box):

- `frames` = T; `empty_frames` = frames with an empty M_t (frames outside the tubes included).
- `mean_score` = mean of the tracker's per-actor scores (SAM: predicted IoU); empty without scores.
- `area_mean` = mean of |M_t| / (H·W) over frames with a non-empty M_t (0 when all are empty).
- `box_fill_mean` = mean of |M_t ∩ B_t| / |B_t| over annotated frames (empty without boxes).
- `max_area_jump` = max of |a_t − a_{t−1}| / max(a_t, a_{t−1}) over consecutive frames both
  non-empty (a_t = |M_t|); 0 with fewer than two such frames.
- `iou_gt_mean` = mean of |M_t ∩ G_t| / |M_t ∪ G_t| over frames where M_t or G_t is non-empty.
- `leak_gt` = Σ_t |M_t \\ G_t| / Σ_t |M_t|: the share of the mask's pixels outside the true mask.
- `leak_context_gt` = Σ_t |M_t ∩ C_t| / Σ_t |C_t|: the share of the context object the mask covers.
  The last three are empty where the dataset has no truth (no `masks/truth/<video_id>.json.gz`) or
  no context object (`masks/context/<video_id>.json.gz`, synthetic data only), or a denominator is 0.
- `flags`: `;`-joined names from `FLAGS` (fixed list, thresholds in config `masks.qc`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.atomic import write_csv_atomic
from benchmark.ids import shard_name
from benchmark.manifest import SKIPPED_COLUMNS, read_skipped
from benchmark.masks import (
    ActorMasks,
    box_masks,
    mask_path,
    mask_sha256,
    read_actor_masks,
)
from benchmark.table_files import write_qc

# The fixed flag list: name -> when it is raised (thresholds: config `masks.qc.<key>`).
FLAGS = {
    "tiny": "box_fill_mean < masks.qc.tiny_box_fill: the mask covers almost none of its boxes",
    "fills_box": "box_fill_mean > masks.qc.fills_box: the mask is (nearly) the rectangle itself",
    "low_score": "mean_score < masks.qc.low_score: the tracker doubts its own masks",
    "area_jump": "max_area_jump > masks.qc.area_jump: the area changes abruptly between frames",
    "empty_in_span": "an annotated frame (one with a box) has an empty mask",
    "outside_span": "a frame before the first or after the last annotated frame has mask pixels",
    "no_boxes": "the video has no boxes, so box_fill_mean and the span flags are undefined",
    "low_iou_gt": "iou_gt_mean < masks.qc.low_iou_gt (datasets with true masks)",
    "leaky_gt": "leak_gt > masks.qc.leaky_gt: much of the mask lies outside the true mask",
}


class QcError(ValueError):
    """QC inputs disagree (stale index, size mismatch); the message names the file."""


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else float("nan")


def qc_video(
    masks: ActorMasks,
    video_boxes: pd.DataFrame,
    thresholds: dict,
    truth: ActorMasks | None = None,
    context: ActorMasks | None = None,
) -> dict:
    """One qc.csv row (definitions in the module docstring)."""
    shape = (masks.num_frames, masks.height, masks.width)
    num_frames, height, width = shape
    for other, what in ((truth, "truth"), (context, "context")):
        if other is not None and (other.num_frames, other.height, other.width) != shape:
            raise QcError(
                f"{masks.video_id}: {what} masks are {other.num_frames}x{other.height}x{other.width}, "
                f"{masks.tracker} masks {num_frames}x{height}x{width}; rebuild the stale one"
            )
    boxes = (
        None
        if video_boxes.empty
        else box_masks(masks.video_id, video_boxes, num_frames, height, width, mode="union")
    )
    # Per-frame pixel counts, one frame's masks in memory at a time (not the (T, H, W) arrays).
    counts = {
        name: np.zeros(num_frames, np.int64)
        for name in ("area", "box", "fill", "union", "inter", "leak", "object", "object_hit")
    }
    for t in range(num_frames):
        fg = masks.frame_mask(t)
        counts["area"][t] = fg.sum()
        if boxes is not None:
            box = boxes.frame_mask(t)
            counts["box"][t], counts["fill"][t] = box.sum(), (fg & box).sum()
        if truth is not None:
            gt = truth.frame_mask(t)
            counts["union"][t], counts["inter"][t] = (fg | gt).sum(), (fg & gt).sum()
            counts["leak"][t] = (fg & ~gt).sum()
        if context is not None:
            object_mask = context.frame_mask(t)
            counts["object"][t], counts["object_hit"][t] = (
                object_mask.sum(),
                (fg & object_mask).sum(),
            )
    area = counts["area"].astype(np.float64)
    non_empty = area > 0
    scores = [s for entries in masks.frames for _, s in entries.values() if s is not None]
    row: dict = {
        "video_id": masks.video_id,
        "mask_sha256": mask_sha256(masks),
        "frames": num_frames,
        "empty_frames": int((~non_empty).sum()),
        "mean_score": float(np.mean(scores)) if scores else float("nan"),
        "area_mean": float(area[non_empty].mean() / (height * width)) if non_empty.any() else 0.0,
    }
    flags = []
    if boxes is None:
        row["box_fill_mean"] = float("nan")
        flags.append("no_boxes")
    else:
        box_area = counts["box"]
        annotated = box_area > 0
        fill = counts["fill"][annotated] / box_area[annotated]
        row["box_fill_mean"] = float(fill.mean()) if annotated.any() else float("nan")
        if (annotated & ~non_empty).any():
            flags.append("empty_in_span")
        span = np.flatnonzero(annotated)
        if len(span) and (non_empty[: span[0]].any() or non_empty[span[-1] + 1 :].any()):
            flags.append("outside_span")
    both = non_empty[1:] & non_empty[:-1]
    jumps = np.abs(np.diff(area))[both] / np.maximum(area[1:], area[:-1])[both]
    row["max_area_jump"] = float(jumps.max()) if len(jumps) else 0.0
    if truth is not None:
        union, inter = counts["union"], counts["inter"]
        row["iou_gt_mean"] = (
            float((inter[union > 0] / union[union > 0]).mean())
            if (union > 0).any()
            else float("nan")
        )
        row["leak_gt"] = _ratio(counts["leak"].sum(), counts["area"].sum())
    else:
        row["iou_gt_mean"] = row["leak_gt"] = float("nan")
    if context is not None:
        row["leak_context_gt"] = _ratio(counts["object_hit"].sum(), counts["object"].sum())
    else:
        row["leak_context_gt"] = float("nan")
    if row["box_fill_mean"] < thresholds["tiny_box_fill"]:
        flags.append("tiny")
    if row["box_fill_mean"] > thresholds["fills_box"]:
        flags.append("fills_box")
    if row["mean_score"] < thresholds["low_score"]:
        flags.append("low_score")
    if row["max_area_jump"] > thresholds["area_jump"]:
        flags.append("area_jump")
    if row["iou_gt_mean"] < thresholds["low_iou_gt"]:
        flags.append("low_iou_gt")
    if row["leak_gt"] > thresholds["leaky_gt"]:
        flags.append("leaky_gt")
    row["flags"] = ";".join(name for name in FLAGS if name in flags)  # NaN comparisons are False
    return row


def read_shard_index(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise QcError(
            f"{path}: shard index not found; the job that builds this shard did not finish"
        )
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(table.columns) != ["video_id", "mask_sha256"]:
        raise QcError(f"{path}: columns must be ['video_id', 'mask_sha256']")
    return table


def run_qc(
    results: str | os.PathLike,
    source: str,
    n_shards: int,
    boxes: pd.DataFrame,
    thresholds: dict,
) -> pd.DataFrame:
    """Build `masks/<source>/qc.csv` and `masks/<source>/skipped.csv` from every shard's index and
    skip record; truth and context are read where their mask files exist."""
    masks_dir = Path(results) / "masks"
    rows = []
    skipped_files = []
    by_video = dict(tuple(boxes.groupby("video_id", sort=False)))
    empty_boxes = boxes.iloc[0:0]
    for shard in range(n_shards):
        index = read_shard_index(masks_dir / source / "shards" / f"{shard_name(shard)}.csv")
        skipped = masks_dir / source / "shards" / f"{shard_name(shard)}.skipped.csv"
        if skipped.exists():
            skipped_files.append(skipped)
        for video_id, indexed_sha in zip(index["video_id"], index["mask_sha256"], strict=True):
            path = mask_path(masks_dir, source, video_id)
            masks = read_actor_masks(path)
            truth_path = mask_path(masks_dir, "truth", video_id)
            context_path = mask_path(masks_dir, "context", video_id)
            truth = read_actor_masks(truth_path) if truth_path.exists() else None
            context = read_actor_masks(context_path) if context_path.exists() else None
            row = qc_video(masks, by_video.get(video_id, empty_boxes), thresholds, truth, context)
            if row["mask_sha256"] != indexed_sha:
                raise QcError(
                    f"{path}: mask_sha256 {row['mask_sha256'][:12]}… differs from its shard index "
                    f"({indexed_sha[:12]}…); the file changed after indexing — rebuild the shard"
                )
            rows.append(row)
    rows.sort(key=lambda r: r["video_id"])
    table = write_qc(masks_dir / source / "qc.csv", rows)
    skipped_rows = (
        read_skipped(skipped_files) if skipped_files else pd.DataFrame(columns=SKIPPED_COLUMNS)
    )
    write_csv_atomic(
        masks_dir / source / "skipped.csv", skipped_rows.sort_values("video_id", kind="stable")
    )
    return table


__all__ = ["FLAGS", "qc_video", "run_qc"]
