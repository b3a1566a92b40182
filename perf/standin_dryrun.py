"""`snakemake -n` at full scale: the DAG's build time and its jobs per rule (shards, not items).

    .venv/bin/python perf/standin_dryrun.py [--box-file PYANNOT --test-list TESTLIST] [--runs 3]
        [--kinetics-videos 10000] [--kinetics-shards 256] [--csv perf/standin_dryrun.csv]

Two workflows, each dry-run `--runs` times in a fresh folder (the first run pays Python's cold
imports too; all runs are reported):

- `standin`: config/ucf101_24_standin.yaml as shipped (910 test videos, 16 shards, 2 variants,
  3 background sources, 5 versions, both exports), with the box file and test list given here;
- `kinetics`: a fabricated Kinetics-400-validation-sized dataset through the generic adapter
  (`--kinetics-videos` test videos of 400 classes, one box each, files that exist but are empty),
  1 version, `--kinetics-shards` shards, training off; its manifest.csv and boxes.parquet are
  written first (as after ingest), so anything that reads them while the DAG is built is counted.

Prints and writes per workflow: wall seconds per dry run, the dry run's CPU seconds (user + system
of the snakemake process: less affected by other load on a shared machine than wall time), the
1-minute load average before the run, and the job count of every rule.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

PROJECT = Path(__file__).resolve().parent.parent
JOB_LINE = re.compile(r"^(\w+)\s+(\d+)$")


def dry_run(workdir: Path, configfiles: list[Path]) -> tuple[float, float, dict[str, int], str]:
    """(wall seconds, CPU seconds, jobs per rule, output) of one `snakemake -n` in `workdir`."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(PROJECT / "Snakefile"),
        "--configfile",
        *map(str, configfiles),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "-n",
        "--quiet",
        "rules",
    ]
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        # A missing input lists every shard file: show the lines that say why, not the list.
        reasons = [line for line in output.splitlines() if "shard-" not in line]
        sys.exit(f"dry run failed in {workdir}:\n" + "\n".join(reasons)[-3000:])
    counts: dict[str, int] = collections.OrderedDict()
    for line in output.splitlines():
        match = JOB_LINE.match(line.strip())
        if match and match.group(1) not in counts:
            counts[match.group(1)] = int(match.group(2))
    return seconds, cpu_seconds, counts, output


def standin_layout(root: Path, box_file: str, test_list: str) -> list[Path]:
    overlay = root / "overlay.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "dataset": {
                    "ucf101_24_standin": {
                        "box_file": str(Path(box_file).resolve()),
                        "test_list": str(Path(test_list).resolve()),
                    }
                },
                "report": {"after_run": False},
            }
        )
    )
    return [PROJECT / "config" / "ucf101_24_standin.yaml", overlay]


def kinetics_layout(root: Path, videos: int, shards: int) -> list[Path]:
    """A generic dataset of `videos` test videos in 400 classes, with its ingest outputs."""
    from benchmark.manifest import write_boxes, write_manifest

    video_root = root / "data" / "kinetics400_val"
    video_root.mkdir(parents=True)
    names = [f"k400_val_{k:05d}.mp4" for k in range(videos)]
    for name in names:
        (video_root / name).write_bytes(b"")
    classes = [f"class_{c:03d}" for c in range(400)]
    labels = pd.DataFrame(
        {"video": names, "label_name": [classes[k % 400] for k in range(videos)], "split": "test"}
    )
    labels.to_csv(root / "labels.csv", index=False)
    boxes = pd.DataFrame(
        {"video": names, "frame": 0, "actor": 0, "x1": 10.0, "y1": 10.0, "x2": 100.0, "y2": 100.0}
    )
    boxes.to_csv(root / "boxes.csv", index=False)
    config = {
        "dataset": {
            "name": "k400val",
            "kind": "generic",
            "generic": {
                "video_root": str(video_root),
                "labels_csv": str(root / "labels.csv"),
                "boxes_csv": str(root / "boxes.csv"),
                "classes": classes,
            },
        },
        "n_shards": shards,
        "train_and_score": False,
        "masks": {"sources": ["box_first"]},
        "tracking": {"trackers": ["grabcut"]},
        "review": {"gallery": {"compare": ["box_first"]}},
        "benchmark": {"variants": ["grabcut", "box_first"], "versions": 1},
        "report": {"after_run": False},
    }
    path = root / "kinetics.yaml"
    path.write_text(yaml.safe_dump(config))
    # The ingest outputs, as after a real ingest (Kinetics: 10 s clips at 25 fps, 340x256).
    results = root / "results" / "k400val"
    manifest = pd.DataFrame(
        {
            "video_id": [n.removesuffix(".mp4") for n in names],
            "source_name": names,
            "path": [str(video_root / n) for n in names],
            "label": [k % 400 for k in range(videos)],
            "label_name": labels["label_name"],
            "split": "test",
            "num_frames": 250,
            "fps": 25.0,
            "width": 340,
            "height": 256,
        }
    )
    written = write_manifest(results / "manifest.csv", manifest)
    write_boxes(
        results / "boxes.parquet",
        boxes.assign(video_id=written["video_id"]).drop(columns="video"),
        "generic",
    )
    return [path]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--box-file", default="")
    parser.add_argument("--test-list", default="")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinetics-videos", type=int, default=10_000)
    parser.add_argument("--kinetics-shards", type=int, default=256)
    parser.add_argument("--csv", default="perf/standin_dryrun.csv")
    args = parser.parse_args()
    rows = []
    workflows = ["kinetics"] + (["standin"] if args.box_file else [])
    for name in workflows:
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                if name == "standin":
                    configs = standin_layout(root, args.box_file, args.test_list)
                else:
                    configs = kinetics_layout(root, args.kinetics_videos, args.kinetics_shards)
                load = os.getloadavg()[0]
                seconds, cpu_seconds, counts, _ = dry_run(root, configs)
            rows.append(
                {
                    "workflow": name,
                    "run": run,
                    "seconds": round(seconds, 2),
                    "cpu_seconds": round(cpu_seconds, 2),
                    "load": round(load, 1),
                    **counts,
                }
            )
            print(
                f"{name} run {run}: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU, "
                f"load {load:.1f}, {counts.get('total')} jobs",
                flush=True,
            )
    table = pd.DataFrame(rows).fillna(0)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    print(table.set_index(["workflow", "run"]).T.to_string())
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
