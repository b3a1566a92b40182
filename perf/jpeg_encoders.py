"""JPEG encoders for item files, compared on the same UCF101-24 stand-in frames at 320x240.

    .venv/bin/python perf/jpeg_encoders.py --box-file data/ucf101-24/pyannot.pkl \
        --test-list data/ucf101-24/testlist01.txt [--videos 3] [--frames 120] [--repeats 5]

Frames: `--videos` test videos of the stand-in (chosen by the CI-slice rule: longest, most actors,
most tube gaps), their first `--frames` frames rendered, written as the stand-in writes them (x264
`veryfast`, crf 18), decoded again and composited (true masks) onto a stripe, a plasma and a mosaic
background in turn, as SCUBA items are; plus the rendered frames themselves. Every encoder gets the
same RGB uint8 arrays with the same quality and chroma subsampling:

- `pillow`: `Image.fromarray(...).save(format="JPEG")`, what `benchmark.composite.item_files` used;
- `opencv`: `cv2.imencode` (RGB to BGR first, counted: the frames are RGB);
- `simplejpeg`: `simplejpeg.encode_jpeg` (libjpeg-turbo linked into the wheel), `fastdct` off and on;
- `pyturbojpeg`: `TurboJPEG().encode` (the system's libturbojpeg), when it loads: its default flags
  and `TJFLAG_ACCURATEDCT` (the TurboJPEG API picks the fast integer DCT below quality 96 unless
  told otherwise; Pillow and OpenCV use libjpeg's default, the accurate one).

Per encoder: CPU ms per frame (`time.process_time`, best of `--repeats` passes over all frames: the
least disturbed by other load), wall ms per frame (same pass), bytes per frame, PSNR against the
source, and whether its decoded pixels (Pillow decodes every file) and its bytes equal Pillow's.
Then the zip around the JPEGs (stored against deflate, from already-encoded bytes) and mp4 items
(crf 12, yuv444p) at x264's presets. Prints one JSON report; `--json` also writes it to a file.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from benchmark.backgrounds import generate_background
from benchmark.composite.paste import composite_clip
from benchmark.datasets.ucf101 import read_split_list
from benchmark.datasets.ucf101_24_standin import (
    StandinParams,
    read_tubes,
    render_frames,
    select_slice,
)
from benchmark.masks import decode_rle
from benchmark.runtime import set_threads
from benchmark.safe_pickle import load_pickle
from benchmark.video import read_video, write_h264

SUBSAMPLING = ("4:4:4", "4:2:0")
PRESETS = ("medium", "faster", "veryfast", "superfast", "ultrafast")


def stand_in_frames(box_file: Path, test_list: Path, videos: int, frames: int) -> dict:
    """{"rendered": [clip, ...], "composited": [clip, ...]}: (T, 240, 320, 3) uint8 clips."""
    boxes = load_pickle(box_file)
    names = read_split_list(test_list, with_labels=False)
    tubes = read_tubes(box_file, names, boxes)
    chosen = select_slice(list(tubes.values()), videos)
    params = StandinParams.from_settings({})
    rendered, composited = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for index, name in enumerate(chosen):
            masks: list[dict] = []
            clip = []
            for frame in render_frames(tubes[name], 0, 0, params, masks):
                clip.append(frame)
                if len(clip) == frames:
                    break
            clip = np.stack(clip)
            rendered.append(clip)
            path = Path(tmp) / f"{index}.mp4"
            write_h264(path, clip, 25.0, crf=params.crf, preset=params.preset)
            decoded, _ = read_video(path)
            foreground = np.zeros(clip.shape[:3], dtype=bool)
            for t, entries in enumerate(masks[: len(clip)]):
                for rle, _ in entries.values():
                    foreground[t] |= decode_rle(rle)
            kind = ("stripe", "plasma", "mosaic")[index % 3]
            background, _ = generate_background(kind, 0, kind, name, 0)
            composited.append(composite_clip(decoded, foreground, background))
    return {"rendered": rendered, "composited": composited, "videos": chosen}


def encoders(quality: int, subsampling: str) -> dict[str, Callable[[np.ndarray], bytes]]:
    """name -> encode(rgb array) -> JPEG bytes, for every encoder that loads here."""
    pillow_sub = {"4:4:4": 0, "4:2:0": 2}[subsampling]
    cv2_sub = {
        "4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
        "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    }[subsampling]
    cv2_params = [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2_sub]

    def pillow(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=quality, subsampling=pillow_sub)
        return buffer.getvalue()

    def opencv(array: np.ndarray) -> bytes:
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(array, cv2.COLOR_RGB2BGR), cv2_params)
        assert ok
        return data.tobytes()

    found: dict[str, Callable[[np.ndarray], bytes]] = {"pillow": pillow, "opencv": opencv}
    try:
        import simplejpeg

        sub = subsampling.replace(":", "")
        found["simplejpeg"] = lambda a: simplejpeg.encode_jpeg(
            a, quality=quality, colorspace="RGB", colorsubsampling=sub, fastdct=False
        )
        found["simplejpeg_fastdct"] = lambda a: simplejpeg.encode_jpeg(
            a, quality=quality, colorspace="RGB", colorsubsampling=sub, fastdct=True
        )
    except ImportError as error:
        print(f"simplejpeg not available: {error}")
    try:
        import turbojpeg

        jpeg = turbojpeg.TurboJPEG()
        tj_sub = {"4:4:4": turbojpeg.TJSAMP_444, "4:2:0": turbojpeg.TJSAMP_420}[subsampling]
        found["pyturbojpeg"] = lambda a: jpeg.encode(
            a, quality=quality, pixel_format=turbojpeg.TJPF_RGB, jpeg_subsample=tj_sub
        )
        found["pyturbojpeg_accuratedct"] = lambda a: jpeg.encode(
            a,
            quality=quality,
            pixel_format=turbojpeg.TJPF_RGB,
            jpeg_subsample=tj_sub,
            flags=turbojpeg.TJFLAG_ACCURATEDCT,
        )
    except (ImportError, OSError, RuntimeError) as error:
        print(f"PyTurboJPEG not available: {str(error).splitlines()[0]}")
    return found


def library_versions() -> dict[str, str]:
    from PIL import features

    versions = {
        "pillow": f"{Image.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')})",
        "opencv": cv2.__version__,
    }
    try:
        import simplejpeg

        versions["simplejpeg"] = simplejpeg.__version__
    except ImportError:
        pass
    try:
        import turbojpeg

        versions["pyturbojpeg"] = getattr(turbojpeg, "__version__", "?")
    except ImportError:
        pass
    return versions


def timed(work: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best CPU seconds, wall seconds of that pass) over `repeats` runs of `work`."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        work()
        best = min(best, (time.process_time() - cpu, time.perf_counter() - wall))
    return best


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else round(10 * np.log10(255.0**2 / mse), 2)


def pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def compare_encoders(frames: list[np.ndarray], quality: int, subsampling: str, repeats: int):
    rows = []
    reference_bytes = None
    reference_pixels = None
    for name, encode in encoders(quality, subsampling).items():
        encode(frames[0])  # warm-up: imports, tables
        cpu, wall = timed(lambda encode=encode: [encode(f) for f in frames], repeats)
        data = [encode(f) for f in frames]
        pixels = [pillow_decode(d) for d in data]
        if reference_bytes is None:  # pillow comes first
            reference_bytes, reference_pixels = data, pixels
        rows.append(
            {
                "encoder": name,
                "subsampling": subsampling,
                "quality": quality,
                "cpu_ms_per_frame": round(1e3 * cpu / len(frames), 3),
                "wall_ms_per_frame": round(1e3 * wall / len(frames), 3),
                "bytes_per_frame": round(sum(map(len, data)) / len(frames)),
                "psnr_db": psnr(np.stack(pixels), np.stack(frames)),
                "pixels_equal_pillow": all(
                    np.array_equal(p, r) for p, r in zip(pixels, reference_pixels, strict=True)
                ),
                "bytes_equal_pillow": data == reference_bytes,
                "deterministic": data == [encode(f) for f in frames],
            }
        )
    return rows


def zip_costs(jpegs: list[bytes], repeats: int, folder: Path) -> list[dict]:
    rows = []
    for label, method in (("stored", zipfile.ZIP_STORED), ("deflate", zipfile.ZIP_DEFLATED)):
        path = folder / f"{label}.zip"

        def write(path: Path = path, method: int = method) -> None:
            with zipfile.ZipFile(path, "w", method) as archive:
                for index, data in enumerate(jpegs, start=1):
                    info = zipfile.ZipInfo(f"img_{index:05d}.jpg", date_time=(1980, 1, 1, 0, 0, 0))
                    info.compress_type = method
                    archive.writestr(info, data)

        cpu, wall = timed(write, repeats)
        rows.append(
            {
                "zip": label,
                "cpu_ms_per_frame": round(1e3 * cpu / len(jpegs), 4),
                "wall_ms_per_frame": round(1e3 * wall / len(jpegs), 4),
                "bytes_per_frame": round(path.stat().st_size / len(jpegs)),
                "jpeg_bytes_per_frame": round(sum(map(len, jpegs)) / len(jpegs)),
            }
        )
    return rows


def mp4_costs(clips: list[np.ndarray], repeats: int, folder: Path) -> list[dict]:
    rows = []
    count = sum(len(c) for c in clips)
    for preset in PRESETS:
        paths = [folder / f"{preset}-{k}.mp4" for k in range(len(clips))]

        def write(paths: list[Path] = paths, preset: str = preset) -> None:
            for path, clip in zip(paths, clips, strict=True):
                write_h264(path, clip, 25.0, crf=12, pix_fmt="yuv444p", preset=preset)

        cpu, wall = timed(write, repeats)
        decoded = np.concatenate([read_video(p)[0] for p in paths])
        rows.append(
            {
                "mp4": f"crf 12 yuv444p {preset}",
                "cpu_ms_per_frame": round(1e3 * cpu / count, 3),
                "wall_ms_per_frame": round(1e3 * wall / count, 3),
                "bytes_per_frame": round(sum(p.stat().st_size for p in paths) / count),
                "psnr_db": psnr(decoded, np.concatenate(clips)),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--box-file", type=Path, required=True)
    parser.add_argument("--test-list", type=Path, required=True)
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("--frames", type=int, default=120, help="frames per video")
    parser.add_argument("--quality", type=int, default=95)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mp4-repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    set_threads(1)
    cv2.setNumThreads(1)
    sets = stand_in_frames(args.box_file, args.test_list, args.videos, args.frames)
    report: dict = {
        "machine": f"{os.cpu_count()}-core {platform.machine()}, Python {platform.python_version()}",
        "libraries": library_versions(),
        "load_average_start": os.getloadavg(),
        "videos": sets["videos"],
        "frames_per_set": sum(len(c) for c in sets["composited"]),
        "encoders": [],
    }
    for set_name in ("composited", "rendered"):
        frames = [np.ascontiguousarray(f) for clip in sets[set_name] for f in clip]
        for subsampling in SUBSAMPLING:
            for row in compare_encoders(frames, args.quality, subsampling, args.repeats):
                report["encoders"].append({"frames": set_name, **row})
    composited = [np.ascontiguousarray(f) for clip in sets["composited"] for f in clip]
    jpegs = [encoders(args.quality, "4:4:4")["pillow"](f) for f in composited]
    with tempfile.TemporaryDirectory() as tmp:
        report["zip"] = zip_costs(jpegs, args.repeats, Path(tmp))
        report["mp4"] = mp4_costs(sets["composited"], args.mp4_repeats, Path(tmp))
    report["load_average_end"] = os.getloadavg()
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
