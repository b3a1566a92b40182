"""The sam2 tracker under real Snakemake: the smoke config with `tracking.trackers: [sam2]` and the
tiny random SAM 2 through tracking, QC, the reviewer gallery and the benchmark items of one variant
(sam2); then a forced re-track writes the same bytes."""

from __future__ import annotations

import copy
import gzip
import json

import pandas as pd
import pytest

from benchmark.workflow import run_workflow
from tests.test_workflow_smoke import SMOKE_CONFIG

pytest.importorskip("sam2", reason="the optional sam2 extra is not installed (bash install.sh)")

from benchmark.tracking.sam2_models import save_tiny_sam2  # noqa: E402


@pytest.mark.slow
def test_smoke_config_with_sam2_through_qc_gallery_and_one_variant(tmp_path):
    sha = save_tiny_sam2(tmp_path / "tiny_sam2.pt", seed=0)
    config = copy.deepcopy(SMOKE_CONFIG)
    config["tracking"] = {
        "trackers": ["sam2"],
        "sam2": {"model": "tiny_test", "checkpoint": "tiny_sam2.pt", "device": "cpu"},
    }
    config["review"] = {"tracker": "sam2"}
    config["benchmark"]["variants"] = ["sam2"]
    results = tmp_path / "results" / "smoke"
    targets = [
        "results/smoke/masks/sam2/qc.csv",
        "results/smoke/review/sam2/index.html",
        "results/smoke/bench/skipped.csv",  # collect_benchmark_items: every item set of the variant
    ]
    run_workflow(tmp_path, config, targets=targets, cores=2)

    manifest = pd.read_csv(results / "manifest.csv")
    test_videos = sorted(manifest.loc[manifest["split"] == "test", "video_id"])
    qc = pd.read_csv(results / "masks" / "sam2" / "qc.csv").sort_values("video_id")
    assert qc["video_id"].tolist() == test_videos
    assert (qc["frames"] == 8).all()
    assert qc["iou_gt_mean"].between(0, 1).all() and qc["leak_gt"].between(0, 1).all()
    assert qc["mean_score"].isna().all()  # the video predictor gives no IoU estimate
    assert pd.read_csv(results / "masks" / "sam2" / "skipped.csv").empty
    index = pd.concat(
        pd.read_csv(results / "masks" / "sam2" / "shards" / f"shard-00{k}.csv") for k in (0, 1)
    ).sort_values("video_id")
    assert index["video_id"].tolist() == test_videos
    with gzip.open(results / "masks" / "sam2" / f"{test_videos[0]}.json.gz", "rt") as handle:
        stored = json.load(handle)
    assert stored["tracker"] == "sam2" and len(stored["frames"]) == 8
    assert stored["provenance"]["model"] == "tiny_test"
    assert stored["provenance"]["checkpoint_sha256"] == sha
    assert stored["provenance"]["sam2_prompts"]  # the box frames, as conditioning prompts
    assert any(entries for entries in stored["frames"])

    page = (results / "review" / "sam2" / "index.html").read_text()
    assert all(video_id in page for video_id in test_videos)
    items = sorted((results / "bench" / "sam2").glob("*/items.csv"))
    assert {path.parent.name.split("-")[0] for path in items} == {"scuba", "scufo", "conflfg"}
    for path in items:
        table = pd.read_csv(path)
        assert len(table) > 0, path
        assert set(table["video_id"]) <= set(test_videos)
        assert (table["variant"] == "sam2").all()

    # Same config, same bytes: re-tracking from scratch gives the same mask files.
    before = {p.name: p.read_bytes() for p in (results / "masks" / "sam2").glob("*.json.gz")}
    for path in (results / "masks" / "sam2").glob("*.json.gz"):
        path.unlink()
    for k in (0, 1):
        (results / "masks" / "sam2" / "shards" / f"shard-00{k}.csv").unlink()
    run_workflow(
        tmp_path,
        config,
        targets=[f"results/smoke/masks/sam2/shards/shard-00{k}.csv" for k in (0, 1)],
        cores=2,
    )
    after = {p.name: p.read_bytes() for p in (results / "masks" / "sam2").glob("*.json.gz")}
    assert after == before
