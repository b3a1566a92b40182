"""The per-video actor-mask store and the trivial mask sources (docs/contracts.md "Masks").

One gzipped JSON file per video and mask source, `masks/<source>/<video_id>.json.gz`, lists every
frame of the video (0-based, in order) with one COCO-RLE mask per actor (an empty list where the
frame has no actor). `mask_sha256` hashes the canonical content — sizes, frames, actors, RLE counts —
and nothing else, so recompressing a file or editing its provenance never invalidates a review.

`box_first` (first box row of each frame, the original SCUBA protocol) and `box_union` (all boxes)
are built here from the boxes table; trackers live in `benchmark.tracking`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as coco_mask

from benchmark.atomic import write_bytes_atomic

MASK_SOURCES = ("truth", "box_first", "box_union", "grabcut", "sam", "sam2")
BOX_SOURCES = ("box_first", "box_union")


class MaskFileError(ValueError):
    """A mask file is missing or malformed; the message names it."""


def encode_mask(mask: np.ndarray) -> dict:
    """COCO RLE of one (H, W) boolean mask, with `counts` as str (JSON-ready)."""
    rle = coco_mask.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {
        "size": [int(rle["size"][0]), int(rle["size"][1])],
        "counts": rle["counts"].decode("ascii"),
    }


def decode_rle(rle: dict) -> np.ndarray:
    """(H, W) boolean mask from a COCO RLE dict with str or bytes counts."""
    counts = rle["counts"]
    coded = {
        "size": list(rle["size"]),
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }
    return coco_mask.decode(coded).astype(bool)


@dataclass
class ActorMasks:
    """All masks of one video from one source. `frames[t]` maps actor -> (rle, score or None)."""

    video_id: str
    tracker: str
    height: int
    width: int
    frames: list[dict[int, tuple[dict, float | None]]]
    provenance: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def frame_mask(self, t: int) -> np.ndarray:
        """Union over actors of frame t, (H, W) bool."""
        union = np.zeros((self.height, self.width), dtype=bool)
        for rle, _ in self.frames[t].values():
            union |= decode_rle(rle)
        return union

    def foreground(self) -> np.ndarray:
        """(T, H, W) bool: per frame, the union of every actor's mask."""
        return (
            np.stack([self.frame_mask(t) for t in range(self.num_frames)])
            if self.frames
            else np.zeros((0, self.height, self.width), dtype=bool)
        )

    def actor_mask(self, t: int, actor: int) -> np.ndarray | None:
        entry = self.frames[t].get(actor)
        return None if entry is None else decode_rle(entry[0])

    def to_json(self) -> dict:
        return {
            "video_id": self.video_id,
            "tracker": self.tracker,
            "height": self.height,
            "width": self.width,
            "frames": [
                {
                    "frame": t,
                    "actors": [
                        {
                            "actor": int(actor),
                            "rle": rle,
                            "score": None if score is None else float(score),
                        }
                        for actor, (rle, score) in sorted(actors.items())
                    ],
                }
                for t, actors in enumerate(self.frames)
            ],
            "provenance": self.provenance,
        }


def actor_masks_from_arrays(
    video_id: str,
    tracker: str,
    masks: dict[int, np.ndarray],
    *,
    scores: dict[int, np.ndarray] | None = None,
    present: dict[int, np.ndarray] | None = None,
    provenance: dict | None = None,
) -> ActorMasks:
    """Build an `ActorMasks` from per-actor (T, H, W) bool arrays.

    `present[actor]` (T,) bool says in which frames the actor has an entry (default: where its
    mask is non-empty); `scores[actor]` (T,) float gives per-frame scores.
    """
    if not masks:
        raise ValueError(f"{video_id}: no actor masks given")
    shapes = {m.shape for m in masks.values()}
    if len(shapes) != 1:
        raise ValueError(f"{video_id}: actor mask arrays differ in shape {shapes}")
    num_frames, height, width = next(iter(shapes))
    frames: list[dict[int, tuple[dict, float | None]]] = [{} for _ in range(num_frames)]
    for actor, stack in sorted(masks.items()):
        where = present[actor] if present is not None else stack.reshape(num_frames, -1).any(axis=1)
        for t in np.flatnonzero(where):
            score = None if scores is None else float(scores[actor][t])
            frames[t][int(actor)] = (encode_mask(stack[t]), score)
    return ActorMasks(video_id, tracker, height, width, frames, dict(provenance or {}))


