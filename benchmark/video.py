"""Video I/O for every stage: decode videos, frame folders and zips of JPEG frames; encode mp4 / lossless.

Frames are always `(T, H, W, 3)` uint8 RGB arrays. Decoding goes through PyAV (FFmpeg); frame folders
and zips through Pillow; JPEG encoding through OpenCV (`encode_jpeg`). Every reader raises `VideoReadError` naming the file, so a stage can report
or skip the video instead of dying with a codec traceback.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import platform
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from benchmark.atomic import atomic_path

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
LOSSLESS_SUFFIX = ".mkv"

# x264's output depends on the CPU by default: the SIMD functions it picks at run time include some
# that are not bit-exact with its C code (macroblock-tree propagation), and its AVX-512 paths read
# memory they did not initialise. `cpu-independent=1` swaps the non-exact functions for exact ones,
# and pinning the SIMD set to SSE2, which every x86-64 CPU has, runs the same instructions on every
# machine (never AVX-512). Measured with perf/video_determinism.py: identical bytes to x264's pure C
# code at every SIMD level this machine has (SSE2 ... AVX2), where the unpinned default differs on
# most clips. Elsewhere (no x86-64) the pure C path is used.
X264_PARAMS = (
    "asm=SSE2:cpu-independent=1"
    if platform.machine().lower() in ("x86_64", "amd64")
    else "asm=0:cpu-independent=1"
)


# OpenCV's chroma-subsampling flags for `encode_jpeg`.
JPEG_SAMPLING = {
    "4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
}


def encode_jpeg(frame: np.ndarray, *, quality: int, subsampling: str = "4:2:0") -> bytes:
    """One (H, W, 3) uint8 RGB frame as baseline JPEG bytes. OpenCV's encoder (libjpeg-turbo, accurate
    DCT) writes the same bytes as Pillow's at the same quality and subsampling
    (tests/test_video.py checks it) and was the fastest byte-identical encoder measured, 16% less CPU
    than Pillow at 4:4:4 (perf/jpeg_encoders.py, perf/README_standin.md)."""
    ok, data = cv2.imencode(
        ".jpg",
        cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR),
        [
            cv2.IMWRITE_JPEG_QUALITY,
            quality,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
            JPEG_SAMPLING[subsampling],
        ],
    )
    if not ok:
        raise ValueError(f"JPEG encoding failed for a frame of shape {frame.shape}")
    return data.tobytes()


class VideoReadError(RuntimeError):
    """A video could not be read; the message names the file and what went wrong."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int  # frames present: demuxed packets, or images of a folder / zip
    fps: float
    width: int
    height: int
    declared_frames: int = 0  # what the container's header / index says (0: it says nothing)


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS)


def _zip_members(archive: zipfile.ZipFile) -> list[str]:
    return sorted(n for n in archive.namelist() if Path(n).suffix.lower() in FRAME_EXTENSIONS)


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_video(path: str | os.PathLike, default_fps: float = 25.0) -> tuple[np.ndarray, float]:
    """Decode a whole video (file, frame folder or zip of frames) into `(T, H, W, 3)` uint8 and fps.

    Frame folders and zips carry no frame rate; `default_fps` is returned for them. Stages whose
    memory must not grow with a video's length use `open_video` instead.
    """
    with open_video(path, default_fps) as (fps, frames):
        return np.stack(list(frames)), fps


