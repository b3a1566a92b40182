"""The default run's judged figures across data and training seeds (the spread the README quotes).

    .venv/bin/python perf/default_run_seeds.py --seeds 0 1 2 [--workdir /tmp/seeds] [--cores 2]
    .venv/bin/python perf/default_run_seeds.py --seeds 0 1 2 3 4 --runs vanilla albar \
        --overlay '{"dataset": {"synthetic": {"motion_scale": 0.6}}}' --workdir /tmp/ms06
    .venv/bin/python perf/default_run_seeds.py --from-csv docs/experiments/data/default_run_seeds.csv

For each seed k the whole default workflow runs in its own working directory with `seed: k` (a new
synthetic dataset, new backgrounds and frozen frames) and the default's training seeds (three for
vanilla and albar), and the script prints per variant, on the mean over the training seeds (the
summary table's figures), the figures the issue's targets are about: vanilla IID / SCUFO / Contra, the `albar` run's
SCUFO / static max prob / Contra / IID, and vanilla's SCUBA on box_first minus truth, then how many
seeds meet each of the issue's targets and the spread (mean, min, max, and the 95% Student-t interval
of the mean over seeds, also of ALBAR's paired margins over vanilla). A seed whose working directory
already holds a finished run costs nothing (Snakemake finds it up to date); `--from-csv` summarises
per-seed CSVs written earlier with `--out` without running anything; `--all-runs-out` collects every
run's summary row of every seed (all eight runs, not only the judged two); `--training-seeds 0 1 2`
trains every run of each data seed with those training seeds and reports each training seed on its
own (which part of the spread is the dataset's and which the training seed's).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.config import deep_merge, load_config
from benchmark.workflow import run_workflow

PROJECT = Path(__file__).resolve().parent.parent


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


def per_training_seed(scores: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """The summary table's judged columns for each training seed on its own, from the tables'
    scores_per_seed.csv (the summary itself holds the mean over training seeds)."""
    averages = scores[scores["bg_source"].isna()]
    tables = {}
    for training_seed, group in averages.groupby("seed"):
        iid = group[group["metric"] == "iid"].set_index("run")["value"]
        table = group[group["variant"].notna()].pivot_table(
            index=["variant", "run"], columns="metric", values="value"
        )
        table = table.reset_index()
        table["iid"] = table["run"].map(iid)
        tables[training_seed] = table
    return tables


def targets_met(row: dict, classes: int = 5) -> dict[str, bool]:
    """The default-run issue's targets, one flag each (K classes, chance = 100 / K)."""
    chance = 100.0 / classes
    return {
        "vanilla IID >= 85": row["vanilla_iid"] >= 85,
        "vanilla SCUFO >= 1.5 x chance": row["vanilla_scufo"] >= 1.5 * chance,
        "vanilla Contra <= 30": row["vanilla_contra"] <= 30,
        "albar SCUFO <= chance + 5": row["albar_scufo"] <= chance + 5,
        "albar static max p <= 2/K": row["albar_static_max_prob"] <= 2 / classes,
        "albar Contra >= vanilla + 20": row["albar_contra"] >= row["vanilla_contra"] + 20,
        "albar IID >= vanilla - 10": row["albar_iid"] >= row["vanilla_iid"] - 10,
        "leak: box_first SCUBA >= truth + 10": row["vanilla_scuba_box_minus_truth"] >= 10,
    }


