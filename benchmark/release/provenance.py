"""Provenance of a release bundle: the build date (`release.date`, `SOURCE_DATE_EPOCH` or the
commit date, never the clock), the project and package versions, the sha256 of the weight files a
config names, and the recorded config."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

from benchmark.release.files import ReleaseError, file_sha256

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Packages whose versions decide the bytes of items, masks or scores.
RECORDED_PACKAGES = (
    "numpy",
    "pillow",
    "av",
    "opencv-python-headless",
    "pandas",
    "pycocotools",
    "scipy",
    "torch",
    "torchvision",
    "segment-anything",
    "snakemake",
)
# Config keys that name weight files; their sha256 goes into the provenance.
WEIGHT_KEYS = ("checkpoint", "pretrained", "reference_weights")


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def build_date(configured: str | None) -> tuple[str | None, str]:
    """(date, where it came from): the config, SOURCE_DATE_EPOCH, the git commit, or nothing.

    Never the clock: the date is part of the bundle's bytes, and a rebuild must reproduce them.
    """
    if configured:
        return configured, "release.date"
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            stamp = dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
        except ValueError as error:
            raise ReleaseError(
                f"SOURCE_DATE_EPOCH={epoch!r} is not a Unix time ({error})"
            ) from None
        return stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "SOURCE_DATE_EPOCH"
    committed = _git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ")
    if committed:
        return committed, "git commit date"
    return None, "not recorded (set release.date)"


def date_epoch(date: str | None) -> int:
    """Seconds since 1970 of a recorded build date (archive mtimes); 0 without a date."""
    if not date:
        return 0
    text = date if "T" in date else f"{date}T00:00:00Z"
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def project_version() -> str:
    try:
        return metadata.version("albar-bench")
    except metadata.PackageNotFoundError:
        pyproject = PROJECT_ROOT / "pyproject.toml"
        return tomllib.loads(pyproject.read_text())["project"]["version"]


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def weight_files(config: dict) -> list[dict]:
    """Every weight file the config names (SAM checkpoints, pretrained backbones, ...) with its
    sha256; a named file that is not there is recorded as such, not skipped."""
    found: list[tuple[str, str]] = []

    def walk(node, key_path: str) -> None:
        if isinstance(node, dict):
            for key, value in sorted(node.items()):
                here = f"{key_path}.{key}" if key_path else str(key)
                if key in WEIGHT_KEYS and isinstance(value, str) and value:
                    found.append((here, value))
                else:
                    walk(value, here)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{key_path}[{index}]")

    walk(config, "")
    rows = []
    for key, path in found:
        exists = Path(path).is_file()
        rows.append(
            {
                "key": key,
                "file": Path(path).name,
                "sha256": file_sha256(path) if exists else None,
                "note": "" if exists else "file not found at build time",
            }
        )
    return rows


def recorded_config(config: dict) -> dict:
    """The resolved config as the bundle records it: without `results` (a local path that says
    where the build was written, not how), so the same build gives the same bytes anywhere."""
    return {key: value for key, value in config.items() if key != "results"}


def provenance(config: dict, date: str | None, date_source: str) -> dict:
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {
        "project": "albar-bench",
        "project_version": project_version(),
        "git_commit": commit,
        "git_dirty": bool(dirty) if commit else None,
        "build_date": date,
        "build_date_source": date_source,
        "packages": package_versions(),
        "weights": weight_files(config),
    }
