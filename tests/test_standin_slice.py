"""The UCF101-24 stand-in's CI slice through every stage of config/ucf101_24_standin.yaml, by a real
Snakemake run: 20 test videos at their real geometry (the longest, 900 frames; 10 actors; tubes with
gaps; boxes at the borders; `select_slice`) -> ingest (rendered videos, true masks) -> box_first and
grabcut masks -> QC -> the review gallery -> the gate -> stripe, plasma, mosaic backgrounds ->
SCUBA / SCUFO / Confl-FG -> mmaction2 and ALBAR exports and their verification; a second run has
nothing to do. Needs the real UCF101-24 boxes at ../shared/data/ucf101-24/ and skips without them.

Its settings keep it affordable on 2 cores (the shipped config's are in the file): 1 background
version instead of 5, an ultrafast x264 preset for the rendered videos, GrabCut at work_size 48 with
fewer iterations, JPEG-zip items at quality 75. Everything else — the 20 videos' full lengths,
every actor, both variants, three sources — is as the full build meets it. Cost: about 12 CPU
minutes (2026-12-02: 47 min wall on a 2-core machine shared at load 10-20; perf/README_standin.md),
so it is marked slow.
"""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from benchmark.config import load_config
from benchmark.datasets.ucf101_24_standin import read_tubes, select_slice
from benchmark.masks import mask_path, read_actor_masks
from benchmark.workflow import run_workflow
from tests.conftest import PROJECT_ROOT, SHARED_DATA

BOXES = SHARED_DATA / "ucf101-24" / "pyannot.pkl"
TEST_LIST = SHARED_DATA / "ucf101-24" / "testlist01.txt"
CONFIG = PROJECT_ROOT / "config" / "ucf101_24_standin.yaml"
SLICE = 20
VERSIONS = 1


def slice_overrides() -> dict:
    return {
        "dataset": {
            "ucf101_24_standin": {
                "box_file": str(BOXES),
                "test_list": str(TEST_LIST),
                "slice": SLICE,
                "preset": "ultrafast",
            }
        },
        "n_shards": 2,
        "tracking": {"grabcut": {"work_size": 48, "iterations": 2, "propagate_iterations": 1}},
        "benchmark": {"versions": VERSIONS, "item_format": "jpeg_zip", "jpeg_quality": 75},
        "report": {"after_run": False},
    }


def test_the_shipped_config_is_the_real_data_pipeline_without_training():
    config = load_config(CONFIG)
    assert config["dataset"]["kind"] == "ucf101_24_standin"
    assert config["train_and_score"] is False
    assert config["benchmark"]["versions"] == 5
    assert config["benchmark"]["exports"] == {
        **config["benchmark"]["exports"],
        "mmaction2": True,
        "albar": True,
    }
    assert sorted(s["name"] for s in config["backgrounds"]["sources"]) == [
        "mosaic",
        "plasma",
        "stripe",
    ]
    assert config["masks"]["sources"] == ["box_first"] and config["tracking"]["trackers"] == [
        "grabcut"
    ]


def dry_run_output(workdir, configfiles) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
         "--configfile", *map(str, configfiles), "--directory", str(workdir), "--cores", "2", "-n"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.skipif(not BOXES.exists(), reason=f"{BOXES} not present (the real UCF101-24 boxes)")
