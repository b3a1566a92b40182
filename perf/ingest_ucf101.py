"""Annotation-only ingest time of the real UCF101-24 pyannot.pkl (target < 2 s).

    .venv/bin/python perf/ingest_ucf101.py [--data ../shared/data/ucf101-24] [--repeats 5]

Times, best of N in one process, (a) the adapter alone (`benchmark.datasets.ucf101.ingest`:
restricted unpickling, flattening 170k boxes, checks) and (b) the whole ingest stage
(`benchmark.ingest.run_ingest`: adapter + validated writes of manifest.csv and boxes.parquet),
on the 910 split-1 test videos. Prints the counts too, so a figure can be checked against the facts
(910 videos, 159,289 frames, 138,527 with a box).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from benchmark.config import validate_config
from benchmark.datasets import ucf101
from benchmark.ingest import run_ingest
from benchmark.runtime import set_threads

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def best_of(repeats: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT / "../shared/data/ucf101-24")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    set_threads(1)
    box_file, test_list = args.data / "pyannot.pkl", args.data / "testlist01.txt"
    if not box_file.exists():
        raise SystemExit(
            f"{box_file}: not found; pass --data <folder with pyannot.pkl and testlist01.txt>"
        )
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as out:
        config = validate_config(
            {
                "results": out,
                "dataset": {
                    "name": "ucf101_24",
                    "kind": "ucf101",
                    "ucf101": {"test_list_24": str(test_list), "box_file": str(box_file)},
                },
            }
        )
        settings = config["dataset"]["ucf101"]
        adapter_s, result = best_of(
            args.repeats,
            lambda: ucf101.ingest(
                settings, out, seed=0, n_shards=config["n_shards"], on_error="fail"
            ),
        )
        stage_s, _ = best_of(args.repeats, lambda: run_ingest(config))
    report = result.report
    print(
        f"{report['videos']} videos, {report['frames']} frames, {report['frames_with_boxes']} with a box, "
        f"{report['boxes']} boxes"
    )
    print(f"adapter only (best of {args.repeats}): {adapter_s:.3f} s")
    print(f"ingest stage incl. writes (best of {args.repeats}): {stage_s:.3f} s  (target < 2 s)")


if __name__ == "__main__":
    main()
