"""The workflow on a real SLURM cluster (`bash cluster/local_slurm.sh up`; `.ci/run` brings one up).

The smoke config (one shard, two of its runs: vanilla, and stillmix with its frame bank) runs through
`snakemake --executor slurm --workflow-profile profiles/slurm`, first with one training job made to
fail on the node (cluster.inject_failure), then again: the failure names the rule, the SLURM job id
and the log; the rerun submits only what the first run left undone; `sacct` shows every non-local
job submitted and COMPLETED once; the tables and every items.csv equal a local run's, byte for byte.
Then the GPU path on the cluster's stand-in GPU: a GPU rule is submitted with `--gpus`, sees
`CUDA_VISIBLE_DEVICES`, and falls back to CPU with a warning (device auto) or fails with a clear
message (device cuda). Skipped when no cluster answers, unless ALBAR_REQUIRE_SLURM=1.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from benchmark.workflow import PROJECT_ROOT, SNAKEFILE, run_workflow
from tests.test_workflow_smoke import SMOKE_CONFIG

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SLURM_SMOKE = {
    **SMOKE_CONFIG,
    "n_shards": 1,
    "runs": SMOKE_CONFIG["runs"][:2],
    "training": {**SMOKE_CONFIG["training"], "seeds": [0]},  # a train_model job per run x seed
}
FAILING_RUN = "vanilla"
# A hard limit per snakemake call: the plugin can wait forever when its status checks fail.
RUN_TIMEOUT_S = 1500
# The test node has a few GB; the profile asks for what real datasets need.
TEST_NODE_MEM_MB = 1500
# Each run polls sacct sooner than the profile does: the jobs here take seconds.
FAST_STATUS = [
    "--slurm-init-seconds-before-status-checks",
    "5",
    "--seconds-between-status-checks",
    "5",
]


def _slurm_ready() -> str | None:
    """None when a cluster answers (sinfo shows an idle node, sacct works), else the reason."""
    for tool in ("sbatch", "sinfo", "sacct"):
        if shutil.which(tool) is None:
            return f"{tool} not found (bash cluster/local_slurm.sh up)"
    try:
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20
        )
        acct = subprocess.run(["sacct", "-n", "-X", "-S", "now"], capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo/sacct did not answer within 20 s"
    if state.returncode != 0 or not re.search(r"idle|mix|alloc", state.stdout):
        return f"no idle SLURM node (sinfo: {(state.stdout + state.stderr).strip()[:200]})"
    if acct.returncode != 0:
        return "sacct fails (no accounting): the plugin could not track its jobs"
    return None


@pytest.fixture(scope="module")
def slurm_cluster() -> None:
    reason = _slurm_ready()
    if reason is not None:
        if os.environ.get("ALBAR_REQUIRE_SLURM") == "1":
            pytest.fail(f"ALBAR_REQUIRE_SLURM=1 but {reason}")
        pytest.skip(reason)


def _test_profile(folder: Path) -> Path:
    """profiles/slurm with memory capped to the test node (everything else as shipped)."""
    profile = yaml.safe_load((PROJECT_ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"]["mem_mb"] = TEST_NODE_MEM_MB
    for resources in profile["set-resources"].values():
        resources["mem_mb"] = min(resources["mem_mb"], TEST_NODE_MEM_MB)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def _snakemake(workdir: Path, config: dict, profile: Path, *extra: str):
    """One `snakemake --executor slurm` run (a subprocess, as a user types it), killed at the limit."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=True))
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        "timeout", "-s", "KILL", str(RUN_TIMEOUT_S),
        sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir),
        "--configfile", str(config_file), "--executor", "slurm",
        "--workflow-profile", str(profile), *FAST_STATUS, *extra,
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    assert done.returncode != 137, (
        f"snakemake killed after {RUN_TIMEOUT_S} s:\n{done.stderr[-3000:]}"
    )
    done.seconds = time.monotonic() - started
    return done


