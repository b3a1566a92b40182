"""HMDB51 adapter, with JHMDB's puppet masks as actor boxes and true masks.

Config section `dataset.hmdb51` (schema: benchmark/schemas/config/dataset.hmdb51.schema.yaml):

- Splits: `split_dir` holds HMDB51's `<class>_test_split<k>.txt` files (testTrainMulti_7030_splits),
  one line per video, `name.avi 1|2|0` — 1 train, 2 test, 0 not used by that split (left out).
  `split` picks k. Validation videos are held out from train, seeded, `val_fraction` per class.
- Labels: the index of the class in `HMDB51_CLASSES`, HMDB51's 51 class folder names in sorted
  (Python string) order — the split files carry no numbers, and sorted folder names are the label
  space every HMDB51 codebase uses. JHMDB videos keep their 51-class label.
- JHMDB (`jhmdb_masks`: the `puppet_mask` root, `<class>/<video>/puppet_mask.mat`): `part_mask` is an
  H x W x T binary human mask. Each frame's box is the mask's tight box (x2/y2 exclusive, actor 0);
  frames with an empty mask have no box. The masks are written as the `truth` mask source
  (`masks/truth/<video_id>.json.gz`, frames past the mask's T are empty and
  `provenance.mask_frames` says where the mask ends) with the per-shard index files
  `masks/truth/shards/shard-<kkk>.csv` (every shard, empty ones too).
- `subset`: `all` (every video of the split), `jhmdb_test` (all train videos, test videos only
  those with JHMDB masks: the SCUBA protocol for HMDB51) or `jhmdb` (only JHMDB videos).
- Pixels: `video_root` holds `<class>/<name>.avi` (`video_format: avi`, hmdb51_org) or frame folders
  `<class>/<name>/00001.png` (`video_format: frames`, JHMDB's Rename_Images, rate `frames_fps`).
  Annotation-only (`video_root` empty) needs `subset: jhmdb`: frame count and size then come from
  the masks.

HMDB51 names carry characters such as `#()!&,;'` that ids do not allow: `benchmark.ids` sanitises
them, keeps the original in `source_name`, and two names mapping to one id are an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
from scipy.io.matlab import MatReadError
from tqdm import tqdm

from benchmark.datasets import IngestResult
from benchmark.datasets.generic import (
    ErrorPolicy,
    IngestError,
    check_boxes,
    empty_boxes,
    hold_out_validation,
    manifest_frame,
    probe_videos,
    relative_video_path,
    sanitised_ids,
)
from benchmark.masks import (
    ActorMasks,
    actor_masks_from_arrays,
    mask_path,
    write_actor_masks,
    write_shard_indexes,
)

ANNOTATION_SOURCE = "jhmdb-puppet"
SPLIT_CODES = {"1": "train", "2": "test", "0": None}
SUBSETS = ("all", "jhmdb_test", "jhmdb")

HMDB51_CLASSES: tuple[str, ...] = (
    "brush_hair",
    "cartwheel",
    "catch",
    "chew",
    "clap",
    "climb",
    "climb_stairs",
    "dive",
    "draw_sword",
    "dribble",
    "drink",
    "eat",
    "fall_floor",
    "fencing",
    "flic_flac",
    "golf",
    "handstand",
    "hit",
    "hug",
    "jump",
    "kick",
    "kick_ball",
    "kiss",
    "laugh",
    "pick",
    "pour",
    "pullup",
    "punch",
    "push",
    "pushup",
    "ride_bike",
    "ride_horse",
    "run",
    "shake_hands",
    "shoot_ball",
    "shoot_bow",
    "shoot_gun",
    "sit",
    "situp",
    "smile",
    "smoke",
    "somersault",
    "stand",
    "swing_baseball",
    "sword",
    "sword_exercise",
    "talk",
    "throw",
    "turn",
    "walk",
    "wave",
)
# The 21 HMDB51 classes JHMDB annotates.
JHMDB_CLASSES: tuple[str, ...] = (
    "brush_hair",
    "catch",
    "clap",
    "climb_stairs",
    "golf",
    "jump",
    "kick_ball",
    "pick",
    "pour",
    "pullup",
    "push",
    "run",
    "shoot_ball",
    "shoot_bow",
    "shoot_gun",
    "sit",
    "stand",
    "swing_baseball",
    "throw",
    "walk",
    "wave",
)
CLASS_LABEL = {name: index for index, name in enumerate(HMDB51_CLASSES)}


def read_split_files(split_dir: Path, split: int) -> list[tuple[str, str, str]]:
    """(class, video name without .avi, train|test) for every used video, in class then file order."""
    suffix = f"_test_split{split}.txt"
    files = sorted(split_dir.glob(f"*{suffix}"))
    if not files:
        raise IngestError(
            f"{split_dir}: no '<class>{suffix}' files; point hmdb51.split_dir at HMDB51's "
            "testTrainMulti_7030_splits folder"
        )
    videos = []
    for path in files:
        class_name = path.name.removesuffix(suffix)
        for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.strip().rsplit(maxsplit=1)
            if len(fields) != 2 or fields[1] not in SPLIT_CODES:
                raise IngestError(
                    f"{path}:{line_number}: expected 'name.avi 0|1|2', got {line.strip()!r}"
                )
            split_name = SPLIT_CODES[fields[1]]
            if len(relative_video_path(fields[0], f"{path}:{line_number}").parts) != 1:
                raise IngestError(
                    f"{path}:{line_number}: video name {fields[0]!r} has a folder part; HMDB51 "
                    "split files list bare file names"
                )
            if split_name is not None:
                videos.append((class_name, fields[0].removesuffix(".avi"), split_name))
    return videos


def jhmdb_mask_files(mask_root: Path) -> dict[tuple[str, str], Path]:
    """(class, video name) -> puppet_mask.mat for every JHMDB video under `mask_root`."""
    if not mask_root.is_dir():
        raise IngestError(f"{mask_root}: JHMDB puppet_mask folder not found (hmdb51.jhmdb_masks)")
    return {
        (path.parent.parent.name, path.parent.name): path
        for path in sorted(mask_root.glob("*/*/puppet_mask.mat"))
    }


def load_puppet_mask(path: Path) -> np.ndarray:
    """`part_mask` (H, W, T) of a JHMDB puppet_mask.mat as (T, H, W) bool."""
    try:
        part_mask = scipy.io.loadmat(str(path))["part_mask"]
    except KeyError as error:
        raise IngestError(
            f"{path}: has no 'part_mask' variable; is this a JHMDB puppet_mask.mat?"
        ) from error
    except (
        MatReadError,
        OSError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        NotImplementedError,  # MATLAB v7.3 (HDF5) files, which scipy does not read
    ) as error:
        raise IngestError(f"{path}: unreadable .mat file ({error})") from error
    part_mask = np.asarray(part_mask)
    if part_mask.ndim == 2:  # a single-frame mask loses its last axis in MATLAB
        part_mask = part_mask[:, :, None]
    if part_mask.ndim != 3:
        raise IngestError(f"{path}: part_mask has shape {part_mask.shape}, expected H x W x T")
    return np.moveaxis(part_mask > 0, -1, 0)


def mask_boxes(video_id: str, masks: np.ndarray) -> pd.DataFrame:
    """Tight box of every non-empty frame of a (T, H, W) mask: x2/y2 exclusive, actor 0."""
    rows_any = masks.any(axis=2)  # (T, H)
    cols_any = masks.any(axis=1)  # (T, W)
    frames = np.flatnonzero(rows_any.any(axis=1))
    height, width = masks.shape[1:]
    y1 = rows_any[frames].argmax(axis=1)
    y2 = height - rows_any[frames, ::-1].argmax(axis=1)
    x1 = cols_any[frames].argmax(axis=1)
    x2 = width - cols_any[frames, ::-1].argmax(axis=1)
    return pd.DataFrame(
        {
            "video_id": video_id,
            "frame": frames.astype(np.int64),
            "actor": np.zeros(len(frames), dtype=np.int64),
            "x1": x1.astype(np.float64),
            "y1": y1.astype(np.float64),
            "x2": x2.astype(np.float64),
            "y2": y2.astype(np.float64),
        }
    )


def write_truth_masks(out_dir: Path, masks: dict[str, ActorMasks], n_shards: int) -> dict[str, str]:
    """Write every video's true masks and the per-shard index files; return video_id -> sha."""
    shas = {
        video_id: write_actor_masks(mask_path(out_dir / "masks", "truth", video_id), actor_masks)
        for video_id, actor_masks in sorted(masks.items())
    }
    write_shard_indexes(out_dir / "masks", "truth", shas, n_shards)
    return shas