@contextlib.contextmanager
def open_video(
    path: str | os.PathLike, default_fps: float = 25.0
) -> Iterator[tuple[float, Iterator[np.ndarray]]]:
    """A video decoded one frame at a time: yields `(fps, frames)`, `frames` an iterator of
    (H, W, 3) uint8 RGB arrays with `read_video`'s pixels, so a reader holds one frame, not the
    video. A file, frame folder or zip of frames (`default_fps` for the last two). Every failure,
    at opening or at any frame (damaged data, a frame of another size, no frame at all), raises
    `VideoReadError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise VideoReadError(f"{path}: file not found")
    with contextlib.ExitStack() as stack:
        try:
            if path.is_dir():
                fps = default_fps
                frames = (_rgb(Image.open(f)) for f in _frame_files(path))
            elif path.suffix.lower() == ".zip":
                fps = default_fps
                archive = stack.enter_context(zipfile.ZipFile(path))
                frames = (
                    _rgb(Image.open(io.BytesIO(archive.read(n)))) for n in _zip_members(archive)
                )
            else:
                container = stack.enter_context(av.open(str(path)))
                if not container.streams.video:
                    raise VideoReadError(f"{path}: contains no video stream")
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                fps = float(stream.average_rate or stream.guessed_rate or default_fps)
                frames = (frame.to_ndarray(format="rgb24") for frame in container.decode(stream))
        except VideoReadError:
            raise
        except (av.FFmpegError, OSError, zipfile.BadZipFile, ValueError) as error:
            raise VideoReadError(
                f"{path}: cannot decode ({error}); re-encode or remove it"
            ) from error
        yield fps, _checked_frames(path, frames)


def _checked_frames(path: Path, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    shape = None
    try:
        for frame in frames:
            if shape is None:
                shape = frame.shape
            elif frame.shape != shape:
                raise VideoReadError(
                    f"{path}: frames have different sizes {sorted({shape, frame.shape})}"
                )
            yield frame
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise VideoReadError(f"{path}: cannot decode ({error}); re-encode or remove it") from error
    if shape is None:
        raise VideoReadError(f"{path}: no frames could be decoded (empty or zero-frame video)")


def read_frame(path: str | os.PathLike, t: int) -> tuple[np.ndarray, int]:
    """(frame t as `open_video` gives it, the video's frame count), decoding as little as the format
    allows: one image of a zip or folder; a video file's frames up to t (only frame t converted to
    RGB), then its packets counted (`video_info`)."""
    path = Path(path)
    if not path.exists():
        raise VideoReadError(f"{path}: file not found")
    try:
        if path.is_dir():
            files = _frame_files(path)
            if not 0 <= t < len(files):
                raise VideoReadError(f"{path}: has {len(files)} frames, no frame {t}")
            return _rgb(Image.open(files[t])), len(files)
        if path.suffix.lower() == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = _zip_members(archive)
                if not 0 <= t < len(names):
                    raise VideoReadError(f"{path}: has {len(names)} frames, no frame {t}")
                return _rgb(Image.open(io.BytesIO(archive.read(names[t])))), len(names)
        chosen = None
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: contains no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index == t:
                    chosen = frame.to_ndarray(format="rgb24")
                    break
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise VideoReadError(f"{path}: cannot decode ({error}); re-encode or remove it") from error
    count = video_info(path).num_frames
    if chosen is None:
        raise VideoReadError(f"{path}: has {count} frames, no frame {t}")
    return chosen, count


def video_pixels(path: str | os.PathLike) -> tuple[int, tuple[int, ...], str]:
    """(frames, (H, W, 3), `pixels_sha256` of every frame) of a decoded video, one frame in memory
    at a time: the identity of an item's content without holding the item."""
    digest = hashlib.sha256()
    count, shape = 0, ()
    with open_video(path) as (_, frames):
        for frame in frames:
            digest.update(np.ascontiguousarray(frame).tobytes())
            count, shape = count + 1, frame.shape
    return count, shape, digest.hexdigest()


def video_info(path: str | os.PathLike, default_fps: float = 25.0) -> VideoInfo:
    """Frame count, fps and size without decoding every frame (packets are counted, not decoded)."""
    path = Path(path)
    if not path.exists():
        raise VideoReadError(f"{path}: file not found")
    try:
        if path.is_dir() or path.suffix.lower() == ".zip":
            if path.is_dir():
                files = _frame_files(path)
                if not files:
                    raise VideoReadError(f"{path}: folder has no frame images")
                with Image.open(files[0]) as first:
                    width, height = first.size
                return VideoInfo(len(files), default_fps, width, height)
            with zipfile.ZipFile(path) as archive:
                names = _zip_members(archive)
                if not names:
                    raise VideoReadError(f"{path}: zip has no frame images")
                with Image.open(io.BytesIO(archive.read(names[0]))) as first:
                    width, height = first.size
            return VideoInfo(len(names), default_fps, width, height)
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: contains no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or default_fps)
            declared = int(stream.frames or 0)
            num_frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
            width, height = stream.codec_context.width, stream.codec_context.height
        if num_frames == 0:
            raise VideoReadError(f"{path}: zero frames")
        return VideoInfo(num_frames, fps, width, height, declared)
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise VideoReadError(f"{path}: cannot read metadata ({error})") from error


def decoded_frame_count(path: str | os.PathLike) -> int:
    """How many frames of a video file really decode (no pixel conversion, nothing kept).

    A file cut short whose index survives (an mp4 with its moov atom first, an avi header) still
    declares its full length; only decoding shows how much of it is there. Frames that fail to
    decode end the count, as they end every reader's video.
    """
    path = Path(path)
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: contains no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in container.decode(stream):
                count += 1
    except VideoReadError:
        raise
    except (av.FFmpegError, OSError, ValueError):
        pass  # damaged data past this point: what decoded so far is the count
    return count


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    if len(frames) == 0:
        raise ValueError("cannot write a video with zero frames")
    return frames


# Muxers write random ids (Matroska's SegmentUID) and version strings unless told to be bit-exact.
MUXER_OPTIONS = {"fflags": "+bitexact"}


def x264_options(crf: int, preset: str = "medium") -> dict[str, str]:
    """libx264 options for reproducible bytes: the same frames give the same file on every run,
    process and CPU (one encoder thread is set on the codec context by `write_h264`)."""
    return {"crf": str(crf), "preset": preset, "x264-params": X264_PARAMS}


