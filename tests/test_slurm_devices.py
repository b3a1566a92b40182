"""GPU devices for jobs without a scheduler (benchmark.devices) and the commands the GPU rules run.

The device pool is exercised with real processes and a stand-in device list (CUDA_VISIBLE_DEVICES
"0,1,2" on a machine without GPUs): concurrent jobs hold distinct devices, a job waits while too few
are free, and under SLURM the scheduler's allocation is left alone. The GPU rules' commands come
from a real Snakemake dry run: one GPU through the pool, N > 1 under torchrun. A job given a GPU
that torch cannot use warns (device auto) or fails (cuda), naming CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import yaml

from albar.train import TrainingError, pick_device
from benchmark.tracking.sam import TrackerSetupError, resolve_device
from benchmark.workflow import PROJECT_ROOT, SNAKEFILE
from tests.test_workflow_smoke import SMOKE_CONFIG

STAND_IN = "0,1,2"
# The job: record the devices it was given, then hold them until `release` exists.
JOB = (
    "import os, pathlib, sys, time; out, release = map(pathlib.Path, sys.argv[1:3]); "
    "out.write_text(os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')); "
    "[time.sleep(0.05) for _ in range(1200) if not release.exists()]"
)


def _start(tmp_path: Path, name: str, gpus: int, **env) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "benchmark.devices", "--gpus", str(gpus),
        "--pool-dir", str(tmp_path / "pool"), "--",
        sys.executable, "-c", JOB, str(tmp_path / f"{name}.out"), str(tmp_path / f"{name}.release"),
    ]  # fmt: skip
    environ = {**os.environ, "CUDA_VISIBLE_DEVICES": STAND_IN, "PYTHONPATH": str(PROJECT_ROOT)}
    environ.pop("SLURM_JOB_ID", None)
    return subprocess.Popen(command, env={**environ, **env}, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} not written within {seconds} s"
        time.sleep(0.05)
    return path.read_text()


def _release(tmp_path: Path, *names: str) -> None:
    for name in names:
        (tmp_path / f"{name}.release").touch()


def test_concurrent_jobs_get_distinct_devices(tmp_path):
    jobs = [_start(tmp_path, f"job{k}", 1) for k in range(3)]
    try:
        # All three hold their claim at once (none is released yet): each has a device of its own.
        seen = [_wait_for(tmp_path / f"job{k}.out") for k in range(3)]
        assert sorted(seen) == ["0", "1", "2"]
    finally:
        _release(tmp_path, "job0", "job1", "job2")
    assert [job.wait(timeout=60) for job in jobs] == [0, 0, 0]


def test_a_job_waits_for_free_devices_and_gets_them_when_released(tmp_path):
    first = _start(tmp_path, "first", 2)
    try:
        held = _wait_for(tmp_path / "first.out")
        assert held == "0,1"
        second = _start(tmp_path, "second", 2)
        time.sleep(3)  # ample for the second to start, were it not waiting for the devices
        assert not (tmp_path / "second.out").exists() and second.poll() is None
    finally:
        _release(tmp_path, "first")
    assert first.wait(timeout=60) == 0
    try:
        assert _wait_for(tmp_path / "second.out") == "0,1"
    finally:
        _release(tmp_path, "second")
    assert second.wait(timeout=60) == 0


def test_more_gpus_than_the_machine_has_fail_clearly(tmp_path):
    job = _start(tmp_path, "greedy", 4)
    _, stderr = job.communicate(timeout=60)
    assert job.returncode == 2
    assert "a job asks for 4 GPUs but this machine has 3 (0,1,2)" in stderr
    assert not (tmp_path / "greedy.out").exists()


def test_under_slurm_the_allocation_is_left_alone(tmp_path):
    job = _start(tmp_path, "slurm", 1, SLURM_JOB_ID="42", CUDA_VISIBLE_DEVICES="5")
    _release(tmp_path, "slurm")
    assert job.wait(timeout=60) == 0
    assert (tmp_path / "slurm.out").read_text() == "5"
    assert not (tmp_path / "pool").exists()


def _dry_run_commands(tmp_path: Path, cluster: dict) -> str:
    """The shell commands of a dry run of the smoke config (one run) with this cluster section."""
    config = {**SMOKE_CONFIG, "runs": SMOKE_CONFIG["runs"][:1], "cluster": cluster}
    tmp_path.mkdir(parents=True)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(tmp_path),
         "--configfile", str(tmp_path / "config.yaml"), "-n", "-p", "--forceall"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_gpu_rules_commands_follow_the_config(tmp_path):
    multi = _dry_run_commands(tmp_path / "multi", {"gpu_nodes": True, "train_gpus": 2})
    # (Without gpu_nodes, device auto asks for no GPU: tests/test_slurm.py checks it in sacct.)
    assert (
        "python -m benchmark.devices --gpus 2 -- torchrun --standalone --nproc_per_node 2 "
        "-m albar.train --config-json"
    ) in multi
    assert "--run-name vanilla --seed 0" in multi
    assert "python -m benchmark.devices --gpus 1 -- python -m albar.predict" in multi
    assert "gpu=2" in multi  # the resource Snakemake (and SLURM's --gpus) sees


def test_a_job_given_a_gpu_torch_cannot_use_is_told_so(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available: nothing falls back")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.warns(RuntimeWarning, match=r"training.device is auto and torch sees no CUDA"):
        assert pick_device("auto") == torch.device("cpu")
    with pytest.warns(RuntimeWarning, match=r"\(CUDA_VISIBLE_DEVICES=0 was allocated"):
        assert resolve_device("auto", "tracking.sam.device") == torch.device("cpu")
    with pytest.raises(
        TrainingError, match=r"CUDA_VISIBLE_DEVICES=0 was allocated.*use auto or cpu"
    ):
        pick_device("cuda")
    with pytest.raises(TrackerSetupError, match=r"tracking.sam.device is 'cuda' but torch sees no"):
        resolve_device("cuda", "tracking.sam.device")
    # Without an allocation, auto falls back quietly, as it always has.
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pick_device("auto") == torch.device("cpu")
