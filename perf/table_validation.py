"""Time the schema checks of the two large ingest tables (manifest.csv, boxes.parquet).

`benchmark.table_files` checks tables whose schema says `x-validate: columns` column by column
(vectorised) instead of one jsonschema call per row. This script builds a seeded 10,000-video
manifest and a 160,000-box table (about the real UCF101 / UCF101-24 sizes), times
`validate_rows` on each (best of `--repeat`), and for comparison times jsonschema on the first
`--sample` rows of each, scaled to the whole table. Run:
`.venv/bin/python perf/table_validation.py [--repeat 3] [--sample 2000]`; prints a JSON report.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pandas as pd

from benchmark.table_files import row_validator, validate_rows


def tables(videos: int = 10_000, boxes: int = 160_000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    ids = [f"v_{i:05d}" for i in range(videos)]
    manifest = pd.DataFrame(
        {
            "video_id": ids,
            "source_name": [f"Class{i % 101}/{v}.avi" for i, v in enumerate(ids)],
            "path": [f"videos/{v}.avi" for v in ids],
            "label": rng.integers(0, 101, videos),
            "label_name": [f"Class{i % 101}" for i in range(videos)],
            "split": rng.choice(["train", "val", "test"], videos),
            "num_frames": rng.integers(30, 300, videos),
            "fps": np.full(videos, 25.0),
            "width": np.full(videos, 320),
            "height": np.full(videos, 240),
        }
    )
    x1 = rng.uniform(0, 200, boxes)
    y1 = rng.uniform(0, 150, boxes)
    box = pd.DataFrame(
        {
            "video_id": [ids[i // 16] for i in range(boxes)],
            "frame": np.arange(boxes, dtype=np.int64) % 16,
            "actor": np.zeros(boxes, dtype=np.int64),
            "x1": x1,
            "y1": y1,
            "x2": x1 + 40,
            "y2": y1 + 60,
        }
    )
    return manifest, box


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row_wise(frame: pd.DataFrame, name: str, sample: int) -> float:
    validator = row_validator(name)
    records = frame.head(sample).astype(object).to_dict("records")
    records = [
        {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records
    ]
    start = time.perf_counter()
    for record in records:
        next(iter(validator.iter_errors(record)), None)
    return (time.perf_counter() - start) * len(frame) / sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2000)
    args = parser.parse_args()
    manifest, boxes = tables()
    report = {"machine": platform.machine(), "processor": platform.processor()}
    for name, frame in (("manifest", manifest), ("boxes", boxes)):
        report[name] = {
            "rows": len(frame),
            "column_wise_s": round(
                best(lambda f=frame, n=name: validate_rows(f, n, None), args.repeat), 4
            ),
            "row_wise_estimate_s": round(row_wise(frame, name, args.sample), 2),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