def test_slice_runs_every_stage_and_a_second_run_is_a_no_op(tmp_path):
    overlay = tmp_path / "slice.yaml"
    overlay.write_text(json.dumps(slice_overrides()))  # JSON is YAML
    run_workflow(tmp_path, configfiles=[CONFIG, overlay], cores=2)
    results = tmp_path / "results" / "ucf101_24_standin"

    # Ingest: the slice's videos, at their real lengths, all in the test split.
    names = [line.strip() for line in TEST_LIST.read_text().splitlines() if line.strip()]
    tubes = read_tubes(BOXES, names)
    chosen = select_slice(list(tubes.values()), SLICE)
    manifest = pd.read_csv(results / "manifest.csv")
    assert sorted(manifest["source_name"]) == sorted(chosen)
    assert (manifest["split"] == "test").all()
    frames = dict(zip(manifest["source_name"], manifest["num_frames"], strict=True))
    assert frames == {name: tubes[name].num_frames for name in chosen}
    assert max(frames.values()) == 900

    # Masks: one file per video and source at the video's length; truth and grabcut hold every
    # actor of the video's tubes; box_first (the original protocol) one actor per boxed frame.
    for video_id, name in zip(manifest["video_id"], manifest["source_name"], strict=True):
        actors = set(np.unique(tubes[name].actor).tolist())
        boxed_frames = set(np.unique(tubes[name].frame).tolist())
        for source in ("truth", "box_first", "grabcut"):
            masks = read_actor_masks(mask_path(results / "masks", source, video_id))
            assert masks.num_frames == frames[name], (source, video_id)
            seen = {actor for frame in masks.frames for actor in frame}
            if source == "box_first":
                assert seen <= actors, video_id
                entries = {t for t, frame in enumerate(masks.frames) if frame}
                assert entries == boxed_frames, video_id
                assert all(len(frame) <= 1 for frame in masks.frames), video_id
            else:
                assert seen == actors, (source, video_id)
        truth = read_actor_masks(mask_path(results / "masks", "truth", video_id))
        boxed = {
            (int(t), int(a)) for t, a in zip(tubes[name].frame, tubes[name].actor, strict=True)
        }
        assert {(t, a) for t, frame in enumerate(truth.frames) for a in frame} == boxed
    for source in ("truth", "box_first", "grabcut"):
        qc = pd.read_csv(results / "masks" / source / "qc.csv")
        assert set(qc["video_id"]) == set(manifest["video_id"]), source

    # Review: a gallery card (sprite) per video, and every video through the gate.
    review = results / "review" / "grabcut"
    assert (review / "index.html").stat().st_size > 0
    sprites = sorted(p.stem for p in (review / "previews" / "grabcut").glob("*.webp"))
    assert sprites == sorted(manifest["video_id"])
    approved = pd.read_csv(results / "review" / "approved.csv")
    assert sorted(approved["video_id"]) == sorted(manifest["video_id"])

    # Items: every set holds one item per video and version (Confl-FG: one per video).
    for variant in ("grabcut", "box_first"):
        for protocol in ("scuba", "scufo"):
            for source in ("stripe", "plasma", "mosaic"):
                items = pd.read_csv(
                    results / "bench" / variant / f"{protocol}-{source}" / "items.csv"
                )
                assert len(items) == SLICE * VERSIONS, (variant, protocol, source)
        conflfg = pd.read_csv(results / "bench" / variant / "conflfg-stripe" / "items.csv")
        assert len(conflfg) == SLICE
        # Exports, verified item by item by the workflow's own verification.
        albar = json.loads((results / "exports" / "albar" / variant / "verify.json").read_text())
        assert albar["pairs"] == 3 * SLICE * VERSIONS and albar["conflfg"] == SLICE
        lists = sorted((results / "exports" / "mmaction2" / variant).glob("*.txt"))
        assert len(lists) == 7  # scuba, scufo x 3 sources + conflfg
        assert sum(len(p.read_text().splitlines()) for p in lists) == 6 * SLICE * VERSIONS + SLICE

    # A second run has nothing to do and rewrites nothing.
    stamps = {p: p.stat().st_mtime_ns for p in results.rglob("*.csv")}
    assert "Nothing to be done" in dry_run_output(tmp_path, [CONFIG, overlay])
    run_workflow(tmp_path, configfiles=[CONFIG, overlay], cores=2)
    assert {p: p.stat().st_mtime_ns for p in results.rglob("*.csv")} == stamps


