"""Where a workflow run's time goes on SLURM: per rule, the jobs' queue wait and run time from sacct,
and, for rules with a `benchmark:` file, how much of the run time is the command itself (the rest is
the plugin's job step: two Snakemake start-ups per job, one in the batch script, one under srun).

    .venv/bin/python perf/slurm_jobs.py <workdir of the run>

Reads `sacct` (every job whose working directory is <workdir>) and <workdir>/benchmarks/ and
<workdir>/logs/ for the commands' own seconds. Prints one line per rule and a total.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd


def sacct_jobs(workdir: Path) -> pd.DataFrame:
    fields = "JobIDRaw,State,WorkDir,Comment,Submit,Start,End"
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-7days", "-o", fields],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    rows = []
    for line in out.splitlines():
        jobid, state, folder, comment, submit, start, end = line.split("|")
        if Path(folder) != workdir or "Unknown" in (start, end):
            continue
        when = {k: datetime.fromisoformat(v) for k, v in (("s", submit), ("b", start), ("e", end))}
        match = re.match(r"rule_(\w+?)(?:_wildcards_(.*))?$", comment)
        rows.append(
            {
                "jobid": int(jobid),
                "state": state,
                "rule": match.group(1) if match else comment,
                "wildcards": (match.group(2) or "") if match else "",
                "wait_s": (when["b"] - when["s"]).total_seconds(),
                "run_s": (when["e"] - when["b"]).total_seconds(),
                "submit": when["s"],
                "end": when["e"],
            }
        )
    return pd.DataFrame(rows)


def command_seconds(workdir: Path) -> dict[str, float]:
    """Rule -> summed `s` of its benchmark files (the shell command alone)."""
    totals: dict[str, float] = {}
    for path in list((workdir / "benchmarks").rglob("*.tsv")) + list(
        (workdir / "logs").rglob("*.benchmark.tsv")
    ):
        # benchmarks/<dataset>/<rule>/....tsv, benchmarks/<dataset>/<rule>.tsv or
        # logs/<dataset>/<rule>/<job>.benchmark.tsv
        parts = path.relative_to(workdir).parts
        rule = parts[2] if len(parts) > 3 else path.stem
        totals[rule] = totals.get(rule, 0.0) + float(pd.read_csv(path, sep="\t")["s"].sum())
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path, help="the run's working directory (snakemake -d)")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    jobs = sacct_jobs(workdir)
    if jobs.empty:
        print(f"no SLURM jobs ran in {workdir}", file=sys.stderr)
        return 1
    commands = command_seconds(workdir)
    table = jobs.groupby("rule").agg(
        jobs=("jobid", "size"), wait_s=("wait_s", "mean"), run_s=("run_s", "mean"),
        run_total_s=("run_s", "sum"),
    )  # fmt: skip
    table["command_total_s"] = [commands.get(rule, float("nan")) for rule in table.index]
    print(table.round(1).to_string())
    span = (jobs["end"].max() - jobs["submit"].min()).total_seconds()
    print(
        f"\n{len(jobs)} jobs ({', '.join(f'{n} {s}' for s, n in jobs['state'].value_counts().items())}); "
        f"job run time {jobs['run_s'].sum():.0f} s in all, mean {jobs['run_s'].mean():.1f} s; "
        f"mean queue wait {jobs['wait_s'].mean():.1f} s; first submission to last end {span:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
