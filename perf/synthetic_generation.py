"""Throughput of the synthetic dataset generator with the default config (render + encode + masks).

    .venv/bin/python perf/synthetic_generation.py [--workers 1 2]

Prints videos/s and frames/s per worker count; each run writes into a fresh temp folder.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

from benchmark.config import load_config
from benchmark.datasets import synthetic
from benchmark.runtime import set_threads
from benchmark.workflow import PROJECT_ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    set_threads(1)
    config = load_config(PROJECT_ROOT / "config" / "default.yaml")
    settings = config["dataset"]["synthetic"]
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; python {platform.python_version()}"
    )
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            result = synthetic.ingest(settings, out, seed=0, n_shards=4, workers=workers)
            seconds = time.perf_counter() - started
        videos = len(result.manifest)
        frames = int(result.manifest["num_frames"].sum())
        print(
            f"workers={workers}: {videos} videos, {frames} frames in {seconds:.2f} s -> "
            f"{videos / seconds:.1f} videos/s, {frames / seconds:.0f} frames/s"
        )


if __name__ == "__main__":
    main()
