"""SCUBA / SCUFO / Confl-FG assembly: paste each test video's actor onto unrelated backgrounds.

For every variant (a mask source: `box_first`, `truth`, a tracker, ...) and every background source:
- SCUBA: `versions` items per video. Each keeps the actor pixels of its mask (hard 0/1, no
  feathering) and replaces every other pixel with one still background stretched to the frame with
  PIL's BICUBIC (`paste_actor`, bit-exact with the StillMix construction; `composite_clip` is the
  vectorised whole-clip path with identical pixels, and `composite_chunks` the same streamed to the
  item writer 16 frames at a time). Frame span: the original rule keeps the frames from the first
  to the last frame with a box (config `benchmark.span`); a frame of the span without a mask
  becomes pure background. The span comes from the boxes, never from the mask, so every
  variant's items have the same frames.
- SCUFO: for each SCUBA item, one frame of the *decoded* SCUBA item (the codec artefacts the model
  sees there), chosen (seeded; random or middle) inside the centred test clip among frames whose mask
  is not empty, stored as a lossless PNG and repeated at load time; paired by id.
- Confl-FG: on a stripe background, the item's moving actor over a static actor cut with the same
  mask source from the annotated frame nearest the middle of a video of another class; the partner
  is the candidate with the smallest `stable_digest(seed, video_id, candidate_id)`.

The video set is `review/approved.csv` (the review gate minus every stage's skips) restricted to the
test split; it is the same for every variant, so variants differ only in the mask. Work is sharded
by `crc32(video_id) % n_shards`; a shard job writes item files atomically and its shard table
last, then `collect` joins the shard tables into `bench/<variant>/<protocol>-<source>/items.csv`
(docs/contracts.md), checking ids, pairs and counts. Item paths are relative to `results/<dataset>/`.
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.atomic import atomic_path, write_csv_atomic
from benchmark.backgrounds import BackgroundLibrary, configured_sources
from benchmark.clips import test_clip_indices
from benchmark.config import add_config_arguments, config_from_args, results_dir
from benchmark.ids import item_id, item_rng, shard_name, shard_of, stable_digest
from benchmark.layout import ResultsLayout, config_bg_sources, config_item_sets, config_protocols
from benchmark.manifest import (
    SKIPPED_COLUMNS,
    ManifestError,
    read_boxes,
    read_manifest,
    write_skipped,
)
from benchmark.masks import ActorMasks, MaskFileError, mask_path, read_actor_masks
from benchmark.table_files import item_row, read_items, table_columns, write_items
from benchmark.video import (
    VideoReadError,
    pixels_sha256,
    read_image,
    read_video,
    write_h264,
    write_image,
)

PROTOCOLS = ("scuba", "scufo", "conflfg")
ITEM_SUFFIX = {"jpeg_zip": ".zip", "mp4": ".mp4"}
SUBSAMPLING = {"4:4:4": 0, "4:2:0": 2}
CHUNK_FRAMES = 16  # frames per paste / streaming chunk (perf/README_assembly.md)
STAGE = "composite"  # the `stage` column of skipped.csv rows written here


class AssemblyError(ValueError):
    """A benchmark item cannot be built or the item tables are inconsistent; names file and item."""


class ItemCollisionError(AssemblyError):
    """Two rows claim the same item id."""


# ---------------------------------------------------------------------------------------------
# Compositing


def resize_background(background: np.ndarray, width: int, height: int) -> np.ndarray:
    """Stretch a background to (height, width, 3), aspect ratio not kept, PIL BICUBIC (the protocol)."""
    image = Image.fromarray(np.ascontiguousarray(background, dtype=np.uint8))
    return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC))


def paste_actor(frame: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """One composited frame: `frame` where `mask`, else the stretched background (uint8).

    Equal to StillMix's uint8(frame * M + resize(background) * (1 - M)) for a hard mask M: with
    M in {0, 1} each product is an exact integer in float64, so the cast never rounds.
    """
    frame = np.asarray(frame)
    height, width = frame.shape[:2]
    if mask.shape != (height, width):
        raise AssemblyError(f"mask {mask.shape} and frame {(height, width)} differ in size")
    resized = resize_background(background, width, height)
    return np.where(np.asarray(mask, dtype=bool)[..., None], frame, resized)


def composite_clip(
    frames: np.ndarray, masks: np.ndarray, background: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Whole clip at once: (T, H, W, 3) frames, (T, H, W) bool masks -> (T, H, W, 3) uint8.

    Same pixels as `paste_actor` frame by frame. The background is resized once (it is the same
    still for every frame) and pasted around the actor by `paste_clip`. No float temporaries;
    NumPy's `copyto(where=)` / `where` do the same ~15-25x slower (perf/README_assembly.md).
    `out` (same shape as frames) is reused when given. The stage itself streams items with
    `composite_chunks`, which never holds a whole composited clip.
    """
    height, width = frames.shape[1:3]
    resized = resize_background(background, width, height)
    return paste_clip(frames, masks, resized, out)  # checks the shapes


