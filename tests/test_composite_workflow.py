"""Rebuilds through real Snakemake and real processes: identical items.csv whatever the shard count
and cores, and a SIGKILL in the middle of a shard leaves no partial item."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.composite.collect import collect_items
from benchmark.composite.protocols import run_scuba_shard
from benchmark.config import results_dir
from benchmark.layout import ItemSet, ResultsLayout
from benchmark.video import read_video
from tests.test_composite_assembly import build_backgrounds, build_inputs, run_assembly

PROJECT = Path(__file__).resolve().parent.parent
SNAKEFILE = """
include: "{root}/pipeline/rules/common.smk"
include: "{root}/pipeline/rules/inputs.smk"
include: "{root}/pipeline/rules/ingest.smk"
include: "{root}/pipeline/rules/assembly.smk"


rule all:
    default_target: True
    input:
        ALL_TARGETS,
"""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_rebuild_with_other_shards_and_cores_gives_identical_items(tmp_path):
    stripe_only = [{"name": "stripe", "kind": "stripe"}]  # fewer jobs: each pays a process start
    reference = build_inputs(tmp_path / "a", n_shards=3, sources=stripe_only)
    reference["benchmark"]["variants"] = ["truth"]
    build_backgrounds(reference)
    run_assembly(reference, threads=2)
    collect_items(reference)

    # Same config, one shard, built by Snakemake in fresh processes with 2 cores.
    rebuilt = build_inputs(tmp_path / "b", n_shards=1, sources=stripe_only)
    # This workflow has no masks stage: Confl-FG's jobs wait on each variant's QC skip list, so
    # write it as QC does when it skips nothing.
    skipped = ResultsLayout(results_dir(rebuilt)).mask_skipped("truth")
    skipped.parent.mkdir(parents=True, exist_ok=True)
    skipped.write_text("video_id,mask_source,stage,reason\n")
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(SNAKEFILE.format(root=PROJECT))
    overrides = {
        "results": rebuilt["results"],
        "n_shards": 1,
        "dataset": rebuilt["dataset"],
        "threads": {"composite": 1},
        "backgrounds": {"sources": stripe_only},
        "benchmark": {
            "variants": ["truth"],
            "versions": 2,
            "exports": {"mmaction2": False, "albar": False},
        },
    }
    (workdir / "config.yaml").write_text(json.dumps(overrides))
    targets = [
        str(ItemSet(protocol, "truth", "stripe").items_path(results_dir(rebuilt)))
        for protocol in ("scuba", "scufo", "conflfg")
    ]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            "Snakefile",
            "--configfile",
            "config.yaml",
            "--cores",
            "2",
            *targets,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for target in targets:
        relative = Path(target).relative_to(results_dir(rebuilt))
        assert _sha(Path(target)) == _sha(results_dir(reference) / relative), relative


@pytest.mark.slow
def test_sigkill_mid_shard_leaves_no_partial_item_and_rerun_completes(tmp_path):
    config = build_inputs(tmp_path, n_shards=1, versions=8)
    config["benchmark"]["variants"] = ["truth"]
    build_backgrounds(config)
    results = results_dir(config)
    items_dir = results / "bench" / "truth" / "scuba-stripe" / "items"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmark.composite",
            "scuba",
            "--variant",
            "truth",
            "--shard",
            "shard-000",
            "--config-json",
            json.dumps(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if (
            items_dir.is_dir()
            and len([p for p in items_dir.iterdir() if not p.name.startswith(".")]) >= 3
        ):
            break
        time.sleep(0.002)
    assert process.poll() is None, "the shard finished before it could be killed; make it bigger"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    shard_table = results / "bench" / "truth" / "shards" / "scuba" / "shard-000.csv"
    assert not shard_table.exists()
    finals = [p for p in items_dir.parent.parent.rglob("*.zip") if not p.name.startswith(".")]
    assert finals
    for item in finals:  # every file under a final name is complete
        frames, _ = read_video(item)
        assert len(frames) == 8

    table = run_scuba_shard(config, "truth", "shard-000")
    assert len(table) == 6 * 8 * 3 and shard_table.exists()
    leftovers = [p for p in (results / "bench").rglob(".*") if p.is_file()]
    assert leftovers == []
