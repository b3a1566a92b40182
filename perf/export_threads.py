"""The exports' per-item loop one item at a time against N at a time, on the same items.

    .venv/bin/python perf/export_threads.py RESULTS_DIR --variant box_first --items 80 \
        --threads 1 2 [--repeats 2]

Takes the first `--items` mp4 SCUBA items of a finished build (RESULTS_DIR: a results folder, e.g.
`perf/standin_build.py`'s), writes each one's ALBAR zip and mmaction2 rawframes into a temporary
folder with `benchmark.exports`' own per-item functions and `_in_order`, alternating the thread
counts, and prints wall and CPU seconds per pass and per item frame, and whether every thread count
wrote the same bytes.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmark import exports
from benchmark.release.files import bundle_files, file_sha256


def digest(folder: Path) -> str:
    """One sha256 over the files' names and sha256s (the release's checksum order)."""
    lines = "".join(f"{file_sha256(folder / name)}  {name}\n" for name in bundle_files(folder))
    return hashlib.sha256(lines.encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--variant", default="box_first")
    parser.add_argument("--items", type=int, default=80)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    tables = sorted(
        (args.results / "bench" / args.variant / "shards" / "scuba").glob("shard-*[0-9].csv")
    )
    items = pd.concat(pd.read_csv(t) for t in tables).head(args.items)
    frames = int(items["frames"].sum())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for threads in args.threads:
                out = Path(tmp) / f"t{threads}"
                shutil.rmtree(out, ignore_errors=True)
                # quality and subsampling: the defaults of benchmark.jpeg_quality / jpeg_subsampling
                albar = functools.partial(
                    exports._write_albar_entry, quality=95, subsampling="4:4:4"
                )
                raw = functools.partial(exports._write_rawframes, quality=95, subsampling="4:4:4")
                jobs_a = [
                    ("scuba", args.results / r.path, out / "albar" / r.source / f"{r.item_id}.zip")
                    for r in items.itertuples()
                ]
                jobs_m = [
                    ("scuba", args.results / r.path, out / "mm" / r.source / r.item_id, r.frames)
                    for r in items.itertuples()
                ]
                for name, work, jobs in (("albar", albar, jobs_a), ("mmaction2", raw, jobs_m)):
                    cpu0, wall0 = os.times(), time.perf_counter()
                    exports._run_all(work, jobs, threads)
                    wall = time.perf_counter() - wall0
                    cpu1 = os.times()
                    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
                    rows.append(
                        {
                            "pass": repeat,
                            "export": name,
                            "threads": threads,
                            "wall_s": round(wall, 2),
                            "cpu_s": round(cpu, 2),
                            "wall_ms_per_frame": round(1000 * wall / frames, 3),
                        }
                    )
                rows[-1]["digest"] = digest(out)[:16]
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    best = table.groupby(["export", "threads"])["wall_s"].min().unstack()
    print(best.to_string())
    same = table.dropna(subset=["digest"])["digest"].nunique() == 1
    print(f"{len(items)} items, {frames} item frames; same bytes for every thread count: {same}")


if __name__ == "__main__":
    main()
