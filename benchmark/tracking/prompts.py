"""Reviewer input the trackers obey: extra prompts (`prompts.json`) and approvals (decisions CSV).

Both files live beside the benchmark definition, `<review.decisions_dir>/<dataset>/<tracker>.csv`
and `<tracker>.prompts.json` (docs/contracts.md "Review decisions"); the review package writes them,
the tracking stage only reads them, so this module is a small validating reader and nothing more.

A prompt entry names a frame but not an actor (the reviewer clicks on the picture), so
`benchmark.tracking.tubes.plan_video` decides which tube it belongs to (documented there).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.table_files import read_table, table_columns


class ReviewFileError(ValueError):
    """A decisions or prompts file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class ReviewerPrompt:
    """One frame's extra prompts: points (N, 3) rows of x, y, 1 = foreground / 0 = background,
    and an optional redrawn box (x1, y1, x2, y2), all in pixels of the original frame."""

    frame: int
    points: np.ndarray
    box: tuple[float, float, float, float] | None

    @property
    def foreground(self) -> np.ndarray:
        """(F, 2) x, y of the foreground points."""
        return self.points[self.points[:, 2] == 1, :2]

    @property
    def background(self) -> np.ndarray:
        """(B, 2) x, y of the background points."""
        return self.points[self.points[:, 2] == 0, :2]


def review_paths(reviews_dir: str | os.PathLike, dataset: str, tracker: str) -> tuple[Path, Path]:
    """(decisions CSV, prompts JSON) of one dataset's tracker; neither has to exist."""
    folder = Path(reviews_dir) / dataset
    return folder / f"{tracker}.csv", folder / f"{tracker}.prompts.json"


def _parse_prompt(path: Path, video_id: str, entry: object) -> ReviewerPrompt:
    where = f"{path}: video {video_id!r}"
    if not isinstance(entry, dict) or "frame" not in entry:
        raise ReviewFileError(
            f"{where}: each prompt must be an object with 'frame', 'points', 'box'"
        )
    frame = entry["frame"]
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
        raise ReviewFileError(f"{where}: 'frame' must be a 0-based integer, got {frame!r}")
    raw_points = entry.get("points") or []
    points = np.zeros((0, 3), dtype=np.float64)
    if raw_points:
        try:
            points = np.asarray(raw_points, dtype=np.float64).reshape(-1, 3)
        except ValueError as error:
            raise ReviewFileError(
                f"{where} frame {frame}: points must be [[x, y, 1|0], ...]"
            ) from error
        if len(points) != len(raw_points) or not np.isin(points[:, 2], (0, 1)).all():
            raise ReviewFileError(f"{where} frame {frame}: point labels must be 1 (fg) or 0 (bg)")
        if not np.isfinite(points).all():
            raise ReviewFileError(f"{where} frame {frame}: point coordinates must be finite")
    box = entry.get("box")
    if box is not None:
        values = np.asarray(box, dtype=np.float64).ravel()
        if values.shape != (4,) or not np.isfinite(values).all():
            raise ReviewFileError(f"{where} frame {frame}: box must be [x1, y1, x2, y2] or null")
        if values[2] <= values[0] or values[3] <= values[1]:
            raise ReviewFileError(
                f"{where} frame {frame}: box {box} has no area (x2 <= x1 or y2 <= y1)"
            )
        box = tuple(float(v) for v in values)
    if not len(points) and box is None:
        raise ReviewFileError(f"{where} frame {frame}: a prompt needs points or a box")
    return ReviewerPrompt(frame, points, box)


def read_prompts(path: str | os.PathLike) -> dict[str, list[ReviewerPrompt]]:
    """`{video_id: [ReviewerPrompt, ...]}` from a prompts.json; a missing file means no prompts."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ReviewFileError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(data, dict):
        raise ReviewFileError(f"{path}: must be an object {{video_id: [prompts]}}")
    prompts = {}
    for video_id, entries in data.items():
        if not isinstance(entries, list):
            raise ReviewFileError(f"{path}: video {video_id!r}: prompts must be a list")
        parsed = [_parse_prompt(path, video_id, entry) for entry in entries]
        prompts[video_id] = sorted(parsed, key=lambda p: p.frame)
    return prompts


def read_decisions(path: str | os.PathLike) -> pd.DataFrame:
    """The decisions table (docs/contracts.md columns); a missing file is an empty table."""
    if not Path(path).exists():
        return pd.DataFrame(columns=table_columns("decisions"))
    return read_table("decisions", path, "write it with the review server")


def approved_masks(decisions: pd.DataFrame) -> set[tuple[str, str]]:
    """(video_id, mask_sha256) pairs whose latest decision (by `decided_at`) is `approve`."""
    if decisions.empty:
        return set()
    ordered = decisions.sort_values("decided_at", kind="stable")
    latest = ordered.drop_duplicates(["video_id", "mask_sha256"], keep="last")
    approved = latest[latest["decision"] == "approve"]
    return set(zip(approved["video_id"], approved["mask_sha256"], strict=True))
