"""Markdown and LaTeX renderings of every results table (`Rendered`), sharing one cell and number
format and escaping LaTeX's special characters in one pass."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.tables.settings import (
    FRACTION_COLUMNS,
    PER_SOURCE_METRICS,
    QC_FIGURES,
    SOURCE_LABELS,
)


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
