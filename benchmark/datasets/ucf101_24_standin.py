"""A stand-in for UCF101-24 at its real geometry: the real boxes, frame counts, labels and split,
with rendered pixels and true masks, so every stage meets UCF101-24's shapes without the download.

For every video of a UCF101-24 box file (`pyannot.pkl`, read by `benchmark.datasets.ucf101`) it
writes a 320x240, 25 fps H.264 video of the real frame count. Each annotated tube carries a textured
articulated actor whose silhouette fills the tube's real box frame by frame: it moves, scales,
enters and leaves exactly as the tube does, is absent in the frames no box covers, and is cut by the
frame where the box is (clipped like the boxes, `benchmark.datasets.generic.check_boxes`). Actors
are painted in tube order, so a later tube occludes an earlier one; the true masks
(`masks/truth/`) hold each actor's visible pixels in every frame its tube has a box. The background
is a scene family of the synthetic generator (class-tied with probability `bias_bg`, as there), over
per-pixel sensor noise.

Labels are UCF101's 101-class labels by class folder name (as the ucf101 adapter); the test split is
the UCF101-24 test list (`test_list`), every other video of the box file is train, of which
`val_fraction` per class is held out as val. `splits` chooses which splits are rendered;
`slice` > 0 keeps only that many test videos (and no others), chosen by `select_slice` (the CI
slice).

Rendering is per frame with OpenCV resizes of a few precomputed pose sprites per actor, so memory
does not grow with video length: frames stream into `benchmark.video.write_h264` and masks are
run-length encoded as they are drawn. Videos render in parallel over `workers` processes.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from benchmark.datasets import IngestResult
from benchmark.datasets.generic import (
    ErrorPolicy,
    IngestError,
    check_boxes,
    hold_out_validation,
    manifest_frame,
    require_file,
    sanitised_ids,
)
from benchmark.datasets.synthetic import PALETTE, PATTERNS, SCENE_FAMILIES, _texture, scene_image
from benchmark.datasets.ucf101 import (
    CLASS_LABEL,
    UCF101_FPS,
    UCF101_HEIGHT,
    UCF101_WIDTH,
    read_pyannot,
    read_split_list,
)
from benchmark.ids import item_rng
from benchmark.masks import (
    ActorMasks,
    encode_mask,
    mask_path,
    write_actor_masks,
    write_shard_indexes,
)
from benchmark.safe_pickle import load_pickle
from benchmark.video import write_h264

# Poses of the articulated figure cycled along a tube (an arm swinging), so actors move inside
# their boxes as well as with them.
POSES = 8
# Sprite resolution (height); resized to each frame's box, so it bounds the detail, not the cost.
SPRITE_HEIGHT = 96
# Frames of sensor noise drawn per video and cycled: noise costs one add per frame, not one draw.
NOISE_FRAMES = 4


@dataclass(frozen=True)
class StandinParams:
    """The adapter's settings (defaults live in the schema, dataset.ucf101_24_standin)."""

    box_file: str
    test_list: str
    splits: tuple[str, ...]
    val_fraction: float
    slice: int
    bias_bg: float
    noise: float
    crf: int
    preset: str

    @classmethod
    def from_settings(cls, settings: dict) -> StandinParams:
        return cls(
            box_file=settings.get("box_file", ""),
            test_list=settings.get("test_list", ""),
            splits=tuple(settings.get("splits", ["train", "val", "test"])),
            val_fraction=float(settings.get("val_fraction", 0.1)),
            slice=int(settings.get("slice", 0)),
            bias_bg=float(settings.get("bias_bg", 0.9)),
            noise=float(settings.get("noise", 4.0)),
            crf=int(settings.get("crf", 18)),
            preset=settings.get("preset", "veryfast"),
        )


@dataclass(frozen=True)
class VideoTubes:
    """One video's geometry: frame count and its boxes (frame, actor, x1, y1, x2, y2 clipped)."""

    name: str
    num_frames: int
    frame: np.ndarray  # (N,) int64
    actor: np.ndarray  # (N,) int64
    coords: np.ndarray  # (N, 4) float64, clipped to the 320x240 frame


# ---------------------------------------------------------------------------------------------
# The CI slice


def slice_features(video: VideoTubes) -> dict[str, int]:
    """What makes a video hard for the stages: length, actors, frames without a box inside the
    annotated span (tube gaps), and boxes touching the frame border."""
    annotated = np.unique(video.frame)
    span = int(annotated.max() - annotated.min() + 1) if len(annotated) else 0
    x1, y1, x2, y2 = video.coords.T if len(video.coords) else (np.empty(0),) * 4
    border = (x1 <= 0) | (y1 <= 0) | (x2 >= UCF101_WIDTH) | (y2 >= UCF101_HEIGHT)
    return {
        "frames": video.num_frames,
        "actors": len(np.unique(video.actor)),
        "gap_frames": span - len(annotated),
        "border_boxes": int(border.sum()),
    }


