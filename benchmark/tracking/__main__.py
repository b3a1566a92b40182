"""Command line of the masks stage (the rules in pipeline/rules/masks.smk call exactly these).

python -m benchmark.tracking track --tracker grabcut --shard shard-000 --config config/default.yaml
python -m benchmark.tracking boxes --source box_first --shard shard-000 --config ...
python -m benchmark.tracking qc --source grabcut --config ...
python -m benchmark.tracking make-tiny-sam PATH [--seed 0]    # random tiny SAM, tests only
python -m benchmark.tracking make-tiny-sam2 PATH [--seed 0]   # random tiny SAM 2 (needs the sam2 extra)
python -m benchmark.tracking flags                            # the QC flag list
"""

from __future__ import annotations

import argparse
import sys
import time

from benchmark.config import add_config_arguments, config_from_args, results_dir
from benchmark.runtime import set_threads
from benchmark.tracking import TRACKERS, TrackerSetupError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.tracking",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    track = commands.add_parser("track", help="track one shard's videos with one tracker")
    track.add_argument("--tracker", required=True, choices=sorted(TRACKERS))
    track.add_argument("--shard", required=True, help="shard-<kkk> or its number")
    boxes = commands.add_parser("boxes", help="write one shard's rectangle masks")
    boxes.add_argument("--source", required=True, choices=["box_first", "box_union"])
    boxes.add_argument("--shard", required=True, help="shard-<kkk> or its number")
    qc = commands.add_parser("qc", help="write masks/<source>/qc.csv and skipped.csv")
    qc.add_argument("--source", required=True)
    for sub in (track, boxes, qc):
        add_config_arguments(sub)
        sub.add_argument("--threads", type=int, default=1, help="CPU threads (torch, OpenCV)")
    tiny = commands.add_parser(
        "make-tiny-sam", help="save a random tiny SAM checkpoint (tests only)"
    )
    tiny.add_argument("path")
    tiny.add_argument("--seed", type=int, default=0)
    tiny2 = commands.add_parser(
        "make-tiny-sam2", help="save a random tiny SAM 2 checkpoint (tests only; sam2 extra)"
    )
    tiny2.add_argument("path")
    tiny2.add_argument("--seed", type=int, default=0)
    commands.add_parser("flags", help="print the QC flags and when each is raised")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "flags":
        from benchmark.tracking.qc import FLAGS

        for name, meaning in FLAGS.items():
            print(f"{name}: {meaning}")
        return 0
    if args.command == "make-tiny-sam":
        set_threads(1)
        from benchmark.tracking.sam import save_tiny_sam

        print(f"{args.path}: tiny_test SAM, sha256 {save_tiny_sam(args.path, args.seed)}")
        return 0
    if args.command == "make-tiny-sam2":
        set_threads(1)
        from benchmark.tracking.sam2_models import save_tiny_sam2

        try:
            sha = save_tiny_sam2(args.path, args.seed)
        except TrackerSetupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{args.path}: tiny_test SAM 2, sha256 {sha}")
        return 0
    set_threads(args.threads)
    config = config_from_args(args)
    try:
        if args.command == "track":
            from benchmark.tracking.run import track_shard

            track_shard(config, args.tracker, args.shard)
        elif args.command == "boxes":
            from benchmark.tracking.run import build_box_masks_shard

            build_box_masks_shard(config, args.source, args.shard)
        else:
            from benchmark.manifest import clip_boxes, read_boxes, read_manifest
            from benchmark.tracking.qc import run_qc

            started = time.perf_counter()
            results = results_dir(config)
            manifest = read_manifest(results / "manifest.csv")
            boxes, _ = clip_boxes(read_boxes(results / "boxes.parquet", manifest), manifest)
            table = run_qc(results, args.source, config["n_shards"], boxes, config["masks"]["qc"])
            flagged = int((table["flags"] != "").sum())
            print(
                f"qc {args.source}: {len(table)} videos, {flagged} flagged, mean IoU with truth "
                f"{table['iou_gt_mean'].mean():.3f}, {time.perf_counter() - started:.1f} s"
            )
    except TrackerSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
