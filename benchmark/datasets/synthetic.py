"""The built-in planted-bias synthetic dataset: motion defines the class, appearance and scene leak it.

Each video shows a textured articulated actor (body, head, one arm) performing one of a few motions —
`rise`, `fall`, `sway`, `pulse`, `spin`, `orbit` — none of which can be told from a single frame:
start position, phase, scale and speed are drawn per video, and trajectories are centred so that a
frame's position has the same distribution in every class. Motions are horizontally symmetric, so a
horizontal flip never changes the label.

Static cues are planted at known strengths:
- the actor's appearance family (two colours and a pattern) is the class's own with probability
  `bias_fg`, otherwise drawn uniformly (foreground bias, what SCUFO measures);
- the background's scene family is the class's own with probability `bias_bg`, otherwise uniform
  (background bias, what SCUBA measures);
- a small *context object* whose shape is the class's own with probability `context_object.bias`
  sits inside the actor's annotation box but `gap` pixels away from its silhouette, so rectangles let
  it through while true masks remove it (the leak the ALBAR paper found in UCF101's boxes).
Background colours come from the same palette as actor colours, so colour alone cannot segment.

Outputs: real H.264 videos (`videos/<video_id>.mp4`), per-frame annotation boxes (the actor's tight
box grown by `box_margin`, with per-frame jitter), true actor masks (`masks/truth/`) and the context
object's mask (`masks/context/`), each with the per-shard index files every mask source has.

Scene families used here (training distribution): `bands_h`, `bands_v`, `rings`, `diagonal`, `grid`,
`waves`. Benchmark backgrounds must come from other families.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.atomic import write_csv_atomic
from benchmark.datasets import IngestResult
from benchmark.ids import item_rng
from benchmark.masks import (
    actor_masks_from_arrays,
    mask_path,
    write_actor_masks,
    write_shard_indexes,
)
from benchmark.table_files import table_columns
from benchmark.video import write_video

MOTIONS = ("rise", "fall", "sway", "pulse", "spin", "orbit")
SCENE_FAMILIES = ("bands_h", "bands_v", "rings", "diagonal", "grid", "waves")
PATTERNS = ("stripes", "dots", "checker", "rings", "zigzag", "split")
CONTEXT_SHAPES = ("square", "disc", "triangle", "cross", "bar", "diamond")
# One palette for actors, backgrounds and context objects (RGB 0-255), so colour is no shortcut.
PALETTE = np.array(
    [
        [220, 60, 50],
        [40, 110, 200],
        [240, 200, 40],
        [60, 170, 80],
        [150, 70, 170],
        [240, 140, 40],
        [30, 180, 190],
        [200, 200, 200],
        [90, 60, 40],
        [230, 110, 170],
        [40, 40, 60],
        [150, 190, 70],
    ],
    dtype=np.float32,
)
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SyntheticParams:
    classes: int = 5
    train: int = 80
    val: int = 10
    test: int = 30
    frames: int = 16
    size: int = 64
    fps: float = 8.0
    bias_bg: float = 0.9
    bias_fg: float = 0.95
    context_probability: float = 1.0
    context_bias: float = 0.95
    context_gap: int = 2
    context_size: float = 0.3
    box_margin: float = 0.4
    box_jitter: float = 0.03
    actors: int = 1
    actor_size: float = 0.16
    noise: float = 4.0
    motion_scale: float = 0.7
    crf: int = 18

    @classmethod
    def from_settings(cls, settings: dict) -> SyntheticParams:
        per_class = settings.get("videos_per_class", {})
        context = settings.get("context_object", {})
        defaults = cls()
        return cls(
            classes=settings.get("classes", defaults.classes),
            train=per_class.get("train", defaults.train),
            val=per_class.get("val", defaults.val),
            test=per_class.get("test", defaults.test),
            frames=settings.get("frames", defaults.frames),
            size=settings.get("size", defaults.size),
            fps=float(settings.get("fps", defaults.fps)),
            bias_bg=settings.get("bias_bg", defaults.bias_bg),
            bias_fg=settings.get("bias_fg", defaults.bias_fg),
            context_probability=context.get("probability", defaults.context_probability),
            context_bias=context.get("bias", defaults.context_bias),
            context_gap=context.get("gap", defaults.context_gap),
            context_size=context.get("size", defaults.context_size),
            box_margin=settings.get("box_margin", defaults.box_margin),
            box_jitter=settings.get("box_jitter", defaults.box_jitter),
            actors=settings.get("actors", defaults.actors),
            actor_size=settings.get("actor_size", defaults.actor_size),
            noise=settings.get("noise", defaults.noise),
            motion_scale=settings.get("motion_scale", defaults.motion_scale),
            crf=settings.get("crf", defaults.crf),
        )

    def videos_in(self, split: str) -> int:
        return {"train": self.train, "val": self.val, "test": self.test}[split] * self.classes


@dataclass(frozen=True)
class VideoPlan:
    """Every random choice of one video, drawn up front from its own seeded generator."""

    video_id: str
    split: str
    label: int
    appearance: int
    scene: int
    context_shape: int | None
    context_side: int  # -1 left, +1 right


@dataclass
class RenderedVideo:
    frames: np.ndarray  # (T, H, W, 3) uint8
    actor_masks: dict[int, np.ndarray]  # actor -> (T, H, W) bool
    context_mask: np.ndarray  # (T, H, W) bool
    boxes: list[tuple[int, int, float, float, float, float]]  # (frame, actor, x1, y1, x2, y2)


def _biased_choice(rng: np.random.Generator, own: int, count: int, bias: float) -> int:
    """The class's own index with probability `bias`, else uniform over all `count` indices."""
    return own if rng.random() < bias else int(rng.integers(count))


