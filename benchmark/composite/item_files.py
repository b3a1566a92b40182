"""Item files of the assembly: zip-of-JPEG and mp4 writers with reproducible bytes, the configured
item format (`ItemFormat`), and clean-up of the temporaries a killed writer left."""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.atomic import atomic_path
from benchmark.composite.errors import AssemblyError
from benchmark.video import H264Writer, encode_jpeg

ITEM_SUFFIX = {"jpeg_zip": ".zip", "mp4": ".mp4"}


class JpegZipWriter:
    """A zip of JPEG frames `img_00001.jpg`... (stored, the ALBAR loader's layout) written frame by
    frame, atomically: `with JpegZipWriter(path, quality=, subsampling=) as w: w.add(frames)`;
    `count` is the frames written. Fixed member timestamps and encoder settings make the bytes
    reproducible; each frame is encoded when it is added (a reused buffer is fine)."""

    def __init__(self, path: str | os.PathLike, *, quality: int, subsampling: str) -> None:
        self.path, self.quality, self.subsampling = Path(path), quality, subsampling
        self.count = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> JpegZipWriter:
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._archive = self._stack.enter_context(zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED))
        return self

    def add(self, frames: Iterable[np.ndarray]) -> None:
        for array in frames:
            self.count += 1
            info = zipfile.ZipInfo(f"img_{self.count:05d}.jpg", date_time=(1980, 1, 1, 0, 0, 0))
            data = encode_jpeg(array, quality=self.quality, subsampling=self.subsampling)
            self._archive.writestr(info, data)

    def __exit__(self, kind, error, traceback) -> bool:
        return self._stack.__exit__(kind, error, traceback)


def write_jpeg_zip(
    path: str | os.PathLike, frames: Iterable[np.ndarray], *, quality: int, subsampling: str
) -> int:
    """Frames as a zip of JPEGs (`JpegZipWriter`); returns the number of frames. `frames`: any
    iterable of (H, W, 3) uint8 arrays, each encoded before the next is drawn (so a
    `composite_chunks` stream works)."""
    with JpegZipWriter(path, quality=quality, subsampling=subsampling) as writer:
        writer.add(frames)
    return writer.count


@dataclass(frozen=True)
class ItemFormat:
    kind: str  # jpeg_zip | mp4
    crf: int
    jpeg_quality: int
    jpeg_subsampling: str
    pix_fmt: str = "yuv444p"
    preset: str = "medium"  # x264's speed / size trade-off for mp4 items

    @classmethod
    def from_config(cls, bench: dict) -> ItemFormat:
        return cls(
            bench["item_format"],
            bench["crf"],
            bench["jpeg_quality"],
            bench["jpeg_subsampling"],
            bench["mp4_pix_fmt"],
            bench["mp4_preset"],
        )

    @property
    def suffix(self) -> str:
        return ITEM_SUFFIX[self.kind]

    @contextlib.contextmanager
    def writer(self, path: Path, fps: float) -> Iterator[JpegZipWriter | H264Writer]:
        """One item's writer, open for `add`; the file is renamed into place when the block ends.
        mp4 items: H.264 with a chosen chroma layout (`yuv444p` keeps the background's colour from
        bleeding into the actor at the mask boundary, perf/README_assembly.md) and
        `benchmark.video.H264Writer`'s pinned encoder, so items are byte-identical whatever the
        machine or `--threads`. An encoder refusal (e.g. odd sizes for yuv420p) is an
        AssemblyError."""
        if self.kind == "jpeg_zip":
            opened = JpegZipWriter(
                path, quality=self.jpeg_quality, subsampling=self.jpeg_subsampling
            )
        else:
            opened = H264Writer(path, fps, crf=self.crf, pix_fmt=self.pix_fmt, preset=self.preset)
        try:
            with opened as writer:
                yield writer
        except ValueError as error:
            raise AssemblyError(str(error)) from error

    def write(self, path: Path, frames: Iterable[np.ndarray], fps: float) -> int:
        """Write an item from a clip or any iterable of frames; returns the frame count."""
        with self.writer(path, fps) as writer:
            writer.add(frames)
        return writer.count


def remove_stale_temporaries(path: Path) -> None:
    """Delete temp files a killed writer of `path` left beside it (atomic_path names them
    `.<name>.<random>.tmp<suffix>`); only the shard that owns `path` ever writes them."""
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}.*"):
            stale.unlink(missing_ok=True)
