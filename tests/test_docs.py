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


def test_every_config_key_has_a_description():
    from benchmark.config import config_schema
    from benchmark.config_reference import undocumented_keys

    assert undocumented_keys(config_schema()) == []


def test_undocumented_key_is_found():
    from benchmark.config_reference import undocumented_keys

    schema = {"properties": {"a": {"description": "x", "properties": {"b": {"type": "integer"}}}}}
    assert undocumented_keys(schema) == ["a.b"]


def test_config_reference_page_is_generated_from_the_schemas(project_root):
    from benchmark.config import config_schema
    from benchmark.config_reference import render_config_reference

    page = (project_root / "docs" / "config-reference.md").read_text()
    assert page == render_config_reference(config_schema()), (
        "docs/config-reference.md is stale: python -m benchmark.config_reference "
        "--out docs/config-reference.md"
    )
    assert "| `training.epochs` |" in page
