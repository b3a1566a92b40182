"""Compositing speed: the vectorised SCUBA path against the original per-frame loop, same run.

1. Compositing alone (decode and encode outside the timer) on a 64x240x320 clip (UCF101 frame size):
   `benchmark.composite.paste.composite_clip` vs a reference loop written the way StillMix's script works
   (per frame: PIL-resize the background, float multiply, uint8 cast). Pixels must be identical.
   The memory bound is the bytes the composite must move (read frames + masks, write the output)
   divided by the memcpy bandwidth measured in the same run.
2. The stage split for one SCUBA item: decode the source video / composite / encode (zip of JPEG and
   mp4) / decode the item again (for its sha256), in ms per item.

Run: `.venv/bin/python perf/composite_speed.py [--threads 1]`; prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmark.composite.item_files import ItemFormat
from benchmark.composite.paste import (
    CHUNK_FRAMES,
    composite_chunks,
    composite_clip,
    paste_chunks,
    paste_clip,
    resize_background,
)
from benchmark.runtime import set_threads
from benchmark.video import read_video, write_video


def reference_loop(frames: np.ndarray, masks: np.ndarray, background: np.ndarray) -> np.ndarray:
    """StillMix's per-frame construction (replacebackground_with_box_for_UCF101_test.py)."""
    out = np.empty_like(frames)
    for t in range(len(frames)):
        frame = frames[t].astype("float")
        mask = np.expand_dims(masks[t].astype(float), axis=-1)
        shape = (frame.shape[1], frame.shape[0])
        resized = np.array(Image.fromarray(background).resize(shape)).astype("float")
        out[t] = (frame * mask + resized * (1 - mask)).astype("uint8")
    return out


def copy_then_still(frames: np.ndarray, masks: np.ndarray, still: np.ndarray, out: np.ndarray):
    """The earlier paste: copy the whole clip, then the still over the background pixels."""
    import cv2

    background = np.logical_not(masks).view(np.uint8)
    np.copyto(out, frames)
    for t in range(len(frames)):
        cv2.copyTo(still, background[t], out[t])
    return out


def best_of_interleaved(functions: dict, rounds: int, flush=None) -> dict[str, float]:
    """Best time of each function, timing them in turn once per round.

    `flush` (untimed) runs before every timed call: a large read that evicts the caches, so each
    candidate starts from main memory as the memory bound assumes.
    """
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(rounds):
        for name, function in functions.items():
            if flush is not None:
                flush()
            started = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def consume(chunks) -> None:
    """Draw every chunk of a stream (the item writer would encode each one here, untimed)."""
    for _ in chunks:
        pass


def best_of(function, repeats: int) -> float:
    return best_of_interleaved({"only": function}, repeats)["only"]


class MainMemory:
    """A 256 MB array: reading it evicts the caches (read-only, so no dirty lines are left for the
    timed call to write back); copying it measures the memcpy bandwidth."""

    def __init__(self) -> None:
        self.array = np.ones(256 * 2**20, dtype=np.uint8)
        self.target = np.empty_like(self.array)

    def evict_caches(self) -> None:
        np.count_nonzero(self.array)

    def copy_s(self, repeats: int) -> float:
        """Best time of one 256 MB copy."""
        return best_of(lambda: np.copyto(self.target, self.array), repeats)

    def bandwidth(self, copy_s: float) -> float:
        """Bytes read + written per second by a copy that took `copy_s`."""
        return 2 * self.array.nbytes / copy_s


