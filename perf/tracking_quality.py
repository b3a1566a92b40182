"""Mask quality on the default synthetic dataset's test split: truth, rectangles and GrabCut (and
`sam` when a checkpoint is given), from the QC tables the workflow writes.

    .venv/bin/python perf/tracking_quality.py [--threads 1] [--sam-checkpoint PATH --sam-model vit_b]

Builds everything in a temp folder with config/default.yaml (its synthetic settings, its seed) and
prints, per mask source, the means of iou_gt_mean, leak_gt, leak_context_gt and box_fill_mean, the
flag counts, and the tracking speed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmark.config import load_config
from benchmark.ingest import run_ingest
from benchmark.manifest import clip_boxes, read_boxes, read_manifest
from benchmark.runtime import set_threads
from benchmark.tracking.qc import run_qc
from benchmark.tracking.run import build_box_masks_shard, track_shard

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sam-checkpoint", default=None)
    parser.add_argument("--sam-model", default="vit_b")
    args = parser.parse_args()
    set_threads(args.threads)
    trackers = ["grabcut"] + (["sam"] if args.sam_checkpoint else [])
    with tempfile.TemporaryDirectory() as folder:
        overrides = {
            "results": folder,
            "n_shards": 1,
            "tracking": {
                "trackers": trackers,
                "sam": {"checkpoint": args.sam_checkpoint, "model_type": args.sam_model},
            },
        }
        config = load_config(ROOT / "config" / "default.yaml", overrides)
        run_ingest(config, threads=args.threads)
        for source in config["masks"]["sources"]:
            build_box_masks_shard(config, source, 0)
        seconds = {}
        for tracker in trackers:
            started = time.perf_counter()
            result = track_shard(config, tracker, 0)
            seconds[tracker] = (time.perf_counter() - started, result.frames)
        results = Path(folder) / config["dataset"]["name"]
        manifest = read_manifest(results / "manifest.csv")
        boxes, _ = clip_boxes(read_boxes(results / "boxes.parquet", manifest), manifest)
        test = set(manifest.loc[manifest["split"] == "test", "video_id"])
        print(
            "| source | videos | iou_gt_mean | leak_gt | leak_context_gt | box_fill_mean | flags |"
        )
        print("|---|---|---|---|---|---|---|")
        for source in ["truth", *config["masks"]["sources"], *trackers]:
            table = run_qc(results, source, 1, boxes, config["masks"]["qc"])
            table = table[table["video_id"].isin(test)]
            flags = table["flags"][table["flags"] != ""].str.split(";").explode().value_counts()
            print(
                f"| {source} | {len(table)} | {table['iou_gt_mean'].mean():.3f} | "
                f"{table['leak_gt'].mean():.3f} | {table['leak_context_gt'].mean():.3f} | "
                f"{table['box_fill_mean'].mean():.3f} | "
                f"{', '.join(f'{k} {v}' for k, v in flags.items()) or '-'} |"
            )
        for tracker, (spent, frames) in seconds.items():
            print(f"{tracker}: {frames} frames in {spent:.1f} s ({frames / spent:.1f} frames/s)")


if __name__ == "__main__":
    main()
