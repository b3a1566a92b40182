"""Speed of the sam2 tracker: frames/s through the real SAM 2 video predictor, and the time spent
outside the model (prompt planning, frame preparation, thresholding, clipping, clean-up, RLE, and
video / mask-file I/O) as a share of the time inside it.

    .venv/bin/python perf/sam2_speed.py                                  # tiny_test on 2 CPU threads
    .venv/bin/python perf/sam2_speed.py --device cuda --model sam2.1_hiera_tiny \
        --checkpoint sam2.1_hiera_tiny.pt --frames 200                   # a GPU, a release checkpoint
    .venv/bin/python perf/sam2_speed.py --device cuda --vos-optimized --model sam2.1_hiera_large \
        --checkpoint sam2.1_hiera_large.pt --frames 200                  # compiled predictor
    .venv/bin/python perf/sam2_speed.py --device cuda --random-weights \
        --model sam2.1_hiera_tiny sam2.1_hiera_small sam2.1_hiera_base_plus sam2.1_hiera_large

One synthetic video (the default synthetic dataset's first test video, resized to 320×240 like
UCF101, repeated to `--frames`) is written as H.264, read back, tracked once untimed (warm-up,
compilation with --vos-optimized) and then `--repeat` times timed; the mask file is written each
time. `--prompt every_box` (default) prompts every frame's box; `first` only the first box, so every
other frame is propagated through memory. On CUDA the predictor runs under bf16 autocast (the
tracker's default, `--fp32` turns it off). `--random-weights` builds the release architecture with
random weights: the same compute as the checkpoint, meaningless masks. Nothing is written outside a
temp folder.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.config import load_config  # noqa: E402
from benchmark.datasets.synthetic import SyntheticParams, render_video  # noqa: E402
from benchmark.datasets.synthetic import plan_video as plan_synthetic  # noqa: E402
from benchmark.masks import write_actor_masks  # noqa: E402
from benchmark.runtime import set_threads  # noqa: E402
from benchmark.tracking.tubes import plan_video  # noqa: E402
from benchmark.video import read_video, write_video  # noqa: E402


def test_video(frames: int, width: int, height: int) -> tuple[np.ndarray, pd.DataFrame]:
    """The default synthetic dataset's first test video at (width, height), looped to `frames`."""
    params = SyntheticParams()
    rendered = render_video(params, plan_synthetic(params, 0, "test", 0), 0)
    clip = np.stack(
        [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in rendered.frames]
    )
    boxes = pd.DataFrame(rendered.boxes, columns=["frame", "actor", "x1", "y1", "x2", "y2"])
    boxes[["x1", "x2"]] *= width / params.size
    boxes[["y1", "y2"]] *= height / params.size
    loops = -(-frames // len(clip))
    video = np.concatenate([clip] * loops)[:frames]
    looped = pd.concat([boxes.assign(frame=boxes["frame"] + k * len(clip)) for k in range(loops)])
    looped = looped[looped["frame"] < frames].reset_index(drop=True)
    looped.insert(0, "video_id", "speed")
    return video, looped


def make_tracker(args, model: str, folder: Path):
    import torch

    from benchmark.tracking.sam2 import Sam2Tracker
    from benchmark.tracking.sam2_models import build_predictor, save_tiny_sam2

    settings = dict(
        load_config(ROOT / "config" / "default.yaml")["tracking"]["sam2"],
        model=model,
        device=args.device,
        bf16=not args.fp32,
        vos_optimized=args.vos_optimized,
        prompt=args.prompt,
    )
    if args.random_weights:
        torch.manual_seed(0)
        predictor = build_predictor(model, args.device, vos_optimized=args.vos_optimized)
        return Sam2Tracker(settings, seed=0, predictor=predictor)
    checkpoint = args.checkpoint
    if model == "tiny_test" and checkpoint is None:
        checkpoint = folder / "tiny_sam2.pt"
        save_tiny_sam2(checkpoint, seed=0)
    settings["checkpoint"] = None if checkpoint is None else str(checkpoint)
    return Sam2Tracker(settings, seed=0)


def measure(tracker, video_path: Path, boxes: pd.DataFrame, repeat: int, out: Path) -> dict:
    """Seconds per run: reading the video, tracking (inside / outside the model), writing masks."""
    frames, _ = read_video(video_path)  # warm-up: decoder, thread pools, lazy init, compilation
    plan = plan_video("speed", boxes, *frames.shape[:3])
    tracker.track(plan, frames)
    read = inside = outside = write = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        frames, _ = read_video(video_path)
        read += time.perf_counter() - started
        tracker.model_seconds = 0.0
        started = time.perf_counter()
        masks = tracker.track(plan_video("speed", boxes, *frames.shape[:3]), frames)
        total = time.perf_counter() - started
        inside += tracker.model_seconds
        outside += total - tracker.model_seconds
        started = time.perf_counter()
        write_actor_masks(out, masks)
        write += time.perf_counter() - started
    return {
        "read_s": read / repeat,
        "model_s": inside / repeat,
        "outside_s": outside / repeat,
        "write_s": write / repeat,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", nargs="+", default=["tiny_test"])
    parser.add_argument("--checkpoint", help="release checkpoint of --model (one model only)")
    parser.add_argument("--random-weights", action="store_true", help="architecture speed only")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    parser.add_argument("--vos-optimized", action="store_true", help="compiled predictor (CUDA)")
    parser.add_argument("--prompt", default="every_box", choices=["every_box", "first"])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", default="320x240", help="WxH of the test video")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.checkpoint and len(args.model) != 1:
        parser.error("--checkpoint belongs to one --model")
    set_threads(args.threads)
    import sam2  # noqa: F401  (the optional extra)
    import torch

    width, height = (int(v) for v in args.size.split("x"))
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "none used"
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, GPU: {gpu}; "
        f"torch {torch.__version__}; {args.frames} frames {width}x{height}, prompt {args.prompt}"
    )
    video, boxes = test_video(args.frames, width, height)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        video_path = folder / "speed.mp4"
        write_video(video_path, video, 25.0)
        for model in args.model:
            tracker = make_tracker(args, model, folder)
            seconds = measure(tracker, video_path, boxes, args.repeat, folder / "masks.json.gz")
            beside = seconds["outside_s"] + seconds["read_s"] + seconds["write_s"]
            rows.append(
                {
                    "model": model,
                    "device": args.device,
                    "dtype": "bfloat16" if tracker.bf16 else "float32",
                    "vos_optimized": tracker.vos_optimized,
                    "frames": args.frames,
                    **{k: round(v, 3) for k, v in seconds.items()},
                    "frames_per_s_model": round(args.frames / seconds["model_s"], 2),
                    "frames_per_s_all": round(args.frames / (seconds["model_s"] + beside), 2),
                    "outside_share_of_model": round(beside / seconds["model_s"], 3),
                }
            )
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    print()
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
