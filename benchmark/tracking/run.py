"""Shard runners of the masks stage: rectangles (`box_first` / `box_union`) and trackers.

A shard job handles the videos of `tracking.splits` whose `crc32(video_id) % n_shards` is its
shard, writes one mask file per video (`masks/<source>/<video_id>.json.gz`), then the shard's index
`masks/<source>/shards/shard-<kkk>.csv` (video_id, mask_sha256) and its skip record
`masks/<source>/shards/shard-<kkk>.skipped.csv` (docs/contracts.md skipped columns); `qc_masks` joins the
skip records into `masks/<source>/skipped.csv`. A bad video — no boxes, unreadable or truncated
file — fails the job with a message naming the file (`on_error: fail`) or is recorded and left out
(`on_error: skip`); the index is written last, so a failed job leaves no index behind.

Approved masks are frozen: when `<review.decisions_dir>/<dataset>/<tracker>.csv` holds `approve`
as the latest decision for a video's current `mask_sha256`, the file is kept as it is (not
re-tracked) unless `tracking.force_rebuild` is true. Re-tracking never silently replaces an approved mask.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from benchmark.atomic import write_csv_atomic
from benchmark.config import results_dir
from benchmark.ids import shard_name, shard_of
from benchmark.layout import ResultsLayout
from benchmark.manifest import clip_boxes, read_boxes, read_manifest, write_skipped
from benchmark.masks import (
    MaskFileError,
    box_masks,
    mask_path,
    mask_sha256,
    read_actor_masks,
    write_actor_masks,
)
from benchmark.tracking import build_tracker
from benchmark.tracking.prompts import approved_masks, read_decisions, read_prompts, review_paths
from benchmark.tracking.tubes import BadInputError, plan_video
from benchmark.video import VideoReadError, read_video

INDEX_COLUMNS = ["video_id", "mask_sha256"]


class ShardError(RuntimeError):
    """A shard job stopped on a bad video (`on_error: fail`); the message names the file."""


@dataclass
class ShardResult:
    index: list[dict] = field(default_factory=list)  # video_id, mask_sha256
    skipped: list[dict] = field(default_factory=list)  # docs/contracts.md skipped rows
    frozen: list[str] = field(default_factory=list)  # approved masks kept as they were
    frames: int = 0


def parse_shard(shard: str | int, n_shards: int) -> int:
    """`shard-007` or `7` -> 7, checked against `n_shards`."""
    text = str(shard)
    value = int(text.removeprefix("shard-"))
    if not 0 <= value < n_shards:
        raise ValueError(f"shard {text!r} outside 0..{n_shards - 1} (n_shards = {n_shards})")
    return value


def shard_paths(results: Path, source: str, shard: int) -> tuple[Path, Path]:
    layout = ResultsLayout(results)
    name = shard_name(shard)
    return layout.mask_shard(source, name), layout.mask_shard_skipped(source, name)


def shard_inputs(config: dict, shard: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the shard's manifest rows of `tracking.splits`, their boxes clipped to the frame)."""
    results = results_dir(config)
    manifest = read_manifest(results / "manifest.csv")
    boxes = read_boxes(results / "boxes.parquet", manifest)
    boxes, _ = clip_boxes(boxes, manifest)
    splits = config["tracking"]["splits"]
    in_shard = manifest["video_id"].map(lambda v: shard_of(v, config["n_shards"]) == shard)
    videos = manifest[manifest["split"].isin(splits) & in_shard].sort_values("video_id")
    return videos.reset_index(drop=True), boxes[boxes["video_id"].isin(videos["video_id"])]


def _finish(
    results: Path, source: str, shard: int, result: ShardResult, stage: str, started: float
) -> None:
    index_path, skipped_path = shard_paths(results, source, shard)
    write_skipped(skipped_path, result.skipped)
    write_csv_atomic(index_path, pd.DataFrame(result.index, columns=INDEX_COLUMNS))
    seconds = time.perf_counter() - started
    print(
        f"{stage} {source} {shard_name(shard)}: {len(result.index)} videos "
        f"({len(result.frozen)} approved and kept), {len(result.skipped)} skipped, "
        f"{result.frames} frames in {seconds:.1f} s ({result.frames / max(seconds, 1e-9):.1f} frames/s)"
    )


def _handle(
    error: Exception, video_id: str, source: str, stage: str, on_error: str, result: ShardResult
) -> None:
    if on_error == "fail":
        raise ShardError(f"{stage} {source}: video {video_id}: {error}") from error
    print(f"skipping {video_id}: {error}", file=sys.stderr)
    result.skipped.append(
        {"video_id": video_id, "mask_source": source, "stage": stage, "reason": str(error)}
    )