def plan_video(params: SyntheticParams, seed: int, split: str, index: int) -> VideoPlan:
    video_id = f"syn_{split}_{index:05d}"
    label = index % params.classes
    rng = item_rng(seed, "synthetic-plan", split, video_id)
    appearance = _biased_choice(rng, label, params.classes, params.bias_fg)
    scene = _biased_choice(rng, label, params.classes, params.bias_bg)
    has_context = rng.random() < params.context_probability
    context_shape = _biased_choice(rng, label, params.classes, params.context_bias)
    side = -1 if rng.random() < 0.5 else 1
    return VideoPlan(
        video_id, split, label, appearance, scene, context_shape if has_context else None, side
    )


# ---------------------------------------------------------------------------------------------
# Rendering


def scene_image(family: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (size, size, 3) float32 background of one scene family with random palette colours."""
    colours = PALETTE[rng.choice(len(PALETTE), size=2, replace=False)]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = size / rng.uniform(3.0, 6.0)
    shift = rng.uniform(0, period)
    name = SCENE_FAMILIES[family]
    if name == "bands_h":
        weight = (np.sin(2 * np.pi * (yy + shift) / period) > 0).astype(np.float32)
    elif name == "bands_v":
        weight = (np.sin(2 * np.pi * (xx + shift) / period) > 0).astype(np.float32)
    elif name == "rings":
        cy, cx = rng.uniform(0, size, 2)
        weight = (np.sin(2 * np.pi * (np.hypot(yy - cy, xx - cx) + shift) / period) > 0).astype(
            np.float32
        )
    elif name == "diagonal":
        weight = (np.sin(2 * np.pi * (xx + yy + shift) / (period * 1.4)) > 0).astype(np.float32)
    elif name == "grid":
        lines = ((yy + shift) % period < period * 0.25) | ((xx + shift) % period < period * 0.25)
        weight = lines.astype(np.float32)
    else:  # waves
        weight = (
            np.sin(2 * np.pi * (yy + 4 * np.sin(2 * np.pi * xx / period) + shift) / period) > 0
        ).astype(np.float32)
    # A soft illumination gradient so the background is not two flat colours.
    light = 0.85 + 0.3 * (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / (2 * size)
    image = weight[..., None] * colours[0] + (1 - weight[..., None]) * colours[1]
    return image * light[..., None]


def _texture(pattern: int, u: np.ndarray, v: np.ndarray, frequency: float) -> np.ndarray:
    """Weight in [0, 1] of colour 0 at actor-local coordinates (u, v), so texture moves with the actor."""
    name = PATTERNS[pattern]
    if name == "stripes":
        return (np.sin(frequency * 2.2 * v) > 0).astype(np.float32)
    if name == "dots":
        return ((np.sin(frequency * 2.0 * u) * np.sin(frequency * 2.0 * v)) > 0.35).astype(
            np.float32
        )
    if name == "checker":
        return ((np.floor(u * frequency * 0.7) + np.floor(v * frequency * 0.7)) % 2).astype(
            np.float32
        )
    if name == "rings":
        return (np.sin(frequency * 2.5 * np.hypot(u, v)) > 0).astype(np.float32)
    if name == "zigzag":
        return (np.sin(frequency * 2.0 * (v + 0.4 * np.abs(np.sin(3 * u)))) > 0).astype(np.float32)
    return (u > 0).astype(np.float32)  # split: two halves


def actor_shape(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test of the articulated figure in local units (body half-height 1): body, head, one arm."""
    body = (u / 0.5) ** 2 + v**2 <= 1.0
    head = u**2 + (v + 1.35) ** 2 <= 0.38**2
    arm = (u >= 0.3) & (u <= 1.15) & (v >= -0.6) & (v <= -0.35)
    return body | head | arm


def _context_shape(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside test of a context object in its own unit box [-1, 1]²."""
    if name == "square":
        return (np.abs(u) <= 1) & (np.abs(v) <= 1)
    if name == "disc":
        return u**2 + v**2 <= 1
    if name == "triangle":
        return (v <= 1) & (v >= -1) & (np.abs(u) <= (v + 1) / 2)
    if name == "cross":
        return ((np.abs(u) <= 0.35) & (np.abs(v) <= 1)) | ((np.abs(v) <= 0.35) & (np.abs(u) <= 1))
    if name == "bar":
        return (np.abs(u) <= 0.45) & (np.abs(v) <= 1)
    return np.abs(u) + np.abs(v) <= 1  # diamond


def _trajectory(
    motion: str, t: np.ndarray, size: float, rng: np.random.Generator, amount: float = 1.0
) -> dict[str, np.ndarray]:
    """Per-frame centre offset, scale factor and angle of one motion, centred on the clip's middle.
    `amount` scales every displacement, scale change and rotation (the draws stay the same)."""
    frames = len(t)
    middle = (frames - 1) / 2
    unit = size / 64.0
    phase = rng.uniform(0, 2 * np.pi)
    period = rng.uniform(6.0, 10.0)
    dx = np.zeros(frames)
    dy = np.zeros(frames)
    scale = np.ones(frames)
    angle = np.full(frames, rng.uniform(-0.3, 0.3))
    if motion in ("rise", "fall"):
        speed = rng.uniform(0.8, 1.3) * unit * 16 / frames
        dy = (t - middle) * speed * amount * (-1 if motion == "rise" else 1)
    elif motion == "sway":
        dx = rng.uniform(5.0, 8.0) * unit * amount * np.sin(2 * np.pi * t / period + phase)
    elif motion == "pulse":
        scale = 1 + 0.28 * amount * np.sin(2 * np.pi * t / period + phase)
    elif motion == "spin":
        speed = rng.uniform(0.3, 0.45) * (1 if rng.random() < 0.5 else -1)
        angle = angle + speed * amount * (t - middle)
    else:  # orbit
        radius = rng.uniform(4.0, 6.0) * unit * amount
        dx = radius * np.cos(2 * np.pi * t / period + phase)
        dy = radius * np.sin(2 * np.pi * t / period + phase)
    return {"dx": dx, "dy": dy, "scale": scale, "angle": angle}


def render_video(params: SyntheticParams, plan: VideoPlan, seed: int) -> RenderedVideo:
    """Render one planned video: frames, per-actor true masks, context mask and annotation boxes."""
    rng = item_rng(seed, "synthetic-render", plan.split, plan.video_id)
    size, frames = params.size, params.frames
    t = np.arange(frames, dtype=np.float64)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    background = scene_image(plan.scene, size, rng)
    colours = PALETTE[
        [(2 * plan.appearance) % len(PALETTE), (2 * plan.appearance + 5) % len(PALETTE)]
    ]
    frequency = rng.uniform(2.5, 3.5)
    motion = MOTIONS[plan.label]

    lanes = params.actors
    body = params.actor_size * size / math.sqrt(lanes)  # body half-height in pixels
    base_scale = rng.uniform(0.85, 1.15, size=lanes)
    reach = 1.75 * body * 1.3  # farthest figure pixel from the centre, at the largest scale
    margin_px = params.box_margin * 2.2 * body + params.context_gap + 2
    travel = 0.6 * body + 8 * size / 64.0
    lo = reach + margin_px + travel / 2
    hi = size - lo
    centres_y = rng.uniform(min(lo, hi), max(lo, hi), size=lanes)
    lane_width = size / lanes
    centres_x = [
        rng.uniform(
            min(lane_width * k + lo / lanes, lane_width * (k + 1) - lo / lanes),
            max(lane_width * k + lo / lanes, lane_width * (k + 1) - lo / lanes),
        )
        if lanes > 1
        else rng.uniform(min(lo, hi), max(lo, hi))
        for k in range(lanes)
    ]
    trajectories = [_trajectory(motion, t, size, rng, params.motion_scale) for _ in range(lanes)]
    context_scale = rng.uniform(0.85, 1.15)
    context_colour = PALETTE[rng.integers(len(PALETTE))]
    noise = rng.normal(0.0, params.noise, size=(frames, size, size, 3)).astype(np.float32)

    video = np.empty((frames, size, size, 3), dtype=np.uint8)
    masks = {k: np.zeros((frames, size, size), dtype=bool) for k in range(lanes)}
    context = np.zeros((frames, size, size), dtype=bool)
    boxes: list[tuple[int, int, float, float, float, float]] = []
    for f in range(frames):
        image = background.copy()
        textures = []
        for k in range(lanes):
            path = trajectories[k]
            cx = centres_x[k] + path["dx"][f]
            cy = centres_y[k] + path["dy"][f]
            radius = body * base_scale[k] * path["scale"][f]
            cos, sin = math.cos(path["angle"][f]), math.sin(path["angle"][f])
            # Inverse rotation of the pixel grid into the actor's frame, in body units.
            u = ((xx - cx) * cos + (yy - cy) * sin) / radius
            v = (-(xx - cx) * sin + (yy - cy) * cos) / radius
            masks[k][f] = actor_shape(u, v)
            textures.append(_texture(plan.appearance % len(PATTERNS), u, v, frequency))
        for k in range(lanes):
            rows, cols = np.nonzero(masks[k][f])
            x1, x2 = float(cols.min()), float(cols.max() + 1)
            y1, y2 = float(rows.min()), float(rows.max() + 1)
            grow_x, grow_y = params.box_margin * (x2 - x1), params.box_margin * (y2 - y1)
            box = np.array([x1 - grow_x, y1 - grow_y, x2 + grow_x, y2 + grow_y])
            if k == 0 and plan.context_shape is not None:
                # The object sits beside the actor, `gap` pixels from its tight box; the annotation
                # box holds it, as annotators' boxes hold what an actor carries.
                half = params.context_size * body * context_scale
                oy = (y1 + y2) / 2
                if plan.context_side > 0:
                    ox = x2 + params.context_gap + half
                    box[2] = max(box[2], ox + half + 1)
                else:
                    ox = x1 - params.context_gap - half
                    box[0] = min(box[0], ox - half - 1)
                shape = _context_shape(
                    CONTEXT_SHAPES[plan.context_shape],
                    (xx + 0.5 - ox) / half,
                    (yy + 0.5 - oy) / half,
                )
                context[f] = shape & ~masks[k][f]
            jitter = rng.normal(0.0, params.box_jitter, size=4) * np.array(
                [x2 - x1, y2 - y1, x2 - x1, y2 - y1]
            )
            box = box + jitter
            box = np.clip(box, 0, size)
            boxes.append((f, k, *(float(round(c, 2)) for c in box)))
        if context[f].any():
            image[context[f]] = context_colour
        for k in range(lanes):
            weight = textures[k][masks[k][f]][:, None]
            image[masks[k][f]] = weight * colours[0] + (1 - weight) * colours[1]
        video[f] = np.clip(image + noise[f], 0, 255).astype(np.uint8)
    return RenderedVideo(video, masks, context, boxes)


# ---------------------------------------------------------------------------------------------
# Ingest


def _render_and_write(job: tuple[SyntheticParams, VideoPlan, int, str]) -> dict:
    params, plan, seed, out_dir = job
    out = Path(out_dir)
    rendered = render_video(params, plan, seed)
    video_path = out / "videos" / f"{plan.video_id}.mp4"
    write_video(video_path, rendered.frames, params.fps, crf=params.crf)
    provenance = {"source": "synthetic", "seed": seed}
    truth = actor_masks_from_arrays(
        plan.video_id,
        "truth",
        rendered.actor_masks,
        present={k: np.ones(params.frames, dtype=bool) for k in rendered.actor_masks},
        provenance=provenance,
    )
    context = actor_masks_from_arrays(
        plan.video_id,
        "context",
        {0: rendered.context_mask},
        present={0: rendered.context_mask.reshape(params.frames, -1).any(axis=1)},
        provenance=provenance,
    )
    return {
        "video_id": plan.video_id,
        "path": str(video_path),
        "truth_sha": write_actor_masks(mask_path(out / "masks", "truth", plan.video_id), truth),
        "context_sha": write_actor_masks(
            mask_path(out / "masks", "context", plan.video_id), context
        ),
        "boxes": rendered.boxes,
    }


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def ingest(
    settings: dict,
    out_dir: str | os.PathLike,
    *,
    seed: int,
    n_shards: int,
    on_error: str = "fail",
    workers: int = 1,
) -> IngestResult:
    """Render the whole dataset into `out_dir` and return its manifest and boxes."""
    params = SyntheticParams.from_settings(settings)
    if params.classes > len(MOTIONS):
        raise ValueError(f"dataset.synthetic.classes: at most {len(MOTIONS)} motion classes exist")
    out = Path(out_dir)
    plans = [
        plan_video(params, seed, split, i)
        for split in SPLITS
        for i in range(params.videos_in(split))
    ]
    jobs = [(params, plan, seed, str(out)) for plan in plans]
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
            written = list(pool.map(_render_and_write, jobs, chunksize=8))
    else:
        written = [_render_and_write(job) for job in jobs]

    manifest = pd.DataFrame(
        {
            "video_id": [p.video_id for p in plans],
            "source_name": [p.video_id for p in plans],
            "path": [w["path"] for w in written],
            "label": [p.label for p in plans],
            "label_name": [MOTIONS[p.label] for p in plans],
            "split": [p.split for p in plans],
            "num_frames": params.frames,
            "fps": params.fps,
            "width": params.size,
            "height": params.size,
        }
    )
    boxes = pd.DataFrame(
        [(w["video_id"], *box) for w in written for box in w["boxes"]],
        columns=table_columns("boxes"),
    )
    truth = {w["video_id"]: w["truth_sha"] for w in written}
    write_shard_indexes(out / "masks", "truth", truth, n_shards)
    write_shard_indexes(
        out, "context", {w["video_id"]: w["context_sha"] for w in written}, n_shards
    )
    plan_table = pd.DataFrame(
        {
            "video_id": [p.video_id for p in plans],
            "label": [p.label for p in plans],
            "appearance": [p.appearance for p in plans],
            "scene": [SCENE_FAMILIES[p.scene] for p in plans],
            "context_shape": [
                CONTEXT_SHAPES[p.context_shape] if p.context_shape is not None else ""
                for p in plans
            ],
        }
    )
    # The planted factors per video: ground truth for checking what a model or a mask leaks.
    write_csv_atomic(out / "synthetic_factors.csv", plan_table)
    return IngestResult(
        manifest, boxes, "synthetic", truth_masks=truth, report={"videos": len(plans)}
    )