def mean_interval(values: pd.Series, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean over seeds: where the expected figure of a new seed's run lies,
    so a target whose threshold falls inside it is met or missed by the luck of the seed."""
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


def report(table: pd.DataFrame) -> None:
    """Seeds meeting each target, and per judged figure (with the two paired margins ALBAR's targets
    are about) the mean, min, max and the 95% interval of the mean over seeds, per variant."""
    seeds = int((table["variant"] == "truth").sum())
    print(f"\ntargets met (runs passing / {seeds} seed pairs run):")
    flags = pd.DataFrame(
        [{"variant": row["variant"], **targets_met(row)} for row in table.to_dict("records")]
    )
    print(flags.groupby("variant").sum().T.astype(str) + f" / {seeds}")
    figures = table.drop(columns=["seed", "training_seed", "minutes"], errors="ignore").assign(
        albar_contra_minus_vanilla=table["albar_contra"] - table["vanilla_contra"],
        albar_iid_minus_vanilla=table["albar_iid"] - table["vanilla_iid"],
    )
    rows = []
    for variant, group in figures.groupby("variant"):
        for figure in group.columns.drop("variant"):
            low, high = mean_interval(group[figure])
            rows.append(
                {
                    "variant": variant,
                    "figure": figure,
                    "mean": group[figure].mean(),
                    "min": group[figure].min(),
                    "max": group[figure].max(),
                    "ci_lo": low,
                    "ci_hi": high,
                }
            )
    print("\nspread over seeds (mean, min, max, 95% t-interval of the mean):")
    print(pd.DataFrame(rows).round(2).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/albar-default-seeds"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the per-seed figures to this CSV")
    parser.add_argument(
        "--overlay",
        type=json.loads,
        default={},
        help='config overlay (JSON) for an experiment, e.g. \'{"dataset": {"synthetic": '
        '{"motion_scale": 0.6}}}\'',
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        help="train only these runs of the default list (vanilla and albar are needed)",
    )
    parser.add_argument(
        "--from-csv",
        type=Path,
        nargs="+",
        help="run nothing: summarise per-seed CSVs written earlier with --out (e.g. two batches of seeds)",
    )
    parser.add_argument(
        "--training-seeds",
        type=int,
        nargs="+",
        help="train each data seed's runs with these training seeds (default: the default's) "
        "and report every training seed on its own, to tell the dataset's share of the spread from the "
        "training seed's",
    )
    parser.add_argument(
        "--all-runs-out",
        type=Path,
        help="also write every run's summary row of every seed (the seeds' tables/summary.csv, with "
        "a seed column) to this CSV and print each run's mean and std over seeds on `truth`",
    )
    args = parser.parse_args()
    if args.from_csv:
        table = pd.concat([pd.read_csv(path) for path in args.from_csv], ignore_index=True)
    else:
        table = run_seeds(args)
        if args.out:
            table.to_csv(args.out, index=False)
    report(table)
    if args.all_runs_out:
        report_all_runs(args.workdir, args.seeds, args.all_runs_out)


def tables_dir(workdir: Path, seed: int) -> Path:
    return workdir / f"seed{seed}" / "results" / "synthetic" / "tables"


def run_seeds(args: argparse.Namespace) -> pd.DataFrame:
    """The default workflow once per data seed, in its own working directory; the judged figures
    of each data seed (and, with --training-seeds, of each training seed on its own)."""
    overlay = dict(args.overlay)
    if args.runs:
        default_runs = load_config(PROJECT / "config" / "default.yaml")["runs"]
        overlay["runs"] = [run for run in default_runs if run["name"] in args.runs]
    rows = []
    for seed in args.seeds:
        started = time.perf_counter()
        config = deep_merge(overlay, {"seed": seed})
        if args.training_seeds:  # every run, its own seeds in the default's runs list included
            runs = config.get("runs") or load_config(PROJECT / "config" / "default.yaml")["runs"]
            config["training"] = {**config.get("training", {}), "seeds": args.training_seeds}
            config["runs"] = [
                {**run, "training": {**run.get("training", {}), "seeds": args.training_seeds}}
                for run in runs
            ]
        run_workflow(args.workdir / f"seed{seed}", config, cores=args.cores)
        minutes = (time.perf_counter() - started) / 60
        tables = tables_dir(args.workdir, seed)
        if args.training_seeds:
            summaries = per_training_seed(pd.read_csv(tables / "scores_per_seed.csv"))
        else:
            summaries = {seed: pd.read_csv(tables / "summary.csv")}
        for training_seed, summary in summaries.items():
            extra = {"training_seed": training_seed} if args.training_seeds else {}
            for row in judged_figures(summary):
                rows.append({"seed": seed, **extra, "minutes": round(minutes, 1), **row})
        print(pd.DataFrame(rows).to_string(index=False), flush=True)
    return pd.DataFrame(rows)


def report_all_runs(workdir: Path, seeds: list[int], out: Path) -> None:
    """Every run of every seed's summary table in one CSV; each run's mean and std over the seeds."""
    summaries = [
        pd.read_csv(tables_dir(workdir, seed) / "summary.csv")
        .drop(columns=["seeds"])
        .assign(seed=seed)
        for seed in seeds
    ]
    table = pd.concat(summaries, ignore_index=True)
    table.to_csv(out, index=False)
    figures = ["iid", "scuba_avg", "scufo_avg", "static_max_prob", "conflfg", "contra_avg"]
    truth = table[table["variant"] == "truth"].groupby("run", sort=False)[figures]
    print(f"\nevery run on `truth`, mean and std over {len(seeds)} seeds:")
    print(truth.agg(["mean", "std"]).round(2).to_string())


if __name__ == "__main__":
    main()