def composite_chunks(
    frames: np.ndarray,
    masks: np.ndarray,
    background: np.ndarray,
    chunk: int = CHUNK_FRAMES,
    buffer: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """`composite_clip` streamed: yields the composited clip `chunk` frames at a time.

    Every chunk is written into the same (chunk, H, W, 3) buffer (`buffer` when given), so the
    consumer - the item writer - must use a chunk before asking for the next. The output then
    stays in cache between the paste and the encoder and is never written to main memory; a clip
    of any length needs one chunk of output memory (perf/README_assembly.md).
    """
    height, width = frames.shape[1:3]
    still = resize_background(background, width, height)
    return paste_chunks(frames, masks, still, chunk, buffer)


def paste_chunks(
    frames: np.ndarray,
    masks: np.ndarray,
    still: np.ndarray,
    chunk: int = CHUNK_FRAMES,
    buffer: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """`paste_clip` streamed into one reused chunk buffer (see `composite_chunks`)."""
    frames, actor = _check_paste(frames, masks, still)
    buffer = _output_array(buffer, (chunk, *frames.shape[1:]), "chunk buffer")
    return _paste_chunks(frames, actor, still, chunk, buffer)


def _output_array(given: np.ndarray | None, shape: tuple[int, ...], name: str) -> np.ndarray:
    """A new uint8 array of `shape`, or the caller's after checking that the paste can write it."""
    if given is None:
        return np.empty(shape, np.uint8)
    if given.shape != tuple(shape) or given.dtype != np.uint8 or not given.flags.c_contiguous:
        raise AssemblyError(
            f"{name} {given.shape} {given.dtype}: pass a contiguous uint8 array of shape {tuple(shape)}"
        )
    return given


def _paste_chunks(frames, actor, still, chunk, buffer) -> Iterator[np.ndarray]:
    for start, stop in _chunk_spans(len(frames), chunk):
        target = buffer[: stop - start]
        _paste_into(frames[start:stop], actor[start:stop], still, target)
        yield target


def paste_clip(
    frames: np.ndarray,
    masks: np.ndarray,
    still: np.ndarray,
    out: np.ndarray | None = None,
    chunk: int = CHUNK_FRAMES,
) -> np.ndarray:
    """(T, H, W, 3) frames where (T, H, W) masks, else the (H, W, 3) `still` image.

    `chunk` frames at a time: the output chunk is filled with the still, then OpenCV's SIMD masked
    copy puts the actor's pixels on it (the chunk seen as one (chunk*H, W) image) while it is in
    cache. Each pixel is read and written once, as in the memory bound; 16-frame chunks measured
    ~10% faster than frame by frame (perf/README_assembly.md).
    """
    frames, actor = _check_paste(frames, masks, still)
    out = _output_array(out, frames.shape, "output buffer")
    for start, stop in _chunk_spans(len(frames), chunk):
        _paste_into(frames[start:stop], actor[start:stop], still, out[start:stop])
    return out


def _chunk_spans(num_frames: int, chunk: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive `chunk`-frame spans; the last one may be shorter."""
    for start in range(0, num_frames, chunk):
        yield start, min(start + chunk, num_frames)


def _check_paste(
    frames: np.ndarray, masks: np.ndarray, still: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous frames and the masks as a uint8 0/1 view, after checking the three shapes."""
    if frames.shape[:3] != masks.shape or still.shape != frames.shape[1:]:
        raise AssemblyError(
            f"frames {frames.shape}, masks {masks.shape} and still {still.shape} do not match"
        )
    return np.ascontiguousarray(frames), np.ascontiguousarray(masks, dtype=bool).view(np.uint8)


def _paste_into(frames: np.ndarray, actor: np.ndarray, still: np.ndarray, target: np.ndarray):
    """target = still, then frames copied where actor: one masked copy over the stacked frames."""
    import cv2

    rows = len(frames) * frames.shape[1]
    width = frames.shape[2]
    target[...] = still
    cv2.copyTo(
        frames.reshape(rows, width, 3), actor.reshape(rows, width), target.reshape(rows, width, 3)
    )


def choose_static_frame(
    nonempty: np.ndarray, clip: np.ndarray, rule: str, rng: np.random.Generator
) -> int:
    """The SCUFO frame: among test-clip frames whose mask is not empty (else any non-empty item
    frame, else the clip's middle frame), the middle one or a seeded random one."""
    candidates = np.unique(clip[nonempty[clip]])
    if candidates.size == 0:
        candidates = np.flatnonzero(nonempty)
    if candidates.size == 0:  # a pure-background item: freeze the clip's middle frame
        frames = np.unique(clip)
        candidates = frames[len(frames) // 2 : len(frames) // 2 + 1]
    if rule == "middle":
        return int(candidates[len(candidates) // 2])
    return int(candidates[int(rng.integers(len(candidates)))])


# ---------------------------------------------------------------------------------------------
# Item files


def write_jpeg_zip(
    path: str | os.PathLike, frames: Iterable[np.ndarray], *, quality: int, subsampling: str
) -> int:
    """Frames as `img_00001.jpg`... in an uncompressed zip (the ALBAR loader's layout), atomically;
    returns the number of frames. `frames`: any iterable of (H, W, 3) uint8 arrays, each encoded
    before the next is drawn (so a `composite_chunks` stream works).

    Fixed member timestamps and encoder settings make the bytes reproducible.
    """
    count = 0
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for index, array in enumerate(frames, start=1):
            buffer = io.BytesIO()
            Image.fromarray(np.ascontiguousarray(array)).save(
                buffer, format="JPEG", quality=quality, subsampling=SUBSAMPLING[subsampling]
            )
            info = zipfile.ZipInfo(f"img_{index:05d}.jpg", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, buffer.getvalue())
            count = index
    return count


def write_mp4(
    path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float, *, crf: int, pix_fmt: str
) -> int:
    """H.264 with a chosen chroma layout, atomically; returns the number of frames. `frames`: any
    iterable of (H, W, 3) uint8 arrays. `yuv444p` keeps full-resolution chroma, so the background's
    colour does not bleed into the actor at the mask boundary as with yuv420p
    (perf/README_assembly.md). The encoder settings are `benchmark.video.write_h264`'s: one thread
    and a pinned x264 SIMD set, so items are byte-identical whatever the machine or `--threads`."""
    try:
        return write_h264(path, frames, fps, crf=crf, pix_fmt=pix_fmt)
    except ValueError as error:
        raise AssemblyError(str(error)) from error


@dataclass(frozen=True)
class ItemFormat:
    kind: str  # jpeg_zip | mp4
    crf: int
    jpeg_quality: int
    jpeg_subsampling: str
    pix_fmt: str = "yuv444p"

    @classmethod
    def from_config(cls, bench: dict) -> ItemFormat:
        return cls(
            bench["item_format"],
            bench["crf"],
            bench["jpeg_quality"],
            bench["jpeg_subsampling"],
            bench["mp4_pix_fmt"],
        )

    @property
    def suffix(self) -> str:
        return ITEM_SUFFIX[self.kind]

    def write(self, path: Path, frames: Iterable[np.ndarray], fps: float) -> int:
        """Write an item from a clip or any iterable of frames; returns the frame count."""
        if self.kind == "jpeg_zip":
            return write_jpeg_zip(
                path, frames, quality=self.jpeg_quality, subsampling=self.jpeg_subsampling
            )
        return write_mp4(path, frames, fps, crf=self.crf, pix_fmt=self.pix_fmt)


def remove_stale_temporaries(path: Path) -> None:
    """Delete temp files a killed writer of `path` left beside it (atomic_path names them
    `.<name>.<random>.tmp<suffix>`); only the shard that owns `path` ever writes them."""
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.*"):
            stale.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Inputs of an assembly job


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


def _skip_row(assembly: Assembly, video_id: str, error: Exception) -> dict:
    return {
        "video_id": video_id,
        "mask_source": assembly.variant,
        "stage": STAGE,
        "reason": str(error),
    }


SKIPPABLE = (VideoReadError, MaskFileError, AssemblyError, ManifestError)


def _map_videos(assembly: Assembly, videos: list[str], work, threads: int) -> tuple[list, list]:
    """Run `work(video_id) -> rows` over videos (threads), honouring `on_error`."""

    def guarded(video_id: str):
        try:
            return work(video_id), None
        except SKIPPABLE as error:
            if assembly.config["on_error"] != "skip":
                raise
            print(f"skip {video_id}: {error}", file=sys.stderr)
            return [], _skip_row(assembly, video_id, error)

    if threads > 1:
        _ = assembly.annotated_frames, assembly.video_set  # load shared tables before the threads
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(guarded, videos))
    else:
        results = [guarded(v) for v in videos]
    rows = [row for item_rows, _ in results for row in item_rows]
    skipped = [skip for _, skip in results if skip is not None]
    return rows, skipped


def _write_item(
    assembly: Assembly,
    protocol: str,
    source: str,
    item: str,
    chunks: Iterable[np.ndarray],
    shape: tuple[int, ...],
    fps: float,
) -> tuple[str, np.ndarray]:
    """Write one item from its streamed chunks (atomically), decode it back and check that it has
    the (T, H, W, 3) `shape` of its source clip; returns (path relative to results/, pixels)."""
    relative = assembly.item_path(protocol, source, item, assembly.item_format.suffix)
    target = assembly.results / relative
    remove_stale_temporaries(target)
    assembly.item_format.write(target, itertools.chain.from_iterable(chunks), fps)
    decoded, _ = read_video(target)
    if decoded.shape != shape:
        raise AssemblyError(f"{target}: decodes to {decoded.shape}, wrote {shape}")
    return relative, decoded


# ---------------------------------------------------------------------------------------------
# SCUBA


def scuba_video(assembly: Assembly, video_id: str) -> list[dict]:
    """Every SCUBA item of one video (all sources x versions): composite, write, decode, hash."""
    frames, fps, _, foreground = assembly.load_video(video_id)
    first, last = assembly.span(video_id, len(frames))
    clip, clip_masks = frames[first : last + 1], foreground[first : last + 1]
    label = int(assembly.manifest.at[video_id, "label"])
    rows = []
    buffer = np.empty((CHUNK_FRAMES, *clip.shape[1:]), np.uint8)  # one chunk, every item
    for source in assembly.sources:
        library = assembly.library(source.name)
        for k in range(assembly.bench["versions"]):
            background_id = library.background_id(video_id, k)
            # Streamed: each chunk is encoded while it is in cache (no whole composited clip).
            chunks = composite_chunks(clip, clip_masks, library.image(background_id), buffer=buffer)
            scuba_id = item_id(video_id, k)
            relative, decoded = _write_item(
                assembly, "scuba", source.name, scuba_id, chunks, clip.shape, fps
            )
            rows.append(
                item_row(
                    item_id=scuba_id,
                    video_id=video_id,
                    version=k,
                    protocol="scuba",
                    source=source.name,
                    variant=assembly.variant,
                    background_id=background_id,
                    label=label,
                    frames=len(clip),
                    first_frame=first,
                    pair_id=item_id(video_id, k, static=True),
                    path=relative,
                    sha256=pixels_sha256(decoded),
                )
            )
    return rows


def run_scuba_shard(config: dict, variant: str, shard: str, threads: int = 1) -> pd.DataFrame:
    assembly = Assembly(config, variant)
    _check_mask_index(assembly, shard)
    videos = assembly.shard_videos(shard)
    for source in assembly.sources:
        assembly.library(source.name)
    rows, skipped = _map_videos(assembly, videos, lambda v: scuba_video(assembly, v), threads)
    write_skipped(assembly.shard_table("scuba", shard, skipped=True), skipped)
    return write_items(assembly.shard_table("scuba", shard), rows)


def _check_mask_index(assembly: Assembly, shard: str) -> None:
    """Every video of the shard must be in the mask source's shard index (its masks exist)."""
    index_path = ResultsLayout(assembly.results).mask_shard(assembly.variant, shard)
    if not index_path.exists():
        raise AssemblyError(
            f"{index_path}: mask index not found; build mask source {assembly.variant!r}"
        )
    index = pd.read_csv(index_path, dtype=str, keep_default_na=False)
    missing = sorted(set(assembly.shard_videos(shard)) - set(index["video_id"]))
    if missing and assembly.config["on_error"] != "skip":
        raise AssemblyError(
            f"{index_path}: no {assembly.variant!r} masks for approved video(s) {missing[:5]}; "
            "rebuild that mask source or re-run the review gate"
        )


# ---------------------------------------------------------------------------------------------
# SCUFO


def scufo_items(assembly: Assembly, scuba: pd.DataFrame) -> list[dict]:
    """One SCUFO item per SCUBA row of one video: a frozen frame of the decoded SCUBA item."""
    video_id = scuba["video_id"].iloc[0]
    masks = read_actor_masks(mask_path(assembly.results / "masks", assembly.variant, video_id))
    nonempty_source = masks.foreground().reshape(masks.num_frames, -1).any(axis=1)
    clip_cfg = assembly.bench["test_clip"]
    rows = []
    for row in scuba.itertuples(index=False):
        decoded, _ = read_video(assembly.results / row.path)
        if len(decoded) != row.frames:
            raise AssemblyError(
                f"{assembly.results / row.path}: {len(decoded)} frames, items.csv says {row.frames}"
            )
        nonempty = nonempty_source[row.first_frame : row.first_frame + row.frames]
        clip = test_clip_indices(row.frames, clip_cfg["frames"], clip_cfg["stride"])
        rng = item_rng(assembly.seed, "scufo", row.source, video_id, row.version)
        static = choose_static_frame(nonempty, clip, assembly.bench["scufo"]["frame_choice"], rng)
        scufo_id = item_id(video_id, row.version, static=True)
        relative = assembly.item_path("scufo", row.source, scufo_id, ".png")
        target = assembly.results / relative
        remove_stale_temporaries(target)
        write_image(target, decoded[static])
        rows.append(
            item_row(
                item_id=scufo_id,
                video_id=video_id,
                version=row.version,
                protocol="scufo",
                source=row.source,
                variant=assembly.variant,
                background_id=row.background_id,
                label=row.label,
                frames=row.frames,
                first_frame=row.first_frame,
                static_frame=static,
                pair_id=row.item_id,
                path=relative,
                sha256=pixels_sha256(read_image(target)),
            )
        )
    return rows


def run_scufo_shard(config: dict, variant: str, shard: str, threads: int = 1) -> pd.DataFrame:
    assembly = Assembly(config, variant)
    scuba = read_items(assembly.shard_table("scuba", shard))
    groups = {v: g for v, g in scuba.groupby("video_id", sort=True)}
    # SCUFO reads only this stage's own SCUBA items: a failure here is a bug, never a skip.
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(lambda v: scufo_items(assembly, groups[v]), sorted(groups)))
    else:
        parts = [scufo_items(assembly, groups[v]) for v in sorted(groups)]
    return write_items(assembly.shard_table("scufo", shard), [r for part in parts for r in part])


# ---------------------------------------------------------------------------------------------
# Confl-FG


def conflfg_partner(
    seed: int,
    video_id: str,
    label: int,
    candidates: pd.DataFrame,
    usable: Callable[[str], bool] = lambda candidate: True,
) -> str:
    """The static-actor video: among candidates of another class, the smallest stable digest of
    (seed, video_id, candidate_id) — it changes only if that candidate leaves the set. Candidates
    for which `usable` is false (no non-empty annotated mask frame in some variant) are passed over,
    so every variant picks the same partner."""
    others = candidates.loc[candidates["label"] != label, "video_id"]
    for candidate in sorted(others, key=lambda c: stable_digest(seed, video_id, c)):
        if usable(candidate):
            return candidate
    raise AssemblyError(
        f"Confl-FG: no test video of a class other than {label} with a non-empty actor mask "
        f"in every variant for {video_id!r}"
    )


def static_actor(
    assembly: Assembly, partner: str, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(frame, mask, source frame) of the partner's static actor: the annotated frame nearest the
    middle of its annotated frames whose mask is not empty, resized to (height, width) if needed."""
    frames, _, masks, foreground = assembly.load_video(partner)
    annotated = assembly.annotated_frames.get(partner, np.arange(len(frames)))
    annotated = annotated[annotated < len(frames)]
    middle = annotated[len(annotated) // 2] if annotated.size else len(frames) // 2
    order = sorted(annotated, key=lambda t: (abs(int(t) - int(middle)), int(t)))
    chosen = next((int(t) for t in order if foreground[t].any()), None)
    if chosen is None:
        raise AssemblyError(
            f"{mask_path(assembly.results / 'masks', assembly.variant, partner)}: no annotated frame "
            f"with a non-empty mask, so no static actor can be cut from {partner!r}"
        )
    frame, mask = frames[chosen], foreground[chosen]
    if frame.shape[:2] != (height, width):
        frame = np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BICUBIC))
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))
    return frame, mask, chosen


def conflfg_video(assembly: Assembly, video_id: str) -> list[dict]:
    settings = assembly.bench["conflfg"]
    library = assembly.library(settings["background"])
    candidates = assembly.manifest.loc[assembly.video_set, ["video_id", "label"]]
    label = int(assembly.manifest.at[video_id, "label"])
    partner = conflfg_partner(
        assembly.seed, video_id, label, candidates, assembly.has_static_actor_in_every_variant
    )
    frames, fps, _, foreground = assembly.load_video(video_id)
    first, last = assembly.span(video_id, len(frames))
    clip, clip_masks = frames[first : last + 1], foreground[first : last + 1]
    static_frame, static_mask, static_index = static_actor(assembly, partner, *frames.shape[1:3])
    rows = []
    buffer = np.empty((CHUNK_FRAMES, *clip.shape[1:]), np.uint8)
    for k in range(settings["versions"]):
        background_id = library.background_id(video_id, k)
        # Static actor on the background first, then the moving actor on top of both.
        still = paste_actor(static_frame, static_mask, library.image(background_id))
        chunks = paste_chunks(clip, clip_masks, still, buffer=buffer)
        conflfg_id = item_id(video_id, k)
        relative, decoded = _write_item(
            assembly, "conflfg", library.source.name, conflfg_id, chunks, clip.shape, fps
        )
        rows.append(
            item_row(
                item_id=conflfg_id,
                video_id=video_id,
                version=k,
                protocol="conflfg",
                source=library.source.name,
                variant=assembly.variant,
                background_id=background_id,
                label=label,
                static_label=int(assembly.manifest.at[partner, "label"]),
                static_video_id=partner,
                frames=len(clip),
                first_frame=first,
                static_frame=static_index,
                path=relative,
                sha256=pixels_sha256(decoded),
            )
        )
    return rows


def run_conflfg_shard(config: dict, variant: str, shard: str, threads: int = 1) -> pd.DataFrame:
    assembly = Assembly(config, variant)
    settings = assembly.bench["conflfg"]
    source = {s.name: s for s in assembly.sources}.get(settings["background"])
    if source is None or source.kind != "stripe":
        raise AssemblyError(
            f"benchmark.conflfg.background {settings['background']!r} must name a stripe-kind "
            "source of backgrounds.sources"
        )
    videos = assembly.shard_videos(shard)
    assembly.library(source.name)
    rows, skipped = _map_videos(assembly, videos, lambda v: conflfg_video(assembly, v), threads)
    write_skipped(assembly.shard_table("conflfg", shard, skipped=True), skipped)
    return write_items(assembly.shard_table("conflfg", shard), rows)


# ---------------------------------------------------------------------------------------------
# Collect: shard tables -> items.csv per variant / protocol / source


def _read_shard_tables(results: Path, variant: str, protocol: str, n_shards: int) -> pd.DataFrame:
    frames, origin = [], {}
    for k in range(n_shards):
        path = ResultsLayout(results).bench_shard(variant, protocol, shard_name(k))
        table = read_items(path)
        for item, source in zip(table["item_id"], table["source"], strict=True):
            if (item, source) in origin:
                raise ItemCollisionError(
                    f"item id {item!r} ({variant}/{protocol}-{source}) is in both "
                    f"{origin[item, source]} and {path}; delete stale shard tables and rebuild"
                )
            origin[item, source] = path
        frames.append(table)
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=table_columns("items"))
    )


def collect_items(config: dict) -> dict[tuple[str, str, str], int]:
    """Join every variant's shard tables into the items.csv files; write bench/skipped.csv.

    A video skipped in any variant or protocol leaves every variant. Fails if a SCUBA item lacks
    its SCUFO partner or the reverse, or if a video lacks any of its versions x sources items.
    """
    results = results_dir(config)
    n_shards = int(config["n_shards"])
    bench = config["benchmark"]
    variants = bench["variants"]
    skipped_rows = []
    for variant in variants:
        for protocol in ("scuba", "conflfg") if bench["conflfg"]["enabled"] else ("scuba",):
            for k in range(n_shards):
                path = ResultsLayout(results).bench_shard(
                    variant, protocol, shard_name(k), skipped=True
                )
                if not path.exists():
                    raise AssemblyError(
                        f"{path}: shard skip list not found; the shard did not finish"
                    )
                skipped_rows.append(pd.read_csv(path, dtype=str, keep_default_na=False))
    skipped = (
        pd.concat(skipped_rows, ignore_index=True)
        if skipped_rows
        else pd.DataFrame(columns=SKIPPED_COLUMNS)
    )
    skipped = skipped.drop_duplicates().sort_values(["video_id", "mask_source", "reason"])
    gone = set(skipped["video_id"])
    write_csv_atomic(ResultsLayout(results).bench_skipped, skipped[SKIPPED_COLUMNS])

    tables = {}
    for variant in variants:
        for protocol in config_protocols(config):
            table = _read_shard_tables(results, variant, protocol, n_shards)
            tables[(variant, protocol)] = table[~table["video_id"].isin(gone)]
    sources = config_bg_sources(config)
    video_sets = {}
    for variant in variants:
        scuba, scufo = tables[(variant, "scuba")], tables[(variant, "scufo")]
        _check_pairs(scuba, scufo, variant)
        videos = sorted(set(scuba["video_id"]))
        expected = len(videos) * bench["versions"] * len(sources)
        if len(scuba) != expected:
            counts = scuba.groupby("video_id").size()
            short = counts[counts != bench["versions"] * len(sources)].index.tolist()[:5]
            raise AssemblyError(
                f"bench/{variant}: {len(scuba)} SCUBA items, expected {expected} (= {len(videos)} "
                f"videos x {bench['versions']} versions x {len(sources)} sources); incomplete: {short}"
            )
        video_sets[variant] = videos
    first = variants[0]
    for variant in variants[1:]:
        if video_sets[variant] != video_sets[first]:
            diff = sorted(set(video_sets[variant]) ^ set(video_sets[first]))[:5]
            raise AssemblyError(
                f"variants {first!r} and {variant!r} cover different videos: {diff}"
            )
    counts = {}
    for item_set in config_item_sets(config):
        variant, protocol, source = item_set.variant, item_set.protocol, item_set.bg_source
        table = tables[(variant, protocol)]
        part = table[table["source"] == source]
        write_items(item_set.items_path(results), part.reset_index(drop=True))
        counts[(variant, protocol, source)] = len(part)
    return counts


def _check_pairs(scuba: pd.DataFrame, scufo: pd.DataFrame, variant: str) -> None:
    scuba_pairs = dict(zip(scuba["item_id"] + "|" + scuba["source"], scuba["pair_id"], strict=True))
    scufo_pairs = dict(zip(scufo["item_id"] + "|" + scufo["source"], scufo["pair_id"], strict=True))
    lonely = [k for k, v in scuba_pairs.items() if f"{v}|{k.split('|')[1]}" not in scufo_pairs]
    orphans = [k for k, v in scufo_pairs.items() if f"{v}|{k.split('|')[1]}" not in scuba_pairs]
    if lonely or orphans:
        raise AssemblyError(
            f"bench/{variant}: SCUBA items without a SCUFO partner {lonely[:5]}, SCUFO items without "
            f"a SCUBA partner {orphans[:5]}; rebuild the composite_scufo shards"
        )


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.composite", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("scuba", "scufo", "conflfg"):
        command = sub.add_parser(name, help=f"build the {name} items of one variant's shard")
        command.add_argument("--variant", required=True)
        command.add_argument("--shard", required=True, help="shard-<kkk>")
    sub.add_parser("collect", help="join the shard tables into items.csv files")
    for command in sub.choices.values():
        add_config_arguments(command)
        command.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    from benchmark.runtime import set_threads

    set_threads(args.threads)
    config = config_from_args(args)
    started = time.perf_counter()
    if args.command in ("scuba", "scufo", "conflfg"):
        run = {"scuba": run_scuba_shard, "scufo": run_scufo_shard, "conflfg": run_conflfg_shard}
        table = run[args.command](config, args.variant, args.shard, args.threads)
        summary = f"{args.command} {args.variant} {args.shard}: {len(table)} items"
    else:
        counts = collect_items(config)
        summary = f"collect: {len(counts)} item sets, {sum(counts.values())} items"
    seconds = time.perf_counter() - started
    print(f"{summary} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
