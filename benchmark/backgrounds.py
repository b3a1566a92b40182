"""Background sources for the SCUBA / Confl-FG benchmarks: exact stripes, image folders, procedural scenes.

A background source is one of four kinds (config `backgrounds.sources`):
- `stripe`: StillMix's sinusoidal two-colour stripe generator, reproduced exactly (golden hashes in
  the tests) with its parameters made explicit (`StripeParams`) and drawn from a seeded generator;
- `folder`: any folder of images (Places365 test images, VQGAN-CLIP images, ...); grayscale images
  are rejected (the original redraws them), RGBA is cut to RGB, unreadable files are reported;
- `plasma` and `mosaic`: two procedural scene families for the embedded synthetic default. They
  share nothing with the synthetic dataset's training scene families (periodic bands, rings, grids,
  waves): `plasma` is smooth multi-octave value noise through a random colour ramp, `mosaic` is a
  Voronoi tiling of flat random colours.

Generated kinds (stripe, plasma, mosaic) draw one image per benchmark item `(video_id, k)` from
`item_rng(seed, "backgrounds", source, video_id, k)`, as the original draws a fresh stripe per
video. Folder kinds index the folder once; an item picks image `item_rng(...).integers(n)` of the
usable images sorted by relative path. Either way the mask source never enters the draw, so every
variant gets the same backgrounds, and adding a video never changes another video's draw.

Each source writes `backgrounds/<source>/backgrounds.csv` (`background_id, source, path, sha256,
params`, validated against `benchmark/schemas/backgrounds.schema.yaml` by
`benchmark.table_files`), generated images as PNG
under `backgrounds/<source>/images/`, and, for folders, `rejected.csv` (path, reason).
`sha256` is of the decoded RGB pixels, the thing that is composited.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from benchmark.atomic import write_csv_atomic
from benchmark.config import add_config_arguments, config_from_args, results_dir
from benchmark.ids import item_rng
from benchmark.table_files import read_table, table_columns, write_table
from benchmark.video import pixels_sha256, write_image

GENERATED_KINDS = ("stripe", "plasma", "mosaic")
SOURCE_KINDS = (*GENERATED_KINDS, "folder")
BACKGROUND_SIZE = 256  # the protocol's background size (Places365 test images are 256x256)
DRAW_STAGE = "backgrounds"  # namespace of every background draw in item_rng
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F", "La")


class BackgroundError(ValueError):
    """A background source is unusable (no usable image, changed file, bad table); names the file."""


# ---------------------------------------------------------------------------------------------
# Stripes (StillMix's generator, exact)


@dataclass(frozen=True)
class StripeParams:
    """Explicit parameters of one stripe image; any values are accepted, only the sampler follows
    the protocol's ranges. `color` is RGB in [0, 1]; the stripes get the complementary colour."""

    color: tuple[float, float, float]
    half_width: float  # lw: half the band thickness, pixels
    spacing: float  # sh: distance between repeated bands along a column, pixels
    omega: float  # w: angular frequency of the centre line, rad / pixel
    phase: float  # t: phase of the centre line, rad
    amplitude: float  # A: amplitude of the centre line, pixels
    angle_deg: float  # counter-clockwise rotation before the centre crop, degrees

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


STRIPE_CANVAS = 384  # 1.5 x 256: room to rotate without black corners
STRIPE_OFFSET = 128.0  # B, the centre line's offset


def sample_stripe_params(rng: np.random.Generator) -> StripeParams:
    """Draw the protocol's distributions, in the original order: colour (3), lw, sh, w, t, A, angle."""
    color = tuple(float(c) for c in rng.random(3))
    half_width = 5 + 15 * rng.random()
    spacing = (3 + 2 * rng.random()) * half_width
    omega = 2 * math.pi / (rng.random() * 1000 + 4)
    phase = (rng.random() * 200 - 100) * omega
    amplitude = 10 + rng.random() * 100
    angle = rng.random() * 360
    return StripeParams(color, half_width, spacing, omega, phase, amplitude, angle)


