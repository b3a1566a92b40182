"""The documentation site builds with `mkdocs build --strict` (a broken link or anchor fails it)."""

import os
import subprocess
import sys

import pytest


def test_docs_site_builds_strict(project_root, tmp_path):
    pytest.importorskip("mkdocs")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=project_root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "contracts" / "index.html").is_file()


def test_docs_never_send_users_outside_the_project(project_root):
    texts = [p.read_text() for p in (project_root / "docs").rglob("*.md")]
    texts.append((project_root / "README.md").read_text())
    assert not [t for t in texts if "../shared" in t]


def test_readme_is_short(project_root):
    assert len((project_root / "README.md").read_text().splitlines()) <= 250
