"""benchmark.tables on a fixed predictions fixture (tests/fixtures/tables): exact CSV / Markdown /
LaTeX against committed expected files, values checked by hand, paper comparison rows, plots, and
the `python -m benchmark.scoring score` CLI giving the same tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.metrics import BenchmarkSets, score_runs, seed_dirs
from benchmark.scoring import main as scoring_main
from benchmark.tables.build import per_source_table, summary_table
from benchmark.tables.paper import paper_comparison_table, read_paper_tables
from benchmark.tables.settings import SUMMARY_COLUMNS, TablesError, TableSettings
from benchmark.tables.write import write_tables

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tables"
BENCH = FIXTURE / "bench_root"
VARIANTS = ["truth", "box_first"]
SOURCES = ["stripe", "plasma"]
RUNS = ["vanilla", "albar"]
SETTINGS = TableSettings(
    bootstrap_samples=200, ci_level=0.95, seed=0, paper_comparison=[("hmdb51_table1", "truth")]
)


@pytest.fixture(scope="module")
def bench() -> BenchmarkSets:
    return BenchmarkSets(BENCH, VARIANTS, SOURCES, ["stripe"])


@pytest.fixture(scope="module")
def runs(bench):
    return score_runs(bench, {run: seed_dirs(BENCH / "runs" / run, [0, 1]) for run in RUNS})


@pytest.fixture(scope="module")
def written(bench, runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tables")
    write_tables(bench, runs, out, SETTINGS)
    return out


def expected_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".csv", ".md", ".tex"))


def test_tables_match_the_committed_expected_files_exactly(written):
    names = expected_names(FIXTURE / "expected")
    assert names == expected_names(written)
    assert {
        "summary.md",
        "summary.tex",
        "per_source.md",
        "leakage.tex",
        "paper_comparison.csv",
    } <= set(names)
    for name in names:
        assert (written / name).read_text() == (FIXTURE / "expected" / name).read_text(), name


def test_summary_values_by_hand(written):
    summary = pd.read_csv(written / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS + [
        f"{m}_std"
        for m in [
            "iid",
            "scuba_avg",
            "scufo_avg",
            "static_max_prob",
            "conflfg",
            "conflfg_static",
            "conflfg_moving_gt_static",
            "contra_avg",
        ]
    ]
    assert len(summary) == len(VARIANTS) * len(RUNS)
    assert summary[["variant", "run"]].values.tolist() == [[v, r] for v in VARIANTS for r in RUNS]
    # IID recomputed straight from the files: labels from manifest.csv, predictions joined by id.
    manifest = pd.read_csv(BENCH / "manifest.csv").set_index("video_id")
    per_seed = []
    for seed in (0, 1):
        pred = pd.read_csv(BENCH / f"runs/vanilla/seed{seed}/pred/iid.csv").set_index("item_id")
        per_seed.append(100 * np.mean(pred["predicted"] == manifest.loc[pred.index, "label"]))
    row = summary[(summary["variant"] == "truth") & (summary["run"] == "vanilla")].iloc[0]
    assert row["iid"] == round(np.mean(per_seed), 2)
    assert row["iid_std"] == round(np.std(per_seed, ddof=1), 2)
    # Contra avg = mean over sources of the per-source figures, per seed then over seeds.
    scores = pd.read_csv(written / "scores_per_seed.csv", keep_default_na=False)
    contra = scores[
        (scores["run"] == "vanilla")
        & (scores["variant"] == "truth")
        & (scores["metric"] == "contra")
    ]
    assert row["contra_avg"] == round(contra["value"].mean(), 2)
    assert row["contra_ci_lo"] <= row["contra_avg"] <= row["contra_ci_hi"]
    assert (
        summary[["iid", "scuba_avg", "scufo_avg", "contra_avg"]]
        .apply(lambda c: c.between(0, 100))
        .all()
        .all()
    )
    assert (summary["epochs"] == 3).all() and summary["steps"].tolist() == [30, 31, 30, 31]


def test_one_seed_has_no_spread_and_no_plus_minus(bench, tmp_path):
    runs = score_runs(bench, {run: seed_dirs(BENCH / "runs" / run, [0]) for run in RUNS})
    write_tables(bench, runs, tmp_path, TableSettings(bootstrap_samples=200, ci_level=0.95, seed=0))
    for name in ("summary.csv", "summary.md", "summary.tex", "per_source.md"):
        assert (tmp_path / name).read_text() == (
            FIXTURE / "expected_one_seed" / name
        ).read_text(), name
    rows = [
        line for line in (tmp_path / "summary.md").read_text().splitlines() if line.startswith("|")
    ]
    assert rows and not any("±" in line for line in rows)
    assert not any(c.endswith("_std") for c in pd.read_csv(tmp_path / "summary.csv").columns)
    assert not (tmp_path / "paper_comparison.csv").exists()


def test_leakage_means_over_the_benchmark_videos_only(written):
    leakage = pd.read_csv(written / "leakage.csv")
    box = leakage[leakage["variant"] == "box_first"].iloc[0]
    # qc.csv also lists the training video t0 (iou 0.70): the benchmark's four test videos average 0.575.
    assert box["iou_gt_mean"] == 0.575 and box["leak_gt"] == 0.325 and box["leak_context_gt"] == 0.9
    assert leakage[["variant", "run"]].values.tolist() == [[v, r] for v in VARIANTS for r in RUNS]


def test_paper_comparison_rows(written):
    comparison = pd.read_csv(written / "paper_comparison.csv", keep_default_na=False)
    for column in ("published", "ours", "diff"):
        comparison[column] = pd.to_numeric(comparison[column])
    published = read_paper_tables()
    table1 = published[published["table"] == "hmdb51_table1"]
    assert len(comparison) == len(table1)  # one run per compared method here
    none_iid = comparison[(comparison["method"] == "None") & (comparison["metric"] == "iid")].iloc[
        0
    ]
    summary = pd.read_csv(written / "summary.csv")
    ours = summary[(summary["variant"] == "truth") & (summary["run"] == "vanilla")]["iid"].iloc[0]
    assert (none_iid["published"], none_iid["ours"], none_iid["run"]) == (73.92, ours, "vanilla")
    assert none_iid["diff"] == round(ours - 73.92, 2)
    for method in ("VideoMix", "SDN", "ActorCutMix", "FAME"):  # implemented, not in this fixture
        assert set(comparison.loc[comparison["method"] == method, "status"]) == {"not run"}
    assert set(comparison.loc[comparison["method"] == "ALBAR", "run"]) == {"albar"}


def test_published_figures_are_kept_as_published():
    paper = read_paper_tables().set_index(["table", "method", "metric"])["published"]
    # The paper's own inconsistencies stay as they are.
    assert paper[("hmdb51_table1", "ALBAR", "contra_avg")] == 53.22
    assert paper[("hmdb51_table7", "ALBAR", "contra_avg")] == 53.02
    assert paper[("hmdb51_table1", "BE", "contra_avg")] == 27.84
    assert paper[("hmdb51_table7", "BE", "contra_avg")] == 21.41
    assert paper[("hmdb51_table1", "ALBAR + StillMix", "contra_avg")] == 53.68
    assert paper[("hmdb51_table7", "ALBAR + StillMix", "contra_avg")] == 56.68
    assert paper[("ucf101_table8", "None", "scuba_stripe")] == 54.94
    assert paper[("kinetics400_table6", "ALBAR", "aras")] == 59.79
    assert paper[("hmdb51_table3", "adv+ent+gp", "contra_avg")] == 53.02
    assert len(paper.loc["ucf101_table2"]) == 4 * 5


def test_paper_comparison_rejects_unknown_tables(bench, runs):
    summary = summary_table(bench, runs, SETTINGS)
    per_source = per_source_table(bench, runs)
    with pytest.raises(TablesError, match="unknown table 'ucf101_table99'"):
        paper_comparison_table(
            summary,
            per_source,
            runs,
            TableSettings(200, 0.95, 0, paper_comparison=[("ucf101_table99", "truth")]),
        )


def test_plots_are_written(written):
    for name in ("scuba_vs_scufo.png", "leakage_effect.png"):
        data = (written / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_scoring_cli_scores_external_runs_to_the_same_tables(tmp_path, capsys):
    out = tmp_path / "mine"
    code = scoring_main(
        [
            "score",
            "--bench-dir",
            str(BENCH),
            "--variants",
            *VARIANTS,
            "--bg-sources",
            *SOURCES,
            "--run",
            f"vanilla={BENCH / 'runs/vanilla'}",
            "--run",
            f"albar={BENCH / 'runs/albar'}",
            "--bootstrap-samples",
            "200",
            "--paper-comparison",
            "hmdb51_table1=truth",
            "--out",
            str(out),
        ]
    )
    assert code == 0, capsys.readouterr().err
    for name in (
        "summary.md",
        "summary.tex",
        "per_source.csv",
        "leakage.csv",
        "paper_comparison.md",
    ):
        assert (out / name).read_text() == (FIXTURE / "expected" / name).read_text(), name


def test_scoring_cli_reports_a_broken_prediction_file(tmp_path, capsys):
    import shutil

    run = tmp_path / "vanilla"
    shutil.copytree(BENCH / "runs/vanilla/seed0", run / "seed0")
    pred = run / "seed0/pred/truth/scufo-plasma.csv"
    frame = pd.read_csv(pred)
    frame.iloc[1:].to_csv(pred, index=False)
    code = scoring_main(
        [
            "score",
            "--bench-dir",
            str(BENCH),
            "--run",
            f"vanilla={run}",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "scufo-plasma.csv" in err and f"missing item ids ['{frame['item_id'].iloc[0]}']" in err
    assert not (tmp_path / "out").exists()