def _stripe_rows(params: StripeParams) -> np.ndarray:
    """(S, S) bool: which canvas pixels get the stripe colour. Mirrors the original loops exactly,
    including their quirks (the band end clipped at 255, not at the canvas size, and int()
    truncation of the shifted ends), because the golden hashes depend on them."""
    size = STRIPE_CANVAS
    x = np.arange(size)
    y = params.amplitude * np.sin(params.omega * x + params.phase) + STRIPE_OFFSET
    painted = np.zeros((size, size), dtype=bool)
    lw, sh = params.half_width, params.spacing
    for xx in np.flatnonzero((y > 0) & (y < size)):
        yy = float(y[xx])
        min_yy = int(max(0, yy - lw))
        max_yy = int(min(255, yy + lw))
        painted[min_yy:max_yy, xx] = True
        n = 1
        while int(max_yy - n * sh) > 0:
            painted[max(0, int(min_yy - n * sh)) : int(max_yy - n * sh), xx] = True
            n += 1
        n = 1
        while int(min_yy + n * sh) < size:
            painted[int(min_yy + n * sh) : min(size, int(max_yy + n * sh)), xx] = True
            n += 1
    return painted


def stripe_image(params: StripeParams) -> np.ndarray:
    """The 256x256x3 uint8 stripe image of `params` (StillMix's construction, bit-exact)."""
    if params.spacing <= 0:
        raise ValueError(f"stripe spacing must be positive, got {params.spacing}")
    color = np.asarray(params.color, dtype=np.float64)
    painted = _stripe_rows(params)
    # Colours stay float in [0, 1] until the end; uint8(img * 255) truncates, as the original.
    canvas = np.where(painted[..., None], 1 - color, color)
    image = Image.fromarray((canvas * 255).astype(np.uint8))
    image = image.rotate(float(params.angle_deg), Image.Resampling.NEAREST, expand=True)
    width, height = image.size
    crop = BACKGROUND_SIZE
    box = ((width - crop) // 2, (height - crop) // 2, (width + crop) // 2, (height + crop) // 2)
    return np.ascontiguousarray(np.asarray(image.crop(box)))


# ---------------------------------------------------------------------------------------------
# Procedural scene families (synthetic default only)


def plasma_image(rng: np.random.Generator, size: int = BACKGROUND_SIZE) -> tuple[np.ndarray, dict]:
    """Smooth multi-octave value noise mapped through a random 4-stop colour ramp."""
    octaves = int(rng.integers(3, 6))
    field = np.zeros((size, size), dtype=np.float64)
    amplitude, total = 1.0, 0.0
    base = int(rng.integers(2, 5))
    for octave in range(octaves):
        cells = base * 2**octave
        grid = rng.random((cells + 1, cells + 1))
        layer = Image.fromarray(grid.astype(np.float32), mode="F").resize(
            (size, size), Image.Resampling.BICUBIC
        )
        field += amplitude * np.asarray(layer, dtype=np.float64)
        total += amplitude
        amplitude *= 0.5
    field /= total
    field = (field - field.min()) / max(field.max() - field.min(), 1e-9)
    stops = rng.random((4, 3))
    positions = np.linspace(0.0, 1.0, 4)
    image = np.stack([np.interp(field, positions, stops[:, c]) for c in range(3)], axis=-1)
    params = {"octaves": octaves, "base_cells": base, "ramp": np.round(stops, 6).tolist()}
    return (image * 255).astype(np.uint8), params


def mosaic_image(rng: np.random.Generator, size: int = BACKGROUND_SIZE) -> tuple[np.ndarray, dict]:
    """A Voronoi tiling: 12-60 random sites, each cell one flat random colour."""
    sites = int(rng.integers(12, 61))
    points = rng.random((sites, 2)) * size
    colours = (rng.random((sites, 3)) * 255).astype(np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    nearest = np.zeros((size, size), dtype=np.int64)
    best = np.full((size, size), np.inf, dtype=np.float32)
    for index, (py, px) in enumerate(points.astype(np.float32)):
        distance = (yy - py) ** 2 + (xx - px) ** 2
        closer = distance < best
        best[closer] = distance[closer]
        nearest[closer] = index
    return colours[nearest], {"sites": sites}


def generate_background(
    kind: str, seed: int, source: str, video_id: str, k: int
) -> tuple[np.ndarray, str]:
    """The image of item `(video_id, k)` in a generated source, and its params as JSON."""
    rng = item_rng(seed, DRAW_STAGE, source, video_id, k)
    if kind == "stripe":
        params = sample_stripe_params(rng)
        return stripe_image(params), params.to_json()
    if kind == "plasma":
        image, params = plasma_image(rng)
    elif kind == "mosaic":
        image, params = mosaic_image(rng)
    else:
        raise ValueError(f"{kind!r} is not a generated background kind {GENERATED_KINDS}")
    return image, json.dumps({"family": kind, **params}, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# Image folders


def read_background_file(path: str | os.PathLike) -> tuple[np.ndarray | None, str]:
    """Decode one candidate background: (RGB uint8, "") or (None, reason it is rejected)."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in GRAYSCALE_MODES:
                return None, f"grayscale (mode {image.mode})"
            if image.mode == "RGBA":
                array = np.asarray(image)[..., :3]  # cut to RGB as the original (no alpha blend)
            else:
                array = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as error:
        return None, f"unreadable ({error})"
    if array.ndim != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        return None, f"unusable shape {array.shape}"
    return np.ascontiguousarray(array, dtype=np.uint8), ""


def index_image_folder(
    folder: str | os.PathLike, source: str, extensions: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(backgrounds table, rejected table) of every image file under `folder`, sorted by path.

    Raises `BackgroundError` naming the folder when it is missing or holds no usable image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise BackgroundError(f"{root}: background folder of source {source!r} not found")
    suffixes = {e.lower() for e in extensions}
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    rows, rejected = [], []
    for file in files:
        image, reason = read_background_file(file)
        if image is None:
            rejected.append({"path": str(file), "reason": reason})
            continue
        relative = file.relative_to(root).as_posix()
        params = json.dumps({"width": image.shape[1], "height": image.shape[0]}, sort_keys=True)
        rows.append([relative, source, str(file), pixels_sha256(image), params])
    if not rows:
        detail = f"{len(files)} image file(s), all rejected" if files else "no image files"
        raise BackgroundError(
            f"{root}: background source {source!r} has no usable image ({detail}; "
            f"extensions {sorted(suffixes)}); put RGB images there or fix backgrounds.sources"
        )
    return (
        pd.DataFrame(rows, columns=table_columns("backgrounds")),
        pd.DataFrame(rejected, columns=["path", "reason"]),
    )


# ---------------------------------------------------------------------------------------------
# Tables


def write_backgrounds_table(path: str | os.PathLike, table: pd.DataFrame) -> None:
    write_table("backgrounds", path, table)


def read_backgrounds_table(path: str | os.PathLike) -> pd.DataFrame:
    if not Path(path).exists():
        raise BackgroundError(f"{path}: backgrounds table not found; run render_backgrounds")
    return read_table("backgrounds", path, "run render_backgrounds")


@dataclass(frozen=True)
class BackgroundSource:
    """One configured source (`backgrounds.sources[i]`)."""

    name: str
    kind: str
    path: str = ""

    @classmethod
    def from_config(cls, entry: dict) -> BackgroundSource:
        if entry["kind"] == "folder" and not entry.get("path"):
            raise BackgroundError(
                f"backgrounds.sources: folder source {entry['name']!r} needs a path"
            )
        return cls(entry["name"], entry["kind"], entry.get("path", ""))

    @property
    def generated(self) -> bool:
        return self.kind in GENERATED_KINDS


def configured_sources(config: dict) -> list[BackgroundSource]:
    sources = [BackgroundSource.from_config(e) for e in config["backgrounds"]["sources"]]
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise BackgroundError(f"backgrounds.sources: duplicate source names {names}")
    return sources


def stripe_source_versions(config: dict, source: BackgroundSource) -> int:
    """How many versions a source renders per video: Confl-FG reuses the stripe source's images."""
    versions = config["benchmark"]["versions"]
    conflfg = config["benchmark"]["conflfg"]
    if conflfg["enabled"] and conflfg["background"] == source.name:
        versions = max(versions, conflfg["versions"])
    return versions


class BackgroundLibrary:
    """The backgrounds of one source, as read back from `backgrounds.csv`, for compositing."""

    def __init__(self, source: BackgroundSource, table: pd.DataFrame, base: Path, seed: int):
        self.source, self.table, self.base, self.seed = source, table, Path(base), int(seed)
        self._by_id = table.set_index("background_id")
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, source: BackgroundSource, results: Path, seed: int) -> BackgroundLibrary:
        table = read_backgrounds_table(results / "backgrounds" / source.name / "backgrounds.csv")
        return cls(source, table, results, seed)

    def background_id(self, video_id: str, k: int) -> str:
        """The background drawn for item `(video_id, k)`."""
        if self.source.generated:
            return f"{video_id}__{k}"
        rng = item_rng(self.seed, DRAW_STAGE, self.source.name, video_id, k)
        return str(self.table["background_id"].iloc[int(rng.integers(len(self.table)))])

    def image(self, background_id: str) -> np.ndarray:
        """Decoded RGB background, checked against the recorded sha256 (a changed file is an error)."""
        if background_id in self._cache:
            return self._cache[background_id]
        if background_id not in self._by_id.index:
            raise BackgroundError(
                f"{self.base / 'backgrounds' / self.source.name / 'backgrounds.csv'}: no background "
                f"{background_id!r}; rerun render_backgrounds (new test videos or versions?)"
            )
        row = self._by_id.loc[background_id]
        path = Path(row["path"])
        path = path if path.is_absolute() or self.source.kind == "folder" else self.base / path
        image, reason = read_background_file(path)
        if image is None:
            raise BackgroundError(f"{path}: background {background_id!r} is {reason}")
        if pixels_sha256(image) != row["sha256"]:
            raise BackgroundError(
                f"{path}: background {background_id!r} changed since it was indexed "
                "(sha256 differs); rerun render_backgrounds"
            )
        if len(self._cache) < 64:  # folder sources repeat images across items; keep a few
            self._cache[background_id] = image
        return image


def build_source(
    source: BackgroundSource,
    results: Path,
    *,
    seed: int,
    video_ids: list[str],
    versions: int,
    extensions: list[str],
) -> pd.DataFrame:
    """Render (generated kinds) or index (folders) one source; write its tables; return the table."""
    out = results / "backgrounds" / source.name
    if source.kind == "folder":
        table, rejected = index_image_folder(source.path, source.name, extensions)
        write_csv_atomic(out / "rejected.csv", rejected)
        if len(rejected):
            print(f"{source.name}: {len(rejected)} file(s) rejected, see {out / 'rejected.csv'}")
    else:
        rows = []
        for video_id in sorted(video_ids):
            for k in range(versions):
                image, params = generate_background(source.kind, seed, source.name, video_id, k)
                relative = f"backgrounds/{source.name}/images/{video_id}__{k}.png"
                write_image(results / relative, image)
                rows.append(
                    [f"{video_id}__{k}", source.name, relative, pixels_sha256(image), params]
                )
        table = pd.DataFrame(rows, columns=table_columns("backgrounds"))
    write_backgrounds_table(out / "backgrounds.csv", table)
    return table


def split_video_ids(results: Path, split: str = "test") -> list[str]:
    """The manifest's videos of one split, sorted (generated backgrounds cover every test video,
    approved or not, so a review decision never changes another item's background)."""
    from benchmark.manifest import read_manifest

    manifest = read_manifest(results / "manifest.csv")
    return sorted(manifest.loc[manifest["split"] == split, "video_id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.backgrounds", description=__doc__)
    add_config_arguments(parser)
    parser.add_argument("--source", required=True, help="name of the background source to build")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    from benchmark.runtime import set_threads

    set_threads(args.threads)
    config = config_from_args(args)
    results = results_dir(config)
    sources = {s.name: s for s in configured_sources(config)}
    if args.source not in sources:
        parser.error(f"--source {args.source!r} is not in backgrounds.sources {sorted(sources)}")
    source = sources[args.source]
    started = time.perf_counter()
    video_ids = split_video_ids(results) if source.generated else []
    table = build_source(
        source,
        results,
        seed=config["seed"],
        video_ids=video_ids,
        versions=stripe_source_versions(config, source),
        extensions=config["backgrounds"]["image_extensions"],
    )
    seconds = time.perf_counter() - started
    print(f"backgrounds {source.name} ({source.kind}): {len(table)} images in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
