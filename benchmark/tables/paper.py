"""The comparison with the paper: the published figures (`benchmark/data/paper_tables.csv`, kept
exactly as published) and our figures set beside them, row by row."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from benchmark.metrics import RunScores
from benchmark.tables.build import _round_frame
from benchmark.tables.settings import (
    METHOD_TO_PAPER,
    PAPER_COMPARISON_COLUMNS,
    PAPER_TABLES_PATH,
    PER_SOURCE_METRICS,
    PUBLISHED_ONLY_METHODS,
    TablesError,
    TableSettings,
)


def read_paper_tables(path: str | os.PathLike = PAPER_TABLES_PATH) -> pd.DataFrame:
    """The published figures (one row per table × method × metric), as published."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame["published"] = frame["published"].astype(float)
    return frame


def paper_table_ids(path: str | os.PathLike = PAPER_TABLES_PATH) -> list[str]:
    return list(dict.fromkeys(read_paper_tables(path)["table"]))


def paper_method_of(run: RunScores, settings: TableSettings) -> str | None:
    if run.run in settings.paper_methods:
        return settings.paper_methods[run.run]
    return METHOD_TO_PAPER.get(str(run.training["method"]))


def paper_comparison_table(
    summary: pd.DataFrame,
    per_source: pd.DataFrame,
    runs: Sequence[RunScores],
    settings: TableSettings,
) -> pd.DataFrame:
    """Published figures of the configured tables beside ours (same variant), with ours − published.

    Status: `compared`; `published-only` for the baselines this project does not implement;
    `not run` for a method we implement that no run of this config trained.
    """
    paper = read_paper_tables()
    known = set(paper["table"])
    rows = []
    for table, variant in settings.paper_comparison:
        if table not in known:
            raise TablesError(
                f"evaluation.paper_comparison: unknown table {table!r}; known: {sorted(known)}"
            )
        if variant not in set(summary["variant"]):
            raise TablesError(
                f"evaluation.paper_comparison: variant {variant!r} (for {table}) is not built"
            )
        published = paper[paper["table"] == table]
        for _, line in published.iterrows():
            matching = [run for run in runs if paper_method_of(run, settings) == line["method"]]
            base = {
                "table": table,
                "method": line["method"],
                "metric": line["metric"],
                "published": line["published"],
            }
            if not matching:
                status = "published-only" if line["method"] in PUBLISHED_ONLY_METHODS else "not run"
                rows.append(
                    {
                        **base,
                        "ours": np.nan,
                        "diff": np.nan,
                        "run": "",
                        "variant": variant,
                        "status": status,
                    }
                )
                continue
            for run in matching:
                ours = _ours(summary, per_source, variant, run.run, line["metric"])
                rows.append(
                    {
                        **base,
                        "ours": ours,
                        "diff": ours - line["published"],
                        "run": run.run,
                        "variant": variant,
                        "status": "compared" if not math.isnan(ours) else "not measured",
                    }
                )
    frame = pd.DataFrame(rows, columns=PAPER_COMPARISON_COLUMNS)
    return _round_frame(frame, ["published", "ours", "diff"])


def _ours(
    summary: pd.DataFrame, per_source: pd.DataFrame, variant: str, run: str, metric: str
) -> float:
    """Our figure for one of the paper's metric names (`scuba_places365` = per-source SCUBA)."""
    if metric in summary.columns:
        line = summary[(summary["variant"] == variant) & (summary["run"] == run)]
        return float(line[metric].iloc[0])
    protocol, _, source = metric.partition("_")
    if protocol in PER_SOURCE_METRICS:
        line = per_source[
            (per_source["variant"] == variant)
            & (per_source["run"] == run)
            & (per_source["bg_source"] == source)
        ]
        if len(line):
            return float(line[protocol].iloc[0])
    # e.g. ARAS (Kinetics) or a source this config does not build.
    return float("nan")