def canonical_content(masks: ActorMasks) -> bytes:
    content = [
        masks.height,
        masks.width,
        [
            [t, [[int(a), rle["counts"]] for a, (rle, _) in sorted(actors.items())]]
            for t, actors in enumerate(masks.frames)
        ],
    ]
    return json.dumps(content, separators=(",", ":")).encode("ascii")


def mask_sha256(masks: ActorMasks) -> str:
    """sha256 of the canonical content (sizes, frames, actors, RLE counts) — not of the file bytes."""
    return hashlib.sha256(canonical_content(masks)).hexdigest()


def mask_path(masks_dir: str | os.PathLike, source: str, video_id: str) -> Path:
    return Path(masks_dir) / source / f"{video_id}.json.gz"


def write_actor_masks(path: str | os.PathLike, masks: ActorMasks) -> str:
    """Write one video's masks (gzip, mtime 0, so bytes are reproducible); return its mask_sha256."""
    payload = json.dumps(masks.to_json(), separators=(",", ":"), sort_keys=True).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=6) as archive:
        archive.write(payload)
    write_bytes_atomic(path, buffer.getvalue())
    return mask_sha256(masks)


def read_actor_masks(path: str | os.PathLike) -> ActorMasks:
    path = Path(path)
    if not path.exists():
        raise MaskFileError(
            f"{path}: mask file not found; run the masks / tracking stage for this source"
        )
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        frames: list[dict[int, tuple[dict, float | None]]] = []
        for expected, entry in enumerate(data["frames"]):
            if entry["frame"] != expected:
                raise MaskFileError(
                    f"{path}: frames must be listed 0..T-1 in order (found {entry['frame']} at {expected})"
                )
            frames.append({int(a["actor"]): (a["rle"], a.get("score")) for a in entry["actors"]})
        masks = ActorMasks(
            data["video_id"],
            data["tracker"],
            int(data["height"]),
            int(data["width"]),
            frames,
            data.get("provenance", {}),
        )
    except MaskFileError:
        raise
    except (OSError, EOFError, KeyError, TypeError, ValueError) as error:
        raise MaskFileError(f"{path}: malformed mask file ({error}); rebuild it") from error
    for t, actors in enumerate(masks.frames):
        for actor, (rle, _) in actors.items():
            if list(rle["size"]) != [masks.height, masks.width]:
                raise MaskFileError(
                    f"{path}: frame {t} actor {actor} RLE size {rle['size']} != {[masks.height, masks.width]}"
                )
    return masks


def write_shard_indexes(
    masks_dir: str | os.PathLike, source: str, shas: dict[str, str], n_shards: int
) -> None:
    """`<masks_dir>/<source>/shards/shard-<kkk>.csv` (video_id, mask_sha256) for every shard, empty
    ones too, so rules can name every shard's index without reading data."""
    from benchmark.atomic import write_csv_atomic
    from benchmark.ids import shard_name, shard_of

    rows = pd.DataFrame(sorted(shas.items()), columns=["video_id", "mask_sha256"])
    shards = np.array([shard_of(video_id, n_shards) for video_id in rows["video_id"]], dtype=int)
    for shard in range(n_shards):
        part = rows[shards == shard].reset_index(drop=True)
        write_csv_atomic(Path(masks_dir) / source / "shards" / f"{shard_name(shard)}.csv", part)


