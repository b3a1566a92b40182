"""The UCF101-24 stand-in build, stage by stage: wall time, CPU time, peak resident memory per job,
bytes on disk and file counts per stage and per item.

    .venv/bin/python perf/standin_build.py --box-file PYANNOT --test-list TESTLIST \
        [--slice 45] [--cores 2] [--n-shards 16] [--workdir DIR] [--csv perf/standin_build.csv] \
        [--last-stage build_review_gallery] [--versions 1 --sources 1]

Runs the real workflow (`config/ucf101_24_standin.yaml`, rule all without training) in `--workdir`
through Snakemake's command line, one stage at a time (`--until <rule>` in pipeline order, so each
stage's wall is its own, with `--cores` jobs in parallel inside it). While a stage runs, the resident
memory of every process under Snakemake is sampled every 0.2 s: `peak_job_rss_mb` is the largest
single job process seen (a job = one `python -m benchmark...` process and its children), and
`max_rss_mb` from the rules' `benchmark:` files is reported where a rule has one. CPU seconds are
the children's user + system time of the stage (less sensitive to a shared machine than wall).
`--slice N` renders only N test videos (the CI slice's rule, `select_slice`); `--slice 0` is the
whole 910-video test set. Prints a table and writes it as CSV; the per-item figures divide a
stage's bytes by its items (videos for per-video stages, shard-table rows for item sets).
`--versions V --sources S` build V background versions from the first S background sources of the
config instead of its 5 x 3: every video through every stage at 1 / (5 * 3) of the SCUBA items,
for a whole-video-volume run on a machine without the disk or the hours for every item. The CSV is
rewritten after every stage, so an interrupted run keeps the stages it finished.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import yaml

PROJECT = Path(__file__).resolve().parent.parent
CONFIG = PROJECT / "config" / "ucf101_24_standin.yaml"
# Pipeline order; each stage is run with `--until` its rule, so earlier stages are done already.
STAGES = [
    ("ingest_dataset", ["videos", "masks/truth"]),
    ("build_box_masks", ["masks/box_first"]),
    ("track_actors", ["masks/grabcut"]),
    ("qc_masks", []),
    ("build_review_gallery", ["review/grabcut"]),
    ("gate_review", []),
    ("render_backgrounds", ["backgrounds"]),
    ("composite_scuba", ["bench/*/scuba-*", "bench/*/shards/scuba"]),
    ("composite_scufo", ["bench/*/scufo-*", "bench/*/shards/scufo"]),
    ("composite_conflfg", ["bench/*/conflfg-*", "bench/*/shards/conflfg"]),
    ("collect_benchmark_items", []),
    ("export_mmaction2", ["exports/mmaction2"]),
    ("export_albar", ["exports/albar"]),
    ("verify_albar_export", []),
]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "cpu"


def disk_usage(results: Path, patterns: list[str]) -> tuple[int, int]:
    """(bytes, files) of everything under the stage's output folders."""
    seen: set[Path] = set()
    for pattern in patterns:
        for folder in results.glob(pattern):
            seen.update(p for p in folder.rglob("*") if p.is_file())
            if folder.is_file():
                seen.add(folder)
    return sum(p.stat().st_size for p in seen), len(seen)


class RssSampler:
    """The largest resident set of any one job process under `pid`, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                children = self.root.children(recursive=True)
            except psutil.Error:
                break
            for child in children:
                try:
                    if "python" in child.name():
                        self.peak = max(self.peak, child.memory_info().rss)
                except psutil.Error:
                    continue
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def snakemake_command(workdir: Path, overlay: Path, cores: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(PROJECT / "Snakefile"),
        "--configfile",
        str(CONFIG),
        str(overlay),
        "--cores",
        str(cores),
        "--directory",
        str(workdir),
        *extra,
    ]


def write_overlay(workdir: Path, args: argparse.Namespace) -> Path:
    overlay = {
        "dataset": {
            "ucf101_24_standin": {
                "box_file": str(Path(args.box_file).resolve()),
                "test_list": str(Path(args.test_list).resolve()),
                "slice": args.slice,
            }
        },
        "n_shards": args.n_shards,
        "threads": {"default": args.cores},
        "report": {"after_run": False},
    }
    if args.versions:
        overlay["benchmark"] = {"versions": args.versions}
    if args.sources:
        sources = yaml.safe_load(CONFIG.read_text())["backgrounds"]["sources"]
        overlay["backgrounds"] = {"sources": sources[: args.sources]}
    path = workdir / "standin_overlay.yaml"
    path.write_text(yaml.safe_dump(overlay, sort_keys=True))
    return path


def rule_benchmarks(workdir: Path, dataset: str, rule: str) -> float | None:
    """The largest max_rss (MB) of the rule's Snakemake benchmark files, where it has them."""
    folder = workdir / "benchmarks" / dataset
    files = list((folder / rule).rglob("*.tsv")) + list(folder.glob(f"{rule}.tsv"))
    if not files:
        return None
    return max(float(pd.read_csv(f, sep="\t")["max_rss"].max()) for f in files)


