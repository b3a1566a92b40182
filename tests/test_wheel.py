"""The package as a user installs it: a wheel built from the sources, installed without `-e` into a
scratch venv, used from a folder outside the checkout. The wheel must carry the schemas (config and
tables) and the package data; the installed `benchmark.config` validates the default config and
the installed scoring command line writes the same tables as the fixture's expected files.

The scratch venv reuses this test venv's site-packages for the heavy dependencies (torch, pandas...)
through a `.pth` line: a plain path line adds the folder to `sys.path` after the scratch venv's own
site-packages, without running the `.pth` files in it, so the checkout's editable install stays
out and `benchmark` comes from the wheel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "tables"
pytestmark = pytest.mark.slow


def checkout_schemas() -> list[str]:
    return sorted(
        p.relative_to(ROOT).as_posix() for p in (ROOT / "benchmark/schemas").rglob("*.yaml")
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Build from a copy of the package sources, so the checkout gets no build/ or egg-info.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in ("benchmark", "albar"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("albar_bench-*.whl")
    return built


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, wheel) -> dict:
    """A scratch venv with the wheel installed; returns its python, bin folder and a clean env."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "test_venv.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + ["--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        # Not from the checkout: pip re-runs under the scratch python, whose sys.path then starts
        # with the cwd, and a checkout's albar_bench.egg-info (left by an editable install) would
        # read as "already installed" and skip the wheel.
        cwd=root,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Nothing of the checkout may leak in: no PYTHONPATH, and the commands run elsewhere.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    work = tmp_path_factory.mktemp("elsewhere")
    return {
        "python": python,
        "bin": root / "bin",
        "purelib": Path(purelib),
        "env": env,
        "cwd": work,
    }


def run_in(scratch: dict, *command: str | os.PathLike) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        cwd=scratch["cwd"],
        env=scratch["env"],
        timeout=600,
    )


def test_the_wheel_carries_the_schemas_and_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    schemas = checkout_schemas()
    assert len(schemas) >= 20 and "benchmark/schemas/config.schema.yaml" in schemas
    assert "benchmark/schemas/config/training.schema.yaml" in schemas
    assert set(schemas) <= names, sorted(set(schemas) - names)
    assert {"benchmark/data/paper_tables.csv", "benchmark/review/assets/index.html"} <= names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "albar-bench = benchmark.cli:main" in text


def test_installed_package_validates_the_default_config(scratch):
    shutil.copy2(ROOT / "config" / "default.yaml", scratch["cwd"] / "default.yaml")
    code = (
        "import json, benchmark, benchmark.config as c\n"
        "config = c.load_config('default.yaml')\n"
        "print(json.dumps({'module': benchmark.__file__, 'schemas': str(c.SCHEMA_DIR),"
        " 'epochs': config['training']['epochs'], 'dataset': config['dataset']['name']}))\n"
    )
    done = run_in(scratch, scratch["python"], "-c", code)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    # benchmark and its schemas come from the installed wheel, not from the checkout.
    assert Path(found["module"]).is_relative_to(scratch["purelib"])
    assert Path(found["schemas"]) == scratch["purelib"] / "benchmark" / "schemas"
    expected = __import__("benchmark.config", fromlist=["load_config"]).load_config(
        ROOT / "config" / "default.yaml"
    )
    assert (found["epochs"], found["dataset"]) == (
        expected["training"]["epochs"],
        expected["dataset"]["name"],
    )
    # ... and a bad config is still refused with the file's name.
    (scratch["cwd"] / "bad.yaml").write_text("training:\n  epochs: -1\n")
    done = run_in(
        scratch, scratch["python"], "-c", "import benchmark.config as c; c.load_config('bad.yaml')"
    )
    assert done.returncode == 1 and "bad.yaml" in done.stderr and "epochs" in done.stderr


def test_installed_scoring_cli_writes_the_expected_tables(scratch):
    bench = FIXTURE / "bench_root"
    args = ["--bench-dir", bench, "--variants", "truth", "box_first"]
    args += ["--bg-sources", "stripe", "plasma", "--bootstrap-samples", "200"]
    args += ["--run", f"vanilla={bench / 'runs/vanilla'}", "--run", f"albar={bench / 'runs/albar'}"]
    args += ["--paper-comparison", "hmdb51_table1=truth", "--out", "tables"]
    done = run_in(scratch, scratch["python"], "-m", "benchmark.scoring", "score", *args)
    assert done.returncode == 0, done.stderr
    out = scratch["cwd"] / "tables"
    expected = sorted(p.name for p in (FIXTURE / "expected").iterdir())
    assert expected and sorted(p.name for p in out.iterdir() if p.suffix != ".png") == expected
    for name in expected:
        assert (out / name).read_text() == (FIXTURE / "expected" / name).read_text(), name


def test_installed_console_script_runs(scratch):
    script = scratch["bin"] / "albar-bench"
    assert script.is_file()
    for words, needle in ((["score"], "--bench-dir"), (["review", "serve"], "--port")):
        done = run_in(scratch, script, *words, "--help")
        assert done.returncode == 0, done.stderr
        assert f"usage: albar-bench {' '.join(words)}" in done.stdout and needle in done.stdout
