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
from collections.abc import Iterator
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
from benchmark.video import VideoReadError, open_video

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


class ForwardFrames:
    """A manifest row's video for a tracker, decoded forward on demand: `frames[t]` (H, W, 3) or
    `frames[[t1, t2, ...]]` (N, H, W, 3), indices never before the previous request's first one
    (trackers walk a video in order). Memory holds the frames of the latest request, not the video.
    Each frame's size and, at `finish`, the frame count are checked against the manifest."""

    def __init__(self, row, results: Path, frames: Iterator[np.ndarray]) -> None:
        self.row, self.results = row, results
        self._frames = frames
        self._next = 0  # index of the next frame to decode
        self._kept: dict[int, np.ndarray] = {}  # the latest request's frames

    def __len__(self) -> int:
        return int(self.row.num_frames)

    def _mismatch(self, decoded: int, height: int, width: int) -> BadInputError:
        row = self.row
        return BadInputError(
            f"{row.path}: decoded {decoded} frames of {width}x{height}, "
            f"the manifest says {row.num_frames} of {row.width}x{row.height}; the file is truncated or "
            "was replaced — restore it and re-run ingest"
        )

    def _decode_next(self) -> np.ndarray | None:
        frame = next(self._frames, None)
        if frame is None:
            return None
        if frame.shape[:2] != (self.row.height, self.row.width) or self._next >= len(self):
            raise self._mismatch(self._next + 1, *frame.shape[:2])
        self._next += 1
        return frame

    def _frame(self, t: int) -> np.ndarray:
        if t in self._kept:
            return self._kept[t]
        if t < self._next:
            raise ValueError(
                f"{self.row.video_id}: frame {t} requested after frame {self._next - 1}"
            )
        while True:
            index = self._next
            frame = self._decode_next()
            if frame is None:
                raise self._mismatch(self._next, self.row.height, self.row.width)
            if index == t:
                return frame

    def __getitem__(self, index) -> np.ndarray:
        single = isinstance(index, int | np.integer)
        wanted = [int(index)] if single else [int(t) for t in index]
        kept: dict[int, np.ndarray] = {}
        for t in wanted:
            kept[t] = self._frame(t)
        self._kept = kept
        return kept[wanted[0]] if single else np.stack([kept[t] for t in wanted])

    def finish(self) -> None:
        """Decode what the tracker did not ask for and check the video has the manifest's length."""
        self._kept = {}
        while self._decode_next() is not None:
            pass
        if self._next != len(self):
            raise self._mismatch(self._next, self.row.height, self.row.width)


def track_video(tracker, plan, row, results: Path):
    """`tracker.track` on one manifest row's video, decoded as the tracker walks it; raises
    `BadInputError` (no path, wrong size or length) or `VideoReadError` naming the file."""
    if not row.path:
        raise BadInputError(
            f"{row.video_id}: no video path in {results / 'manifest.csv'} (annotation-only ingest); "
            "trackers need pixels — provide the videos and re-run ingest"
        )
    with open_video(row.path) as (_, decoded):
        frames = ForwardFrames(row, results, decoded)
        masks = tracker.track(plan, frames)
        frames.finish()
    return masks


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
            masks = track_video(tracker, plan, row, results)
        except (BadInputError, VideoReadError) as error:
            _handle(error, row.video_id, tracker_name, "track_actors", config["on_error"], result)
            continue
        sha = write_actor_masks(out_path, masks)
        result.index.append({"video_id": row.video_id, "mask_sha256": sha})
        result.frames += row.num_frames
    _finish(results, tracker_name, shard, result, "track_actors", started)
    return result
