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
