"""GPU devices for the workflow's jobs: what a job was given, and a device pool for one machine.

A scheduler (SLURM) gives each GPU job its devices through `CUDA_VISIBLE_DEVICES`; Snakemake on one
machine only counts a `gpu` resource and hands out no device ids, so concurrent GPU jobs would all
land on device 0. `python -m benchmark.devices --gpus N -- <command>` (the GPU rules' launcher) claims
N free device ids from a pool of lock files, one per device, under `.snakemake/gpu_pool/` of the
working directory, sets `CUDA_VISIBLE_DEVICES` to them and replaces itself with the command; the
locks are inherited by the command (and by torchrun's ranks) and released when it exits, however it
exits. Under SLURM (`SLURM_JOB_ID` set) the allocation is the scheduler's and is left alone.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

POOL_DIR = Path(".snakemake") / "gpu_pool"


class DeviceError(RuntimeError):
    """No way to give a job the devices it asks for (the message says what to do)."""


def allocated_devices(environ: dict | None = None) -> str:
    """The job's `CUDA_VISIBLE_DEVICES` ("" when unset): what a scheduler or the pool gave it."""
    return (os.environ if environ is None else environ).get("CUDA_VISIBLE_DEVICES", "").strip()


def no_cuda_note() -> str:
    """Why CUDA is missing, for an error or warning: a job given a GPU that torch cannot use (a
    CPU-only torch, no driver) is told so, rather than just "no CUDA device"."""
    given = allocated_devices()
    if given:
        return f"torch sees no CUDA device (CUDA_VISIBLE_DEVICES={given} was allocated to this job)"
    return "torch sees no CUDA device"


def warn_cpu_fallback(key: str) -> None:
    """A job whose device is `auto` falls back to CPU: say so in its log when it was given a GPU
    (a cluster's GPU partition without a usable CUDA is worth noticing)."""
    if allocated_devices():
        # stacklevel=1: one warning location, so the default filter prints it once per job
        # however many call sites resolve the device.
        message = f"{key} is auto and {no_cuda_note()}: running on CPU"
        warnings.warn(message, RuntimeWarning, stacklevel=1)


def machine_devices() -> list[str]:
    """The device ids this machine offers: `CUDA_VISIBLE_DEVICES` when set, else every GPU
    `nvidia-smi -L` lists (none without a driver)."""
    given = allocated_devices()
    if given:
        return [part.strip() for part in given.split(",") if part.strip()]
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(index) for index, line in enumerate(listing.splitlines()) if line.startswith("GPU")]


def claim_devices(
    count: int,
    devices: list[str],
    pool_dir: str | os.PathLike = POOL_DIR,
    *,
    poll_seconds: float = 0.5,
    timeout_seconds: float | None = None,
) -> tuple[list[str], list[int]]:
    """Lock `count` of `devices` (waiting while fewer are free); returns their ids and the open,
    locked file descriptors, which hold the claim until they are closed (or the process exits)."""
    if count > len(devices):
        raise DeviceError(
            f"a job asks for {count} GPUs but this machine has {len(devices)} "
            f"({','.join(devices) or 'none'}); lower cluster.train_gpus or run on a bigger node"
        )
    pool = Path(pool_dir)
    pool.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    while True:
        claimed: list[tuple[str, int]] = []
        for device in devices:
            fd = os.open(pool / f"{device}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            claimed.append((device, fd))
            if len(claimed) == count:
                return [d for d, _ in claimed], [fd for _, fd in claimed]
        # Not enough free: give back what we hold (no job sits on half a claim), then wait.
        for _, fd in claimed:
            os.close(fd)
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            raise DeviceError(f"no {count} free GPUs of {','.join(devices)} in {pool}")
        time.sleep(poll_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run a command on N GPUs of its own (CUDA_VISIBLE_DEVICES), claimed from a "
        "lock-file pool; under SLURM, on the devices the scheduler gave the job."
    )
    parser.add_argument("--gpus", type=int, required=True, help="devices the command needs")
    parser.add_argument("--pool-dir", default=str(POOL_DIR), help="lock files, one per device")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")
    if args.gpus > 0 and "SLURM_JOB_ID" not in os.environ:
        devices = machine_devices()
        if devices:
            try:
                ids, fds = claim_devices(args.gpus, devices, args.pool_dir)
            except DeviceError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            for fd in fds:
                os.set_inheritable(fd, True)
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(ids)
            print(
                f"benchmark.devices: CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}",
                file=sys.stderr,
            )
        # No GPU at all: run anyway; device auto falls back to CPU, cuda fails with its message.
    try:
        os.execvp(command[0], command)
    except OSError as error:
        print(f"error: cannot run {command[0]!r}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