def test_confl_fg_jobs_do_not_depend_on_every_mask_shard(tmp_path):
    """With n_shards shards and V variants, each Confl-FG job used to name every variant's every
    shard index (V x n_shards inputs per job; V^2 x n_shards^2 edges in all: a 256-shard DAG took
    minutes to build); it names each variant's QC skip list instead (the same dependency)."""
    overlay = tmp_path / "big.yaml"
    overlay.write_text(json.dumps({
        "dataset": {"ucf101_24_standin": {"box_file": str(tmp_path / "b.pkl"), "test_list": str(tmp_path / "t.txt")}},
        "n_shards": 64, "report": {"after_run": False},
    }))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
         "--configfile", str(CONFIG), str(overlay), "--directory", str(tmp_path), "--cores", "2",
         "-n", "--printshellcmds", "--dag"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    dot = done.stdout
    nodes = {}
    for line in dot.splitlines():
        line = line.strip()
        if "[label = " in line:
            nodes[line.split("[")[0].strip()] = line.split('label = "')[1].split("\\n")[0]
    edges = [line.strip().rstrip(";").split(" -> ") for line in dot.splitlines() if " -> " in line]
    conflfg = {node for node, rule in nodes.items() if rule == "composite_conflfg"}
    assert len(conflfg) == 2 * 64
    into = [a for a, b in edges if b in conflfg]
    # Per Confl-FG job: ingest, the gate, its backgrounds, the two variants' QC, its own shard's masks.
    assert len(into) <= 8 * len(conflfg)


def _dry_run_claims(tmp_path, default_threads: int):
    """The `--threads` of every job of the stand-in config's dry run (4 shards) on as many cores
    as `threads.default`, by command."""
    overlay = tmp_path / f"threads-{default_threads}.yaml"
    overlay.write_text(json.dumps({
        "dataset": {"ucf101_24_standin": {"box_file": str(tmp_path / "b.pkl"), "test_list": str(tmp_path / "t.txt")}},
        "n_shards": 4, "threads": {"default": default_threads}, "report": {"after_run": False},
    }))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(PROJECT_ROOT / "Snakefile"),
         "--configfile", str(CONFIG), str(overlay), "--directory", str(tmp_path),
         "--cores", str(default_threads), "-n", "--printshellcmds"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    commands = [line.strip() for line in done.stdout.splitlines() if "python -m benchmark." in line]

    def claims(module_and_command: str) -> list[str]:
        found = [c.split("--threads ")[1].split()[0] for c in commands if module_and_command in c]
        assert found, f"no {module_and_command!r} job in the dry run"
        return found

    return claims


def test_single_process_mask_jobs_claim_one_core(tmp_path):
    """The 910-video run showed `qc_masks` (one process per mask source, 150 s each) and
    `build_box_masks` claiming `threads.default` cores each while using one, so Snakemake ran them
    one at a time on 2 cores: QC took 444 s of wall for 430 s of CPU. They claim one core now; the
    jobs that do use several (ingest's renderers, the gallery's pool) keep `threads.default`."""
    claims = _dry_run_claims(tmp_path, 2)
    assert claims("benchmark.tracking boxes") == ["1"] * 4
    assert claims("benchmark.tracking qc") == ["1"] * 3  # box_first, grabcut, truth
    assert set(claims("benchmark.review build")) == {"2"}


def test_export_jobs_share_the_cores_side_by_side(tmp_path):
    """At 910 videos the exports were one single-threaded job per format and variant (4 jobs): on
    more than 4 cores they were the stage that did not scale. Each now runs its items on
    threads.default / 4 threads, so all four fill the machine together; on 2 cores they stay at
    one thread each (two jobs side by side beat one two-thread job: perf/export_threads.py)."""
    claims = _dry_run_claims(tmp_path, 16)
    for command in ("exports export --format mmaction2", "exports export --format albar",
                    "exports verify --format albar"):  # fmt: skip
        assert claims(f"benchmark.{command}") == ["4", "4"]  # box_first, grabcut
    (tmp_path / "two").mkdir()
    claims_2 = _dry_run_claims(tmp_path / "two", 2)
    assert claims_2("benchmark.exports export --format mmaction2") == ["1", "1"]
