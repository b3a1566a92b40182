"""Memory of the per-video stages (tracking included) does not grow with a video's length beyond one chunk of frames.

The same tiny dataset is built twice, with 16-frame and with 128-frame videos (8x longer), and each
stage's peak of traced Python / NumPy memory (`tracemalloc`: every NumPy array is traced) is
measured on both. A stage that held a whole video or a decoded item would grow by most of one long
video's frames (128 x 64 x 64 x 3 = 1.6 MB; its (T, H, W) masks are a third of that); streaming stages
grow by less than half of it (what does grow: per-frame mask RLEs and zip directory entries). FFmpeg's and x264's own buffers are not traced: they depend on the
frame size and the encoder settings, not on the length.
"""

import copy
import gc
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from benchmark import exports
from benchmark.composite.collect import collect_items
from benchmark.composite.protocols import run_conflfg_shard, run_scuba_shard, run_scufo_shard
from benchmark.config import results_dir
from benchmark.ids import shard_name
from benchmark.manifest import clip_boxes, read_boxes, read_manifest
from benchmark.review.gallery import GallerySettings, build_gallery
from benchmark.tracking.qc import run_qc
from benchmark.tracking.run import track_shard
from tests.test_composite_assembly import build_backgrounds, build_inputs

SIZE = 64
SHORT, LONG = 16, 128
ONE_LONG_VIDEO = LONG * SIZE * SIZE * 3


def traced_peak(work) -> int:
    gc.collect()  # garbage left by earlier work (other tests in this process) is not this stage's
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def stage_peaks(root, frames: int, item_format: str) -> dict[str, int]:
    config = build_inputs(
        root, n_shards=1, versions=1, frames=frames, size=SIZE, item_format=item_format
    )
    build_backgrounds(config)
    shard = shard_name(0)
    windowed = copy.deepcopy(config)
    windowed["tracking"]["grabcut"]["cleanup"].update(
        temporal_window=5, largest_component=True, fill_holes=True
    )
    peaks = {
        "track_grabcut": traced_peak(lambda: track_shard(config, "grabcut", shard)),
        "track_grabcut_window_5": traced_peak(lambda: track_shard(windowed, "grabcut", shard)),
        "scuba": traced_peak(lambda: run_scuba_shard(config, "box_first", shard)),
        "scufo": traced_peak(lambda: run_scufo_shard(config, "box_first", shard)),
        "conflfg": traced_peak(lambda: run_conflfg_shard(config, "box_first", shard)),
    }
    for variant in ("truth",):  # collect needs every variant of the config
        run_scuba_shard(config, variant, shard)
        run_scufo_shard(config, variant, shard)
        run_conflfg_shard(config, variant, shard)
    collect_items(config)
    peaks["export_mmaction2"] = traced_peak(
        lambda: exports.export(config, "box_first", "mmaction2")
    )
    peaks["export_albar"] = traced_peak(lambda: exports.export(config, "box_first", "albar"))
    peaks["verify_albar"] = traced_peak(lambda: exports.verify(config, "box_first", "albar"))
    results = results_dir(config)
    manifest = read_manifest(results / "manifest.csv")
    boxes, _ = clip_boxes(read_boxes(results / "boxes.parquet", manifest), manifest)
    run_qc(results, "truth", 1, boxes, config["masks"]["qc"])
    peaks["qc"] = traced_peak(lambda: run_qc(results, "box_first", 1, boxes, config["masks"]["qc"]))
    peaks["gallery"] = traced_peak(
        lambda: build_gallery(
            results,
            dataset="tiny",
            tracker="box_first",
            settings=GallerySettings.from_config(config["review"]["gallery"]),
            decisions_csv=root / "decisions.csv",
            splits=["test"],
        )
    )
    return peaks


def stage_peaks_in_a_new_process(root, frames: int) -> dict[str, int]:
    """`stage_peaks` in a fresh interpreter: the same imports and nothing left by other tests."""
    script = (
        "import json, sys, pathlib\n"
        "from tests.test_streaming_memory import stage_peaks\n"
        "print(json.dumps(stage_peaks(pathlib.Path(sys.argv[1]), int(sys.argv[2]), 'mp4')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(root), str(frames)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_stage_memory_does_not_grow_with_video_length(tmp_path):
    """mp4 items: every stage decodes H.264 (the zip path differs only in its writer). Each length
    runs in its own process, so first imports count alike and other tests' state not at all."""
    long = stage_peaks_in_a_new_process(tmp_path / "long", LONG)
    short = stage_peaks_in_a_new_process(tmp_path / "short", SHORT)
    growth = {stage: long[stage] - short[stage] for stage in short}
    print({stage: (short[stage], long[stage]) for stage in short})
    assert all(value < ONE_LONG_VIDEO / 2 for value in growth.values()), growth
