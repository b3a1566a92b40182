"""SCUFO's frozen-frame read, before and after `video.read_frame`, on the same SCUBA items.

    .venv/bin/python perf/scufo_frame_read.py ITEMS_FOLDER [--items 30] [--passes 2]

Before: every frame of the item decoded and converted to RGB, frame t kept (SCUFO until
2026-12-02). After: `read_frame` (decoding stops at t, only t is converted; the length comes from
the packets). t is each item's middle frame (`scufo.frame_choice: middle`). Both run alternately in
one process on every `len // items`-th item of the folder, CPU time (`time.process_time`); the
frames are checked equal.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmark.video import open_video, read_frame


def decode_all_keep(path: Path, t: int) -> np.ndarray:
    chosen = None
    with open_video(path) as (_, frames):
        for index, frame in enumerate(frames):
            if index == t:
                chosen = frame
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("items", help="a folder of SCUBA items (.mp4 or .zip)")
    parser.add_argument("--items", dest="count", type=int, default=30)
    parser.add_argument("--passes", type=int, default=2)
    args = parser.parse_args()
    paths = sorted(p for p in Path(args.items).iterdir() if p.suffix in (".mp4", ".zip"))
    paths = paths[:: max(1, len(paths) // args.count)][: args.count]
    lengths = {p: read_frame(p, 0)[1] for p in paths}
    cpu = {"decode all": 0.0, "read_frame": 0.0}
    for _ in range(args.passes):
        for path in paths:
            t = lengths[path] // 2
            started = time.process_time()
            before = decode_all_keep(path, t)
            cpu["decode all"] += time.process_time() - started
            started = time.process_time()
            after, _ = read_frame(path, t)
            cpu["read_frame"] += time.process_time() - started
            assert np.array_equal(before, after), path
    frames = sum(lengths.values()) * args.passes
    per_frame = {name: seconds / frames * 1e3 for name, seconds in cpu.items()}
    print(
        f"{len(paths)} items, {sum(lengths.values())} frames, {args.passes} passes: CPU ms per item "
        f"frame: decode all {per_frame['decode all']:.2f}, read_frame {per_frame['read_frame']:.2f} "
        f"({per_frame['decode all'] / per_frame['read_frame']:.1f}x less)"
    )


if __name__ == "__main__":
    main()