def test_clip(frames: int = 64, height: int = 240, width: int = 320, seed: int = 0):
    """A textured clip with a moving elliptical actor mask (about 15% of the frame)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = (128 + 60 * np.sin(xx / 7.0)[..., None] * np.cos(yy / 11.0)[..., None]).astype(np.uint8)
    clip = np.clip(base[None] + rng.integers(-20, 20, (frames, height, width, 3)), 0, 255).astype(
        np.uint8
    )
    masks = np.stack(
        [((yy - 130) / 80.0) ** 2 + ((xx - 100 - 2 * t) / 45.0) ** 2 < 1 for t in range(frames)]
    )
    background = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    return clip, masks, background


def measure_composite(repeats: int, frames: int = 64) -> dict:
    clip, masks, background = test_clip(frames)
    vectorised = composite_clip(clip, masks, background)
    reference = reference_loop(clip, masks, background)
    identical = bool(np.array_equal(vectorised, reference))
    reference_s = best_of(lambda: reference_loop(clip, masks, background), max(2, repeats // 3))
    still = resize_background(background, clip.shape[2], clip.shape[1])
    # Steady state of the stage: the items of one video reuse one output buffer (no page faults).
    buffer = np.empty_like(clip)
    chunk_buffer = np.empty((CHUNK_FRAMES, *clip.shape[1:]), np.uint8)
    streamed = np.concatenate(
        [c.copy() for c in composite_chunks(clip, masks, background, buffer=chunk_buffer)]
    )
    identical = identical and bool(np.array_equal(streamed, vectorised))
    identical = identical and bool(
        np.array_equal(copy_then_still(clip, masks, still, buffer), vectorised)
    )
    # The machine is a shared VM whose speed drifts by up to 2x over seconds: every candidate is
    # timed once per round, round after round, and each keeps its best time.
    memory = MainMemory()
    times = best_of_interleaved(
        {
            "resize": lambda: resize_background(background, clip.shape[2], clip.shape[1]),
            "paste_reused": lambda: paste_clip(clip, masks, still, buffer),
            # The stage's path: chunks streamed to the item writer through one chunk buffer.
            "streamed": lambda: consume(
                composite_chunks(clip, masks, background, buffer=chunk_buffer)
            ),
            "paste_streamed": lambda: consume(
                paste_chunks(clip, masks, still, buffer=chunk_buffer)
            ),
            "reused": lambda: composite_clip(clip, masks, background, buffer),
            "copy_then_still": lambda: copy_then_still(clip, masks, still, buffer),
            "paste_per_frame": lambda: paste_clip(clip, masks, still, buffer, chunk=1),
            "clip_copy": lambda: np.copyto(buffer, clip),
            "vectorised": lambda: composite_clip(clip, masks, background),
            "paste": lambda: paste_clip(clip, masks, still),
        },
        repeats,
        flush=memory.evict_caches,
    )
    # memcpy bandwidth: a 256 MB copy, read + write (its own best over the same number of calls)
    times["memcpy"] = memory.copy_s(repeats)
    vectorised_s, resize_s, paste_s = times["vectorised"], times["resize"], times["paste"]
    reused_s, paste_reused_s = times["reused"], times["paste_reused"]
    copy_then_still_s = times["copy_then_still"]
    numpy_where_s = best_of(
        lambda: np.where(masks[..., None], clip, vectorised[0]), max(2, repeats // 3)
    )
    bandwidth = memory.bandwidth(times["memcpy"])
    moved = clip.nbytes + masks.nbytes + vectorised.nbytes  # read frames + masks, write output
    bound_s = moved / bandwidth
    return {
        "clip": list(clip.shape),
        "identical_pixels": identical,
        "reference_loop_ms": round(reference_s * 1e3, 2),
        "vectorised_ms": round(vectorised_s * 1e3, 2),
        "of_which_resize_ms": round(resize_s * 1e3, 2),
        "paste_only_ms": round(paste_s * 1e3, 2),
        "numpy_where_ms": round(numpy_where_s * 1e3, 2),
        "speedup": round(reference_s / vectorised_s, 1),
        "memcpy_GBps": round(bandwidth / 1e9, 2),
        "bytes_moved_MB": round(moved / 1e6, 2),
        "memory_bound_ms": round(bound_s * 1e3, 2),
        "vs_memory_bound": round(vectorised_s / bound_s, 2),
        "paste_only_vs_memory_bound": round(paste_s / bound_s, 2),
        "vectorised_reused_buffer_ms": round(reused_s * 1e3, 2),
        "paste_reused_buffer_ms": round(paste_reused_s * 1e3, 2),
        "reused_vs_memory_bound": round(reused_s / bound_s, 2),
        "paste_reused_vs_memory_bound": round(paste_reused_s / bound_s, 2),
        "speedup_reused_buffer": round(reference_s / reused_s, 1),
        "copy_then_still_ms": round(copy_then_still_s * 1e3, 2),
        "copy_then_still_vs_memory_bound": round(copy_then_still_s / bound_s, 2),
        "streamed_ms": round(times["streamed"] * 1e3, 2),
        "streamed_vs_memory_bound": round(times["streamed"] / bound_s, 2),
        "speedup_streamed": round(reference_s / times["streamed"], 1),
        "paste_streamed_ms": round(times["paste_streamed"] * 1e3, 2),
        "paste_streamed_vs_memory_bound": round(times["paste_streamed"] / bound_s, 2),
        "paste_per_frame_ms": round(times["paste_per_frame"] * 1e3, 2),
        "paste_per_frame_vs_memory_bound": round(times["paste_per_frame"] / bound_s, 2),
        "clip_copy_ms": round(times["clip_copy"] * 1e3, 2),
        "clip_copy_vs_memory_bound": round(times["clip_copy"] / bound_s, 2),
    }


def ucf101_24_item_lengths(folder: Path) -> np.ndarray:
    """SCUBA item lengths of the UCF101-24 split-1 test videos under the default span rule (first
    to last annotated frame, inclusive, within the video), from `pyannot.pkl` + `testlist01.txt`."""
    import pandas as pd

    from benchmark.datasets.ucf101 import read_pyannot, read_split_list

    names = read_split_list(folder / "testlist01.txt", with_labels=False)
    boxes = read_pyannot(folder / "pyannot.pkl", {name: name for name in names})
    frames = pd.Series(boxes.frame).groupby(boxes.video_id)
    first, last = frames.min(), frames.max()
    last = np.minimum(last, [boxes.num_frames[name] - 1 for name in last.index])
    return (last - first + 1).to_numpy()


def measure_item_lengths(lengths: np.ndarray, repeats: int) -> dict:
    """The stage's streamed composite (resize + paste) over a real distribution of item lengths.

    Times the composite at the length deciles of `lengths` (one 320x240 clip, sliced), interpolates
    each item's time linearly in its length, and reports total time / total memory bound over all
    items - what the whole stage spends against what the bytes it moves allow - beside the
    per-length ratios. Every timed call starts cache-cold (as in measure_composite).
    """
    grid = np.unique(np.quantile(lengths, np.linspace(0, 1, 11)).round().astype(int))
    clip, masks, background = test_clip(int(grid.max()))
    chunk_buffer = np.empty((CHUNK_FRAMES, *clip.shape[1:]), np.uint8)
    memory = MainMemory()
    candidates = {
        int(t): lambda t=t: consume(
            composite_chunks(clip[:t], masks[:t], background, buffer=chunk_buffer)
        )
        for t in grid
    }
    times = best_of_interleaved(candidates, repeats, flush=memory.evict_caches)
    bandwidth = memory.bandwidth(memory.copy_s(repeats))
    frame_bytes = clip[0].nbytes * 2 + masks[0].nbytes  # read frame + mask, write output
    bound = {t: t * frame_bytes / bandwidth for t in times}
    item_times = np.interp(lengths, list(times), list(times.values()))
    item_bounds = lengths * frame_bytes / bandwidth
    return {
        "items": len(lengths),
        "length_mean": round(float(lengths.mean()), 1),
        "length_median": float(np.median(lengths)),
        "length_min_max": [int(lengths.min()), int(lengths.max())],
        "memcpy_GBps": round(bandwidth / 1e9, 2),
        "per_length": {
            t: {"ms": round(times[t] * 1e3, 2), "vs_memory_bound": round(times[t] / bound[t], 2)}
            for t in times
        },
        "total_s": round(float(item_times.sum()), 3),
        "total_memory_bound_s": round(float(item_bounds.sum()), 3),
        "total_vs_memory_bound": round(float(item_times.sum() / item_bounds.sum()), 2),
        "share_of_items_within_2x": round(float(np.mean(item_times <= 2 * item_bounds)), 3),
    }


def measure_stage(repeats: int) -> dict:
    """ms per SCUBA item for each step, on a 64x240x320 clip stored as the source H.264 video."""
    clip, masks, background = test_clip()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "source.mp4"
        write_video(source, clip, 25.0, crf=18)
        decoded, _ = read_video(source)
        split = {"decode_source_ms": best_of(lambda: read_video(source), repeats) * 1e3}
        split["composite_ms"] = (
            best_of(lambda: composite_clip(decoded, masks, background), repeats) * 1e3
        )
        item = composite_clip(decoded, masks, background)
        for kind in ("jpeg_zip", "mp4"):
            fmt = ItemFormat(kind, 12, 95, "4:4:4", "yuv444p")
            target = Path(tmp) / f"item{fmt.suffix}"
            split[f"encode_{kind}_ms"] = (
                best_of(lambda f=fmt, p=target: f.write(p, item, 25.0), repeats) * 1e3
            )
            split[f"decode_{kind}_ms"] = best_of(lambda p=target: read_video(p), repeats) * 1e3
    return {key: round(value, 2) for key, value in split.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=41)
    parser.add_argument(
        "--frames", type=int, default=64, help="clip length of the composite timing"
    )
    parser.add_argument(
        "--ucf101-24",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "data" / "ucf101-24",
        help="folder with pyannot.pkl + testlist01.txt: also time the composite over the real "
        "UCF101-24 test item lengths (skipped when absent)",
    )
    args = parser.parse_args()
    set_threads(args.threads)
    report = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "threads": args.threads,
        "composite": measure_composite(args.repeats, args.frames),
        "stage_split_per_item": measure_stage(max(2, args.repeats // 6)),
    }
    if (args.ucf101_24 / "pyannot.pkl").is_file():
        lengths = ucf101_24_item_lengths(args.ucf101_24)
        report["ucf101_24_test_items"] = measure_item_lengths(lengths, args.repeats)
    else:
        report["ucf101_24_test_items"] = f"skipped: no pyannot.pkl in {args.ucf101_24}"
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
