"""Job time per rule of finished workflow runs, from Snakemake's own log and the rules' benchmark files.

    .venv/bin/python perf/default_run_jobs.py --root <clone> [--log run.log] [--dataset synthetic]
    .venv/bin/python perf/default_run_jobs.py --root <after> --before <before>   # one table, both runs

Every job's wall time comes from the Snakemake log of the run (`--log`, relative to each root: the
captured output of `snakemake --cores N`): the time stamp before `rule X:` / `localrule X:` to the one
before `Finished jobid: N`. So rules without a `benchmark:` directive (ingest, masks, review,
tables, the report) are counted too; the log's stamps are whole seconds. Peak resident memory is
the largest `max_rss` of the rule's benchmark files, where it has some. CPU seconds are left out:
Snakemake's benchmark samples a job's CPU time every 30 s after its first 30 s, so on jobs of
30–90 s it misses up to half of it (the "wall ≈ 2× CPU" of earlier prediction rows).
The run's wall time is the first job's start to the last job's end.
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def log_jobs(log: Path) -> pd.DataFrame:
    """One row per finished job of a Snakemake log: rule, jobid, start, end (datetimes)."""
    stamp, pending, starts, rows = None, None, {}, []
    for line in log.read_text().splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(" ".join(match.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif match := START.match(line):
            pending = (match.group(1), stamp)
        elif (match := JOBID.match(line)) and pending is not None:
            starts[int(match.group(1))] = pending
            pending = None
        elif match := FINISHED.match(line):
            jobid, rule = int(match.group(1)), match.group(2)
            start_rule, start = starts.pop(jobid)
            rows.append({"rule": rule, "jobid": jobid, "start": start, "end": stamp})
            assert start_rule == rule, (jobid, start_rule, rule)
    return pd.DataFrame(rows)


def peak_rss(root: Path, dataset: str) -> dict[str, float]:
    """The largest max_rss (MB) of each rule's benchmark files."""
    peaks: dict[str, float] = {}
    for base, pattern in (
        (root / "logs" / dataset, "*.benchmark.tsv"),
        (root / "benchmarks" / dataset, "*.tsv"),
    ):
        for path in sorted(base.rglob(pattern)):
            parts = path.relative_to(base).parts
            rule = parts[0] if len(parts) > 1 else parts[0].split(".")[0]
            rss = float(pd.read_csv(path, sep="\t").iloc[-1]["max_rss"])
            peaks[rule] = max(peaks.get(rule, 0.0), rss)
    return peaks


def job_table(root: Path, log: str, dataset: str) -> tuple[pd.DataFrame, float]:
    """Per rule: jobs, job seconds (sum of wall times), largest job, peak RSS; and the run's wall."""
    jobs = log_jobs(root / log)
    jobs["job_s"] = (jobs["end"] - jobs["start"]).dt.total_seconds()
    wall = (jobs["end"].max() - jobs["start"].min()).total_seconds()
    table = jobs.groupby("rule").agg(
        jobs=("job_s", "size"), job_s=("job_s", "sum"), longest_s=("job_s", "max")
    )
    table["max_rss_mb"] = pd.Series(peak_rss(root, dataset))
    # the train/predict rules of a seed group carry their seeds in the name: one row for all groups
    table.index = [re.sub(r"_seeds(_\d+)+$", "_seeds", name) for name in table.index]
    table = table.groupby(level=0).agg(
        {"jobs": "sum", "job_s": "sum", "longest_s": "max", "max_rss_mb": "max"}
    )
    return table.sort_values("job_s", ascending=False), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the workflow's folder")
    parser.add_argument("--before", type=Path, help="a second run's folder, shown as 'before'")
    parser.add_argument("--log", default="run.log", help="Snakemake's output, relative to a root")
    parser.add_argument("--dataset", default="synthetic")
    args = parser.parse_args()
    after, after_wall = job_table(args.root, args.log, args.dataset)
    if args.before is None:
        print(after.round(1).to_markdown())
        print(
            f"\n{int(after['jobs'].sum())} jobs, {after['job_s'].sum():.0f} job seconds, ", end=""
        )
        print(f"wall {after_wall:.0f} s")
        return
    before, before_wall = job_table(args.before, args.log, args.dataset)
    both = pd.concat(
        {"before": before[["jobs", "job_s"]], "after": after[["jobs", "job_s"]]}, axis=1
    ).fillna(0)
    both.columns = [f"{when} {what}" for when, what in both.columns]
    both["change_s"] = both["after job_s"] - both["before job_s"]
    both = both.sort_values("before job_s", ascending=False)
    totals = both.sum()
    both.loc["total"] = totals
    print(both.round(0).astype(int).to_markdown())
    print(f"\nwall: before {before_wall:.0f} s, after {after_wall:.0f} s")


if __name__ == "__main__":
    main()
