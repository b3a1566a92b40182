"""The conda env files cannot be solved here; check that their pins satisfy pyproject's ranges."""

import tomllib

import pytest
import yaml
from packaging.requirements import Requirement


def pyproject_ranges(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return {Requirement(r).name.lower(): Requirement(r).specifier for r in project["dependencies"]}


def env_pins(path):
    spec = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d)
    return [Requirement(p) for p in pip]


@pytest.mark.parametrize("env", ["data.yaml", "torch.yaml"])
def test_env_pins_satisfy_pyproject(project_root, env):
    ranges = pyproject_ranges(project_root)
    pins = env_pins(project_root / "envs" / env)
    assert pins, f"{env} pins nothing"
    for pin in pins:
        (version,) = [s.version for s in pin.specifier]
        assert pin.name.lower() in ranges, (
            f"{env}: {pin.name} is not a dependency in pyproject.toml"
        )
        assert version in ranges[pin.name.lower()], (
            f"{env}: {pin} outside pyproject's {ranges[pin.name.lower()]}"
        )


def test_torch_and_torchvision_are_pinned_as_a_pair(project_root):
    for env in ("data.yaml", "torch.yaml"):
        pins = {p.name: str(p.specifier) for p in env_pins(project_root / "envs" / env)}
        assert (pins["torch"], pins["torchvision"]) == ("==2.14.1", "==0.29.1")
