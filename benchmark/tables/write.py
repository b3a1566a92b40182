"""Write every results table (CSV, Markdown, LaTeX), the per-seed scores and the plots, from
scored runs or from a config (what the `summarise_results` rule runs)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from benchmark.atomic import write_csv_atomic, write_text_atomic
from benchmark.layout import (
    TABLE_FORMATS,
    config_bg_sources,
    config_conflfg_sources,
    config_run_seeds,
    results_layout,
)
from benchmark.metrics import BenchmarkSets, RunScores, per_seed_table, score_runs, seed_dirs
from benchmark.table_files import validate_summary
from benchmark.tables.build import differences_table, per_source_table, summary_table
from benchmark.tables.leakage import leakage_table
from benchmark.tables.paper import paper_comparison_table
from benchmark.tables.render import (
    Rendered,
    render_differences,
    render_leakage,
    render_paper_comparison,
    render_per_source,
    render_summary,
)
from benchmark.tables.settings import TableSettings


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
