"""Results tables in the paper's layouts (CSV, Markdown, LaTeX) and the comparison with its figures.

`tables/summary.csv` is the paper's main table (Method | IID | Avg SCUBA | Avg SCUFO | Confl-FG |
Contra, plus epochs / steps, the mean static-clip max probability beside SCUFO and a bootstrap
interval for Contra), one row per variant × run; `per_source.csv` is Tables 7/8's per-background
layout; `leakage.csv` puts each mask variant's measured leak (from `masks/<variant>/qc.csv`, against
the truth where there is one) beside what each run scores on that variant; `differences.csv` gives
each run's Avg Contra minus the baseline run's with a paired bootstrap interval; and, for the
real-data configs, `paper_comparison.csv` sets our figures beside the published ones
(`benchmark/data/paper_tables.csv`, kept exactly as published). Every CSV has `.md` and `.tex`
renderings beside it, and `scuba_vs_scufo.png` / `leakage_effect.png` are drawn from the same numbers.

`python -m benchmark.tables --config config/default.yaml` is what the workflow's `summarise_results`
rule runs; `python -m benchmark.scoring score ...` writes the same tables for runs trained elsewhere.
"""

from __future__ import annotations

import argparse
import importlib.resources
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.atomic import write_csv_atomic, write_text_atomic
from benchmark.config import add_config_arguments, config_from_args
from benchmark.layout import (
    TABLE_FORMATS,
    LayoutError,
    ResultsLayout,
    config_bg_sources,
    config_conflfg_sources,
    config_run_seeds,
    results_layout,
)
from benchmark.metrics import (
    BenchmarkSets,
    MetricsError,
    RunScores,
    aggregate_seeds,
    contra_ci,
    paired_difference,
    per_seed_table,
    score_runs,
    seed_dirs,
)
from benchmark.runtime import set_threads
from benchmark.table_files import (
    TableError,
    read_qc,
    summary_metrics,
    table_columns,
    validate_summary,
)

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


# --------------------------------------------------------------------------------------------
# Building the tables (numbers)


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


# --------------------------------------------------------------------------------------------
# Rendering (Markdown and LaTeX)


def _cell(value, std=None, decimals: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return "–"
    if isinstance(value, (int, np.integer, str)):
        return str(value)
    text = f"{float(value):.{decimals}f}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {float(std):.{decimals}f}"
    return text


def _decimals(column: str) -> int:
    return 3 if column in FRACTION_COLUMNS else 2


def _source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source)


def _markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]
) -> str:
    marks = {"l": ":---", "r": "---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# One pass, character by character, so no replacement is escaped again.
_LATEX_CHARACTERS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"$<$",
    ">": r"$>$",
    "±": r"$\pm$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "Δ": r"$\Delta$",
    "–": "--",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_CHARACTERS.get(char, char) for char in text)


def _latex_cell(text: str) -> str:
    return "--" if text == "–" else _latex_escape(text)


