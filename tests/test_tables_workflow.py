"""The `summarise_results` rule through real Snakemake: a scratch Snakefile with common.smk and
evaluate.smk over the tables fixture (a built benchmark with two runs × two seeds of predictions);
the tables equal the committed expected files, a second run does nothing, and `--report` builds an
HTML report holding the tables and plots."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = PROJECT_ROOT / "tests" / "fixtures" / "tables"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"

CONFIG = {
    "results": "results",
    "dataset": {"name": "fx", "kind": "synthetic"},
    "runs": [{"name": "vanilla", "method": "vanilla"}, {"name": "albar", "method": "albar"}],
    "training": {"seeds": [0, 1]},
    "benchmark": {"variants": ["truth", "box_first"]},
    "backgrounds": {
        "sources": [{"name": "stripe", "kind": "stripe"}, {"name": "plasma", "kind": "plasma"}]
    },
    "evaluation": {
        "bootstrap_samples": 200,
        "paper_comparison": [{"table": "hmdb51_table1", "variant": "truth"}],
    },
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        str(SNAKEMAKE),
        "-s",
        str(workdir / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "1",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=workdir)


@pytest.mark.slow
def test_summarise_results_rule_and_report(tmp_path):
    shutil.copytree(FIXTURE / "bench_root", tmp_path / "results" / "fx")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (tmp_path / "Snakefile").write_text(
        f'configfile: "{tmp_path / "config.yaml"}"\n\n\n'
        f'include: "{PROJECT_ROOT / "pipeline/rules/common.smk"}"\n'
        f'include: "{PROJECT_ROOT / "pipeline/rules/inputs.smk"}"\n'
        f'include: "{PROJECT_ROOT / "pipeline/rules/evaluate.smk"}"\n\n\n'
        "rule all:\n    input:\n        ALL_TARGETS,\n"
    )
    done = snakemake(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    tables = tmp_path / "results" / "fx" / "tables"
    for name in (
        "summary.csv",
        "summary.md",
        "summary.tex",
        "per_source.md",
        "leakage.tex",
        "paper_comparison.csv",
    ):
        assert (tables / name).read_text() == (FIXTURE / "expected" / name).read_text(), name
    assert (tables / "scuba_vs_scufo.png").stat().st_size > 5000
    log = tmp_path / "logs" / "fx" / "summarise_results.log"
    assert log.read_text().startswith("wrote 18 files")

    again = snakemake(tmp_path, "--dry-run")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    report = tmp_path / "report.html"
    built = snakemake(tmp_path, "--report", str(report))
    assert built.returncode == 0, built.stderr[-3000:]
    html = report.read_text(errors="replace")
    assert "summary.csv" in html and "scuba_vs_scufo.png" in html
