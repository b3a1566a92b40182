"""UCF101 adapter: the official split lists, the 101 class labels, and UCF101-24 actor boxes.

Config section `dataset.ucf101` (schema: benchmark/schemas/config/dataset.ucf101.schema.yaml):

- Videos: `train_list` / `test_list` are UCF101's own `trainlist0k.txt` / `testlist0k.txt`
  (`Class/v_Class_gXX_cYY.avi [label]`); `test_list_24` is the UCF101-24 split-1 test list
  (`Class/v_Class_gXX_cYY`, 910 videos of the 24 classes). The test split is the union of
  `test_list` and `test_list_24`; with both set, every `test_list_24` video must be in `test_list`.
  Validation videos are held out from train, seeded, `val_fraction` of each class.
- Labels: the index in `UCF101_CLASSES` (classInd.txt order, 0-based) of the video's class folder;
  UCF101-24 videos keep that 101-class label. `class_index` optionally names the user's
  `classInd.txt`, which is then checked against the shipped constant.
- Boxes (`box_source`, file `box_file`): `pyannot` — the corrected UCF101-24 boxes: per video `numf`
  and tubes with 0-based start `sf`, exclusive end `ef` and `ef - sf` rows of (x, y, w, h), often
  stored as uint8/uint16 (cast before adding, or x + w wraps around); `ucf101v2` — StillMix's
  `UCF101v2-GT.pkl` (a Python 2 pickle): `gttubes[video][label]` lists tubes with rows
  (frame 1-based, x1, y1, x2, y2), `nframes[video]`. Both pickles are loaded with
  `benchmark.safe_pickle`. `actor` is the tube's index within its video (ucf101v2: tubes ordered by
  label key, then list order).
- Pixels: `video_root` holds `<Class>/<video>.avi` (`video_format: avi`) or frame folders
  `<Class>/<video>/00001.jpg` (`video_format: frames`, fps `frames_fps`); frame counts and sizes come
  from the videos. With `video_root` empty the adapter runs annotation-only: `path` is empty, frame
  counts come from the box file (`numf` / `nframes`) and size and rate are UCF101's 320x240 at
  25 fps, so every listed video must be in the box file.

Boxes are checked and clipped by `benchmark.datasets.generic.check_boxes` (counts in the report).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.datasets import IngestResult
from benchmark.datasets.generic import (
    MAX_FRAMES,
    ErrorPolicy,
    IngestError,
    check_boxes,
    empty_boxes,
    hold_out_validation,
    manifest_frame,
    probe_videos,
    relative_video_path,
    require_file,
    sanitised_ids,
)
from benchmark.datasets.ucf101_classes import UCF101_CLASSES
from benchmark.safe_pickle import load_pickle

# UCF101's videos are all 320x240 at 25 fps; annotation-only mode uses these facts.
UCF101_WIDTH = 320
UCF101_HEIGHT = 240
UCF101_FPS = 25.0
ANNOTATION_SOURCES = {"pyannot": "pyannot", "ucf101v2": "UCF101v2-GT"}
CLASS_LABEL = {name: index for index, name in enumerate(UCF101_CLASSES)}


@dataclass
class VideoAnnotations:
    """The tubes of a box file's wanted videos as flat arrays (one row per box), plus every
    annotated video's frame count."""

    num_frames: dict[str, int]  # source name -> frames, for every video in the file
    video_id: np.ndarray  # (N,) object: the id of the box's video
    frame: np.ndarray  # (N,) int64, 0-based
    actor: np.ndarray  # (N,) int64
    coords: np.ndarray  # (N, 4) float64 x1, y1, x2, y2 (x2/y2 exclusive)


def read_split_list(path: Path, with_labels: bool) -> list[str]:
    """Source names (`Class/v_...`, no extension) of a UCF101 split list, in file order.

    With `with_labels` (trainlist), a trailing 1-based label must agree with the class folder.
    """
    names = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.strip().split()
        if not fields:
            continue
        name = fields[0].removesuffix(".avi")
        relative_video_path(name, f"{path}:{line_number}")
        if "/" not in name:
            raise IngestError(
                f"{path}:{line_number}: expected 'Class/v_Class_gXX_cYY', got {line.strip()!r}"
            )
        if with_labels and len(fields) > 1:
            class_name = name.split("/")[0]
            expected = CLASS_LABEL.get(class_name)
            if expected is not None and fields[1] != str(expected + 1):
                raise IngestError(
                    f"{path}:{line_number}: label {fields[1]} for class {class_name}, but "
                    f"classInd.txt numbers it {expected + 1}; is this UCF101's own list?"
                )
        names.append(name)
    return names