def _sacct(workdir: Path) -> list[dict]:
    """Every SLURM job (allocation, not its steps) started in `workdir`, oldest first."""
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-1days", "-o", "JobIDRaw,State,WorkDir,Comment,AllocTRES"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    jobs = []
    for line in out.splitlines():
        jobid, state, folder, comment, tres = line.split("|", 4)
        if Path(folder) == workdir:
            jobs.append({"id": jobid, "state": state, "job": comment, "tres": tres})
    return sorted(jobs, key=lambda job: int(job["id"]))


def _local_rules() -> set[str]:
    """The rules the workflow marks `localrule: True` (they run in the submitting snakemake)."""
    names = set()
    for path in (PROJECT_ROOT / "pipeline" / "rules").glob("*.smk"):
        for rule, body in re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)+)", path.read_text(), re.M):
            if re.search(r"^\s+localrule: True", body, re.M):
                names.add(rule)
    return names | {"all"}


def _planned_jobs(config: dict, folder: Path) -> dict[str, int]:
    """Jobs per rule a dry run in an empty folder schedules: everything the workflow builds."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(folder),
         "--configfile", str(folder / "config.yaml"), "-n", "--quiet", "rules"],
        capture_output=True, text=True, check=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    ).stdout  # fmt: skip
    table = out.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", table, re.M))
    return {rule: int(n) for rule, n in counts.items() if rule != "total"}


def _digests(results: Path) -> dict[str, str]:
    files = sorted((results / "tables").rglob("*")) + sorted((results / "bench").rglob("items.csv"))
    return {
        str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in files
        if path.is_file()
    }


@pytest.fixture(scope="module")
def cluster_run(slurm_cluster, tmp_path_factory) -> dict:
    """The local run, then the failing and the resuming SLURM run (with their sacct records)."""
    base = tmp_path_factory.mktemp("slurm")
    profile = _test_profile(base / "profile")
    timings = {}
    started = time.monotonic()
    run_workflow(base / "local", SLURM_SMOKE, cores=2)
    timings["local run"] = time.monotonic() - started
    workdir = (base / "cluster").resolve()
    failing = {**SLURM_SMOKE, "cluster": {"inject_failure": FAILING_RUN}}
    first = _snakemake(workdir, failing, profile)
    first_jobs = _sacct(workdir)
    second = _snakemake(workdir, SLURM_SMOKE, profile)
    timings["slurm run (fails)"], timings["slurm rerun"] = first.seconds, second.seconds
    print("timings (s):", {name: round(seconds) for name, seconds in timings.items()})
    return {
        "base": base,
        "profile": profile,
        "workdir": workdir,
        "first": first,
        "second": second,
        "first_jobs": first_jobs,
        "all_jobs": _sacct(workdir),
    }


def test_injected_failure_names_rule_job_and_log(cluster_run):
    first, workdir = cluster_run["first"], cluster_run["workdir"]
    assert first.returncode != 0
    failed = [job for job in cluster_run["first_jobs"] if job["state"] != "COMPLETED"]
    assert [(job["state"], job["job"]) for job in failed] == [
        ("FAILED", f"rule_train_model_wildcards_{FAILING_RUN}_0")
    ]
    jobid = failed[0]["id"]
    log = (
        workdir
        / ".snakemake"
        / "slurm_logs"
        / "rule_train_model"
        / f"{FAILING_RUN}_0"
        / f"{jobid}.log"
    )
    output = first.stdout + first.stderr
    assert "Error in rule train_model" in output
    assert f"SLURM-job '{jobid}' failed" in output
    assert str(log) in output
    # Kept on failure, with the job's own message.
    assert "injected failure (cluster.inject_failure)" in log.read_text()


def test_every_cluster_job_submitted_and_completed_once(cluster_run, tmp_path):
    second = cluster_run["second"]
    assert second.returncode == 0, second.stderr[-4000:]
    planned = _planned_jobs(SLURM_SMOKE, tmp_path / "plan")
    local = _local_rules()
    assert {"summarise_results", "collect_benchmark_items", "gate_review"} <= local
    remote = {rule: n for rule, n in planned.items() if rule not in local}
    jobs = cluster_run["all_jobs"]
    completed = [job["job"] for job in jobs if job["state"] == "COMPLETED"]
    # Every non-local job ran on the cluster exactly once: the rerun resubmitted nothing the first
    # run had finished (only the failed training and what depends on it).
    assert len(completed) == len(set(completed)) == sum(remote.values())
    per_rule = {}
    for name in completed:
        rule = re.match(r"rule_(\w+?)(_wildcards_|$)", name).group(1)
        per_rule[rule] = per_rule.get(rule, 0) + 1
    assert per_rule == remote
    assert [job["state"] for job in jobs].count("FAILED") == 1
    # Device auto without cluster.gpu_nodes: no job asked for a GPU.
    assert not [job for job in jobs if "gpu" in job["tres"]]
    assert len(jobs) == sum(remote.values()) + 1
    first_ids = {job["id"] for job in cluster_run["first_jobs"]}
    resubmitted = {job["job"] for job in jobs if job["id"] not in first_ids}
    assert f"rule_train_model_wildcards_{FAILING_RUN}_0" in resubmitted
    assert f"rule_predict_items_wildcards_{FAILING_RUN}_0" in resubmitted
    assert not any(name.startswith("rule_ingest_dataset") for name in resubmitted)


def test_cluster_tables_equal_local_bytes(cluster_run):
    assert cluster_run["second"].returncode == 0
    local = _digests(cluster_run["base"] / "local" / "results" / "smoke")
    cluster = _digests(cluster_run["workdir"] / "results" / "smoke")
    assert "tables/summary.csv" in local and any(name.endswith("items.csv") for name in local)
    assert cluster == local


def _gpu_bank_run(cluster_run, name: str, config: dict):
    """Rebuild the StillMix bank (a GPU rule) alone in a copy of the finished cluster run."""
    workdir = cluster_run["base"] / name
    shutil.copytree(cluster_run["workdir"], workdir, ignore=shutil.ignore_patterns("slurm_logs"))
    bank = next((workdir / "results" / "smoke" / "runs" / "_stillmix_bank").rglob("bank.pt"))
    before = bank.read_bytes()
    done = _snakemake(
        workdir.resolve(), config, cluster_run["profile"],
        str(bank.relative_to(workdir)), "--forcerun", "build_stillmix_bank",
    )  # fmt: skip
    jobs = _sacct(workdir.resolve())
    logs = list((workdir / "logs" / "smoke" / "build_stillmix_bank").glob("*.log"))
    return done, jobs, logs[0].read_text(), bank, before


def _load_bank(data: bytes) -> dict:
    return torch.load(io.BytesIO(data), weights_only=True)


def test_gpu_rule_gets_the_gpu_and_falls_back_to_cpu(cluster_run):
    config = {**SLURM_SMOKE, "cluster": {"gpu_nodes": True}}
    done, jobs, log, bank, before = _gpu_bank_run(cluster_run, "gpu_auto", config)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [job["state"] for job in jobs] == ["COMPLETED"]
    assert "gres/gpu=1" in jobs[0]["tres"]
    assert (
        "training.device is auto and torch sees no CUDA device "
        "(CUDA_VISIBLE_DEVICES=0 was allocated to this job): running on CPU"
    ) in log
    # The CPU fallback builds the same bank (the bank records no build time).
    rebuilt, original = _load_bank(bank.read_bytes()), _load_bank(before)
    assert rebuilt.keys() == original.keys()
    for key, value in original.items():
        if torch.is_tensor(value):
            assert torch.equal(rebuilt[key], value), key
        else:
            assert rebuilt[key] == value, key


def test_gpu_rule_demanding_cuda_fails_clearly(cluster_run):
    config = {**SLURM_SMOKE, "training": {**SLURM_SMOKE["training"], "device": "cuda"}}
    done, jobs, log, _, _ = _gpu_bank_run(cluster_run, "gpu_cuda", config)
    assert done.returncode != 0
    assert [job["state"] for job in jobs] == ["FAILED"]
    assert "gres/gpu=1" in jobs[0]["tres"]
    assert "Error in rule build_stillmix_bank" in done.stdout + done.stderr
    assert (
        "error: training.device is cuda but torch sees no CUDA device "
        "(CUDA_VISIBLE_DEVICES=0 was allocated to this job); use auto or cpu"
    ) in log
