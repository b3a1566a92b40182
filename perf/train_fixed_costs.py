"""Where a training job's time goes besides the steps, and what training seeds in one job saves.

    python perf/train_fixed_costs.py --manifest results/synthetic/manifest.csv [--run vanilla]
        [--seeds 0 1 2] [--config config/default.yaml] [--json out.json]

On the default dataset's files (build them with `snakemake --cores 2 results/synthetic/manifest.csv`):
- process start + imports: `python -c "import albar.train"` in a fresh process (median of 3);
- data decode: decoding every train and val video once (what the cache then holds);
- validation: one evaluate() pass with the clips decoded and transformed (the first epoch's cost)
  and from the kept validation clips (every later epoch);
- per step: from the seeds' timing.json (model and data seconds per optimizer step);
- jobs: the seeds trained as one process each (today's one job per run x seed) and all in one
  process (`--seed 0 1 2`), wall time of each, and whether every seed's checkpoint.pt is the same.
Prints a Markdown table; numbers are from one run on whatever machine this is (say if it was shared).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


CPU: list[float] = []  # CPU seconds (user + system) of each _python call, beside its wall time


def _python(args: list[str], threads: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode:
        sys.exit(f"failed: python {' '.join(args[:3])} ...\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return time.perf_counter() - started


def import_seconds(threads: int) -> float:
    return statistics.median(_python(["-c", "import albar.train"], threads) for _ in range(3))


def decode_and_validation(config: dict, run_name: str, manifest: Path) -> dict:
    import torch

    from albar.runs import effective_training, find_run
    from albar.train import evaluate
    from albar.train_parts import build_seed, load_run_data, start_runtime

    run = find_run(config, run_name)
    training = effective_training(config, run)
    data = load_run_data(run, training, config["benchmark"]["test_clip"], manifest)
    started = time.perf_counter()
    for entry in data.train_entries + data.val_entries:
        data.reader.video(entry.path)
    decode_s = time.perf_counter() - started
    device, dist_ctx = start_runtime(training)
    parts = build_seed(run, training, training["seeds"][0], data, device, dist_ctx)
    timings = []
    for _ in range(2):  # the first pass transforms the clips, the second reads the kept ones
        started = time.perf_counter()
        evaluate(parts.model, parts.val_loader, device, None)
        timings.append(time.perf_counter() - started)
    del torch
    return {
        "videos": len(data.train_entries) + len(data.val_entries),
        "decode_s": decode_s,
        "val_first_s": timings[0],
        "val_kept_s": timings[1],
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seed_jobs(config: dict, run: str, seeds: list[int], manifest: Path, threads: int) -> dict:
    cfg = json.dumps(config, sort_keys=True)
    base = ["-m", "albar.train", "--config-json", cfg, "--run", run, "--manifest", str(manifest)]
    with tempfile.TemporaryDirectory() as scratch:
        apart, together = Path(scratch) / "apart", Path(scratch) / "together"
        first_cpu = len(CPU)
        apart_s = [
            _python(
                [
                    *base,
                    "--seed",
                    str(s),
                    "--out",
                    str(apart / f"seed{s}"),
                    "--threads",
                    str(threads),
                ],
                threads,
            )
            for s in seeds
        ]
        together_s = _python(
            [*base, "--seed", *map(str, seeds), "--out", str(together), "--threads", str(threads)],
            threads,
        )
        same = all(
            sha256(apart / f"seed{s}" / name) == sha256(together / f"seed{s}" / name)
            for s in seeds
            for name in ("checkpoint.pt", "metrics.json", "train.log", "state/last.pt")
        )
        steps = []
        for s in seeds:
            timing = json.loads((together / f"seed{s}" / "timing.json").read_text())
            metrics = json.loads((together / f"seed{s}" / "metrics.json").read_text())
            epochs = timing["epochs"]
            steps.append(
                {
                    "step_s": sum(e["compute_s"] for e in epochs) / metrics["steps"],
                    "data_per_step_s": sum(e["data_s"] for e in epochs) / metrics["steps"],
                    "wall_s": timing["wall_s"],
                }
            )
    apart_cpu, together_cpu = CPU[first_cpu : first_cpu + len(seeds)], CPU[-1]
    return {
        "apart_s": apart_s,
        "together_s": together_s,
        "apart_cpu_s": apart_cpu,
        "together_cpu_s": together_cpu,
        "identical": same,
        "seeds": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--config", default=str(ROOT / "config" / "default.yaml"))
    parser.add_argument("--run", default="vanilla")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, help="train this many epochs (default: the config's)")
    parser.add_argument("--json")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = str(ROOT)
    from benchmark.config import load_config
    from benchmark.runtime import set_threads

    set_threads(args.threads)
    config = load_config(args.config)
    config["training"]["seeds"] = args.seeds
    if args.epochs:
        config["training"]["epochs"] = args.epochs
    for run in config["runs"]:
        run.get("training", {}).pop("seeds", None)
    manifest = Path(args.manifest).resolve()
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "run": args.run,
        "import_s": import_seconds(args.threads),
        **decode_and_validation(config, args.run, manifest),
        **seed_jobs(config, args.run, args.seeds, manifest, args.threads),
    }
    n = len(args.seeds)
    rows = [
        ("process start + imports (s)", f"{result['import_s']:.2f}"),
        (f"decode {result['videos']} train+val videos (s)", f"{result['decode_s']:.2f}"),
        (
            "validation pass, first / kept clips (s)",
            f"{result['val_first_s']:.2f} / {result['val_kept_s']:.2f}",
        ),
        (
            "model s per step (mean over seeds)",
            f"{statistics.mean(s['step_s'] for s in result['seeds']):.3f}",
        ),
        (
            "data s per step (mean over seeds)",
            f"{statistics.mean(s['data_per_step_s'] for s in result['seeds']):.3f}",
        ),
        (
            f"{n} seeds, one process each (s)",
            f"{sum(result['apart_s']):.1f} ({' + '.join(f'{s:.1f}' for s in result['apart_s'])})",
        ),
        (f"{n} seeds in one process (s)", f"{result['together_s']:.1f}"),
        (f"{n} seeds, one process each: CPU s", f"{sum(result['apart_cpu_s']):.1f}"),
        (f"{n} seeds in one process: CPU s", f"{result['together_cpu_s']:.1f}"),
        ("every seed's files byte-identical either way", str(result["identical"])),
    ]
    epochs = config["training"]["epochs"]
    print(f"{args.run}, {epochs} epochs, on {manifest} — {result['machine']}, {result['date']}\n")
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
