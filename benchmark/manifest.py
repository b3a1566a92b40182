"""The canonical manifest, boxes table and skip records (docs/contracts.md "manifest.csv", "boxes.parquet").

Every adapter produces these two tables; every later stage reads them through `read_manifest` /
`read_boxes`, which validate columns, types and ids so a malformed file fails at the boundary with a
message naming it, not three stages later.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.atomic import atomic_path, write_csv_atomic
from benchmark.ids import VIDEO_ID_PATTERN

MANIFEST_COLUMNS = [
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
]
BOX_COLUMNS = ["video_id", "frame", "actor", "x1", "y1", "x2", "y2"]
SKIPPED_COLUMNS = ["video_id", "mask_source", "stage", "reason"]
SPLITS = ("train", "val", "test")


class ManifestError(ValueError):
    """A manifest / boxes / skipped table is malformed; the message names the file and rows."""


def _where(path: str | os.PathLike | None) -> str:
    return f"{path}: " if path is not None else ""


def validate_manifest(
    manifest: pd.DataFrame, path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Check columns, id syntax, uniqueness, splits and numeric ranges; return a typed copy."""
    where = _where(path)
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ManifestError(f"{where}manifest lacks columns {missing}")
    manifest = manifest[MANIFEST_COLUMNS].copy()
    manifest["path"] = manifest["path"].fillna("").astype(str)
    for column in ("video_id", "source_name", "label_name", "split"):
        manifest[column] = manifest[column].astype(str)
    bad_ids = manifest.loc[~manifest["video_id"].str.match(VIDEO_ID_PATTERN.pattern), "video_id"]
    if len(bad_ids):
        raise ManifestError(
            f"{where}invalid video_id(s) {bad_ids.tolist()[:5]}: use [A-Za-z0-9_.-]"
        )
    duplicated = manifest.loc[manifest["video_id"].duplicated(), "video_id"]
    if len(duplicated):
        raise ManifestError(f"{where}duplicate video_id(s) {sorted(set(duplicated))[:5]}")
    bad_split = manifest.loc[~manifest["split"].isin(SPLITS), "video_id"]
    if len(bad_split):
        raise ManifestError(
            f"{where}split must be one of {SPLITS}; bad rows: {bad_split.tolist()[:5]}"
        )
    for column in ("label", "num_frames", "width", "height"):
        values = pd.to_numeric(manifest[column], errors="coerce")
        if values.isna().any() or (values < 0).any() or (values != values.round()).any():
            bad = manifest.loc[values.isna() | (values < 0), "video_id"].tolist()[:5]
            raise ManifestError(
                f"{where}column {column!r} must hold non-negative integers; see {bad}"
            )
        manifest[column] = values.astype(np.int64)
    manifest["fps"] = pd.to_numeric(manifest["fps"], errors="coerce")
    if manifest["fps"].isna().any() or (manifest["fps"] <= 0).any():
        raise ManifestError(f"{where}column 'fps' must be positive numbers")
    return manifest.reset_index(drop=True)


def write_manifest(path: str | os.PathLike, manifest: pd.DataFrame) -> pd.DataFrame:
    manifest = validate_manifest(manifest)
    write_csv_atomic(path, manifest)
    return manifest


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: manifest not found; run the ingest stage first")
    frame = pd.read_csv(
        path, dtype={"video_id": str, "source_name": str, "path": str}, keep_default_na=False
    )
    return validate_manifest(frame, path)


