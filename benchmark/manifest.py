"""The canonical manifest, boxes table and skip records (docs/contracts.md "manifest.csv", "boxes.parquet").

Every adapter produces these two tables; every later stage reads them through `read_manifest` /
`read_boxes`. Their columns, types and ranges are `manifest.schema.yaml` / `boxes.schema.yaml`,
checked (column-wise) and written atomically by `benchmark.table_files`; this module adds what a
row schema cannot say (each video once, a box with area, of a known video and frame, clipping), so
a malformed file fails at the boundary with a message naming it, not three stages later.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.atomic import atomic_path, write_csv_atomic
from benchmark.table_files import (
    TableError,
    read_table,
    table_schema,
    validate_rows,
    write_table,
)

SKIPPED_COLUMNS = ["video_id", "mask_source", "stage", "reason"]
SPLITS = tuple(table_schema("manifest")["properties"]["split"]["enum"])
COORDS = ["x1", "y1", "x2", "y2"]
# The manifest's text columns (type string, or an enum of names), from its schema.
TEXT_COLUMNS = [
    column
    for column, spec in table_schema("manifest")["properties"].items()
    if spec.get("type", "string") == "string"
]


class ManifestError(TableError):
    """A manifest / boxes / skipped table is malformed; the message names the file and rows."""


def _where(path: str | os.PathLike | None) -> str:
    return f"{path}: " if path is not None else ""


@contextlib.contextmanager
def _as_manifest_error() -> Iterator[None]:
    """table_files' errors as ManifestError, which the stages catch (e.g. to skip a video)."""
    try:
        yield
    except ManifestError:
        raise
    except TableError as error:
        raise ManifestError(str(error)) from None


def _text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Adapters may give names as numbers and empty paths as NaN: the file holds them as text."""
    frame = frame.copy()
    for column in columns:
        if column in frame.columns:
            values = frame[column].fillna("") if column == "path" else frame[column]
            frame[column] = values.astype(str)
    return frame


def _check_manifest(manifest: pd.DataFrame, path: str | os.PathLike | None) -> pd.DataFrame:
    duplicated = manifest.loc[manifest["video_id"].duplicated(), "video_id"]
    if len(duplicated):
        raise ManifestError(
            f"{_where(path)}duplicate video_id(s) {sorted(set(duplicated))[:5]}; each video is "
            "listed once (fix the adapter's video list)"
        )
    return manifest.reset_index(drop=True)


def validate_manifest(
    manifest: pd.DataFrame, path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Check the manifest against manifest.schema.yaml and for ids listed twice; return it typed."""
    manifest = _text(manifest, TEXT_COLUMNS)
    with _as_manifest_error():
        manifest = validate_rows(manifest, "manifest", path, "manifest")
    return _check_manifest(manifest, path)


def write_manifest(path: str | os.PathLike, manifest: pd.DataFrame) -> pd.DataFrame:
    manifest = validate_manifest(manifest, path)
    with _as_manifest_error():
        return write_table("manifest", path, manifest)


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    with _as_manifest_error():
        manifest = read_table("manifest", path, "run the ingest stage first")
    return _check_manifest(manifest, path)


def validate_boxes(
    boxes: pd.DataFrame,
    manifest: pd.DataFrame | None = None,
    path: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Check a boxes table against boxes.schema.yaml and for boxes without area; with a manifest,
    also that every box names a known video and frame. Returns it typed and sorted."""
    where = _where(path)
    boxes = _text(boxes, ["video_id"])
    with _as_manifest_error():
        boxes = validate_rows(boxes, "boxes", path, "boxes table")
    boxes[COORDS] = boxes[COORDS].astype(np.float64)
    coords = boxes[COORDS]
    if ((coords["x2"] <= coords["x1"]) | (coords["y2"] <= coords["y1"])).any():
        raise ManifestError(f"{where}boxes with zero or negative area")
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
    boxes = validate_boxes(boxes, path=path)
    path = Path(path)
    with _as_manifest_error():
        write_table("boxes", path, boxes)
    sidecar = {"annotation_source": annotation_source, "rows": len(boxes)}
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2) + "\n")


def read_boxes(path: str | os.PathLike, manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    with _as_manifest_error():
        boxes = read_table("boxes", path, "run the ingest stage first")
    return validate_boxes(boxes, manifest, path)


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