def check_class_index(path: Path) -> None:
    """The user's classInd.txt must match the shipped constant (same names, same order)."""
    names = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if fields:
            names.append(fields[-1])
    if tuple(names) != UCF101_CLASSES:
        differ = [
            (i + 1, a, b)
            for i, (a, b) in enumerate(zip(names, UCF101_CLASSES, strict=False))
            if a != b
        ]
        raise IngestError(
            f"{path}: classInd.txt does not match UCF101's 101 classes ({len(names)} names; first "
            f"differences (number, file, expected): {differ[:3]}); point class_index at UCF101's own file"
        )


def _frame_number(value: object, path: Path, name: str, what: str) -> int:
    """numf / sf / ef / nframes as a Python int in 0..MAX_FRAMES; anything else is a damaged file.

    They come as Python ints or numpy uint8/uint16 scalars: widened to int before any arithmetic
    (x + w of two uint8 wraps around). A value like 10**30 is refused here rather than overflowing
    int64 (a traceback) or becoming a frame count no video has.
    """
    number = value.item() if isinstance(value, np.generic) else value
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_FRAMES:
        shown = repr(value) if isinstance(value, str) else str(value)
        raise IngestError(
            f"{path}: video {name!r}: {what} {shown[:40]} is not a frame number in "
            f"0..{MAX_FRAMES}; the file is damaged or not the expected annotation file"
        )
    return number


def read_pyannot(
    path: Path, wanted: dict[str, str], data: object | None = None
) -> VideoAnnotations:
    """Flatten `pyannot.pkl` for the `wanted` videos (source name -> video_id):
    (x, y, w, h) -> (x, y, x + w, y + h), frames sf..ef-1. `data`: the file already loaded (a
    caller that also lists its videos loads it once); `path` then only names it in errors."""
    if data is None:
        data = load_pickle(path)
    if not isinstance(data, dict):
        raise IngestError(
            f"{path}: expected a dict of videos, got {type(data).__name__}; is this pyannot.pkl?"
        )
    num_frames, ids, frames, actors, coords = {}, [], [], [], []
    for name, video in data.items():
        try:
            num_frames[name] = _frame_number(video["numf"], path, name, "numf")
            if name not in wanted:
                continue
            for actor, tube in enumerate(video["annotations"]):
                start = _frame_number(tube["sf"], path, name, "sf")
                end = _frame_number(tube["ef"], path, name, "ef")
                xywh = np.asarray(tube["boxes"]).astype(np.float64).reshape(-1, 4)
                if len(xywh) != end - start:
                    raise IngestError(
                        f"{path}: {name} tube {actor} has {len(xywh)} boxes for frames "
                        f"{start}..{end - 1}; the file is damaged"
                    )
                ids.append(np.full(len(xywh), wanted[name], dtype=object))
                frames.append(np.arange(start, end, dtype=np.int64))
                actors.append(np.full(len(xywh), actor, dtype=np.int64))
                coords.append(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1))
        except IngestError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise IngestError(
                f"{path}: video {name!r} is not in pyannot form ({error!r})"
            ) from error
    return _flat(num_frames, ids, frames, actors, coords)


