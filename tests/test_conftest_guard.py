"""Running the suite without the project's dependencies stops with one message saying what to do."""

import importlib.util

import pytest

from tests import conftest


def test_missing_dependency_is_one_clear_usage_error(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name in ("torch", "cv2") else real_find_spec(name, *args),
    )
    with pytest.raises(pytest.UsageError, match=r"lacks torch, cv2: run `bash install.sh`"):
        conftest.pytest_configure(None)


def test_this_environment_has_every_dependency():
    assert conftest.pytest_configure(None) is None