def ingest(
    settings: dict, out_dir: str | os.PathLike, *, seed: int, n_shards: int, on_error: str
) -> IngestResult:
    """Ingest HMDB51 (+ JHMDB masks) as configured (module docstring)."""
    policy = ErrorPolicy(on_error)
    subset = settings["subset"]
    if subset not in SUBSETS:
        raise IngestError(f"dataset setting hmdb51.subset must be one of {SUBSETS}, got {subset!r}")
    if not settings["split_dir"]:
        raise IngestError(
            "dataset setting hmdb51.split_dir is empty; set it to HMDB51's split folder"
        )
    split_dir = Path(settings["split_dir"])
    if not split_dir.is_dir():
        raise IngestError(f"{split_dir}: split folder not found (dataset setting hmdb51.split_dir)")
    videos = read_split_files(split_dir, int(settings["split"]))
    mask_files = jhmdb_mask_files(Path(settings["jhmdb_masks"])) if settings["jhmdb_masks"] else {}
    if subset != "all" and not settings["jhmdb_masks"]:
        raise IngestError(
            f"hmdb51.subset {subset!r} needs hmdb51.jhmdb_masks (the puppet_mask folder)"
        )
    annotation_only = not settings["video_root"]
    if annotation_only and subset != "jhmdb":
        raise IngestError(
            "annotation-only mode (hmdb51.video_root empty) takes frame counts from JHMDB masks, so "
            "it needs hmdb51.subset: jhmdb; otherwise set video_root"
        )
    video_root = None if annotation_only else Path(settings["video_root"])
    if video_root is not None and not video_root.is_dir():
        raise IngestError(
            f"{video_root}: video folder not found (dataset setting hmdb51.video_root)"
        )
    if subset == "jhmdb":
        videos = [v for v in videos if (v[0], v[1]) in mask_files]
    elif subset == "jhmdb_test":
        videos = [v for v in videos if v[2] == "train" or (v[0], v[1]) in mask_files]
    video_ids = sanitised_ids([f"{c}/{name}" for c, name, _ in videos], str(split_dir))
    suffix = ".avi" if settings["video_format"] == "avi" else ""
    frames_fps = float(settings["frames_fps"])

    # Masks are kept RLE-encoded (a JHMDB video's boolean stack is ~3 MB; the set, gigabytes).
    rows, annotated = [], {}
    listed = tqdm(
        zip(video_ids, videos, strict=True),
        total=len(videos),
        desc="read splits and masks",
        unit="video",
        mininterval=5,
    )
    for video_id, (class_name, name, split_name) in listed:
        if class_name not in CLASS_LABEL:
            policy.bad(
                video_id, f"unknown class {class_name!r} (not one of HMDB51's 51) in {split_dir}"
            )
            continue
        row = {
            "video_id": video_id,
            "source_name": f"{class_name}/{name}",
            "path": "" if annotation_only else str(video_root / class_name / f"{name}{suffix}"),
            "label": CLASS_LABEL[class_name],
            "label_name": class_name,
            "split": split_name,
            "num_frames": 0,
            "fps": frames_fps,
            "width": 0,
            "height": 0,
        }
        mask_file = mask_files.get((class_name, name))
        if mask_file is not None:
            try:
                masks = load_puppet_mask(mask_file)
            except IngestError as error:
                policy.bad(video_id, str(error))
                continue
            provenance = {
                "source": ANNOTATION_SOURCE,
                "file": str(mask_file),
                "mask_frames": len(masks),
            }
            annotated[video_id] = (
                mask_file,
                mask_boxes(video_id, masks),
                actor_masks_from_arrays(video_id, "truth", {0: masks}, provenance=provenance),
            )
            if annotation_only:
                row["num_frames"], row["height"], row["width"] = masks.shape
        rows.append(row)
    manifest = manifest_frame(rows)
    if not annotation_only:
        manifest = probe_videos(manifest, policy, frames_fps)
    manifest = hold_out_validation(manifest, float(settings["val_fraction"]), seed)

    sizes = manifest.set_index("video_id")
    boxes = [empty_boxes()]
    mask_frames_short = 0
    for video_id, (mask_file, video_boxes, actor_masks) in annotated.items():
        if video_id not in sizes.index:
            continue
        video = sizes.loc[video_id]
        if (actor_masks.height, actor_masks.width) != (video["height"], video["width"]):
            policy.bad(
                video_id,
                f"{mask_file}: mask size {actor_masks.width}x{actor_masks.height} differs from the "
                f"video's {video['width']}x{video['height']}",
            )
            continue
        mask_frames_short += actor_masks.num_frames < video["num_frames"]
        boxes.append(video_boxes)
    boxes = pd.concat(boxes, ignore_index=True)
    boxes = boxes[~boxes["video_id"].isin(policy.skipped_ids)]
    # Masks longer than the video show up here as boxes past the last frame.
    boxes, manifest, report = check_boxes(boxes, manifest, policy)

    truth = {}
    num_frames = manifest.set_index("video_id")["num_frames"]
    for video_id, (_, _, actor_masks) in annotated.items():
        if video_id in num_frames.index:
            # The mask file lists every frame of the video: frames past the mask's end are empty.
            missing = int(num_frames[video_id]) - actor_masks.num_frames
            actor_masks.frames.extend({} for _ in range(missing))
            truth[video_id] = actor_masks
    shas = write_truth_masks(Path(out_dir), truth, n_shards)
    report["truth_masks"] = len(shas)
    report["masks_shorter_than_video"] = int(mask_frames_short)
    report["splits"] = {
        split: int((manifest["split"] == split).sum()) for split in ("train", "val", "test")
    }
    return IngestResult(
        manifest=manifest,
        boxes=boxes,
        annotation_source=ANNOTATION_SOURCE,
        skipped=policy.skipped,
        truth_masks=shas,
        report=report,
    )
