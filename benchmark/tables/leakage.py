"""The leakage table: each mask variant's measured leak, read from its `masks/<variant>/qc.csv`
(against the truth where there is one), beside what each run scores on that variant."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmark.layout import ResultsLayout
from benchmark.metrics import BenchmarkSets
from benchmark.table_files import read_qc
from benchmark.tables.build import _round_frame
from benchmark.tables.settings import LEAKAGE_COLUMNS, QC_FIGURES, TablesError, TableSettings


def read_qc_means(qc_path: str | os.PathLike, video_ids: Sequence[str]) -> dict[str, float]:
    """Means of a mask source's QC figures over the benchmark's videos (NaN where unknown)."""
    qc_path = Path(qc_path)
    if not qc_path.exists():
        raise TablesError(
            f"{qc_path}: mask QC table not found; run the QC stage for this mask source"
        )
    qc = read_qc(qc_path).set_index("video_id")
    absent = sorted(set(video_ids) - set(qc.index))
    if absent:
        raise TablesError(
            f"{qc_path}: no QC row for benchmark videos {absent[:5]} ({len(absent)} in all)"
        )
    rows = qc.loc[list(video_ids), QC_FIGURES].apply(pd.to_numeric, errors="coerce")
    # A figure is reported only when every video has it (truth known), never a mean over a subset.
    return {
        name: float(rows[name].mean()) if rows[name].notna().all() else float("nan")
        for name in QC_FIGURES
    }


def leakage_table(
    bench: BenchmarkSets, summary: pd.DataFrame, settings: TableSettings
) -> pd.DataFrame:
    """Per variant: mask IoU / leak against the truth, then each run's Avg SCUBA / SCUFO / Contra."""
    rows = []
    for variant in bench.variants:
        if settings.qc_paths is not None and variant not in settings.qc_paths:
            figures = dict.fromkeys(QC_FIGURES, float("nan"))
        else:
            qc_path = (settings.qc_paths or {}).get(
                variant, ResultsLayout(bench.results_dir).mask_qc(variant)
            )
            figures = read_qc_means(qc_path, bench.variant_video_ids(variant))
        for _, line in summary[summary["variant"] == variant].iterrows():
            rows.append(
                {
                    "variant": variant,
                    **figures,
                    "run": line["run"],
                    "scuba_avg": line["scuba_avg"],
                    "scufo_avg": line["scufo_avg"],
                    "contra_avg": line["contra_avg"],
                }
            )
    return _round_frame(pd.DataFrame(rows, columns=LEAKAGE_COLUMNS), QC_FIGURES)