def validate_boxes(
    boxes: pd.DataFrame,
    manifest: pd.DataFrame | None = None,
    path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Check a boxes table; with a manifest, also that every box names a known video and frame."""
    where = _where(path)
    missing = [c for c in BOX_COLUMNS if c not in boxes.columns]
    if missing:
        raise ManifestError(f"{where}boxes lack columns {missing}")
    boxes = boxes[BOX_COLUMNS].copy()
    boxes["video_id"] = boxes["video_id"].astype(str)
    for column in ("frame", "actor"):
        boxes[column] = pd.to_numeric(boxes[column], errors="raise").astype(np.int64)
    coords = boxes[["x1", "y1", "x2", "y2"]].astype(np.float64)
    if not np.isfinite(coords.to_numpy()).all():
        raise ManifestError(f"{where}boxes contain NaN or infinite coordinates")
    if ((coords["x2"] <= coords["x1"]) | (coords["y2"] <= coords["y1"])).any():
        raise ManifestError(f"{where}boxes with zero or negative area")
    boxes[["x1", "y1", "x2", "y2"]] = coords
    if (boxes["frame"] < 0).any():
        raise ManifestError(f"{where}negative frame indices in boxes")
    if manifest is not None:
        known = manifest.set_index("video_id")["num_frames"]
        unknown = sorted(set(boxes["video_id"]) - set(known.index))
        if unknown:
            raise ManifestError(f"{where}boxes for videos not in the manifest: {unknown[:5]}")
        past = boxes["frame"].to_numpy() >= known.reindex(boxes["video_id"]).to_numpy()
        if past.any():
            rows = boxes.loc[past, ["video_id", "frame"]].head(3).to_dict("records")
            raise ManifestError(f"{where}boxes past the last frame of their video: {rows}")
    return boxes.sort_values(["video_id", "frame", "actor"], kind="stable").reset_index(drop=True)


def write_boxes(path: str | os.PathLike, boxes: pd.DataFrame, annotation_source: str) -> None:
    """Write boxes.parquet atomically with its `annotation_source` sidecar (`boxes.json`)."""
    boxes = validate_boxes(boxes)
    path = Path(path)
    with atomic_path(path) as tmp:
        boxes.to_parquet(tmp, index=False)
    sidecar = {"annotation_source": annotation_source, "rows": len(boxes)}
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2) + "\n")


def read_boxes(path: str | os.PathLike, manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: boxes table not found; run the ingest stage first")
    return validate_boxes(pd.read_parquet(path), manifest, path)


def clip_boxes(boxes: pd.DataFrame, manifest: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Clip boxes to their frame; return the clipped table and how many boxes were changed.

    Boxes left with no area after clipping (wholly outside the frame) are dropped and counted too.
    """
    sizes = manifest.set_index("video_id")[["width", "height"]]
    width = sizes["width"].reindex(boxes["video_id"]).to_numpy(dtype=np.float64)
    height = sizes["height"].reindex(boxes["video_id"]).to_numpy(dtype=np.float64)
    clipped = boxes.copy()
    clipped["x1"] = np.clip(boxes["x1"].to_numpy(np.float64), 0, width)
    clipped["x2"] = np.clip(boxes["x2"].to_numpy(np.float64), 0, width)
    clipped["y1"] = np.clip(boxes["y1"].to_numpy(np.float64), 0, height)
    clipped["y2"] = np.clip(boxes["y2"].to_numpy(np.float64), 0, height)
    changed = (clipped[["x1", "y1", "x2", "y2"]] != boxes[["x1", "y1", "x2", "y2"]]).any(axis=1)
    keep = (clipped["x2"] > clipped["x1"]) & (clipped["y2"] > clipped["y1"])
    return clipped[keep].reset_index(drop=True), int(changed.sum())


def write_skipped(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write `<stage>/skipped.csv` (always written, possibly empty, so later stages can depend on it)."""
    frame = pd.DataFrame(rows, columns=SKIPPED_COLUMNS)
    write_csv_atomic(path, frame)


def read_skipped(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate every stage's skipped.csv; missing files are an error (a stage must write one)."""
    frames = []
    for path in paths:
        if not Path(path).exists():
            raise ManifestError(
                f"{path}: skipped.csv not found; the stage that owns it did not finish"
            )
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if list(frame.columns) != SKIPPED_COLUMNS:
            raise ManifestError(f"{path}: columns must be {SKIPPED_COLUMNS}")
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=SKIPPED_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def skipped_video_ids(paths: list[str | os.PathLike]) -> set[str]:
    return set(read_skipped(paths)["video_id"])