def item_count(results: Path, stage: str) -> int:
    """Items a stage made: videos for per-video stages, shard-table rows for the item sets."""
    manifest = pd.read_csv(results / "manifest.csv")
    protocol = {"composite_scuba": "scuba", "composite_scufo": "scufo"}.get(stage)
    if stage == "composite_conflfg":
        protocol = "conflfg"
    if protocol is None:
        return int((manifest["split"] == "test").sum())
    # The shard tables: items.csv is written later, by collect_benchmark_items.
    tables = results.glob(f"bench/*/shards/{protocol}/shard-*.csv")
    return sum(len(pd.read_csv(p)) for p in tables if not p.name.endswith(".skipped.csv"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--box-file", required=True, help="UCF101-24 pyannot.pkl")
    parser.add_argument("--test-list", required=True, help="UCF101-24 testlist01.txt")
    parser.add_argument("--slice", type=int, default=45, help="test videos (0 = all 910)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--n-shards", type=int, default=16)
    parser.add_argument("--workdir", default="perf_standin_build")
    parser.add_argument("--csv", default="perf/standin_build.csv")
    parser.add_argument(
        "--last-stage",
        choices=[rule for rule, _ in STAGES],
        default=STAGES[-1][0],
        help="stop after this stage (e.g. build_review_gallery: the per-video stages only)",
    )
    parser.add_argument("--versions", type=int, help="background versions (default: the config's)")
    parser.add_argument(
        "--sources", type=int, help="use the config's first N background sources (default: all)"
    )
    args = parser.parse_args()
    last = [rule for rule, _ in STAGES].index(args.last_stage)
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    overlay = write_overlay(workdir, args)
    dataset = yaml.safe_load(CONFIG.read_text())["dataset"]["name"]
    results = workdir / "results" / dataset
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "OMP_NUM_THREADS": "1"}
    rows = []
    total_started = time.perf_counter()
    for rule, outputs in STAGES[: last + 1]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        command = snakemake_command(workdir, overlay, args.cores, "--until", rule, "--quiet")
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        with RssSampler(process.pid) as sampler:
            log, _ = process.communicate()
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if process.returncode != 0:
            sys.exit(f"stage {rule} failed:\n{log.decode(errors='replace')[-3000:]}")
        size, files = disk_usage(results, outputs)
        items = item_count(results, rule)
        rows.append(
            {
                "stage": rule,
                "wall_s": round(wall, 1),
                "cpu_s": round(
                    (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1
                ),
                "peak_job_rss_mb": round(sampler.peak / 2**20, 1),
                "benchmark_max_rss_mb": rule_benchmarks(workdir, dataset, rule),
                "bytes": size,
                "files": files,
                "items": items,
                "bytes_per_item": round(size / items) if items and size else 0,
            }
        )
        print(f"{rule}: {rows[-1]}", flush=True)
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.csv, index=False)
    total = time.perf_counter() - total_started
    table = pd.DataFrame(rows)
    manifest = pd.read_csv(results / "manifest.csv")
    table.attrs = {}
    footer = {
        "stage": "TOTAL",
        "wall_s": round(total, 1),
        "cpu_s": round(table["cpu_s"].sum(), 1),
        "peak_job_rss_mb": table["peak_job_rss_mb"].max(),
        "benchmark_max_rss_mb": table["benchmark_max_rss_mb"].max(),
        "bytes": int(table["bytes"].sum()),
        "files": int(table["files"].sum()),
        "items": int((manifest["split"] == "test").sum()),
        "bytes_per_item": 0,
    }
    table = pd.concat([table, pd.DataFrame([footer])], ignore_index=True)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.csv, index=False)
    frames = int(manifest["num_frames"].sum())
    print(table.to_string(index=False))
    print(
        f"{len(manifest)} test videos, {frames} frames; cores {args.cores}, n_shards "
        f"{args.n_shards}; {cpu_name()}, {os.cpu_count()} CPUs; "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; csv: {args.csv}"
    )


if __name__ == "__main__":
    main()