def box_masks(
    video_id: str,
    video_boxes: pd.DataFrame,
    num_frames: int,
    height: int,
    width: int,
    mode: str = "first",
) -> ActorMasks:
    """Rectangle masks from a video's boxes: `first` (first box row per frame, other actors dropped —
    StillMix's protocol, stored as actor of that row) or `union` (every box, one entry per actor).

    Boxes cover rows int(y1)..int(y2)-1 and columns int(x1)..int(x2)-1 (x2/y2 exclusive).
    """
    if mode not in ("first", "union"):
        raise ValueError(f"box mask mode must be 'first' or 'union', got {mode!r}")
    frames: list[dict[int, tuple[dict, float | None]]] = [{} for _ in range(num_frames)]
    ordered = video_boxes.sort_values(["frame", "actor"], kind="stable")
    if mode == "first":
        ordered = ordered.drop_duplicates("frame", keep="first")
    for row in ordered.itertuples(index=False):
        frame = int(row.frame)
        if frame >= num_frames:
            raise MaskFileError(
                f"{video_id}: box at frame {frame} past the video's {num_frames} frames"
            )
        mask = np.zeros((height, width), dtype=bool)
        mask[int(row.y1) : int(row.y2), int(row.x1) : int(row.x2)] = True
        frames[frame][int(row.actor)] = (encode_mask(mask), None)
    source = "box_first" if mode == "first" else "box_union"
    return ActorMasks(video_id, source, height, width, frames, {"source": source, "from": "boxes"})


# ---------------------------------------------------------------------------------------------
# DAVIS / YouTube-VOS export: what video-segmentation tools read.

DAVIS_VOID = 255


def voc_palette() -> np.ndarray:
    """(256, 3) uint8 PASCAL VOC colour map (index k's colour from the bits of k, interleaved)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        value, red, green, blue = index, 0, 0, 0
        for shift in range(7, -1, -1):
            red |= (value & 1) << shift
            green |= ((value >> 1) & 1) << shift
            blue |= ((value >> 2) & 1) << shift
            value >>= 3
        palette[index] = (red, green, blue)
    return palette


def davis_labels(masks: ActorMasks) -> np.ndarray:
    """(T, H, W) uint8 object ids: 0 = background, actor a -> object a + 1 (DAVIS numbers objects
    from 1); where actors overlap the higher id is drawn last and wins. 255 (void) is never used."""
    labels = np.zeros((masks.num_frames, masks.height, masks.width), dtype=np.uint8)
    for t, actors in enumerate(masks.frames):
        for actor, (rle, _) in sorted(actors.items()):
            if not 0 <= actor < DAVIS_VOID - 1:
                raise ValueError(
                    f"{masks.video_id}: actor {actor} has no DAVIS object id (0..253 only)"
                )
            labels[t][decode_rle(rle)] = actor + 1
    return labels


def export_davis(masks: ActorMasks, out_dir: str | os.PathLike) -> list[Path]:
    """Write `<out_dir>/<video_id>/<frame:05d>.png` palette PNGs (one per frame, every frame)."""
    from PIL import Image

    from benchmark.atomic import atomic_path

    folder = Path(out_dir) / masks.video_id
    palette = voc_palette().ravel().tolist()
    paths = []
    for t, labels in enumerate(davis_labels(masks)):
        image = Image.fromarray(labels)  # mode L; putpalette makes it P without touching the ids
        image.putpalette(palette)
        path = folder / f"{t:05d}.png"
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmark.masks export-davis INPUT... --out DIR`: INPUT is a mask file or a
    mask-source folder (every `*.json.gz` in it)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m benchmark.masks", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser(
        "export-davis", help="palette PNGs per frame (DAVIS / YouTube-VOS)"
    )
    export.add_argument("inputs", nargs="+", help="mask files (.json.gz) or mask-source folders")
    export.add_argument("--out", required=True, help="output folder; one sub-folder per video")
    args = parser.parse_args(argv)
    files: list[Path] = []
    for entry in map(Path, args.inputs):
        if entry.is_dir():
            files.extend(sorted(entry.glob("*.json.gz")))
        elif entry.exists():
            files.append(entry)
        else:
            parser.error(f"{entry}: no such mask file or folder")
    started = time.perf_counter()
    frames = 0
    for path in files:
        frames += len(export_davis(read_actor_masks(path), args.out))
    print(
        f"export-davis: {len(files)} videos, {frames} frames -> {args.out} ({time.perf_counter() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