class H264Writer:
    """An H.264 file written frame by frame, atomically: `with H264Writer(path, fps, ...) as w:
    w.add(frames)` (any number of times), renamed onto `path` when the block succeeds; `count` is
    the frames written. Several can be open at once, so one pass over a source feeds many items.

    One encoder thread and the pinned x264 settings above, so the bytes depend only on the frames
    and these arguments. Each frame is copied into the encoder when it is added, so a reused buffer
    is fine. yuv420p needs even sizes: odd ones are an error, not a crop. `preset` is x264's speed /
    size trade-off; the SIMD pinning above applies to every preset.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        *,
        crf: int = 18,
        pix_fmt: str = "yuv420p",
        preset: str = "medium",
    ) -> None:
        self.path, self.fps = Path(path), fps
        self.crf, self.pix_fmt, self.preset = crf, pix_fmt, preset
        self.count = 0
        self._stack = contextlib.ExitStack()
        self._container = self._stream = None

    def __enter__(self) -> H264Writer:
        return self

    def _open(self, height: int, width: int) -> None:
        if self.pix_fmt == "yuv420p" and (height % 2 or width % 2):
            raise ValueError(
                f"{self.path}: yuv420p H.264 needs even frame sizes, got {width}x{height}"
            )
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._container = self._stack.enter_context(
            av.open(str(tmp), mode="w", options=MUXER_OPTIONS)
        )
        stream = self._container.add_stream(
            "libx264", rate=Fraction(self.fps).limit_denominator(1001)
        )
        stream.pix_fmt = self.pix_fmt
        stream.options = x264_options(self.crf, self.preset)
        stream.width, stream.height = width, height
        stream.codec_context.thread_count = 1
        self._stream = stream

    def add(self, frames: Iterable[np.ndarray]) -> None:
        for array in frames:
            if self._stream is None:
                self._open(*np.asarray(array).shape[:2])
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.count += 1

    def __exit__(self, kind, error, traceback) -> bool:
        if kind is None:  # flush the encoder; a failure here discards the file like any other
            try:
                if self._stream is None:
                    raise ValueError(f"{self.path}: no frames to write")
                for packet in self._stream.encode():
                    self._container.mux(packet)
            except BaseException:
                if not self._stack.__exit__(*sys.exc_info()):
                    raise
                return False
        return self._stack.__exit__(kind, error, traceback)


def write_h264(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 18,
    pix_fmt: str = "yuv420p",
    preset: str = "medium",
) -> int:
    """Encode a stream of (H, W, 3) uint8 frames as H.264 atomically (`H264Writer`); returns the
    frame count. Each frame is encoded before the next is drawn, so a generator of reused buffers
    is fine."""
    with H264Writer(path, fps, crf=crf, pix_fmt=pix_fmt, preset=preset) as writer:
        writer.add(frames)
    return writer.count


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray,
    fps: float,
    *,
    crf: int = 18,
    lossless: bool | None = None,
) -> None:
    """Encode frames atomically: `.mp4` as H.264 (yuv420p, `crf`; see `write_h264`), `.mkv` as
    lossless FFV1 (RGB). Both give byte-identical files for the same frames on every run and CPU.

    H.264 with 4:2:0 chroma needs even sizes; odd sizes are an error rather than a silent crop.
    `lossless` defaults to True for `.mkv` paths.
    """
    frames = _check_frames(frames)
    path = Path(path)
    lossless = path.suffix.lower() == LOSSLESS_SUFFIX if lossless is None else lossless
    if not lossless:
        write_h264(path, frames, fps, crf=crf)
        return
    rate = Fraction(fps).limit_denominator(1001)
    height, width = frames.shape[1:3]
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", options=MUXER_OPTIONS) as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.pix_fmt = "bgr0"
        stream.width, stream.height = width, height
        stream.codec_context.thread_count = 1
        for array in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_frame_zip(path: str | os.PathLike, frames: np.ndarray, *, quality: int = 95) -> None:
    """Store frames as `img_00001.jpg`… in a zip (the layout the official ALBAR loader reads)."""
    frames = _check_frames(frames)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for index, array in enumerate(frames, start=1):
            info = zipfile.ZipInfo(f"img_{index:05d}.jpg", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, encode_jpeg(array, quality=quality))


def write_frame_folder(folder: str | os.PathLike, frames: np.ndarray, ext: str = ".png") -> None:
    """Write `00001<ext>`… into a folder (lossless with png)."""
    frames = _check_frames(frames)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, array in enumerate(frames, start=1):
        with atomic_path(folder / f"{index:05d}{ext}") as tmp:
            Image.fromarray(array).save(tmp)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write one RGB uint8 image atomically; the format follows the suffix (png is lossless)."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp)


def read_image(path: str | os.PathLike) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return _rgb(image)
    except OSError as error:
        raise VideoReadError(f"{path}: cannot read image ({error})") from error


def pixels_sha256(frames: np.ndarray) -> str:
    """sha256 of decoded pixels (C-contiguous uint8), the identity of an item's content."""
    return hashlib.sha256(np.ascontiguousarray(frames, dtype=np.uint8).tobytes()).hexdigest()
