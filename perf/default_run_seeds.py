"""The default run's judged figures across data and training seeds (the spread the README quotes).

    .venv/bin/python perf/default_run_seeds.py --seeds 0 1 2 [--workdir /tmp/seeds] [--cores 2]

For each seed k the whole default workflow runs in its own working directory with `seed: k` (a new
synthetic dataset, new backgrounds and frozen frames) and `training.seeds: [k]`, and the script prints
per variant the figures the issue's targets are about: vanilla IID / SCUFO / Contra, the `albar` run's
SCUFO / static max prob / Contra / IID, and vanilla's SCUBA on box_first minus truth.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from benchmark.workflow import run_workflow


def judged_figures(summary: pd.DataFrame) -> list[dict]:
    rows = []
    by = summary.set_index(["variant", "run"])
    box_leak = (
        by.loc[("box_first", "vanilla"), "scuba_avg"] - by.loc[("truth", "vanilla"), "scuba_avg"]
    )
    for variant in ("truth", "grabcut"):
        vanilla, albar = by.loc[(variant, "vanilla")], by.loc[(variant, "albar")]
        rows.append(
            {
                "variant": variant,
                "vanilla_iid": vanilla["iid"],
                "vanilla_scufo": vanilla["scufo_avg"],
                "vanilla_contra": vanilla["contra_avg"],
                "albar_iid": albar["iid"],
                "albar_scufo": albar["scufo_avg"],
                "albar_static_max_prob": albar["static_max_prob"],
                "albar_contra": albar["contra_avg"],
                "vanilla_scuba_box_minus_truth": box_leak,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/albar-default-seeds"))
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        workdir = args.workdir / f"seed{seed}"
        started = time.perf_counter()
        run_workflow(workdir, {"seed": seed, "training": {"seeds": [seed]}}, cores=args.cores)
        minutes = (time.perf_counter() - started) / 60
        summary = pd.read_csv(workdir / "results" / "synthetic" / "tables" / "summary.csv")
        for row in judged_figures(summary):
            rows.append({"seed": seed, "minutes": round(minutes, 1), **row})
        print(pd.DataFrame(rows).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print("\nspread over seeds (mean, min, max):")
    print(table.drop(columns=["seed"]).groupby("variant").agg(["mean", "min", "max"]).round(2).T)


if __name__ == "__main__":
    main()
