"""Dry-run DAG time for a UCF101-24-sized build (910 test videos x 5 versions x 3 sources).

Fabricates what ingest would write for UCF101-24's split-1 test set (manifest.csv with 910 test
videos of 24 classes at 320x240, boxes.parquet, ingest/skipped.csv) in a temp folder, then times
`snakemake -n` on the workflow with a real-data-like config: variants box_first / grabcut / sam,
5 versions, sources stripe + places365 folder + vqgan folder, `--shards` shards. No rule reads data
when the DAG is built (shards are known from the config), so the time measures Snakemake itself.

By default the project's Snakefile is used when it includes assembly.smk; otherwise (while the
lead has not wired it yet) a scratch Snakefile including every pipeline/rules/*.smk that exists, in
stage order. Run: `.venv/bin/python perf/composite_dag.py [--shards 64]`; prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parent.parent
STAGE_ORDER = ["ingest", "masks", "review", "assembly", "training", "train", "predict", "evaluate"]


def fabricate(results: Path, videos: int = 910, classes: int = 24) -> None:
    from benchmark.manifest import write_boxes, write_manifest, write_skipped

    rng = np.random.default_rng(0)
    ids = [f"v_Class{v % classes:02d}_g{v // classes:02d}_c01" for v in range(videos)]
    frames = rng.integers(60, 400, videos)
    manifest = pd.DataFrame(
        {
            "video_id": ids,
            "source_name": [f"Class{v % classes:02d}/{i}" for v, i in enumerate(ids)],
            "path": [f"/data/ucf101/{i}.avi" for i in ids],
            "label": [v % classes for v in range(videos)],
            "label_name": [f"Class{v % classes:02d}" for v in range(videos)],
            "split": "test",
            "num_frames": frames,
            "fps": 25.0,
            "width": 320,
            "height": 240,
        }
    )
    write_manifest(results / "manifest.csv", manifest)
    boxes = pd.DataFrame(
        [
            (i, f, 0, 100.0, 60.0, 180.0, 220.0)
            for i, n in zip(ids, frames, strict=True)
            for f in range(0, n, 10)
        ],
        columns=["video_id", "frame", "actor", "x1", "y1", "x2", "y2"],
    )
    write_boxes(results / "boxes.parquet", boxes, "fabricated")
    write_skipped(results / "ingest" / "skipped.csv", [])


def snakefile_for(work: Path, requested: str | None, only: list[str] | None = None) -> Path:
    project = PROJECT / "Snakefile"
    if requested:
        return Path(requested)
    if "assembly.smk" in project.read_text():
        return project
    rules = PROJECT / "pipeline" / "rules"
    stages = [s for s in only or STAGE_ORDER if (rules / f"{s}.smk").exists()]
    lines = [f'include: "{rules / "common.smk"}"', f'include: "{rules / "inputs.smk"}"'] + [
        f'include: "{rules / s}.smk"' for s in stages
    ]
    lines += [
        "",
        "",
        "rule all:",
        "    default_target: True",
        "    input:",
        "        ALL_TARGETS,",
        "",
    ]
    scratch = work / "Snakefile"
    scratch.write_text("\n".join(lines))
    return scratch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=64)
    parser.add_argument("--snakefile", default=None)
    parser.add_argument(
        "--stages", default=None, help="comma list of .smk stages for the scratch Snakefile"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = {
            "results": str(work / "results"),
            "n_shards": args.shards,
            "dataset": {"name": "ucf101_24_fabricated", "kind": "ucf101"},
            "backgrounds": {
                "sources": [
                    {"name": "stripe", "kind": "stripe"},
                    {"name": "places365", "kind": "folder", "path": str(work / "places365")},
                    {"name": "vqgan", "kind": "folder", "path": str(work / "vqgan")},
                ]
            },
            "benchmark": {"variants": ["box_first", "grabcut", "sam"], "versions": 5},
            "tracking": {"trackers": ["grabcut", "sam"]},
            # default.yaml compares with `truth`, which UCF101 does not have
            "review": {"gallery": {"compare": ["box_first"]}},
        }
        fabricate(work / "results" / config["dataset"]["name"])
        (work / "config.yaml").write_text(json.dumps(config))
        snakefile = snakefile_for(
            work, args.snakefile, args.stages.split(",") if args.stages else None
        )
        command = [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(snakefile),
            "--configfile",
            str(work / "config.yaml"),
            "--directory",
            str(work),
            "-n",
            "--cores",
            "2",
            "--quiet",
            "rules",
        ]
        started = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True, cwd=work)
        seconds = time.perf_counter() - started
        report = {
            "snakefile": str(
                snakefile
                if snakefile.parent != work
                else "scratch: "
                + ", ".join(
                    line.split("/")[-1].rstrip('"')
                    for line in snakefile.read_text().splitlines()
                    if line.startswith("include")
                )
            ),
            "videos": 910,
            "versions": 5,
            "sources": 3,
            "variants": 3,
            "shards": args.shards,
            "returncode": run.returncode,
            "dry_run_s": round(seconds, 2),
            "jobs_by_rule": run.stdout.strip()[-2000:],
        }
        if run.returncode != 0:
            report["stderr"] = run.stderr[-3000:]
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
