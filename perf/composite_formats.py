"""Item file formats: size, PSNR, decode speed and colour bleed across the mask boundary.

SCUBA items are stored lossy (the benchmark ships thousands of clips). This script composites a few
synthetic clips (240x240, 32 frames, textured actor with sensor noise) onto a stripe background
(hard two-colour edges: the worst case) and a plasma background (smooth), writes each as every
candidate format, decodes it again and compares with the lossless composite:
- `kB_per_frame`: file size;
- `psnr_db`: over the whole clip;
- `encode_cpu_ms_per_frame`: CPU time (`time.process_time`) of writing the item, per frame;
- `decode_ms_per_frame`: PyAV (mp4) or Pillow (zip of JPEG), as the loaders do;
- `bleed_in`: mean absolute error (0-255, over RGB) on actor pixels within 2 px inside the mask
  boundary — background colour smeared into the actor by chroma subsampling and block transforms;
  `interior`: the same on actor pixels farther inside, for scale; `bleed_out`: background pixels
  within 2 px outside.

Run: `.venv/bin/python perf/composite_formats.py`; prints a JSON report (one row per format).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from benchmark.backgrounds import generate_background
from benchmark.composite.item_files import ItemFormat
from benchmark.composite.paste import composite_clip
from benchmark.datasets.synthetic import SyntheticParams, plan_video, render_video
from benchmark.runtime import set_threads
from benchmark.video import read_video

FORMATS = [
    ItemFormat("mp4", 12, 95, "4:4:4", "yuv420p"),
    ItemFormat("mp4", 18, 95, "4:4:4", "yuv420p"),
    ItemFormat("mp4", 23, 95, "4:4:4", "yuv420p"),
    ItemFormat("mp4", 28, 95, "4:4:4", "yuv420p"),
    ItemFormat("mp4", 12, 95, "4:4:4", "yuv444p"),
    ItemFormat("mp4", 18, 95, "4:4:4", "yuv444p"),
    ItemFormat("mp4", 23, 95, "4:4:4", "yuv444p"),
    ItemFormat("mp4", 12, 95, "4:4:4", "yuv444p", "faster"),
    ItemFormat("mp4", 12, 95, "4:4:4", "yuv444p", "veryfast"),
    ItemFormat("mp4", 10, 95, "4:4:4", "yuv444p", "veryfast"),
    ItemFormat("mp4", 12, 95, "4:4:4", "yuv444p", "ultrafast"),
    ItemFormat("jpeg_zip", 18, 95, "4:2:0"),
    ItemFormat("jpeg_zip", 18, 95, "4:4:4"),
    ItemFormat("jpeg_zip", 18, 90, "4:4:4"),
    ItemFormat("jpeg_zip", 18, 85, "4:4:4"),
]


def label(fmt: ItemFormat) -> str:
    if fmt.kind == "mp4":
        preset = "" if fmt.preset == "medium" else f" {fmt.preset}"
        return f"mp4 crf{fmt.crf} {fmt.pix_fmt}{preset}"
    return f"zip JPEG q{fmt.jpeg_quality} {fmt.jpeg_subsampling}"


def clips(count: int, seed: int = 0):
    params = SyntheticParams.from_settings({"size": 240, "frames": 32, "noise": 4})
    for index in range(count):
        rendered = render_video(params, plan_video(params, seed, "test", index), seed)
        mask = np.zeros_like(next(iter(rendered.actor_masks.values())))
        for actor in rendered.actor_masks.values():
            mask |= actor
        yield rendered.frames, mask


def boundary_bands(masks: np.ndarray, width: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inner band, interior, outer band) boolean arrays of (T, H, W) masks."""
    structure = np.zeros((1, 3, 3), dtype=bool)
    structure[0] = ndimage.generate_binary_structure(2, 1)
    eroded = ndimage.binary_erosion(masks, structure, iterations=width)
    dilated = ndimage.binary_dilation(masks, structure, iterations=width)
    return masks & ~eroded, eroded, dilated & ~masks


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def measure(count: int) -> list[dict]:
    rows = {
        label(f): {
            "kB": [],
            "psnr": [],
            "encode": [],
            "decode": [],
            "in": [],
            "interior": [],
            "out": [],
        }
        for f in FORMATS
    }
    with tempfile.TemporaryDirectory() as tmp:
        for index, (frames, masks) in enumerate(clips(count)):
            inner, interior, outer = boundary_bands(masks)
            for source in ("stripe", "plasma"):
                background, _ = generate_background(source, 0, source, f"clip{index}", 0)
                item = composite_clip(frames, masks, background)
                for fmt in FORMATS:
                    path = Path(tmp) / f"item{fmt.suffix}"
                    cpu_started = time.process_time()
                    fmt.write(path, item, 25.0)
                    encode_cpu = time.process_time() - cpu_started
                    started = time.perf_counter()
                    decoded, _ = read_video(path)
                    seconds = time.perf_counter() - started
                    error = np.abs(decoded.astype(np.int16) - item.astype(np.int16)).mean(axis=-1)
                    row = rows[label(fmt)]
                    row["kB"].append(path.stat().st_size / 1e3 / len(item))
                    row["psnr"].append(psnr(decoded, item))
                    row["encode"].append(encode_cpu * 1e3 / len(item))
                    row["decode"].append(seconds * 1e3 / len(item))
                    row["in"].append(float(error[inner].mean()))
                    row["interior"].append(float(error[interior].mean()))
                    row["out"].append(float(error[outer].mean()))
    return [
        {
            "format": name,
            "kB_per_frame": round(float(np.mean(v["kB"])), 2),
            "psnr_db": round(float(np.mean(v["psnr"])), 2),
            "encode_cpu_ms_per_frame": round(float(np.median(v["encode"])), 3),
            "decode_ms_per_frame": round(float(np.median(v["decode"])), 3),
            "bleed_in": round(float(np.mean(v["in"])), 2),
            "interior": round(float(np.mean(v["interior"])), 2),
            "bleed_out": round(float(np.mean(v["out"])), 2),
        }
        for name, v in rows.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    set_threads(args.threads)
    print(
        json.dumps(
            {"clips": args.clips, "frames": "32 x 240 x 240", "rows": measure(args.clips)}, indent=1
        )
    )


if __name__ == "__main__":
    main()
