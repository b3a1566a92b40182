"""The inputs of an assembly job (`Assembly`): config, manifest, boxes, the gated video set, the
background libraries, item paths, and each video's frames, masks and span."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.backgrounds import BackgroundLibrary, configured_sources
from benchmark.composite.errors import AssemblyError
from benchmark.composite.item_files import ItemFormat
from benchmark.config import results_dir
from benchmark.ids import shard_name, shard_of
from benchmark.layout import ResultsLayout
from benchmark.manifest import read_boxes, read_manifest
from benchmark.masks import ActorMasks, mask_path, read_actor_masks
from benchmark.video import read_video


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

    def load_video(self, video_id: str) -> tuple[np.ndarray, float, ActorMasks, np.ndarray]:
        """Frames, fps, masks of this variant and the (T,H,W) foreground, with size/count checks."""
        video = self.video_path(video_id)
        frames, fps = read_video(video, default_fps=float(self.manifest.at[video_id, "fps"]))
        masks_file = mask_path(self.results / "masks", self.variant, video_id)
        masks = read_actor_masks(masks_file)
        if (masks.height, masks.width) != frames.shape[1:3]:
            raise AssemblyError(
                f"{masks_file}: mask size {masks.width}x{masks.height} differs from the frames of "
                f"{video} ({frames.shape[2]}x{frames.shape[1]}); rebuild the masks of {video_id}"
            )
        if masks.num_frames != len(frames):
            raise AssemblyError(
                f"{masks_file}: {masks.num_frames} mask frames but {video} decodes to "
                f"{len(frames)} frames; rebuild the masks of {video_id}"
            )
        return frames, fps, masks, masks.foreground()

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
