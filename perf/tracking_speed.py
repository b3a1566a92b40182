"""Speed of the trackers on this machine: frames/s per tracker on synthetic 64×64 frames and on the
same videos scaled to 320×240, and for `sam` the share of time spent outside the image encoder.

    .venv/bin/python perf/tracking_speed.py [--threads 2] [--videos 3] [--vit-b-frames 2] [--skip-vit-b]
    .venv/bin/python perf/tracking_speed.py --skip-small --sam-model vit_h --device cuda \
        --batch-size 16 --vit-b-frames 256 --flops          # on a GPU

`sam` runs with random weights (no checkpoint can be downloaded here): `tiny_test` for the frames/s
of the code path, and `vit_b` (real architecture, random weights) on a few 320×240 frames for the
encoder share (target: the rest — prompt encoding, two decoder passes per actor, mask upscaling,
clean-up, RLE — under 10% of the encoder's time). Nothing is written outside a temp folder.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from benchmark.config import load_config
from benchmark.datasets.synthetic import SyntheticParams, plan_video, render_video
from benchmark.runtime import set_threads
from benchmark.tracking import build_tracker
from benchmark.tracking.tubes import plan_video as plan_prompts

ROOT = Path(__file__).resolve().parent.parent


def synthetic_videos(
    count: int, scale_to: tuple[int, int] | None
) -> list[tuple[np.ndarray, pd.DataFrame]]:
    """`count` default synthetic test videos (64×64, 16 frames), optionally resized to (W, H)."""
    params = SyntheticParams()
    videos = []
    for index in range(count):
        plan = plan_video(params, 0, "test", index)
        rendered = render_video(params, plan, 0)
        frames = rendered.frames
        boxes = pd.DataFrame(rendered.boxes, columns=["frame", "actor", "x1", "y1", "x2", "y2"])
        boxes.insert(0, "video_id", plan.video_id)
        if scale_to is not None:
            width, height = scale_to
            frames = np.stack(
                [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in frames]
            )
            sx, sy = width / params.size, height / params.size
            boxes[["x1", "x2"]] *= sx
            boxes[["y1", "y2"]] *= sy
        videos.append((frames, boxes))
    return videos


def frames_per_second(tracker, videos) -> float:
    """Frames/s over `videos`, after one untimed warm-up video (thread pools, lazy init)."""
    warm_video, warm_boxes = videos[0]
    tracker.track(plan_prompts("warm", warm_boxes, *warm_video.shape[:3]), warm_video)
    frames = 0
    started = time.perf_counter()
    for index, (video, boxes) in enumerate(videos):
        plan = plan_prompts(f"v{index}", boxes, *video.shape[:3])
        tracker.track(plan, video)
        frames += len(video)
    return frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--videos", type=int, default=3, help="synthetic videos per measurement (16 frames each)"
    )
    parser.add_argument("--vit-b-frames", type=int, default=2, help="frames for the large model")
    parser.add_argument(
        "--skip-vit-b", action="store_true", help="skip the large-model measurement"
    )
    parser.add_argument("--skip-small", action="store_true", help="skip grabcut and tiny_test")
    parser.add_argument("--sam-model", default="vit_b", choices=["vit_b", "vit_l", "vit_h"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=1, help="frames per encoder pass")
    parser.add_argument(
        "--flops", action="store_true", help="count the encoder's FLOPs once and report TFLOP/s"
    )
    args = parser.parse_args()
    set_threads(args.threads)
    import torch

    from benchmark.tracking.sam import SamTracker, save_tiny_sam

    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"CUDA: {torch.cuda.is_available()}; torch {torch.__version__}, OpenCV {cv2.__version__}"
    )
    tracking = load_config(ROOT / "config" / "default.yaml")["tracking"]
    sizes = {} if args.skip_small else {"64x64": None, "320x240": (320, 240)}
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "tiny.pth"
        save_tiny_sam(checkpoint, seed=0)
        tiny = dict(
            tracking["sam"], model_type="tiny_test", checkpoint=str(checkpoint), device="cpu"
        )
        trackers = {
            "grabcut": build_tracker("grabcut", tracking["grabcut"], seed=0),
            "sam tiny_test": build_tracker("sam", tiny, seed=0),
        }
        for label, size in sizes.items():
            videos = synthetic_videos(args.videos, size)
            for name, tracker in trackers.items():
                rate = frames_per_second(tracker, videos)
                print(f"{name:14s} {label:8s} {rate:8.1f} frames/s ({args.videos * 16} frames)")
    if args.skip_vit_b:
        return
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    # Random weights: the same compute as the released model.
    model = sam_model_registry[args.sam_model]()
    settings = dict(
        tracking["sam"], model_type=args.sam_model, device=args.device, batch_size=args.batch_size
    )
    tracker = SamTracker(settings, seed=0, model=model)
    count = args.vit_b_frames
    video, boxes = synthetic_videos(1, (320, 240))[0]
    if count > len(video):  # long runs (GPU): repeat the clip
        video = np.concatenate([video] * (count // len(video) + 1))
        boxes = pd.concat(
            [boxes.assign(frame=boxes["frame"] + k * 16) for k in range(count // 16 + 1)]
        )
    video, boxes = video[:count], boxes[boxes["frame"] < count]
    plan = plan_prompts(args.sam_model, boxes, count, 240, 320)
    started = time.perf_counter()
    tracker.track(plan, video)
    total = time.perf_counter() - started
    encoder = tracker.encoder_seconds
    print(
        f"sam {args.sam_model} (random weights) 320x240 on {args.device} ({tracker.provenance()['dtype']}, "
        f"batch {args.batch_size}), {count} frames: {count / total:.2f} frames/s, "
        f"{total / count:.2f} s/frame, encoder {encoder / count:.3f} s/frame, outside the encoder "
        f"{(total - encoder) / count * 1000:.0f} ms/frame = {(total - encoder) / encoder * 100:.1f}% "
        "of the encoder's time"
    )
    if args.flops:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            tracker.encode(video[:1])
        flops = counter.get_total_flops()
        print(
            f"encoder: {flops / 1e12:.2f} TFLOP per frame -> "
            f"{flops * count / encoder / 1e12:.1f} TFLOP/s achieved"
        )


if __name__ == "__main__":
    main()