def select_slice(videos: list[VideoTubes], count: int) -> list[str]:
    """The `count` videos of the CI slice, by a fixed rule: four rankings — most frames, most
    actors, most gap frames (frames inside the annotated span that no box covers), most boxes at
    the frame border — each descending with ties broken by name; the slice takes the best video
    not yet taken from each ranking in turn (frames, actors, gaps, border, frames, ...) until it has
    `count`. Returned in that order. Depends only on the boxes, so the slice is stable."""
    features = {video.name: slice_features(video) for video in videos}
    rankings = [
        sorted(features, key=lambda name, key=key: (-features[name][key], name))
        for key in ("frames", "actors", "gap_frames", "border_boxes")
    ]
    chosen: list[str] = []
    taken: set[str] = set()
    positions = [0] * len(rankings)
    while len(chosen) < min(count, len(features)):
        for k, ranking in enumerate(rankings):
            while positions[k] < len(ranking) and ranking[positions[k]] in taken:
                positions[k] += 1
            if positions[k] < len(ranking) and len(chosen) < count:
                chosen.append(ranking[positions[k]])
                taken.add(ranking[positions[k]])
    return chosen


# ---------------------------------------------------------------------------------------------
# Rendering


def actor_sprites(
    pattern: int, colours: np.ndarray, frequency: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`POSES` (rgb (h, w, 3) float32, silhouette (h, w) uint8) sprites of the articulated figure
    (body, head, one arm at a swinging angle). Each silhouette touches all four sprite borders, so
    resized to a box it fills that box."""
    # The figure spans u in [-0.5, 1.2] (body to arm tip) and v in [-1.73, 1] (head top to feet).
    height = SPRITE_HEIGHT
    width = max(8, round(height * 1.7 / 2.73))
    v, u = np.meshgrid(
        np.linspace(-1.73, 1.0, height), np.linspace(-0.5, 1.2, width), indexing="ij"
    )
    body = (u / 0.5) ** 2 + v**2 <= 1.0
    head = u**2 + (v + 1.35) ** 2 <= 0.38**2
    weight = _texture(pattern, u, v, frequency)[..., None]
    rgb = (weight * colours[0] + (1 - weight) * colours[1]).astype(np.float32)
    sprites = []
    for pose in range(POSES):
        angle = 0.6 * math.sin(2 * math.pi * pose / POSES)
        # The arm: a bar from the shoulder (0.3, -0.5), rotated by `angle`.
        du, dv = u - 0.3, v + 0.5
        along = du * math.cos(angle) + dv * math.sin(angle)
        across = -du * math.sin(angle) + dv * math.cos(angle)
        arm = (along >= 0) & (along <= 0.88) & (np.abs(across) <= 0.12)
        silhouette = body | head | arm
        # Rows / columns the pose leaves empty would shrink the silhouette inside its box.
        rows = np.flatnonzero(silhouette.any(axis=1))
        cols = np.flatnonzero(silhouette.any(axis=0))
        crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        sprites.append((np.ascontiguousarray(rgb[crop]), silhouette[crop].astype(np.uint8)))
    return sprites


def _pixel_box(coords: np.ndarray) -> tuple[int, int, int, int]:
    """Integer pixel bounds (x1, y1, x2, y2 exclusive) of a clipped box, at least one pixel."""
    x1 = min(int(math.floor(coords[0])), UCF101_WIDTH - 1)
    y1 = min(int(math.floor(coords[1])), UCF101_HEIGHT - 1)
    x2 = max(int(math.ceil(coords[2])), x1 + 1)
    y2 = max(int(math.ceil(coords[3])), y1 + 1)
    return x1, y1, x2, y2


def render_frames(video: VideoTubes, label: int, seed: int, params: StandinParams, masks: list):
    """Yield the video's (H, W, 3) uint8 frames one at a time; append each frame's
    {actor: (rle, None)} to `masks` as it is drawn (visible pixels of every actor with a box)."""
    rng = item_rng(seed, "ucf101_24_standin", "render", video.name)
    own = label % len(SCENE_FAMILIES)
    family = own if rng.random() < params.bias_bg else int(rng.integers(len(SCENE_FAMILIES)))
    side = max(UCF101_WIDTH, UCF101_HEIGHT)
    background = scene_image(family, side, rng)[:UCF101_HEIGHT, :UCF101_WIDTH]
    noise = rng.normal(0.0, params.noise, size=(NOISE_FRAMES, UCF101_HEIGHT, UCF101_WIDTH, 3))
    backgrounds = [np.clip(background + n, 0, 255).astype(np.uint8) for n in noise]
    actors = np.unique(video.actor)
    sprites, phase = {}, {}
    for actor in actors:
        pick = rng.choice(len(PALETTE), size=2, replace=False)
        pattern = int(rng.integers(len(PATTERNS)))
        sprites[int(actor)] = actor_sprites(pattern, PALETTE[pick], rng.uniform(2.5, 3.5))
        phase[int(actor)] = int(rng.integers(POSES))
    # Rows of each frame, in tube order (boxes are sorted by frame, then actor).
    order = np.lexsort((video.actor, video.frame))
    frames, actor_of, coords = video.frame[order], video.actor[order], video.coords[order]
    starts = np.searchsorted(frames, np.arange(video.num_frames + 1))
    for t in range(video.num_frames):
        image = backgrounds[t % NOISE_FRAMES].copy()
        drawn: list[tuple[int, np.ndarray]] = []
        for row in range(starts[t], starts[t + 1]):
            actor = int(actor_of[row])
            x1, y1, x2, y2 = _pixel_box(coords[row])
            rgb, silhouette = sprites[actor][(t + phase[actor]) % POSES]
            size = (x2 - x1, y2 - y1)
            patch = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
            inside = cv2.resize(silhouette, size, interpolation=cv2.INTER_NEAREST).astype(bool)
            if not inside.any():  # a box of a pixel or two: the actor is its centre pixel
                inside[(y2 - y1) // 2, (x2 - x1) // 2] = True
            region = image[y1:y2, x1:x2]
            region[inside] = patch[inside].astype(np.uint8)
            full = np.zeros((UCF101_HEIGHT, UCF101_WIDTH), dtype=bool)
            full[y1:y2, x1:x2] = inside
            drawn.append((actor, full))
        entries = {}
        for k, (actor, full) in enumerate(drawn):
            visible = full.copy()
            for _, later in drawn[k + 1 :]:
                visible &= ~later
            entries[actor] = (encode_mask(visible), None)
        masks.append(entries)
        yield image


def _render_and_write(job: tuple) -> dict:
    video, video_id, label, seed, params, out_dir = job
    out = Path(out_dir)
    frames: list[dict] = []
    path = out / "videos" / f"{video_id}.mp4"
    written = write_h264(
        path,
        render_frames(video, label, seed, params, frames),
        UCF101_FPS,
        crf=params.crf,
        preset=params.preset,
    )
    if written != video.num_frames:  # a renderer bug, never a user's
        raise RuntimeError(f"{video_id}: rendered {written} frames, expected {video.num_frames}")
    truth = ActorMasks(
        video_id,
        "truth",
        UCF101_HEIGHT,
        UCF101_WIDTH,
        frames,
        {"source": "ucf101_24_standin", "seed": seed, "box_file_video": video.name},
    )
    return {
        "video_id": video_id,
        "path": str(path),
        "truth_sha": write_actor_masks(mask_path(out / "masks", "truth", video_id), truth),
    }


def _init_worker() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    cv2.setNumThreads(1)


# ---------------------------------------------------------------------------------------------
# Ingest


def read_tubes(
    box_file: Path, names: list[str], data: object | None = None
) -> dict[str, VideoTubes]:
    """Each named video's frame count and clipped boxes from a pyannot box file (`data`: the file
    already loaded, as `read_pyannot` takes it)."""
    wanted = {name: name for name in names}
    annotations = read_pyannot(box_file, wanted, data)
    missing = [name for name in names if name not in annotations.num_frames]
    if missing:
        raise IngestError(
            f"{box_file}: {len(missing)} videos of the test list have no entry (first: "
            f"{missing[:3]}); use the box file and test list of one UCF101-24 release"
        )
    coords = annotations.coords.copy()
    coords[:, [0, 2]] = np.clip(coords[:, [0, 2]], 0, UCF101_WIDTH)
    coords[:, [1, 3]] = np.clip(coords[:, [1, 3]], 0, UCF101_HEIGHT)
    ids = annotations.video_id.astype(str)
    order = np.argsort(ids, kind="stable")
    ids, bounds = ids[order], {}
    unique, first = np.unique(ids, return_index=True)
    for k, name in enumerate(unique):
        bounds[name] = (first[k], first[k + 1] if k + 1 < len(first) else len(ids))
    tubes = {}
    for name in names:
        lo, hi = bounds.get(name, (0, 0))
        rows = order[lo:hi]
        tubes[name] = VideoTubes(
            name,
            annotations.num_frames[name],
            annotations.frame[rows],
            annotations.actor[rows],
            coords[rows],
        )
    return tubes


def ingest(
    settings: dict,
    out_dir: str | os.PathLike,
    *,
    seed: int,
    n_shards: int,
    on_error: str = "fail",
    workers: int = 1,
) -> IngestResult:
    """Render the stand-in (module docstring) into `out_dir`; return its manifest and boxes."""
    params = StandinParams.from_settings(settings)
    policy = ErrorPolicy(on_error)
    box_file = require_file(params.box_file, "ucf101_24_standin.box_file")
    test_file = require_file(params.test_list, "ucf101_24_standin.test_list")
    everything = load_pickle(box_file)
    if not isinstance(everything, dict):
        raise IngestError(f"{box_file}: expected a dict of videos; is this pyannot.pkl?")
    test = read_split_list(test_file, with_labels=False)
    in_test = set(test)
    train = sorted(str(name) for name in everything if str(name) not in in_test)
    names = train + test
    unknown = sorted({name.split("/")[0] for name in names} - set(CLASS_LABEL))
    if unknown:
        raise IngestError(
            f"{box_file}: classes {unknown[:3]} are not UCF101 classes; is this UCF101-24's box file?"
        )
    video_ids = sanitised_ids(names, f"{box_file} / {test_file}")
    rows = [
        {
            "video_id": video_id,
            "source_name": name,
            "path": "",
            "label": CLASS_LABEL[name.split("/")[0]],
            "label_name": name.split("/")[0],
            "split": "train" if index < len(train) else "test",
            "num_frames": 0,
            "fps": UCF101_FPS,
            "width": UCF101_WIDTH,
            "height": UCF101_HEIGHT,
        }
        for index, (video_id, name) in enumerate(zip(video_ids, names, strict=True))
    ]
    manifest = hold_out_validation(manifest_frame(rows), params.val_fraction, seed)
    manifest = manifest[manifest["split"].isin(params.splits)].reset_index(drop=True)
    tubes = read_tubes(box_file, manifest["source_name"].tolist(), everything)
    del everything
    if params.slice:
        # The slice is of test videos only (the benchmarks are built from them).
        test_names = manifest.loc[manifest["split"] == "test", "source_name"]
        keep = set(select_slice([tubes[n] for n in test_names], params.slice))
        manifest = manifest[manifest["source_name"].isin(keep)].reset_index(drop=True)
    manifest["num_frames"] = manifest["source_name"].map(lambda n: tubes[n].num_frames)

    out = Path(out_dir)
    jobs = [
        (tubes[name], video_id, int(label), seed, params, str(out))
        for video_id, name, label in zip(
            manifest["video_id"], manifest["source_name"], manifest["label"], strict=True
        )
    ]
    if workers > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker) as pool:
            written = list(pool.map(_render_and_write, jobs, chunksize=1))
    else:
        written = [_render_and_write(job) for job in jobs]
    manifest["path"] = [w["path"] for w in written]

    boxes = pd.DataFrame(
        {
            "video_id": np.concatenate(
                [np.full(len(tubes[n].frame), v, dtype=object) for v, n in _pairs(manifest)]
                or [np.empty(0, dtype=object)]
            ),
            "frame": np.concatenate([tubes[n].frame for _, n in _pairs(manifest)] or [[]]),
            "actor": np.concatenate([tubes[n].actor for _, n in _pairs(manifest)] or [[]]),
            **{
                column: np.concatenate([tubes[n].coords[:, k] for _, n in _pairs(manifest)] or [[]])
                for k, column in enumerate(("x1", "y1", "x2", "y2"))
            },
        }
    ).astype({"frame": np.int64, "actor": np.int64})
    truth = {w["video_id"]: w["truth_sha"] for w in written}
    write_shard_indexes(out / "masks", "truth", truth, n_shards)
    boxes, manifest, report = check_boxes(boxes, manifest, policy)
    report["splits"] = {s: int((manifest["split"] == s).sum()) for s in ("train", "val", "test")}
    report["frames"] = int(manifest["num_frames"].sum())
    return IngestResult(
        manifest,
        boxes,
        "pyannot",
        skipped=policy.skipped,
        truth_masks=truth,
        report=report,
    )


def _pairs(manifest: pd.DataFrame):
    return zip(manifest["video_id"], manifest["source_name"], strict=True)
