"""The whole default DAG through the real Snakemake API on a smoke-sized config: synthetic dataset →
ingest → masks (truth, box_first, box_union, grabcut) → QC → review gate → backgrounds → SCUBA /
SCUFO / Confl-FG per variant → StillMix bank → training (four methods, two seeds in one job per run,
one epoch) → prediction →
tables. Checks the tables' rows, columns and ranges; a second run must have nothing to do."""

import pandas as pd
import pytest

from benchmark.workflow import run_workflow

SMOKE_CONFIG = {
    "dataset": {
        "name": "smoke",
        "kind": "synthetic",
        "synthetic": {
            "classes": 3,
            "videos_per_class": {"train": 6, "val": 1, "test": 2},
            "frames": 8,
            "size": 48,
        },
    },
    "n_shards": 2,
    "benchmark": {"versions": 1, "test_clip": {"frames": 4, "stride": 2}},
    "training": {
        "epochs": 1,
        "batch_size": 6,
        "clip": {"frames": 4, "stride": 2},
        "crop_size": 40,
        "resize": 48,
        "seeds": [0, 1],  # one train_seeds job per run trains both (cluster.seed_jobs: run)
    },
    "runs": [
        {"name": "vanilla", "method": "vanilla"},
        {"name": "stillmix", "method": "stillmix"},
        {"name": "albar", "method": "albar", "adv_bound": "log_k", "w_ent": 1.0, "w_gp": 1.0},
        {"name": "albar_stillmix", "method": "albar_stillmix", "adv_bound": "log_k"},
    ],
    "report": {"after_run": False},
}
PERCENT_COLUMNS = [
    "iid",
    "scuba_avg",
    "scufo_avg",
    "conflfg",
    "conflfg_static",
    "conflfg_moving_gt_static",
    "contra_avg",
    "contra_ci_lo",
    "contra_ci_hi",
]


@pytest.mark.slow
def test_whole_default_dag_on_a_smoke_config(tmp_path):
    run_workflow(tmp_path, SMOKE_CONFIG, cores=2)
    tables = tmp_path / "results" / "smoke" / "tables"
    summary = pd.read_csv(tables / "summary.csv")
    variants = ["box_first", "truth", "grabcut"]
    runs = [run["name"] for run in SMOKE_CONFIG["runs"]]
    assert sorted(zip(summary["variant"], summary["run"], strict=True)) == sorted(
        (v, r) for v in variants for r in runs
    )
    for column in PERCENT_COLUMNS:
        assert summary[column].between(0, 100).all(), column
    assert summary["static_max_prob"].between(1 / 3 - 1e-6, 1).all()
    assert (summary["epochs"] == 1).all() and (summary["steps"] >= 1).all()
    assert (summary["seeds"] == 2).all() and summary["contra_avg_std"].notna().all()
    per_source = pd.read_csv(tables / "per_source.csv")
    assert set(per_source["bg_source"]) == {"stripe", "plasma", "mosaic"}
    assert len(per_source) == len(variants) * len(runs) * 3
    leakage = pd.read_csv(tables / "leakage.csv")
    truth = leakage[leakage["variant"] == "truth"].iloc[0]
    boxes = leakage[leakage["variant"] == "box_first"].iloc[0]
    assert truth["iou_gt_mean"] == pytest.approx(1.0) and truth["leak_gt"] == pytest.approx(0.0)
    assert boxes["leak_context_gt"] > 0.9 and boxes["iou_gt_mean"] < 0.5
    for name in ("summary.md", "summary.tex", "per_source.md", "leakage.tex"):
        assert (tables / name).stat().st_size > 0
    # One StillMix bank serves both training seeds (bank.seed 0): no bank of seed 1 was built.
    banks = sorted((tmp_path / "results" / "smoke" / "runs" / "_stillmix_bank").rglob("bank.pt"))
    assert banks and [bank.parent.name for bank in banks] == ["seed0"] * len(banks)
    # Everything is up to date: a dry run right after schedules nothing (it raises if a rule is missing).
    run_workflow(tmp_path, SMOKE_CONFIG, cores=2, dryrun=True)
