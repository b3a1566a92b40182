"""SAM on the UCF101-24 stand-in at real geometry: encoder and non-encoder seconds per frame, batched,
bf16 on a GPU, and the whole test set's SAM time extrapolated from them.

    .venv/bin/python perf/standin_sam_gpu.py --box-file PYANNOT --test-list TESTLIST \
        --model-type vit_h --checkpoint sam_vit_h_4b8939.pth [--batch-size 16] [--videos 4]
    .venv/bin/python perf/standin_sam_gpu.py ... --model-type vit_h --random-weights   # no download
    .venv/bin/python perf/standin_sam_gpu.py ... --device cpu --model-type tiny_test   # a CPU smoke run

`--device cuda` (the default) refuses to start without a CUDA device, saying so; `--device cpu`
runs anywhere (slowly for the real models). The stand-in's CI-slice videos (`select_slice`, the
longest first: 900 frames, 10 actors, tube gaps, border boxes) are rendered into `--workdir` by the
ucf101_24_standin adapter, then tracked by the project's sam tracker (benchmark.tracking.sam:
every box-prompted frame encoded once, `--batch-size` frames per encoder pass, bf16 autocast on
CUDA unless `--fp32`, two-pass refine) after one untimed warm-up video. The tracker times its own
encoder passes (synchronised on CUDA), so the rest of each video's wall — decode, prompt planning,
decoder passes, clean-up, RLE — is the non-encoder overhead. `--random-weights` builds the release
architecture with random weights: the same compute, meaningless masks.

The estimate for the whole test set multiplies the per-frame figures by the frames SAM encodes
there (frames inside a tube: 138,527 of 159,289 for UCF101-24's 910 test videos, counted from the
box file given).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.datasets import ucf101_24_standin as standin
from benchmark.tracking.sam import MODEL_BUILDERS, SamTracker, save_tiny_sam
from benchmark.tracking.tubes import plan_video
from benchmark.video import read_video


def build_tracker(args: argparse.Namespace, workdir: Path) -> SamTracker:
    settings = {
        "model_type": args.model_type,
        "checkpoint": args.checkpoint,
        "device": args.device,
        "batch_size": args.batch_size,
        "bf16": not args.fp32,
        "refine": True,
        "cleanup": {
            "largest_component": True,
            "fill_holes": True,
            "temporal_window": 1,
            "clip_margin": 0.1,
        },
    }
    if args.random_weights:
        torch.manual_seed(0)
        return SamTracker(settings, seed=0, model=MODEL_BUILDERS[args.model_type]().eval())
    if args.model_type == "tiny_test" and not args.checkpoint:
        settings["checkpoint"] = str(workdir / "sam_tiny_test.pth")
        save_tiny_sam(settings["checkpoint"], seed=0)
    return SamTracker(settings, seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--box-file", required=True)
    parser.add_argument("--test-list", required=True)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--model-type", default="vit_h", choices=sorted(MODEL_BUILDERS))
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    parser.add_argument("--videos", type=int, default=4, help="CI-slice videos to time")
    parser.add_argument("--workdir", default="perf_standin_sam")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(
            "standin_sam_gpu: --device cuda, but torch sees no CUDA device on this machine "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); run it on a GPU "
            "machine, or pass --device cpu (slow with vit_b/l/h; tiny_test for a smoke run)"
        )
    if not args.random_weights and args.model_type != "tiny_test" and not args.checkpoint:
        sys.exit(
            f"standin_sam_gpu: --model-type {args.model_type} needs --checkpoint (the "
            "segment-anything release file) or --random-weights for a speed-only run"
        )
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # One more video than timed: the first is the warm-up (CUDA kernels, allocator, cudnn).
    settings = {
        "box_file": args.box_file,
        "test_list": args.test_list,
        "slice": args.videos + 1,
        "preset": "ultrafast",
    }
    started = time.perf_counter()
    result = standin.ingest(settings, workdir / "standin", seed=0, n_shards=1, workers=2)
    print(f"rendered {len(result.manifest)} videos in {time.perf_counter() - started:.0f} s")
    manifest = result.manifest.set_index("video_id")
    boxes = result.boxes
    tracker = build_tracker(args, workdir)
    rows = []
    for k, video_id in enumerate(manifest.index):
        frames, _ = read_video(manifest.at[video_id, "path"])
        plan = plan_video(
            video_id, boxes[boxes["video_id"] == video_id], len(frames), *frames.shape[1:3]
        )
        tracker.encoder_seconds = 0.0
        if args.device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        tracker.track(plan, frames)
        if args.device == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - started
        encoded = len(np.unique(boxes.loc[boxes["video_id"] == video_id, "frame"]))
        row = {
            "video_id": video_id,
            "frames": len(frames),
            "encoded_frames": encoded,
            "wall_s": wall,
            "encoder_s": tracker.encoder_seconds,
        }
        print(("warm-up " if k == 0 else "") + str(row), flush=True)
        if k:
            rows.append(row)
    encoded = sum(r["encoded_frames"] for r in rows)
    encoder = sum(r["encoder_s"] for r in rows) / encoded
    other = sum(r["wall_s"] - r["encoder_s"] for r in rows) / encoded
    names = [line.strip() for line in Path(args.test_list).read_text().splitlines() if line.strip()]
    tubes = standin.read_tubes(Path(args.box_file), names)
    total = sum(len(np.unique(v.frame)) for v in tubes.values())
    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor()
    print(
        f"{args.model_type} ({'random weights' if args.random_weights else 'checkpoint'}), "
        f"{args.device} {device}, batch {args.batch_size}, "
        f"{'fp32' if args.fp32 or args.device == 'cpu' else 'bf16'}: {encoded} frames encoded; "
        f"encoder {1000 * encoder:.1f} ms/frame, everything else {1000 * other:.1f} ms/frame; "
        f"the {len(tubes)} test videos ({total} encoded frames): "
        f"{total * (encoder + other) / 3600:.2f} h on one device "
        f"({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)"
    )


if __name__ == "__main__":
    main()
