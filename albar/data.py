"""Clips for training and prediction, read through the benchmark's file contract only.

`albar` never imports the benchmark's internals: it reads `manifest.csv` and `items.csv` (columns as
in docs/contracts.md) through `benchmark.table_files`, the contract's one table reader, decodes
pixels with the public `benchmark.video` readers and takes its test clip from the public
`benchmark.clips.test_clip_indices`, the one rule the benchmark freezes its SCUFO frame inside.

Clip sampling follows the paper: T frames at stride s from a random start for training (stride 1
when the video is too short for stride s, the last frame repeated when it is shorter than T), and
the benchmark's centred test clip for evaluation (`benchmark.clips`: stride s, or the largest stride
that fits a short item, centred; an item shorter than T shows all its frames, then its last).
Training augmentation: one random resized crop and one flip per clip (every frame gets the same),
then the model's normalisation. Test: resize the short side to `resize`, centre crop; or, for three
crops, resize the short side to the crop size and take three crops along the long side (StillMix's
Swin-T test pipeline). Every random draw comes from a generator seeded by (seed, epoch, video), so a
clip does not depend on worker count, batch order or a resume.
"""

from __future__ import annotations

import contextlib
import math
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from benchmark.clips import test_clip_indices
from benchmark.table_files import TableError, read_items, read_table
from benchmark.video import read_image, read_video

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class DataError(ValueError):
    """A manifest, item list or video does not fit; the message names the file and the rows."""


@dataclass(frozen=True)
class ClipSettings:
    frames: int
    stride: int


@dataclass(frozen=True)
class Augmentation:
    crop_size: int  # square crop fed to the model
    resize: int  # test: short side resized to this before the centre crop
    scale: tuple[float, float]  # random resized crop: area fraction range
    ratio: tuple[float, float]  # random resized crop: aspect ratio range
    hflip: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


@dataclass(frozen=True)
class VideoEntry:
    key: str  # video_id (training, IID) or item_id (benchmark items)
    path: Path
    label: int
    static: bool = False  # SCUFO: one stored frame, repeated to the clip length


# --- reading the file contract -------------------------------------------------------------------


def read_manifest_entries(
    manifest_path: str | os.PathLike, split: str, root: str | os.PathLike | None = None
) -> list[VideoEntry]:
    """The videos of one split of manifest.csv; `path` is relative to the manifest's folder."""
    manifest_path = Path(manifest_path)
    frame = _read_manifest(manifest_path)
    rows = frame[frame["split"] == split]
    no_path = rows.loc[rows["path"] == "", "video_id"].tolist()
    if no_path:
        raise DataError(
            f"{manifest_path}: {len(no_path)} {split} videos have no path (annotation-only "
            f"manifest), e.g. {no_path[:3]}; training needs the videos"
        )
    return [
        VideoEntry(str(r.video_id), _video_path(str(r.path), manifest_path, root), int(r.label))
        for r in rows.itertuples(index=False)
    ]


def _video_path(path: str, manifest_path: Path, root: str | os.PathLike | None) -> Path:
    """A manifest `path` as written by ingest (absolute, or relative to the working directory);
    relative to `root` (or the manifest's folder) when that is where the file is."""
    given = Path(path)
    if root is not None:
        return Path(root) / given
    if given.is_absolute() or given.exists():
        return given
    beside = manifest_path.parent / given
    return beside if beside.exists() else given


def _read_manifest(manifest_path: str | os.PathLike) -> pd.DataFrame:
    """manifest.csv through its schema (benchmark.table_files), errors as DataError."""
    try:
        return read_table("manifest", manifest_path, "run the ingest stage first")
    except TableError as error:
        raise DataError(str(error)) from None


def manifest_num_classes(manifest_path: str | os.PathLike) -> int:
    return int(_read_manifest(manifest_path)["label"].max()) + 1


def read_item_entries(
    items_path: str | os.PathLike, root: str | os.PathLike
) -> tuple[list[VideoEntry], pd.DataFrame]:
    """Entries of one items.csv (labels from the file itself); duplicate item ids are an error."""
    frame = read_items(items_path)
    root = Path(root)
    entries = [
        VideoEntry(str(r.item_id), root / str(r.path), int(r.label), r.protocol == "scufo")
        for r in frame.itertuples(index=False)
    ]
    return entries, frame