def _latex_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: Sequence[str],
    caption: str,
    label: str,
) -> str:
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        f"\\caption{{{_latex_escape(caption)}}}",
        f"\\label{{{label}}}",
        r"\begin{tabular}{" + "".join(align) + "}",
        r"\toprule",
        " & ".join(_latex_escape(h) for h in header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(_latex_cell(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


@dataclass
class Rendered:
    markdown: str
    latex: str


def _render_sections(
    title: str, note: str, sections: Sequence[tuple[str, str, list, list, list]]
) -> Rendered:
    """sections: (heading, label, header, rows, align) → one Markdown document, one LaTeX file."""
    markdown = [f"# {title}\n", f"{note}\n"]
    latex = [f"% {title}. {note}\n", "% Needs \\usepackage{booktabs}.\n"]
    for heading, label, header, rows, align in sections:
        markdown.append(f"## {heading}\n")
        markdown.append(_markdown_table(header, rows, align))
        latex.append(_latex_table(header, rows, align, f"{title}: {heading}", label))
    return Rendered("\n".join(markdown), "\n".join(latex))


def _std_of(frame_row: pd.Series, column: str):
    return frame_row.get(f"{column}_std", None)


def render_summary(summary: pd.DataFrame, ci_level: float) -> Rendered:
    header = [
        "Run",
        "Method",
        "IID",
        "Avg SCUBA ↑",
        "Avg SCUFO ↓",
        "Static max p",
        "Confl-FG ↑",
        "Contra ↑",
        f"Contra {100 * ci_level:g}% CI",
        "Seeds",
        "Epochs",
        "Steps",
    ]
    align = ["l", "l"] + ["r"] * 10
    detail_header = [
        "Run",
        "Confl-FG: moving label ↑",
        "Confl-FG: static label ↓",
        "Moving > static ↑",
    ]
    sections = []
    for variant, group in summary.groupby("variant", sort=False):
        rows, details = [], []
        for _, line in group.iterrows():
            cells = [line["run"], str(line["method"])]
            for column in (
                "iid",
                "scuba_avg",
                "scufo_avg",
                "static_max_prob",
                "conflfg",
                "contra_avg",
            ):
                cells.append(_cell(line[column], _std_of(line, column), _decimals(column)))
            cells.append(f"{_cell(line['contra_ci_lo'])} – {_cell(line['contra_ci_hi'])}")
            cells += [_cell(line["seeds"]), _cell(line["epochs"]), _cell(line["steps"])]
            rows.append(cells)
            details.append(
                [line["run"]]
                + [
                    _cell(line[c], _std_of(line, c))
                    for c in ("conflfg", "conflfg_static", "conflfg_moving_gt_static")
                ]
            )
        sections.append((f"Variant {variant}", f"tab:summary-{variant}", header, rows, align))
        sections.append(
            (
                f"Variant {variant}, Confl-FG",
                f"tab:conflfg-{variant}",
                detail_header,
                details,
                ["l", "r", "r", "r"],
            )
        )
    note = (
        "Top-1 accuracy in percent (mean ± sample std over a run's training seeds when it has several; "
        "Seeds: how many). SCUBA, Confl-FG "
        "and Contra: higher is better; SCUFO: lower is better. Avg = unweighted mean over background "
        "sources. Static max p: mean top probability on SCUFO clips (1/K = uniform); a low SCUFO with a "
        "high static max p is a confidently wrong model, not a debiased one."
    )
    return _render_sections("Summary", note, sections)


def render_per_source(per_source: pd.DataFrame, summary: pd.DataFrame) -> Rendered:
    sections = []
    for variant, group in per_source.groupby("variant", sort=False):
        sources = list(dict.fromkeys(group["bg_source"]))
        header = ["Run", "IID"]
        header += [f"SCUBA {_source_label(s)}" for s in sources]
        header += [f"SCUFO {_source_label(s)}" for s in sources]
        header += [f"Contra {_source_label(s)}" for s in sources] + ["Contra Avg"]
        rows = []
        for run, lines in group.groupby("run", sort=False):
            line = summary[(summary["variant"] == variant) & (summary["run"] == run)].iloc[0]
            cells = [run, _cell(line["iid"], _std_of(line, "iid"))]
            by_source = lines.set_index("bg_source")
            for metric in PER_SOURCE_METRICS:
                cells += [
                    _cell(by_source.loc[s, metric], _std_of(by_source.loc[s], metric))
                    for s in sources
                ]
            cells.append(_cell(line["contra_avg"], _std_of(line, "contra_avg")))
            rows.append(cells)
        sections.append(
            (
                f"Variant {variant}",
                f"tab:per-source-{variant}",
                header,
                rows,
                ["l"] + ["r"] * (len(header) - 1),
            )
        )
    note = (
        "Per background source (as the paper's Tables 7 and 8), top-1 accuracy in percent. "
        "P365 = Places365, VQGAN = VQGAN-CLIP, Sin = sinusoidal stripes."
    )
    return _render_sections("Per source", note, sections)


def render_leakage(leakage: pd.DataFrame) -> Rendered:
    header = [
        "Variant",
        "IoU vs truth",
        "Leak vs truth",
        "Context object covered",
        "Run",
        "Avg SCUBA",
        "Avg SCUFO",
        "Contra",
    ]
    rows = []
    for _, line in leakage.iterrows():
        rows.append(
            [line["variant"]]
            + [_cell(line[c], decimals=3) for c in QC_FIGURES]
            + [line["run"]]
            + [_cell(line[c]) for c in ("scuba_avg", "scufo_avg", "contra_avg")]
        )
    note = (
        "Mask figures: means over the benchmark's videos of masks/<variant>/qc.csv (fractions; – where the "
        "dataset has no true masks). A mask that leaks background (or the class's context object) lets a "
        "background-biased model score well on SCUBA."
    )
    return _render_sections(
        "Leakage",
        note,
        [("Mask variants", "tab:leakage", header, rows, ["l", "r", "r", "r", "l", "r", "r", "r"])],
    )


def render_differences(differences: pd.DataFrame, ci_level: float) -> Rendered:
    header = ["Variant", "Run", "Baseline", "Δ Contra", f"{100 * ci_level:g}% CI"]
    rows = [
        [
            line["variant"],
            line["run"],
            line["baseline"],
            _cell(line["diff"]),
            f"{_cell(line['ci_lo'])} – {_cell(line['ci_hi'])}",
        ]
        for _, line in differences.iterrows()
    ]
    note = (
        "Avg Contra of each run minus the baseline run's, in percentage points, with a bootstrap interval "
        "paired by item (the same items resampled for both runs)."
    )
    return _render_sections(
        "Differences",
        note,
        [
            (
                "Contra against the baseline",
                "tab:differences",
                header,
                rows,
                ["l", "l", "l", "r", "r"],
            )
        ],
    )


def render_paper_comparison(comparison: pd.DataFrame) -> Rendered:
    header = ["Table", "Method", "Metric", "Published", "Ours", "Diff", "Run", "Status"]
    rows = [
        [
            line["table"],
            line["method"],
            line["metric"],
            _cell(line["published"]),
            _cell(line["ours"]),
            _cell(line["diff"]),
            line["run"] or "–",
            line["status"],
        ]
        for _, line in comparison.iterrows()
    ]
    note = (
        "Published figures (ALBAR, ICLR 2025) kept exactly as published, including the paper's internal "
        "inconsistencies (see benchmark/data/paper_tables.csv notes); Diff = ours − published."
    )
    return _render_sections(
        "Paper comparison",
        note,
        [
            (
                "Published and ours",
                "tab:paper",
                header,
                rows,
                ["l", "l", "l", "r", "r", "r", "l", "l"],
            )
        ],
    )


# --------------------------------------------------------------------------------------------
# Writing everything


def _write_rendered(
    out_dir: Path, stem: str, frame: pd.DataFrame, rendered: Rendered
) -> list[Path]:
    paths = [out_dir / f"{stem}.{ext}" for ext in TABLE_FORMATS]  # csv, md, tex
    write_csv_atomic(paths[0], frame)
    write_text_atomic(paths[1], rendered.markdown)
    write_text_atomic(paths[2], rendered.latex)
    return paths


def write_tables(
    bench: BenchmarkSets,
    runs: Sequence[RunScores],
    out_dir: str | os.PathLike,
    settings: TableSettings,
) -> list[Path]:
    """Write every table (csv, md, tex), the per-seed scores and the plots; return the paths."""
    from benchmark.plots import plot_leakage_effect, plot_scuba_vs_scufo

    out_dir = Path(out_dir)
    summary = summary_table(bench, runs, settings)
    validate_summary(summary, out_dir / "summary.csv")
    per_source = per_source_table(bench, runs)
    leakage = leakage_table(bench, summary, settings)
    differences = differences_table(bench, runs, settings)
    written = _write_rendered(
        out_dir, "summary", summary, render_summary(summary, settings.ci_level)
    )
    written += _write_rendered(
        out_dir, "per_source", per_source, render_per_source(per_source, summary)
    )
    written += _write_rendered(out_dir, "leakage", leakage, render_leakage(leakage))
    written += _write_rendered(
        out_dir, "differences", differences, render_differences(differences, settings.ci_level)
    )
    if settings.paper_comparison:
        comparison = paper_comparison_table(summary, per_source, runs, settings)
        written += _write_rendered(
            out_dir, "paper_comparison", comparison, render_paper_comparison(comparison)
        )
    scores = per_seed_table(runs)
    scores["value"] = scores["value"].round(6)
    write_csv_atomic(out_dir / "scores_per_seed.csv", scores)
    written.append(out_dir / "scores_per_seed.csv")
    chance = 100.0 / runs[0].seeds[0].num_classes if runs else None
    written.append(plot_scuba_vs_scufo(summary, out_dir / "scuba_vs_scufo.png", chance=chance))
    written.append(plot_leakage_effect(leakage, out_dir / "leakage_effect.png"))
    return written


def settings_from_config(config: dict) -> TableSettings:
    evaluation = config["evaluation"]
    return TableSettings(
        bootstrap_samples=evaluation["bootstrap_samples"],
        ci_level=evaluation["ci_level"],
        seed=config["seed"],
        baseline_run=evaluation["baseline_run"],
        paper_comparison=[
            (entry["table"], entry["variant"]) for entry in evaluation["paper_comparison"]
        ],
        paper_methods=dict(evaluation["paper_methods"]),
    )


def run_from_config(config: dict) -> list[Path]:
    """Score every configured run × seed on every variant and write results/<dataset>/tables/."""
    layout = results_layout(config)
    bench = BenchmarkSets(
        layout.root,
        config["benchmark"]["variants"],
        config_bg_sources(config),
        config_conflfg_sources(config),
    )
    run_dirs = {
        name: seed_dirs(layout.runs_dir / name, seeds)
        for name, seeds in config_run_seeds(config).items()
    }
    runs = score_runs(bench, run_dirs)
    return write_tables(bench, runs, layout.tables_dir, settings_from_config(config))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.tables", description=__doc__.split("\n\n")[0]
    )
    add_config_arguments(parser)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    start = time.perf_counter()
    config = config_from_args(args)
    try:
        written = run_from_config(config)
    except (MetricsError, LayoutError, TableError, TablesError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {len(written)} files to {written[0].parent} ({time.perf_counter() - start:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
