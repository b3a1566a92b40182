"""The generic adapter (a folder of videos + a boxes CSV + a labels CSV), and the checks every
real-data adapter shares.

For users with their own data. Three inputs (config section `dataset.generic`):

- `video_root`: a folder of videos (any container PyAV reads: .mp4, .avi, .mkv, ...) or of frame
  folders (`<video>/00001.jpg` ...; `frames_fps` gives their frame rate);
- `labels_csv`, columns `video, label_name, split`: `video` is the file (or frame folder) name
  relative to `video_root`, `split` one of train / val / test;
- `boxes_csv`, columns `video, frame, actor, x1, y1, x2, y2`: `video` as in the labels CSV, `frame`
  0-based, `actor` an integer per person/track, pixel coordinates with x2/y2 exclusive (a box covers
  columns int(x1)..int(x2)-1). Videos may have no box rows (they then only serve training).

The label index is the position of `label_name` in `classes` when that list is given (a name not in
it is an unknown label), else in the sorted list of the label names found in the labels CSV.
`video_id` is the sanitised file name (`benchmark.ids`); two files mapping to one id are an error.

The shared part (used by the UCF101 and HMDB51 adapters too): the `on_error` policy, probing videos,
the seeded validation hold-out, and the box checks — boxes are clipped to the frame (counted),
while boxes past the last frame, with zero or negative area, wholly outside the frame or with NaN
coordinates make their video bad: `fail` raises naming the video, `skip` drops the video and
records why in the skipped rows.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd
from tqdm import tqdm

from benchmark.datasets import IngestResult
from benchmark.ids import IdCollisionError, stable_digest, unique_video_ids
from benchmark.manifest import SPLITS
from benchmark.table_files import table_columns
from benchmark.video import VideoReadError, decoded_frame_count, video_info

STAGE = "ingest"
# Bounds of the integers a box or annotation file may hold. No video has ten million frames (111
# hours at 25 fps); actor ids stay in int32 so that 1e23 is an error, not int64's minimum.
MAX_FRAMES = 10_000_000
MAX_ACTOR = 2**31 - 1
LABEL_COLUMNS = ["video", "label_name", "split"]
BOX_CSV_COLUMNS = ["video", "frame", "actor", "x1", "y1", "x2", "y2"]
COORDS = ["x1", "y1", "x2", "y2"]


class IngestError(ValueError):
    """A dataset cannot be ingested; the message names the file or video and what to do."""


@dataclass
class ErrorPolicy:
    """`on_error` for one ingest: `fail` raises at the first bad video, `skip` records it.

    Skipped rows follow docs/contracts.md `skipped.csv`; `mask_source` is empty because a video dropped
    at ingest leaves every mask source.
    """

    on_error: str
    skipped: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.on_error not in ("fail", "skip"):
            raise IngestError(f"on_error must be 'fail' or 'skip', got {self.on_error!r}")

    def bad(self, video_id: str, reason: str) -> None:
        if self.on_error == "fail":
            raise IngestError(
                f"{video_id}: {reason} (fix or remove it, or set on_error: skip to leave it out)"
            )
        self.skipped.append(
            {"video_id": video_id, "mask_source": "", "stage": STAGE, "reason": reason}
        )

    @property
    def skipped_ids(self) -> set[str]:
        return {row["video_id"] for row in self.skipped}


def require_file(path_text: str, key: str) -> Path:
    """A configured input file that must exist; the error names the config key."""
    if not path_text:
        raise IngestError(f"dataset setting {key} is empty; set it to the file's path")
    path = Path(path_text)
    if not path.is_file():
        raise IngestError(f"{path}: not found (dataset setting {key}); check the path")
    return path


def relative_video_path(text: str, where: str) -> PurePosixPath:
    """A video path given relative to the video folder, refused when it could leave that folder.

    Absolute paths, `~`, and any `..` component are refused (lexically, so a symlinked folder
    inside video_root still works); `where` names the file and row in the message.
    """
    path = PurePosixPath(str(text).replace("\\", "/"))
    if (
        not str(text).strip()
        or path.is_absolute()
        or PureWindowsPath(str(text)).drive
        or str(text).startswith("~")
        or ".." in path.parts
    ):
        raise IngestError(
            f"{where}: video path {str(text)[:120]!r} leaves the video folder (absolute, ~ or "
            "'..'); give the path relative to video_root, inside it"
        )
    return path


def sanitised_ids(source_names: list[str], what: str) -> list[str]:
    """`unique_video_ids`, with the error naming where the names came from."""
    try:
        return unique_video_ids(source_names)
    except (IdCollisionError, ValueError) as error:
        raise IngestError(f"{what}: {error}") from error


def probe_videos(manifest: pd.DataFrame, policy: ErrorPolicy, frames_fps: float) -> pd.DataFrame:
    """Fill num_frames / fps / width / height from each video's metadata.

    Unreadable, truncated-to-nothing, zero-frame or missing videos are bad (policy), and so is a
    truncated video file whose index survived: each file is decoded once and fewer decoded frames
    than its container declares (or than it has packets) is reported as truncated, instead of
    passing as a shorter video. Rows of skipped videos are dropped from the returned manifest.
    """
    manifest = manifest.copy()
    keep = np.ones(len(manifest), dtype=bool)
    rows = zip(manifest["video_id"], manifest["path"], strict=True)
    # Full UCF101 is 13k files: show progress (stderr, so it lands in the rule's log).
    progress = tqdm(rows, total=len(manifest), desc="probe videos", unit="video", mininterval=5)
    for row_index, (video_id, path) in enumerate(progress):
        try:
            info = video_info(path, default_fps=frames_fps)
        except VideoReadError as error:
            policy.bad(video_id, f"unreadable video: {error}")
            keep[row_index] = False
            continue
        if info.num_frames <= 0:
            policy.bad(video_id, f"{path}: zero frames")
            keep[row_index] = False
            continue
        if Path(path).is_file() and Path(path).suffix.lower() != ".zip":
            expected = max(info.declared_frames, info.num_frames)
            decoded = decoded_frame_count(path)
            if decoded < expected:
                policy.bad(
                    video_id,
                    f"{path}: truncated video — the container declares {expected} frames but only "
                    f"{decoded} decode (the file was cut short or damaged; copy or download it "
                    "again)",
                )
                keep[row_index] = False
                continue
        manifest.loc[manifest.index[row_index], ["num_frames", "fps", "width", "height"]] = [
            info.num_frames,
            info.fps,
            info.width,
            info.height,
        ]
    return manifest[keep].reset_index(drop=True)


def hold_out_validation(manifest: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    """Move `round(fraction * n)` train videos of each class (at most n - 1) to `val`, seeded.

    Within a class, the videos with the smallest `stable_digest(seed, "val", video_id)` are held
    out, so adding or removing a video never moves another one between train and val.
    """
    if not 0.0 <= fraction < 1.0:
        raise IngestError(f"val_fraction must be in [0, 1), got {fraction}")
    manifest = manifest.copy()
    if fraction == 0.0:
        return manifest
    train = manifest[manifest["split"] == "train"]
    digests = train["video_id"].map(lambda video_id: stable_digest(seed, "val", video_id))
    for _, members in digests.groupby(train["label"]):
        # Round half up, but never take a class's last training video.
        n_val = min(math.floor(fraction * len(members) + 0.5), len(members) - 1)
        if n_val:
            manifest.loc[members.sort_values(kind="stable").index[:n_val], "split"] = "val"
    return manifest


def check_boxes(
    boxes: pd.DataFrame, manifest: pd.DataFrame, policy: ErrorPolicy
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Validate boxes against their videos; clip to the frame; apply the policy to bad videos.

    Returns (boxes, manifest, report): both tables without skipped videos, boxes sorted by
    (video_id, frame, actor), and counts for the ingest log. Vectorised: the real UCF101-24 test set
    is 170k boxes.
    """
    boxes = boxes[table_columns("boxes")].reset_index(drop=True)
    sizes = manifest.set_index("video_id")[["num_frames", "width", "height"]]
    unknown = ~boxes["video_id"].isin(sizes.index)
    for video_id in pd.unique(boxes.loc[unknown, "video_id"]):
        policy.bad(video_id, "boxes given for a video that is not in the dataset's video list")
    boxes = boxes[~unknown].reset_index(drop=True)

    video_ids = boxes["video_id"].to_numpy(dtype=object)
    position = sizes.index.get_indexer(video_ids)
    num_frames = sizes["num_frames"].to_numpy(np.int64)[position]
    width = sizes["width"].to_numpy(np.float64)[position]
    height = sizes["height"].to_numpy(np.float64)[position]
    frame = boxes["frame"].to_numpy(np.int64)
    coords = boxes[COORDS].to_numpy(np.float64)
    x1, y1, x2, y2 = coords.T
    nan = ~np.isfinite(coords).all(axis=1)
    past = (frame >= num_frames) | (frame < 0)
    with np.errstate(invalid="ignore"):
        flat = ~nan & ((x2 <= x1) | (y2 <= y1))
        cx1, cx2 = np.clip(x1, 0, width), np.clip(x2, 0, width)
        cy1, cy2 = np.clip(y1, 0, height), np.clip(y2, 0, height)
        outside = ~nan & ~flat & ((cx2 <= cx1) | (cy2 <= cy1))
        clipped = ~nan & ~flat & ~outside & ((cx1 != x1) | (cx2 != x2) | (cy1 != y1) | (cy2 != y2))
    problems = (
        (nan, "NaN or infinite box coordinates"),
        (past, "boxes past the last frame"),
        (flat, "boxes with zero or negative area"),
        (outside, "boxes wholly outside the frame"),
    )
    bad_rows = nan | past | flat | outside
    for video_id in pd.unique(video_ids[bad_rows]):
        rows = video_ids == video_id
        reasons = []
        for mask, text in problems:
            hits = np.flatnonzero(mask & rows)
            if len(hits):
                first = boxes.iloc[hits[0]]
                reasons.append(
                    f"{len(hits)} {text} (first: frame {first['frame']}, actor {first['actor']}, "
                    f"box [{first['x1']}, {first['y1']}, {first['x2']}, {first['y2']}], video has "
                    f"{int(num_frames[hits[0]])} frames of {int(width[hits[0]])}x{int(height[hits[0]])})"
                )
        policy.bad(video_id, "; ".join(reasons))

    skipped = policy.skipped_ids
    keep = ~pd.Series(video_ids).isin(skipped).to_numpy()
    boxes = boxes.assign(x1=cx1, y1=cy1, x2=cx2, y2=cy2)[keep]
    boxes = boxes.astype({"frame": np.int64, "actor": np.int64})
    boxes = boxes.sort_values(["video_id", "frame", "actor"], kind="stable").reset_index(drop=True)
    manifest = manifest[~manifest["video_id"].isin(skipped)].reset_index(drop=True)
    frames_with_boxes = len(boxes[["video_id", "frame"]].drop_duplicates())
    report = {
        "videos": len(manifest),
        "frames": int(manifest["num_frames"].sum()),
        "frames_with_boxes": frames_with_boxes,
        "videos_with_boxes": int(boxes["video_id"].nunique()),
        "boxes": len(boxes),
        "boxes_clipped": int(clipped[keep].sum()),
        "videos_skipped": len(skipped),
    }
    return boxes, manifest, report


