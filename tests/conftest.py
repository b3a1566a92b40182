"""Shared fixtures. Thread counts are pinned before torch / OpenCV load: the suite runs on 2 cores."""

import os
import sys

for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """One clear message, instead of an import error per test module, when the suite runs on an
    interpreter without the project's dependencies (e.g. a bare `pytest` outside .venv)."""
    import importlib.util

    required = ("numpy", "torch", "torchvision", "cv2", "av", "pandas", "snakemake", "benchmark")
    missing = [name for name in required if importlib.util.find_spec(name) is None]
    if missing:
        raise pytest.UsageError(
            f"{sys.executable} lacks {', '.join(missing)}: run `bash install.sh`, then the tests "
            "with `.venv/bin/python -m pytest` (README, Quick start)"
        )


SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"

# A tiny synthetic dataset: every stage's tests can afford it.
TINY_SYNTHETIC = {
    "classes": 3,
    "videos_per_class": {"train": 4, "val": 1, "test": 2},
    "frames": 8,
    "size": 48,
}


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory) -> dict:
    """A validated config for a tiny synthetic dataset under a session temp folder."""
    from benchmark.config import validate_config

    results = tmp_path_factory.mktemp("results")
    return validate_config(
        {
            "results": str(results),
            "dataset": {"name": "tiny", "kind": "synthetic", "synthetic": TINY_SYNTHETIC},
        }
    )


@pytest.fixture(scope="session")
def tiny_dataset(tiny_config) -> Path:
    """Ingest the tiny synthetic dataset once per session; returns results/<name>/."""
    from benchmark.config import results_dir
    from benchmark.ingest import run_ingest

    run_ingest(tiny_config)
    return results_dir(tiny_config)
