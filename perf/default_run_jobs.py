"""Job time per rule of one finished workflow run, from the `benchmark:` files its rules write.

    .venv/bin/python perf/default_run_jobs.py [--root .] [--dataset synthetic]

Reads `logs/<dataset>/**/*.benchmark.tsv` and `benchmarks/<dataset>/**/*.tsv` (Snakemake's per-job
wall seconds, CPU seconds and peak resident memory) and prints one row per rule: jobs, job seconds
(sum of the jobs' wall times), CPU seconds and the largest peak RSS. Rules without a `benchmark:`
directive (ingest, masks, review, tables) are not listed; the run's wall time is Snakemake's own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def rule_of(path: Path, base: Path) -> str:
    """The rule of a benchmark file: its first folder under `base`, or its own name for a job of a
    rule without wildcards (`logs/<dataset>/<rule>.benchmark.tsv`)."""
    parts = path.relative_to(base).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".tsv").removesuffix(".benchmark")


def job_table(root: Path, dataset: str) -> pd.DataFrame:
    rows = []
    for base, pattern in (
        (root / "logs" / dataset, "*.benchmark.tsv"),
        (root / "benchmarks" / dataset, "*.tsv"),
    ):
        for path in sorted(base.rglob(pattern)):
            record = pd.read_csv(path, sep="\t").iloc[-1]
            rows.append(
                {
                    "rule": rule_of(path, base),
                    "job_s": float(record["s"]),
                    "cpu_s": float(record["cpu_time"]),
                    "max_rss_mb": float(record["max_rss"]),
                }
            )
    frame = pd.DataFrame(rows)
    return (
        frame.groupby("rule")
        .agg(
            jobs=("job_s", "size"),
            job_s=("job_s", "sum"),
            cpu_s=("cpu_s", "sum"),
            max_rss_mb=("max_rss_mb", "max"),
        )
        .sort_values("job_s", ascending=False)
        .round(1)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the workflow's folder")
    parser.add_argument("--dataset", default="synthetic")
    args = parser.parse_args()
    table = job_table(args.root, args.dataset)
    print(table.to_markdown())
    print(
        f"\n{int(table['jobs'].sum())} jobs with benchmark files: {table['job_s'].sum():.0f} job seconds, {table['cpu_s'].sum():.0f} CPU seconds"
    )


if __name__ == "__main__":
    main()