def manifest_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=table_columns("manifest"))


def empty_boxes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": pd.Series(dtype=str),
            "frame": pd.Series(dtype=np.int64),
            "actor": pd.Series(dtype=np.int64),
            **{c: pd.Series(dtype=np.float64) for c in COORDS},
        }
    )


def _read_csv(path: Path, columns: list[str], key: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype={"video": str}, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise IngestError(f"{path}: cannot read CSV ({error}); dataset setting {key}") from error
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise IngestError(
            f"{path}: lacks columns {missing}; expected {columns} (dataset setting {key})"
        )
    return table


def _csv_line(row: int) -> int:
    return row + 2  # 0-based data row -> line in the file (line 1 is the header)


def box_indices(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The boxes CSV with `frame` / `actor` as int64 and coordinates as float64, or an error.

    `frame` must be an integer in 0..MAX_FRAMES-1 and `actor` in 0..MAX_ACTOR (2.7, 1.5, 1e23 and
    -1 are refused, not truncated or wrapped), and a (video, frame, actor) may appear once: two
    boxes for one actor in one frame would leave which one counts to whoever reads them last.
    The message names the file, the line and the value.
    """
    table = table.copy()
    for column, top in (("frame", MAX_FRAMES - 1), ("actor", MAX_ACTOR)):
        values = pd.to_numeric(table[column], errors="coerce").astype(np.float64)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values % 1 != 0) | (values < 0) | (values > top)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise IngestError(
                f"{path}: line {_csv_line(row)} (video {table['video'].iloc[row]!r}): {column} "
                f"{table[column].iloc[row]} is not an integer in 0..{top} "
                f"({int(bad.sum())} bad {column} cells in all); fix the boxes CSV"
            )
        table[column] = values.astype(np.int64)
    for column in COORDS:
        table[column] = pd.to_numeric(table[column], errors="coerce").astype(np.float64)
    keys = ["video", "frame", "actor"]
    repeated = table.duplicated(keys, keep=False).to_numpy()
    if repeated.any():
        first = int(np.flatnonzero(repeated)[0])
        same = (table[keys] == table[keys].iloc[first]).all(axis=1).to_numpy()
        lines = [_csv_line(int(i)) for i in np.flatnonzero(same)]
        raise IngestError(
            f"{path}: lines {lines[0]} and {lines[1]} both give video {table['video'].iloc[first]!r} "
            f"frame {table['frame'].iloc[first]} actor {table['actor'].iloc[first]} "
            f"({int(table.duplicated(keys).sum())} repeated boxes in all); keep one box per "
            "video, frame and actor"
        )
    return table


def ingest(
    settings: dict, out_dir: str | os.PathLike, *, seed: int, n_shards: int, on_error: str
) -> IngestResult:
    """Ingest a folder of videos with a labels CSV and a boxes CSV (module docstring)."""
    del out_dir, n_shards  # no truth masks: nothing written here
    policy = ErrorPolicy(on_error)
    if not settings["video_root"]:
        raise IngestError(
            "dataset setting generic.video_root is empty; set it to the folder of videos"
        )
    video_root = Path(settings["video_root"])
    if not video_root.is_dir():
        raise IngestError(
            f"{video_root}: video folder not found (dataset setting generic.video_root)"
        )
    labels_path = require_file(settings["labels_csv"], "generic.labels_csv")
    boxes_path = require_file(settings["boxes_csv"], "generic.boxes_csv")
    labels = _read_csv(labels_path, LABEL_COLUMNS, "generic.labels_csv")
    if labels["video"].isna().any():
        raise IngestError(
            f"{labels_path}: empty `video` cells in rows {np.flatnonzero(labels['video'].isna())[:5].tolist()}"
        )
    video_ids = sanitised_ids(labels["video"].tolist(), str(labels_path))

    classes = list(settings["classes"]) or sorted(set(labels["label_name"].dropna().astype(str)))
    if len(set(classes)) != len(classes):
        raise IngestError(f"dataset setting generic.classes lists a class twice: {classes}")
    class_index = {name: index for index, name in enumerate(classes)}

    relative = [
        relative_video_path(video, f"{labels_path}: line {_csv_line(row)}")
        for row, video in enumerate(labels["video"])
    ]
    rows = []
    for video_id, video, label_name, split, inside in zip(
        video_ids, labels["video"], labels["label_name"], labels["split"], relative, strict=True
    ):
        label_name = "" if pd.isna(label_name) else str(label_name)
        if label_name not in class_index:
            policy.bad(
                video_id, f"{labels_path}: unknown label {label_name!r} (classes: {classes})"
            )
            continue
        if split not in SPLITS:
            policy.bad(video_id, f"{labels_path}: split {split!r} is not one of {list(SPLITS)}")
            continue
        rows.append(
            {
                "video_id": video_id,
                "source_name": video,
                "path": str(video_root / inside),
                "label": class_index[label_name],
                "label_name": label_name,
                "split": split,
                "num_frames": 0,
                "fps": 0.0,
                "width": 0,
                "height": 0,
            }
        )
    manifest = probe_videos(manifest_frame(rows), policy, float(settings["frames_fps"]))
    manifest = hold_out_validation(manifest, float(settings["val_fraction"]), seed)

    table = _read_csv(boxes_path, BOX_CSV_COLUMNS, "generic.boxes_csv")
    id_of = dict(zip(labels["video"], video_ids, strict=True))
    unlisted = sorted(set(table["video"].dropna()) - set(id_of))
    if unlisted:
        raise IngestError(
            f"{boxes_path}: boxes for videos not listed in {labels_path}: {unlisted[:5]}; "
            "add them to the labels CSV or remove their boxes"
        )
    table = box_indices(table, boxes_path)
    boxes = pd.DataFrame(
        {
            "video_id": table["video"].map(id_of),
            "frame": table["frame"],
            "actor": table["actor"],
            **{c: table[c].astype(np.float64) for c in COORDS},
        }
    )
    # Boxes of videos already skipped (unreadable, unknown label) leave with them.
    boxes = boxes[~boxes["video_id"].isin(policy.skipped_ids)]
    boxes, manifest, report = check_boxes(boxes, manifest, policy)
    return IngestResult(
        manifest=manifest,
        boxes=boxes,
        annotation_source=str(settings["annotation_source"]),
        skipped=policy.skipped,
        report=report,
    )
