"""Mask digests and mask-file digests of trackers on videos of a results folder, for comparing two
versions of the tracking code byte for byte (run once per code tree with PYTHONPATH pointing at it),
and the process's peak resident memory.

    PYTHONPATH=OLD_TREE .venv/bin/python perf/tracker_digests.py RESULTS VIDEO[,VIDEO...] \
        [--tracker grabcut] [--window 1] [--sam-checkpoint tiny.pth] > old.json
    PYTHONPATH=NEW_TREE .venv/bin/python perf/tracker_digests.py ... > new.json && cmp old.json new.json

Run it from the folder the results' manifest paths are relative to (the workflow's directory).
Trackers use the schema's default settings, with `cleanup.temporal_window` set by `--window`; `sam`
needs `--sam-checkpoint` (a `tiny_test` model from `python -m benchmark.tracking make-tiny-sam`).
Videos are decoded as `track_actors` does where the code has `run.track_video`, else whole.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
from pathlib import Path

from benchmark.config import validate_config
from benchmark.manifest import clip_boxes, read_boxes, read_manifest
from benchmark.masks import mask_sha256, write_actor_masks
from benchmark.tracking import build_tracker
from benchmark.tracking.tubes import plan_video
from benchmark.video import read_video

try:
    from benchmark.tracking.run import track_video
except ImportError:  # tracking code from before streaming
    track_video = None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", help="results/<dataset> folder (manifest.csv, boxes.parquet)")
    parser.add_argument("videos", help="comma-separated video ids")
    parser.add_argument("--tracker", choices=["grabcut", "sam"], default="grabcut")
    parser.add_argument("--window", type=int, default=1, help="cleanup.temporal_window")
    parser.add_argument("--sam-checkpoint", help="a tiny_test SAM checkpoint (for --tracker sam)")
    args = parser.parse_args()
    results = Path(args.results)
    settings = validate_config({"dataset": {"name": "x", "kind": "synthetic"}})["tracking"]
    settings = settings[args.tracker]
    settings["cleanup"]["temporal_window"] = args.window
    if args.tracker == "sam":
        settings.update(model_type="tiny_test", checkpoint=args.sam_checkpoint, device="cpu")
    tracker = build_tracker(args.tracker, settings, seed=0)
    manifest = read_manifest(results / "manifest.csv")
    boxes, _ = clip_boxes(read_boxes(results / "boxes.parquet", manifest), manifest)
    manifest = manifest.set_index("video_id", drop=False)
    digests = {}
    for video_id in args.videos.split(","):
        row = manifest.loc[video_id]
        plan = plan_video(
            video_id,
            boxes[boxes.video_id == video_id],
            int(row.num_frames),
            int(row.height),
            int(row.width),
        )
        if track_video is not None:
            masks = track_video(tracker, plan, row, results)
        else:
            masks = tracker.track(plan, read_video(row.path)[0])
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "masks.json.gz"
            write_actor_masks(path, masks)
            file_digest = hashlib.sha256(path.read_bytes()).hexdigest()
        digests[video_id] = {"mask_sha256": mask_sha256(masks), "file_sha256": file_digest}
        print(f"{video_id}: {digests[video_id]}", file=sys.stderr, flush=True)
    print(json.dumps(digests, sort_keys=True, indent=1))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(digests)} videos, {args.tracker}, window {args.window}; peak RSS {peak:.0f} MB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
