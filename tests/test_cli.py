"""The `albar-bench` console script (benchmark/cli.py): each command reaches its own command line
with the same arguments as the `python -m` form, and pyproject declares the script. The installed
script itself runs in tests/test_wheel.py."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from benchmark.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "tables"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmark.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_pyproject_declares_the_console_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"albar-bench": "benchmark.cli:main"}


def test_every_command_answers_help_with_its_own_arguments():
    expected = {
        ("score",): ["usage: albar-bench score", "--bench-dir", "--run NAME=DIR", "--out"],
        ("compare",): ["usage: albar-bench compare", "--run-a NAME=DIR", "--run-b NAME=DIR"],
        ("review", "serve"): ["usage: albar-bench review serve", "--port"],
        ("review", "build"): ["usage: albar-bench review build", "--config"],
        ("config-reference",): ["usage: albar-bench config-reference", "--check"],
        ("release", "verify"): ["usage: albar-bench release verify", "--fast"],
    }
    assert {words[0] for words in expected} == set(COMMANDS)
    for words, needles in expected.items():
        done = run_cli(*words, "--help")
        assert done.returncode == 0, (words, done.stderr)
        for needle in needles:
            assert needle in done.stdout, (words, needle, done.stdout)


def test_a_missing_or_unknown_command_is_a_usage_error():
    for args in ((), ("scores",)):
        done = run_cli(*args)
        assert done.returncode == 2
        assert done.stderr.splitlines()[0] == "usage: albar-bench [-h] COMMAND"
    assert "invalid choice: 'scores'" in run_cli("scores").stderr


def test_config_reference_checks_the_committed_page():
    done = run_cli("config-reference", "--check", "docs/config-reference.md")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "docs/config-reference.md: up to date"


def test_score_writes_the_fixture_tables(tmp_path):
    bench = FIXTURE / "bench_root"
    out = tmp_path / "tables"
    code = main(
        [
            "score",
            "--bench-dir",
            str(bench),
            "--variants",
            "truth",
            "box_first",
            "--bg-sources",
            "stripe",
            "plasma",
            "--run",
            f"vanilla={bench / 'runs/vanilla'}",
            "--run",
            f"albar={bench / 'runs/albar'}",
            "--bootstrap-samples",
            "200",
            "--paper-comparison",
            "hmdb51_table1=truth",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    for name in ("summary.md", "summary.csv", "per_source.csv", "paper_comparison.md"):
        assert (out / name).read_text() == (FIXTURE / "expected" / name).read_text(), name


def test_the_old_scoring_command_says_where_it_went():
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.metrics", "score", "--bench-dir", "x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 1
    assert "python -m benchmark.scoring score|compare" in done.stderr
