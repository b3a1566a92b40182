"""What reproducible H.264 costs, and why the pinned x264 settings give the same bytes on every CPU.

For a few synthetic-default-sized clips (64x64, 16 frames) and UCF101-sized ones (320x240, 75
frames), encodes each with x264's pure C code, at every SIMD level this CPU has (pinned, with
`cpu-independent=1`), with the project's settings (`benchmark.video.write_h264`) and with x264's
unpinned default; prints which equal the C output, then the time and size of the project's settings
against the unpinned default, interleaved (A B A B ...) so machine drift hits both alike.

    .venv/bin/python perf/video_determinism.py [--clips 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from benchmark.video import MUXER_OPTIONS, X264_PARAMS

SIMD_LEVELS = {
    "SSE2": ("SSE2",),
    "SSSE3": ("SSSE3",),
    "SSE4.2": ("SSE42",),
    "AVX": ("AVX",),
    "AVX2": ("AVX2", "FMA3"),
}
SIZES = {"synthetic 64x64x16": (64, 64, 16), "UCF101 320x240x75": (240, 320, 75)}


def moving_blocks(seed: int, height: int, width: int, frames: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tile = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    image = np.kron(tile, np.ones((8, 8, 1), np.uint8))
    clip = np.stack(
        [np.roll(np.roll(image, t * (seed + 1), axis=1), t // 2, axis=0) for t in range(frames)]
    )
    return np.clip(clip.astype(int) + rng.integers(-12, 12, clip.shape), 0, 255).astype(np.uint8)


def encode(path: Path, frames: np.ndarray, x264_params: str | None) -> tuple[str, int, float]:
    """(sha256, bytes, seconds) of one encode with the given x264-params (None: x264's default)."""
    started = time.perf_counter()
    with av.open(str(path), mode="w", options=MUXER_OPTIONS) as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.pix_fmt = "yuv420p"
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        options = {"crf": "18", "preset": "medium"}
        if x264_params is not None:
            options["x264-params"] = x264_params
        stream.options = options
        stream.codec_context.thread_count = 1
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    seconds = time.perf_counter() - started
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), len(data), seconds


def simd_levels() -> list[str]:
    from numpy._core._multiarray_umath import __cpu_features__ as features

    return [level for level, needs in SIMD_LEVELS.items() if all(features.get(n) for n in needs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    levels = simd_levels()
    print(f"project settings: x264-params {X264_PARAMS}; SIMD levels on this CPU: {levels}")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        for name, (height, width, frames) in SIZES.items():
            equal = {level: 0 for level in [*levels, "project", "unpinned"]}
            ours_s, default_s, ours_b, default_b = [], [], [], []
            for seed in range(args.clips):
                clip = moving_blocks(seed, height, width, frames)
                pure_c = encode(path, clip, "asm=0:cpu-independent=1")[0]
                for level in levels:
                    equal[level] += (
                        encode(path, clip, f"asm={level}:cpu-independent=1")[0] == pure_c
                    )
                for _ in range(args.repeats):
                    digest, size, seconds = encode(path, clip, X264_PARAMS)
                    equal["project"] += digest == pure_c
                    ours_s.append(seconds)
                    ours_b.append(size)
                    digest, size, seconds = encode(path, clip, None)
                    equal["unpinned"] += digest == pure_c
                    default_s.append(seconds)
                    default_b.append(size)
            ratio = statistics.median(o / d for o, d in zip(ours_s, default_s, strict=True))
            print(
                f"{name}: equal to pure C: "
                + ", ".join(
                    f"{k} {v}/{args.clips * (args.repeats if k in ('project', 'unpinned') else 1)}"
                    for k, v in equal.items()
                )
            )
            print(
                f"  time per clip: project {statistics.median(ours_s) * 1000:.1f} ms, unpinned "
                f"{statistics.median(default_s) * 1000:.1f} ms (median of pairwise ratios "
                f"{ratio:.2f}); size: project {statistics.mean(ours_b) / 1024:.1f} KiB, unpinned "
                f"{statistics.mean(default_b) / 1024:.1f} KiB"
            )


if __name__ == "__main__":
    main()
