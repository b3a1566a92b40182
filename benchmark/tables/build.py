"""The numbers of the results tables in the paper's layouts: the summary (one row per variant x
run), the per-background-source table and the paired differences against the baseline run, rounded
as published."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from benchmark.metrics import (
    BenchmarkSets,
    RunScores,
    aggregate_seeds,
    contra_ci,
    paired_difference,
)
from benchmark.tables.settings import (
    DIFFERENCE_COLUMNS,
    FRACTION_COLUMNS,
    PER_SOURCE_METRICS,
    SUMMARY_COLUMNS,
    SUMMARY_METRICS,
    TablesError,
    TableSettings,
)


def _fmt_round(column: str, value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.nan
    return round(float(value), 4 if column.removesuffix("_std") in FRACTION_COLUMNS else 2)


def _round_frame(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    frame = frame.copy()
    for column in columns:
        if column in frame.columns:
            frame[column] = [_fmt_round(column, v) for v in frame[column]]
    return frame


def _aggregates(runs: Sequence[RunScores]) -> dict[str, pd.DataFrame]:
    return {
        run.run: aggregate_seeds(run.seeds).set_index(["variant", "bg_source", "metric"])
        for run in runs
    }


def _value(
    aggregate: pd.DataFrame, variant: str, source: str, metric: str, what: str = "mean"
) -> float:
    key = (variant, source, metric)
    if key not in aggregate.index:
        return float("nan")
    return float(aggregate.loc[key, what])


def summary_table(
    bench: BenchmarkSets, runs: Sequence[RunScores], settings: TableSettings
) -> pd.DataFrame:
    """One row per variant × run (variants in benchmark order, runs in the given order)."""
    aggregates = _aggregates(runs)
    with_std = any(len(run.seeds) > 1 for run in runs)
    rows = []
    for variant in bench.variants:
        for run in runs:
            aggregate = aggregates[run.run]
            training = run.training
            row = {
                "variant": variant,
                "run": run.run,
                "method": training["method"],
                "seeds": len(run.seeds),
                "epochs": training["epochs"],
                "steps": training["steps"],
            }
            for metric in SUMMARY_METRICS:
                # IID does not depend on the variant: it is scored once per seed, under variant "".
                scope = "" if metric == "iid" else variant
                row[metric] = _value(aggregate, scope, "", metric)
            low, high = contra_ci(
                run.seeds,
                variant,
                bench.bg_sources,
                samples=settings.bootstrap_samples,
                level=settings.ci_level,
                seed=settings.seed,
            )
            row["contra_ci_lo"], row["contra_ci_hi"] = low, high
            if with_std:
                for metric in SUMMARY_METRICS:
                    scope = "" if metric == "iid" else variant
                    row[f"{metric}_std"] = _value(aggregate, scope, "", metric, "std")
            rows.append(row)
    columns = SUMMARY_COLUMNS + ([f"{m}_std" for m in SUMMARY_METRICS] if with_std else [])
    frame = pd.DataFrame(rows, columns=columns)
    # every figure is rounded; the key and training columns before `iid` are not
    unrounded = SUMMARY_COLUMNS[: SUMMARY_COLUMNS.index("iid")]
    return _round_frame(frame, [c for c in columns if c not in unrounded])


def per_source_table(bench: BenchmarkSets, runs: Sequence[RunScores]) -> pd.DataFrame:
    """`variant, run, bg_source, scuba, scufo, contra` (+ `_std` when seeds > 1)."""
    aggregates = _aggregates(runs)
    with_std = any(len(run.seeds) > 1 for run in runs)
    rows = []
    for variant in bench.variants:
        for run in runs:
            for source in bench.bg_sources:
                row = {"variant": variant, "run": run.run, "bg_source": source}
                for metric in PER_SOURCE_METRICS:
                    row[metric] = _value(aggregates[run.run], variant, source, metric)
                if with_std:
                    for metric in PER_SOURCE_METRICS:
                        row[f"{metric}_std"] = _value(
                            aggregates[run.run], variant, source, metric, "std"
                        )
                rows.append(row)
    columns = ["variant", "run", "bg_source", *PER_SOURCE_METRICS]
    columns += [f"{m}_std" for m in PER_SOURCE_METRICS] if with_std else []
    frame = pd.DataFrame(rows, columns=columns)
    return _round_frame(frame, columns[3:])


def differences_table(
    bench: BenchmarkSets, runs: Sequence[RunScores], settings: TableSettings
) -> pd.DataFrame:
    """Each run's Avg Contra minus the baseline run's, per variant, with a paired bootstrap interval."""
    if not runs:
        return pd.DataFrame(columns=DIFFERENCE_COLUMNS)
    baseline_name = settings.baseline_run or runs[0].run
    by_name = {run.run: run for run in runs}
    if baseline_name not in by_name:
        raise TablesError(f"baseline run {baseline_name!r} is not among the runs {list(by_name)}")
    baseline = by_name[baseline_name]
    rows = []
    for variant in bench.variants:
        for run in runs:
            if run.run == baseline_name:
                continue
            result = paired_difference(
                run.seeds,
                baseline.seeds,
                variant,
                bench.bg_sources,
                samples=settings.bootstrap_samples,
                level=settings.ci_level,
                seed=settings.seed,
            )
            rows.append(
                {
                    "variant": variant,
                    "run": run.run,
                    "baseline": baseline_name,
                    "metric": "contra_avg",
                    **result,
                }
            )
    return _round_frame(pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS), ["diff", "ci_lo", "ci_hi"])
