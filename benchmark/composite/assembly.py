"""The inputs of an assembly job (`Assembly`): config, manifest, boxes, the gated video set, the
background libraries, item paths, and each video's frames, masks and span."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.backgrounds import BackgroundLibrary, configured_sources
from benchmark.composite.errors import AssemblyError
from benchmark.composite.item_files import ItemFormat
from benchmark.composite.paste import CHUNK_FRAMES
from benchmark.config import results_dir
from benchmark.ids import shard_name, shard_of
from benchmark.layout import ResultsLayout
from benchmark.manifest import read_boxes, read_manifest
from benchmark.masks import ActorMasks, mask_path, read_actor_masks
from benchmark.video import open_video


@dataclass
class Assembly:
    """What every job of one variant reads: config, manifest, boxes, the gated video set."""

    config: dict
    variant: str

    @cached_property
    def results(self) -> Path:
        return results_dir(self.config)

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    @property
    def bench(self) -> dict:
        return self.config["benchmark"]

    @cached_property
    def manifest(self) -> pd.DataFrame:
        return read_manifest(ResultsLayout(self.results).manifest).set_index("video_id", drop=False)

    @cached_property
    def annotated_frames(self) -> dict[str, np.ndarray]:
        boxes = read_boxes(ResultsLayout(self.results).boxes)
        return {v: np.unique(g["frame"].to_numpy()) for v, g in boxes.groupby("video_id")}

    @cached_property
    def video_set(self) -> list[str]:
        """Approved test videos (review gate minus every stage's skips), sorted."""
        path = ResultsLayout(self.results).review_approved
        if not path.exists():
            raise AssemblyError(f"{path}: approved video list not found; run the review stage")
        approved = pd.read_csv(path, dtype=str, keep_default_na=False)
        if "video_id" not in approved.columns:
            raise AssemblyError(f"{path}: needs a video_id column")
        unknown = sorted(set(approved["video_id"]) - set(self.manifest.index))
        if unknown:
            raise AssemblyError(f"{path}: videos not in manifest.csv: {unknown[:5]}")
        chosen = self.manifest.loc[approved["video_id"]]
        tests = chosen[chosen["split"] == "test"]
        if len(tests) < len(chosen):  # benchmarks are built on the test split only; say so
            print(
                f"{path}: {len(chosen) - len(tests)} approved non-test video(s) not used",
                file=sys.stderr,
            )
        return sorted(tests["video_id"])

    def shard_videos(self, shard: str) -> list[str]:
        n_shards = int(self.config["n_shards"])
        return [v for v in self.video_set if shard_name(shard_of(v, n_shards)) == shard]

    @cached_property
    def sources(self):
        return configured_sources(self.config)

    @cached_property
    def _libraries(self) -> dict[str, BackgroundLibrary]:
        return {}

    def library(self, name: str) -> BackgroundLibrary:
        """One source's backgrounds, loaded on first use (a Confl-FG job reads only its stripes).
        Jobs load them before starting threads, so the cache is never filled concurrently."""
        if name not in self._libraries:
            source = {s.name: s for s in self.sources}[name]
            self._libraries[name] = BackgroundLibrary.load(source, self.results, self.seed)
        return self._libraries[name]

    @cached_property
    def item_format(self) -> ItemFormat:
        return ItemFormat.from_config(self.bench)

    def item_path(self, protocol: str, source: str, item: str, suffix: str) -> str:
        """Item file path relative to results/<dataset>/."""
        return f"bench/{self.variant}/{protocol}-{source}/items/{item}{suffix}"

    def shard_table(self, protocol: str, shard: str, skipped: bool = False) -> Path:
        return ResultsLayout(self.results).bench_shard(self.variant, protocol, shard, skipped)

    def video_path(self, video_id: str) -> Path:
        path = str(self.manifest.at[video_id, "path"])
        if not path:
            raise AssemblyError(
                f"{self.results / 'manifest.csv'}: video {video_id!r} has no path (annotation-only "
                "mode); the composite stage needs the video files"
            )
        return Path(path)

    @cached_property
    def _static_actor_usable(self) -> dict[str, bool]:
        return {}

    def has_static_actor_in_every_variant(self, video_id: str) -> bool:
        """Whether some annotated frame of the video has a non-empty mask in every variant (a
        tracker can lose an actor for a whole video; QC flags it, Confl-FG cannot cut it)."""
        if video_id not in self._static_actor_usable:
            annotated = self.annotated_frames.get(video_id, np.array([], dtype=int))
            usable = True
            for variant in self.bench["variants"]:
                masks = read_actor_masks(mask_path(self.results / "masks", variant, video_id))
                frames = [int(t) for t in annotated if t < masks.num_frames] or range(
                    masks.num_frames
                )
                if not any(masks.frames[t] and masks.frame_mask(t).any() for t in frames):
                    usable = False
                    break
            self._static_actor_usable[video_id] = usable
        return self._static_actor_usable[video_id]

    @contextlib.contextmanager
    def stream_video(self, video_id: str) -> Iterator[SourceVideo]:
        """One video opened for streaming (`SourceVideo`): its masks of this variant, fps, item
        span, and the span's frames in chunks; memory holds one chunk, whatever the length."""
        video = self.video_path(video_id)
        masks_file = mask_path(self.results / "masks", self.variant, video_id)
        masks = read_actor_masks(masks_file)
        first, last = self.span(video_id, masks.num_frames)
        with open_video(video, default_fps=float(self.manifest.at[video_id, "fps"])) as (
            fps,
            frames,
        ):
            yield SourceVideo(video_id, video, masks_file, masks, fps, first, last, frames)

    def frame(self, video_id: str, t: int) -> np.ndarray:
        """Frame t of a video, decoding one frame at a time (the whole video is still decoded, to
        check it against its masks of this variant)."""
        with self.stream_video(video_id) as source:
            return source.frame(t)

    def span(self, video_id: str, num_frames: int) -> tuple[int, int]:
        """(first, last) source frames of the items, inclusive (config `benchmark.span`)."""
        if self.bench["span"] == "all":
            return 0, num_frames - 1
        annotated = self.annotated_frames.get(video_id)
        if annotated is None or annotated.size == 0:
            raise AssemblyError(
                f"{self.results / 'boxes.parquet'}: video {video_id!r} has no box, so no annotated "
                "span; set benchmark.span: all or fix its annotation"
            )
        return int(annotated[0]), int(min(annotated[-1], num_frames - 1))


@dataclass
class SourceVideo:
    """A video being decoded for its items: masks, fps, the item span `first`..`last` (inclusive)
    and the decoded frames, consumed once by `chunks` or `frame`. Both check the frames against the
    masks (size, and count once the video ends) and raise `AssemblyError` naming both files."""

    video_id: str
    path: Path
    masks_file: Path
    masks: ActorMasks
    fps: float
    first: int
    last: int
    _frames: Iterator[np.ndarray]

    @property
    def span_frames(self) -> int:
        return self.last - self.first + 1

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(T, H, W, 3) of the item span."""
        return (self.span_frames, self.masks.height, self.masks.width, 3)

    def _checked(self) -> Iterator[tuple[int, np.ndarray]]:
        height, width = self.masks.height, self.masks.width
        count = 0
        for count, frame in enumerate(self._frames, start=1):
            if frame.shape[:2] != (height, width):
                raise AssemblyError(
                    f"{self.masks_file}: mask size {width}x{height} differs from the frames of "
                    f"{self.path} ({frame.shape[1]}x{frame.shape[0]}); rebuild the masks of "
                    f"{self.video_id}"
                )
            if count > self.masks.num_frames:
                count += sum(1 for _ in self._frames)
                break
            yield count - 1, frame
        if count != self.masks.num_frames:
            raise AssemblyError(
                f"{self.masks_file}: {self.masks.num_frames} mask frames but {self.path} decodes "
                f"to {count} frames; rebuild the masks of {self.video_id}"
            )

    def chunks(self, size: int = CHUNK_FRAMES) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The span's (frames (n, H, W, 3) uint8, foreground (n, H, W) bool), `size` frames at a
        time in two reused buffers: use a chunk before asking for the next."""
        frames = np.empty((size, self.masks.height, self.masks.width, 3), np.uint8)
        foreground = np.empty((size, self.masks.height, self.masks.width), bool)
        filled = 0
        for t, frame in self._checked():
            if self.first <= t <= self.last:
                frames[filled] = frame
                foreground[filled] = self.masks.frame_mask(t)
                filled += 1
                if filled == size:
                    yield frames, foreground
                    filled = 0
        if filled:
            yield frames[:filled], foreground[:filled]

    def frame(self, t: int) -> np.ndarray:
        """Frame t (the rest of the video is decoded and checked, not kept)."""
        chosen = None
        for index, frame in self._checked():
            if index == t:
                chosen = frame
        return chosen