def read_ucf101v2(path: Path, wanted: dict[str, str]) -> VideoAnnotations:
    """Flatten `UCF101v2-GT.pkl` for the `wanted` videos: rows (frame 1-based, x1, y1, x2, y2)."""
    data = load_pickle(path, encoding="latin1")
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("gttubes"), dict)
        or not isinstance(data.get("nframes"), dict)
    ):
        raise IngestError(
            f"{path}: expected a dict with 'gttubes' and 'nframes'; is this UCF101v2-GT.pkl?"
        )
    num_frames, ids, frames, actors, coords = {}, [], [], [], []
    for name, count in data["nframes"].items():
        num_frames[name] = _frame_number(count, path, name, "nframes")
    for name, by_label in data["gttubes"].items():
        if name not in num_frames:
            raise IngestError(f"{path}: {name} has tubes but no nframes entry; the file is damaged")
        if name not in wanted:
            continue
        try:
            tubes = [tube for label in sorted(by_label) for tube in by_label[label]]
            for actor, tube in enumerate(tubes):
                rows = np.asarray(tube).astype(np.float64).reshape(-1, 5)
                numbers = rows[:, 0]
                wrong = ~((numbers >= 1) & (numbers <= MAX_FRAMES + 1) & (numbers % 1 == 0))
                if wrong.any():
                    raise IngestError(
                        f"{path}: video {name!r} tube {actor}: frame {numbers[wrong][0]:g} is not "
                        f"a 1-based frame number in 1..{MAX_FRAMES + 1}; the file is damaged"
                    )
                ids.append(np.full(len(rows), wanted[name], dtype=object))
                frames.append(np.round(rows[:, 0]).astype(np.int64) - 1)
                actors.append(np.full(len(rows), actor, dtype=np.int64))
                coords.append(rows[:, 1:5])
        except IngestError:
            raise
        except (AttributeError, TypeError, ValueError) as error:
            raise IngestError(
                f"{path}: video {name!r} is not in UCF101v2-GT form ({error!r})"
            ) from error
    return _flat(num_frames, ids, frames, actors, coords)


def _flat(num_frames, ids, frames, actors, coords) -> VideoAnnotations:
    if not ids:
        return VideoAnnotations(
            num_frames,
            np.empty(0, dtype=object),
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty((0, 4)),
        )
    return VideoAnnotations(
        num_frames,
        np.concatenate(ids),
        np.concatenate(frames),
        np.concatenate(actors),
        np.concatenate(coords),
    )


def read_box_file(box_source: str, path: Path, wanted: dict[str, str]) -> VideoAnnotations:
    """The boxes of the `wanted` videos (source name -> video_id) from a pyannot / UCF101v2 file."""
    if box_source == "pyannot":
        return read_pyannot(path, wanted)
    if box_source == "ucf101v2":
        return read_ucf101v2(path, wanted)
    raise IngestError(
        f"dataset setting ucf101.box_source must be one of {sorted(ANNOTATION_SOURCES)}, "
        f"got {box_source!r}"
    )


def _video_list(settings: dict) -> tuple[list[str], list[str]]:
    """(train source names, test source names) from the configured lists."""
    keys = ("train_list", "test_list", "test_list_24")
    if not any(settings[key] for key in keys):
        raise IngestError(
            "dataset settings ucf101.train_list, test_list and test_list_24 are all empty; set at "
            "least one (UCF101's trainlist01.txt / testlist01.txt, or the UCF101-24 test list)"
        )
    lists = {
        key: read_split_list(
            require_file(settings[key], f"ucf101.{key}"), with_labels=key == "train_list"
        )
        if settings[key]
        else []
        for key in keys
    }
    test = list(lists["test_list"])
    if lists["test_list"] and lists["test_list_24"]:
        official = set(lists["test_list"])
        outside = [name for name in lists["test_list_24"] if name not in official]
        if outside:
            raise IngestError(
                f"{settings['test_list_24']}: {len(outside)} videos are not in {settings['test_list']} "
                f"(first: {outside[:3]}); the two lists must come from the same split"
            )
    else:
        test += lists["test_list_24"]
    both = sorted(set(lists["train_list"]) & set(test))
    if both:
        raise IngestError(
            f"{len(both)} videos are in both the train and the test list (first: {both[:3]}); "
            "use lists of one split"
        )
    return lists["train_list"], test