def build_box_masks_shard(config: dict, source: str, shard: str | int) -> ShardResult:
    """Write `box_first` or `box_union` masks for one shard (no pixels needed: sizes come from
    the manifest, rectangles from the clipped boxes)."""
    if source not in ("box_first", "box_union"):
        raise ValueError(f"box mask source must be box_first or box_union, got {source!r}")
    started = time.perf_counter()
    shard = parse_shard(shard, config["n_shards"])
    results = results_dir(config)
    videos, boxes = shard_inputs(config, shard)
    grouped = dict(tuple(boxes.groupby("video_id", sort=False)))
    result = ShardResult()
    for row in videos.itertuples(index=False):
        try:
            video_boxes = grouped.get(row.video_id, boxes.iloc[0:0])
            if video_boxes.empty:
                raise BadInputError(
                    f"{row.video_id}: no boxes in {results / 'boxes.parquet'} (none annotated, or all "
                    "outside the frame); a rectangle mask needs at least one box"
                )
            mode = source.removeprefix("box_")
            masks = box_masks(
                row.video_id, video_boxes, row.num_frames, row.height, row.width, mode=mode
            )
        except (BadInputError, MaskFileError) as error:
            _handle(error, row.video_id, source, "build_box_masks", config["on_error"], result)
            continue
        sha = write_actor_masks(mask_path(results / "masks", source, row.video_id), masks)
        result.index.append({"video_id": row.video_id, "mask_sha256": sha})
        result.frames += row.num_frames
    _finish(results, source, shard, result, "build_box_masks", started)
    return result


def _current_sha(path: Path) -> str | None:
    """mask_sha256 of an existing mask file, None when absent or unreadable (then it is rebuilt)."""
    if not path.exists():
        return None
    try:
        return mask_sha256(read_actor_masks(path))
    except MaskFileError as error:
        print(f"{path}: unreadable ({error}); it will be re-tracked", file=sys.stderr)
        return None


def read_frames(row, results: Path) -> np.ndarray:
    """Decode a manifest row's video and check it against the manifest's frame count and size."""
    if not row.path:
        raise BadInputError(
            f"{row.video_id}: no video path in {results / 'manifest.csv'} (annotation-only ingest); "
            "trackers need pixels — provide the videos and re-run ingest"
        )
    frames, _ = read_video(row.path)
    expected = (row.num_frames, row.height, row.width)
    if frames.shape[:3] != expected:
        raise BadInputError(
            f"{row.path}: decoded {frames.shape[0]} frames of {frames.shape[2]}x{frames.shape[1]}, "
            f"the manifest says {row.num_frames} of {row.width}x{row.height}; the file is truncated or "
            "was replaced — restore it and re-run ingest"
        )
    return frames


def track_shard(config: dict, tracker_name: str, shard: str | int) -> ShardResult:
    """Track every video of one shard with `tracker_name` (settings `tracking.<tracker_name>`).

    The tracker is built first, so a missing checkpoint or package fails before any video is read.
    """
    started = time.perf_counter()
    tracking = config["tracking"]
    shard = parse_shard(shard, config["n_shards"])
    tracker = build_tracker(tracker_name, tracking[tracker_name], seed=config["seed"])
    results = results_dir(config)
    videos, boxes = shard_inputs(config, shard)
    grouped = dict(tuple(boxes.groupby("video_id", sort=False)))
    decisions_path, prompts_path = review_paths(
        config["review"]["decisions_dir"], config["dataset"]["name"], tracker_name
    )
    approved = (
        set() if tracking["force_rebuild"] else approved_masks(read_decisions(decisions_path))
    )
    prompts = read_prompts(prompts_path)
    result = ShardResult()
    for row in tqdm(
        list(videos.itertuples(index=False)),
        desc=f"{tracker_name} {shard_name(shard)}",
        file=sys.stderr,
    ):
        out_path = mask_path(results / "masks", tracker_name, row.video_id)
        if approved:
            current = _current_sha(out_path)
            if current is not None and (row.video_id, current) in approved:
                result.index.append({"video_id": row.video_id, "mask_sha256": current})
                result.frozen.append(row.video_id)
                continue
        try:
            plan = plan_video(
                row.video_id,
                grouped.get(row.video_id, boxes.iloc[0:0]),
                row.num_frames,
                row.height,
                row.width,
                prompts.get(row.video_id),
            )
            frames = read_frames(row, results)
        except (BadInputError, VideoReadError) as error:
            _handle(error, row.video_id, tracker_name, "track_actors", config["on_error"], result)
            continue
        masks = tracker.track(plan, frames)
        sha = write_actor_masks(out_path, masks)
        result.index.append({"video_id": row.video_id, "mask_sha256": sha})
        result.frames += row.num_frames
    _finish(results, tracker_name, shard, result, "track_actors", started)
    return result