# --- clip indices -------------------------------------------------------------------------------


def train_clip_indices(num_frames: int, clip: ClipSettings, rng: np.random.Generator) -> list[int]:
    """A random clip: stride s if it fits, else stride 1, else the last frame repeated."""
    stride = clip.stride
    if (clip.frames - 1) * stride + 1 > num_frames:
        stride = 1
    span = (clip.frames - 1) * stride + 1
    start = int(rng.integers(0, max(0, num_frames - span) + 1))
    return [min(start + j * stride, num_frames - 1) for j in range(clip.frames)]


# --- decoding -----------------------------------------------------------------------------------


def _zip_frame_names(archive: zipfile.ZipFile) -> list[str]:
    return sorted(
        n for n in archive.namelist() if n.lower().endswith(FRAME_SUFFIXES) and not n.endswith("/")
    )


def _decode_member(archive: zipfile.ZipFile, name: str, path: Path) -> np.ndarray:
    """One frame of a zip, (H, W, 3) RGB uint8. OpenCV decodes these small JPEGs twice as fast as
    Pillow, with identical pixels (same libjpeg-turbo; checked on the synthetic items)."""
    data = np.frombuffer(archive.read(name), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: member {name} is not a decodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class FrameReader:
    """Decodes videos to (T, H, W, 3) uint8; optionally keeps them in memory (small datasets).

    Zips of JPEG frames are decoded frame by frame, only the frames a clip needs.
    """

    def __init__(self, cache: bool) -> None:
        self.cache = cache
        self._videos: dict[Path, np.ndarray] = {}

    def video(self, path: Path) -> np.ndarray:
        if path in self._videos:
            return self._videos[path]
        frames, _ = read_video(path)
        if self.cache:
            self._videos[path] = frames
        return frames

    def clip(self, entry: VideoEntry, pick) -> np.ndarray:
        """Frames `pick(num_frames)` of the entry's video: (T, H, W, 3) uint8."""
        if entry.static:
            image = read_image(entry.path)  # (H, W, 3): SCUFO stores the one frozen frame
            return np.broadcast_to(image, (len(pick(1)), *image.shape))
        if entry.path.suffix.lower() == ".zip" and not self.cache:
            try:
                with zipfile.ZipFile(entry.path) as archive:
                    names = _zip_frame_names(archive)
                    if not names:
                        raise DataError(f"{entry.path}: zip has no frame images")
                    indices = pick(len(names))
                    decoded = {
                        i: _decode_member(archive, names[i], entry.path) for i in set(indices)
                    }
                    return np.stack([decoded[i] for i in indices])
            except (zipfile.BadZipFile, OSError) as error:
                raise DataError(f"{entry.path}: cannot decode ({error})") from error
        frames = self.video(entry.path)
        return frames[pick(frames.shape[0])]


@contextlib.contextmanager
def single_threaded():
    """Run small per-clip tensor ops on one thread: torch's intra-op pool costs far more than it
    saves on tensors this small (measured 1.8 vs 30-60 ms per clip on 2 busy cores)."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# --- transforms ---------------------------------------------------------------------------------


def _normalise(clip: torch.Tensor, aug: Augmentation) -> torch.Tensor:
    """(T, 3, H, W) float in [0, 255] -> (3, T, H, W) normalised."""
    mean = torch.tensor(aug.mean).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(aug.std).view(1, 3, 1, 1) * 255.0
    return ((clip - mean) / std).permute(1, 0, 2, 3).contiguous()


def _to_float(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()  # (T,3,H,W)


def train_transform(
    frames: np.ndarray,
    aug: Augmentation,
    rng: np.random.Generator,
    mask: np.ndarray | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Random resized crop + flip, the same for every frame: (T, H, W, 3) uint8 -> (3, T, S, S).

    mask: (T, H, W) bool actor masks of the same frames; then returns (clip, (1, T, S, S) float
    0/1 mask) with the same crop and flip (nearest-neighbour resize keeps it binary).
    """
    clip = _to_float(frames)
    height, width = clip.shape[-2:]
    area = height * width
    top, left, crop_h, crop_w = 0, 0, height, width
    for _ in range(10):  # torchvision's RandomResizedCrop: 10 tries, then the whole frame
        target = area * rng.uniform(*aug.scale)
        log_ratio = (math.log(aug.ratio[0]), math.log(aug.ratio[1]))
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            crop_h, crop_w = h, w
            break
    flip = aug.hflip and rng.random() < 0.5
    clip = clip[:, :, top : top + crop_h, left : left + crop_w]
    clip = F.interpolate(
        clip, size=(aug.crop_size, aug.crop_size), mode="bilinear", align_corners=False
    )
    if flip:
        clip = clip.flip(-1)
    if mask is None:
        return _normalise(clip, aug)
    if mask.shape != frames.shape[:3]:
        raise DataError(
            f"actor masks {mask.shape} do not match the clip's frames {frames.shape[:3]}"
        )
    cut = torch.from_numpy(np.ascontiguousarray(mask[:, top : top + crop_h, left : left + crop_w]))
    cut = F.interpolate(
        cut.float().unsqueeze(1), size=(aug.crop_size, aug.crop_size), mode="nearest"
    )  # (T, 1, S, S)
    if flip:
        cut = cut.flip(-1)
    return _normalise(clip, aug), cut.permute(1, 0, 2, 3).contiguous()


def eval_transforms(frames: np.ndarray, aug: Augmentation, crops: int = 1) -> torch.Tensor:
    """The test views, (V, 3, T, S, S): 1 view = short side resized to `aug.resize`, centre crop
    (ALBAR); 3 views = short side resized to the crop size S, three S×S crops along the long side
    (StillMix's Swin-T test pipeline: Resize(-1, 224) + ThreeCrop(224)), so together they cover the
    whole frame."""
    clip = _to_float(frames)
    height, width = clip.shape[-2:]
    short_side = aug.crop_size if crops == 3 else aug.resize
    scale = short_side / min(height, width)
    new_h, new_w = (
        max(aug.crop_size, round(height * scale)),
        max(aug.crop_size, round(width * scale)),
    )
    if (new_h, new_w) != (height, width):
        clip = F.interpolate(clip, size=(new_h, new_w), mode="bilinear", align_corners=False)
    size = aug.crop_size
    if crops == 1:
        offsets = [((new_h - size) // 2, (new_w - size) // 2)]
    elif crops == 3:
        if new_w >= new_h:
            offsets = [((new_h - size) // 2, x) for x in (0, (new_w - size) // 2, new_w - size)]
        else:
            offsets = [(y, (new_w - size) // 2) for y in (0, (new_h - size) // 2, new_h - size)]
    else:
        raise ValueError(f"test crops must be 1 or 3, got {crops}")
    views = [_normalise(clip[:, :, y : y + size, x : x + size], aug) for y, x in offsets]
    return torch.stack(views)


# --- datasets -----------------------------------------------------------------------------------


def sample_seed(seed: int, epoch: int, key: str) -> np.random.SeedSequence:
    import zlib

    return np.random.SeedSequence([seed, epoch, zlib.crc32(key.encode("utf-8"))])


class ActorMaskReader:
    """Actor masks of training videos from one mask source, `<masks_dir>/<video_id>.json.gz`
    (docs/contracts.md "Masks"), as (T, H, W) bool per video; optionally kept in memory."""

    def __init__(self, masks_dir: str | os.PathLike, cache: bool) -> None:
        self.masks_dir, self.cache = Path(masks_dir), cache
        self._masks: dict[str, np.ndarray] = {}

    def video(self, video_id: str) -> np.ndarray:
        from benchmark.masks import MaskFileError, read_actor_masks

        if video_id in self._masks:
            return self._masks[video_id]
        path = self.masks_dir / f"{video_id}.json.gz"
        try:
            masks = read_actor_masks(path).foreground()
        except MaskFileError as error:
            raise DataError(
                f"{error} (training video {video_id}: the run's actor_masks source must cover the "
                "train split; add train to tracking.splits for box or tracker sources)"
            ) from None
        if self.cache:
            self._masks[video_id] = masks
        return masks

    def clip(self, video_id: str, indices: Sequence[int], frames: np.ndarray) -> np.ndarray:
        """The masks of the clip's frames (indices into the video), checked against the frames."""
        masks = self.video(video_id)
        if masks.shape[1:] != frames.shape[1:3]:
            raise DataError(
                f"{self.masks_dir / video_id}.json.gz: masks are {masks.shape[1:]}, the video's "
                f"frames {frames.shape[1:3]}; rebuild the masks of this video"
            )
        # a mask file lists every frame of the video; a shorter one has no mask past its end
        padded = [min(i, masks.shape[0] - 1) for i in indices]
        return masks[padded] if masks.shape[0] else np.zeros(frames.shape[:3], dtype=bool)


class TrainClips(torch.utils.data.Dataset):
    """Augmented training clips; item i of epoch e is a pure function of (seed, e, video_id).

    With `masks` (an ActorMaskReader) or `scenes` (video_id -> scene index) an item is
    (clip, label, index, extras) with extras {"masks": (1, T, S, S), "scenes": scene}: the masks of
    the same frames with the same crop and flip; without them (clip, label, index).
    """

    def __init__(
        self,
        entries: Sequence[VideoEntry],
        clip: ClipSettings,
        aug: Augmentation,
        seed: int,
        reader: FrameReader,
        masks: ActorMaskReader | None = None,
        scenes: dict[str, int] | None = None,
    ) -> None:
        self.entries, self.clip, self.aug, self.seed, self.reader = (
            list(entries),
            clip,
            aug,
            seed,
            reader,
        )
        self.masks, self.scenes = masks, scenes
        if scenes is not None:
            missing = [e.key for e in self.entries if e.key not in scenes]
            if missing:
                raise DataError(
                    f"scene labels lack {len(missing)} training videos, e.g. {missing[:3]}; "
                    "rebuild the scene labels for this manifest"
                )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple:
        entry = self.entries[index]
        rng = np.random.default_rng(sample_seed(self.seed, self.epoch, entry.key))
        chosen: list[int] = []

        def pick(n: int) -> list[int]:
            chosen[:] = train_clip_indices(n, self.clip, rng)
            return chosen

        frames = self.reader.clip(entry, pick)
        if self.masks is None and self.scenes is None:
            with single_threaded():
                return train_transform(frames, self.aug, rng), entry.label, index
        extras: dict = {}
        with single_threaded():
            if self.masks is None:
                clip = train_transform(frames, self.aug, rng)
            else:
                actor = self.masks.clip(entry.key, chosen, frames)
                clip, extras["masks"] = train_transform(frames, self.aug, rng, mask=actor)
        if self.scenes is not None:
            extras["scenes"] = self.scenes[entry.key]
        return clip, entry.label, index, extras


class EvalClips(torch.utils.data.Dataset):
    """The centred test clip of each entry, (V, 3, T, S, S) with V test crops."""

    def __init__(
        self,
        entries: Sequence[VideoEntry],
        clip: ClipSettings,
        aug: Augmentation,
        reader: FrameReader,
        crops: int = 1,
    ) -> None:
        self.entries, self.clip, self.aug, self.reader, self.crops = (
            list(entries),
            clip,
            aug,
            reader,
            crops,
        )

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int]:
        entry = self.entries[index]
        frames = self.reader.clip(
            entry, lambda n: test_clip_indices(n, self.clip.frames, self.clip.stride).tolist()
        )
        with single_threaded():
            return eval_transforms(frames, self.aug, self.crops), entry.label, index


class EpochBatches(torch.utils.data.Sampler):
    """Shuffled batches of one epoch, split across DDP ranks; order a pure function of (seed, epoch).

    Each rank gets `batch_size // world` samples of every global batch, so W processes see exactly
    the batches one process would; the last incomplete global batch is dropped (training only).
    """

    def __init__(
        self, size: int, batch_size: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        if batch_size % world:
            raise ValueError(f"batch_size {batch_size} must be divisible by the {world} processes")
        if size < batch_size:
            raise DataError(
                f"only {size} training videos for a batch of {batch_size}; lower training.batch_size"
            )
        self.size, self.batch_size, self.seed, self.rank, self.world = (
            size,
            batch_size,
            seed,
            rank,
            world,
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size // self.batch_size

    def __iter__(self):
        order = np.random.default_rng(
            np.random.SeedSequence([self.seed, self.epoch, 7])
        ).permutation(self.size)
        local = self.batch_size // self.world
        for b in range(len(self)):
            batch = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield batch[self.rank * local : (self.rank + 1) * local].tolist()
