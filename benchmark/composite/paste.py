"""Paste kernels of the assembly: an actor's mask pixels over a still background stretched to the
frame (PIL BICUBIC, bit-exact with the StillMix construction), per frame, per clip or streamed in
chunks, and the choice of the SCUFO frame."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image

from benchmark.composite.errors import AssemblyError

CHUNK_FRAMES = 16  # frames per paste / streaming chunk (perf/README_assembly.md)


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


def paste_chunk(frames: np.ndarray, masks: np.ndarray, still: np.ndarray, out: np.ndarray) -> None:
    """`paste_clip` of one chunk into `out` (same shape as frames): the streaming stages' kernel."""
    frames, actor = _check_paste(frames, masks, still)
    _output_array(out, frames.shape, "output buffer")
    _paste_into(frames, actor, still, out)


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
