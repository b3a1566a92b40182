"""Every file the project encodes is byte-identical across runs, processes and CPUs.

x264 picks CPU-specific SIMD code at run time and some of it is not bit-exact with its C code, so an
unpinned encoder gives other bytes on another machine (and, with AVX-512, from run to run). These
tests hold the pinned settings of `benchmark.video` to that: many encodes in one process and across
processes give one file; the pinned output equals x264's pure C output at every SIMD level this CPU
has (so a CPU with fewer or more SIMD extensions gives the same bytes); and the default synthetic
dataset, rendered twice with different worker counts, is the same file for file.
"""

import hashlib
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from benchmark.video import MUXER_OPTIONS, X264_PARAMS, write_h264, write_video

# x264 SIMD levels, lowest first, with the numpy CPU features each needs.
SIMD_LEVELS = {
    "SSE2": ("SSE2",),
    "SSSE3": ("SSSE3",),
    "SSE4.2": ("SSE42",),
    "AVX": ("AVX",),
    "AVX2": ("AVX2", "FMA3"),
}


def moving_blocks(seed: int, height: int, width: int, frames: int) -> np.ndarray:
    """Textured blocks drifting across the frame with noise: content that makes x264's motion
    estimation, B-frames and macroblock-tree rate control all do real work."""
    rng = np.random.default_rng(seed)
    tile = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
    image = np.kron(tile, np.ones((8, 8, 1), np.uint8))
    clip = np.stack(
        [np.roll(np.roll(image, t * (seed + 1), axis=1), t // 2, axis=0) for t in range(frames)]
    )
    noise = rng.integers(-12, 12, clip.shape)
    return np.clip(clip.astype(int) + noise, 0, 255).astype(np.uint8)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def encode_with_params(
    path,
    frames: np.ndarray,
    x264_params: str | None,
    *,
    crf: int = 18,
    pix_fmt: str = "yuv420p",
    preset: str = "medium",
) -> str:
    """x264 as `write_h264` runs it, but with other x264-params (or x264's own defaults)."""
    with av.open(str(path), mode="w", options=MUXER_OPTIONS) as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.pix_fmt = pix_fmt
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        options = {"crf": str(crf), "preset": preset}
        if x264_params is not None:
            options["x264-params"] = x264_params
        stream.options = options
        stream.codec_context.thread_count = 1
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return sha256(path)


def available_simd_levels() -> list[str]:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return [level for level, needs in SIMD_LEVELS.items() if all(features.get(n) for n in needs)]


def test_same_frames_encode_to_one_file_many_times(tmp_path):
    clip = moving_blocks(0, 64, 96, 24)
    digests = set()
    for index in range(20):
        write_video(tmp_path / f"clip{index}.mp4", clip, fps=8)
        digests.add(sha256(tmp_path / f"clip{index}.mp4"))
    assert len(digests) == 1


def test_same_frames_encode_to_one_file_across_processes(tmp_path):
    script = (
        "import sys, hashlib, pathlib\n"
        "from tests.test_video_determinism import moving_blocks\n"
        "from benchmark.video import write_video\n"
        "path = pathlib.Path(sys.argv[1])\n"
        "write_video(path, moving_blocks(1, 96, 128, 30), fps=25)\n"
        "print(hashlib.sha256(path.read_bytes()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / f"p{index}.mp4")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for index in range(3)
    }
    write_video(tmp_path / "here.mp4", moving_blocks(1, 96, 128, 30), fps=25)
    assert digests == {sha256(tmp_path / "here.mp4")}


@pytest.mark.skipif(not X264_PARAMS.startswith("asm=SSE2"), reason="x86-64 only")
def test_pinned_encoder_equals_pure_c_at_every_simd_level(tmp_path):
    """What makes the bytes CPU-independent: whatever SIMD the encoder could use, the pinned settings
    give x264's pure C output, while its unpinned default does not on most such clips."""
    levels = available_simd_levels()
    assert "SSE2" in levels
    unpinned_differs = 0
    for seed, (height, width, frames) in enumerate([(64, 64, 16), (64, 64, 16), (120, 160, 30)]):
        clip = moving_blocks(seed + 2, height, width, frames)
        pure_c = encode_with_params(tmp_path / "c.mp4", clip, "asm=0:cpu-independent=1")
        write_h264(tmp_path / "ours.mp4", clip, 25)
        assert sha256(tmp_path / "ours.mp4") == pure_c
        for level in levels:
            pinned = encode_with_params(tmp_path / "l.mp4", clip, f"asm={level}:cpu-independent=1")
            assert pinned == pure_c, f"x264 at {level} differs from its C code on clip {seed}"
        unpinned_differs += encode_with_params(tmp_path / "u.mp4", clip, None) != pure_c
    if "AVX2" in levels:
        # On this kind of CPU the unpinned default picks non-exact code: the pinning matters.
        assert unpinned_differs >= 1


@pytest.mark.skipif(not X264_PARAMS.startswith("asm=SSE2"), reason="x86-64 only")
@pytest.mark.parametrize("preset", ["veryfast", "ultrafast"])
def test_item_presets_equal_pure_c_at_every_simd_level(tmp_path, preset):
    """mp4 items (`benchmark.mp4_preset`, crf 12, yuv444p) are CPU-independent at the faster presets
    too: the pinned output is x264's pure C output at every SIMD level this CPU has."""
    settings = {"crf": 12, "pix_fmt": "yuv444p", "preset": preset}
    clip = moving_blocks(5, 96, 128, 20)
    pure_c = encode_with_params(tmp_path / "c.mp4", clip, "asm=0:cpu-independent=1", **settings)
    write_h264(tmp_path / "ours.mp4", clip, 25, **settings)
    assert sha256(tmp_path / "ours.mp4") == pure_c
    for level in available_simd_levels():
        pinned = encode_with_params(
            tmp_path / "l.mp4", clip, f"asm={level}:cpu-independent=1", **settings
        )
        assert pinned == pure_c, f"x264 {preset} at {level} differs from its C code"


def test_lossless_and_444_encodes_are_reproducible(tmp_path):
    clip = moving_blocks(3, 48, 64, 12)
    for name in ("a", "b"):
        write_video(tmp_path / f"{name}.mkv", clip, fps=12)
        write_h264(tmp_path / f"{name}.mp4", clip, 12, crf=10, pix_fmt="yuv444p")
    assert sha256(tmp_path / "a.mkv") == sha256(tmp_path / "b.mkv")
    assert sha256(tmp_path / "a.mp4") == sha256(tmp_path / "b.mp4")


@pytest.mark.slow
def test_default_synthetic_dataset_renders_to_the_same_bytes(tmp_path, project_root):
    """The default dataset (600 videos, masks, tables), rendered twice with 1 and 2 worker
    processes, gives the same bytes file for file."""
    import yaml

    from benchmark.config import validate_config
    from benchmark.ingest import run_ingest

    default = yaml.safe_load((project_root / "config" / "default.yaml").read_text())
    config = validate_config({**default, "results": str(tmp_path / "results")})
    trees = {}
    for workers in (1, 2):
        run_ingest(config, threads=workers)
        root = tmp_path / f"run{workers}"
        (tmp_path / "results").rename(root)  # the same results path both times (it is in paths)
        trees[workers] = {
            str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()
        }
    assert len([name for name in trees[1] if name.endswith(".mp4")]) == 600
    assert trees[1] == trees[2]
