"""What the results-table modules share: their error, the settings of one writing of the tables
(`TableSettings`), the column lists and number formats, the published figures' file and the
method names of the paper's rows."""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.table_files import summary_metrics, table_columns

# Package data: found through importlib.resources, as in an installed wheel.
PAPER_TABLES_PATH = Path(
    os.fspath(importlib.resources.files("benchmark") / "data" / "paper_tables.csv")
)
# Figures of the summary table, in column order; each gets `<metric>_std` when seeds > 1.
SUMMARY_METRICS = summary_metrics()
SUMMARY_COLUMNS = table_columns("summary")
PER_SOURCE_METRICS = ["scuba", "scufo", "contra"]
LEAKAGE_COLUMNS = [
    "variant",
    "iou_gt_mean",
    "leak_gt",
    "leak_context_gt",
    "run",
    "scuba_avg",
    "scufo_avg",
    "contra_avg",
]
QC_FIGURES = ["iou_gt_mean", "leak_gt", "leak_context_gt"]
DIFFERENCE_COLUMNS = ["variant", "run", "baseline", "metric", "diff", "ci_lo", "ci_hi"]
PAPER_COMPARISON_COLUMNS = [
    "table",
    "method",
    "metric",
    "published",
    "ours",
    "diff",
    "run",
    "variant",
    "status",
]
# Figures that are probabilities (0–1) or mask fractions, not percentages: four decimals.
FRACTION_COLUMNS = {"static_max_prob", *QC_FIGURES}

# Our method names → the paper's row names (a run's own `paper_method` overrides this).
METHOD_TO_PAPER = {
    "vanilla": "None",
    "mixup": "Mixup",
    "be": "BE",
    "fame": "FAME",
    "stillmix": "StillMix",
    "albar": "ALBAR",
    "albar_stillmix": "ALBAR + StillMix",
    "videomix": "VideoMix",
    "sdn": "SDN",
    "actorcutmix": "ActorCutMix",
}
# Baselines of the paper this project does not implement: their rows are published figures only.
# Every row of the paper's tables is implemented now (VideoMix, SDN, ActorCutMix since issue 16).
PUBLISHED_ONLY_METHODS: tuple[str, ...] = ()
# Short names of background sources in column headings, as in the paper (others as named).
SOURCE_LABELS = {"places365": "P365", "vqgan": "VQGAN", "stripe": "Sin"}


class TablesError(ValueError):
    """Tables cannot be built from these inputs; the message names the file or setting."""


@dataclass(frozen=True)
class TableSettings:
    bootstrap_samples: int
    ci_level: float
    seed: int
    baseline_run: str | None = None
    # (published table id, our variant compared with it), e.g. ("ucf101_table2", "sam").
    paper_comparison: Sequence[tuple[str, str]] = ()
    # run name → the paper's method name, where the run's method alone does not say it.
    paper_methods: dict[str, str] = field(default_factory=dict)
    # variant → masks/<variant>/qc.csv; None: the standard path under the benchmark folder.
    qc_paths: dict[str, Path] | None = None