def ingest(
    settings: dict, out_dir: str | os.PathLike, *, seed: int, n_shards: int, on_error: str
) -> IngestResult:
    """Ingest UCF101 (+ UCF101-24 boxes) as configured (module docstring)."""
    del out_dir, n_shards  # UCF101 has no true masks: nothing is written here
    policy = ErrorPolicy(on_error)
    if settings["class_index"]:
        check_class_index(require_file(settings["class_index"], "ucf101.class_index"))
    train, test = _video_list(settings)
    names = train + test
    video_ids = sanitised_ids(names, "ucf101 split lists")
    box_source = settings["box_source"]
    annotations = (
        read_box_file(
            box_source,
            require_file(settings["box_file"], "ucf101.box_file"),
            dict(zip(names, video_ids, strict=True)),
        )
        if settings["box_file"]
        else None
    )
    annotation_only = not settings["video_root"]
    if annotation_only and annotations is None:
        raise IngestError(
            "annotation-only mode (ucf101.video_root empty) takes frame counts from the box file, "
            "but ucf101.box_file is empty; set one of them"
        )
    video_root = Path(settings["video_root"]) if not annotation_only else None
    if video_root is not None and not video_root.is_dir():
        raise IngestError(
            f"{video_root}: video folder not found (dataset setting ucf101.video_root)"
        )
    suffix = ".avi" if settings["video_format"] == "avi" else ""

    rows = []
    for index, (video_id, name) in enumerate(zip(video_ids, names, strict=True)):
        class_name = name.split("/")[0]
        if class_name not in CLASS_LABEL:
            policy.bad(
                video_id,
                f"unknown class {class_name!r} (not one of UCF101's 101 classes) in {name}",
            )
            continue
        if annotation_only and name not in annotations.num_frames:
            policy.bad(
                video_id,
                f"{name} is not in the box file {settings['box_file']}, so annotation-only mode has "
                "no frame count for it; set ucf101.video_root or list only annotated videos",
            )
            continue
        rows.append(
            {
                "video_id": video_id,
                "source_name": name,
                "path": "" if annotation_only else str(video_root / f"{name}{suffix}"),
                "label": CLASS_LABEL[class_name],
                "label_name": class_name,
                "split": "train" if index < len(train) else "test",
                "num_frames": annotations.num_frames[name] if annotation_only else 0,
                "fps": UCF101_FPS,
                "width": UCF101_WIDTH,
                "height": UCF101_HEIGHT,
            }
        )
    manifest = manifest_frame(rows)
    if not annotation_only:
        manifest = probe_videos(manifest, policy, float(settings["frames_fps"]))
    manifest = hold_out_validation(manifest, float(settings["val_fraction"]), seed)

    boxes = empty_boxes()
    if annotations is not None and len(manifest):
        # Boxes of videos already left out (unknown class, unreadable) leave with them.
        keep = pd.Series(annotations.video_id).isin(set(manifest["video_id"])).to_numpy()
        boxes = pd.DataFrame(
            {
                "video_id": annotations.video_id[keep],
                "frame": annotations.frame[keep],
                "actor": annotations.actor[keep],
                "x1": annotations.coords[keep, 0],
                "y1": annotations.coords[keep, 1],
                "x2": annotations.coords[keep, 2],
                "y2": annotations.coords[keep, 3],
            }
        )
        id_of = dict(zip(manifest["source_name"], manifest["video_id"], strict=True))
        # Every video of the UCF101-24 list is annotated; one that is not is a wrong box file.
        if settings["test_list_24"]:
            annotated = set(annotations.num_frames)
            for name in read_split_list(Path(settings["test_list_24"]), with_labels=False):
                if name in id_of and name not in annotated:
                    policy.bad(
                        id_of[name],
                        f"{name} (UCF101-24 test list) has no entry in {settings['box_file']}",
                    )
    boxes, manifest, report = check_boxes(boxes, manifest, policy)
    if annotations is not None and not annotation_only:
        declared = manifest["source_name"].map(annotations.num_frames)
        report["frame_count_differs_from_box_file"] = int(
            (declared.notna() & (declared != manifest["num_frames"])).sum()
        )
    report["splits"] = {
        split: int((manifest["split"] == split).sum()) for split in ("train", "val", "test")
    }
    return IngestResult(
        manifest=manifest,
        boxes=boxes,
        annotation_source=ANNOTATION_SOURCES[box_source] if annotations is not None else "none",
        skipped=policy.skipped,
        report=report,
    )
