"""Pseudo scene labels of the training videos, for SDN's scene adversary: one table per source.

`runs/_scene_labels/<key>.csv` (benchmark/schemas/scene_labels.schema.yaml): one row per training
video, `video_id, scene, scene_name, source`, sorted by video id. Two sources:
- `planted` (the synthetic dataset only): the scene family the generator planted in the video's
  background (`synthetic_factors.csv`), numbered in sorted name order. This is the true scene, not a
  classifier's guess: on the synthetic data SDN is given the best pseudo labels it could have.
- `places365` (real data): a user-supplied Places365 scene classifier (a torchvision ResNet-18 or
  ResNet-50 state dict of 365 classes, e.g. the CSAIL release converted to a state dict; loaded
  with weights_only=True, a `state_dict` wrapper and DataParallel's `module.` prefixes accepted)
  scores `frames` evenly spaced frames of each training video at 224 px; the label is the argmax of
  the mean probability (SDN's released labels are the classifier's top-1 as well).
`python -m albar.scenes --help`; the workflow builds the table once per source (rule label_scenes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from albar.data import DataError, FrameReader, read_manifest_entries
from benchmark.table_files import read_table, validate_rows, write_table

SCENE_SOURCES = ("planted", "places365")
PLACES365_CLASSES = 365
PLACES365_ARCHS = ("resnet18", "resnet50")


def validate_scene_labels(frame: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """Check a scene-label table against its schema (and unique video ids); return it typed."""
    frame = validate_rows(frame, "scene_labels", path, "scene labels")
    return _unique_typed(frame, path)


def _unique_typed(frame: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    duplicated = sorted(set(frame.loc[frame["video_id"].duplicated(), "video_id"]))
    if duplicated:
        raise DataError(f"{path}: videos listed twice: {duplicated[:5]}; rebuild the scene labels")
    frame = frame.copy()
    frame["scene"] = pd.to_numeric(frame["scene"]).astype(np.int64)
    return frame.reset_index(drop=True)


def write_scene_labels(path: str | os.PathLike, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values("video_id", kind="stable").reset_index(drop=True)
    # Typed first (scene as int64), so the file holds "3", never "3.0"; write_table checks the
    # rows again (a few thousand rows: cheap) and writes atomically.
    frame = validate_scene_labels(frame, path)
    write_table("scene_labels", path, frame)
    return frame


def read_scene_labels(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: scene labels not found; build them with python -m albar.scenes")
    frame = read_table("scene_labels", path, "build them with python -m albar.scenes")
    return _unique_typed(frame, path)


def scene_count(frame: pd.DataFrame) -> int:
    """Classes of the scene head: 365 for Places365 labels, else the largest index + 1."""
    if (frame["source"] == "places365").any():
        return PLACES365_CLASSES
    return int(frame["scene"].max()) + 1 if len(frame) else 1


def planted_scene_labels(manifest_path: str | os.PathLike, factors_path: str | os.PathLike):
    """The generator's planted scene family of every training video (synthetic data only)."""
    factors_path = Path(factors_path)
    if not factors_path.exists():
        raise DataError(
            f"{factors_path}: not found; planted scene labels exist only for the synthetic dataset "
            "(set scene_source: places365 and scene_weights on real data)"
        )
    factors = pd.read_csv(factors_path, dtype={"video_id": str, "scene": str})
    if not {"video_id", "scene"} <= set(factors.columns):
        raise DataError(f"{factors_path}: lacks the video_id / scene columns")
    scene_of = dict(zip(factors["video_id"], factors["scene"], strict=True))
    entries = read_manifest_entries(manifest_path, "train")
    missing = [e.key for e in entries if e.key not in scene_of]
    if missing:
        raise DataError(f"{factors_path}: no scene for training videos {missing[:3]}")
    names = sorted({scene_of[e.key] for e in entries})
    return pd.DataFrame(
        {
            "video_id": [e.key for e in entries],
            "scene": [names.index(scene_of[e.key]) for e in entries],
            "scene_name": [scene_of[e.key] for e in entries],
            "source": "planted",
        }
    )


def load_places365(weights: str | os.PathLike, arch: str) -> torch.nn.Module:
    """A torchvision ResNet with 365 outputs from a local state dict (weights_only=True)."""
    import torchvision

    if arch not in PLACES365_ARCHS:
        raise ValueError(f"scene_arch must be one of {PLACES365_ARCHS}, got {arch!r}")
    path = Path(weights)
    if not path.exists():
        raise DataError(
            f"{path}: scene classifier weights not found; download them and set the path"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a pickled whole model or a broken file: say what is needed
        raise DataError(
            f"{path}: not a state dict loadable with weights_only=True ({error}); save "
            "model.state_dict() of the Places365 ResNet and point to that file"
        ) from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    state = {key.removeprefix("module."): value for key, value in state.items()}
    model = getattr(torchvision.models, arch)(weights=None, num_classes=PLACES365_CLASSES)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise DataError(f"{path}: not a {arch} of {PLACES365_CLASSES} classes: {error}") from error
    return model.eval()


@torch.inference_mode()
def classifier_scene_labels(
    manifest_path: str | os.PathLike,
    weights: str | os.PathLike,
    *,
    arch: str,
    frames: int = 3,
    device: str = "cpu",
) -> pd.DataFrame:
    """Top-1 Places365 class of each training video (mean probability over `frames` frames)."""
    import torch.nn.functional as F

    model = load_places365(weights, arch).to(device)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    entries = read_manifest_entries(manifest_path, "train")
    reader = FrameReader(cache=False)
    scenes = []
    for entry in entries:
        video = reader.video(entry.path)  # (T, H, W, 3)
        picks = np.linspace(0, video.shape[0] - 1, num=min(frames, video.shape[0])).round()
        x = torch.from_numpy(video[picks.astype(int)]).permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
        probs = model(((x - mean) / std).to(device)).softmax(1).mean(0)
        scenes.append(int(probs.argmax()))
    return pd.DataFrame(
        {
            "video_id": [e.key for e in entries],
            "scene": scenes,
            "scene_name": [f"places365_{k}" for k in scenes],
            "source": "places365",
        }
    )


def main(argv=None) -> int:
    from benchmark.runtime import set_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=SCENE_SOURCES, required=True)
    parser.add_argument("--manifest", required=True, help="manifest.csv (its train split)")
    parser.add_argument("--out", required=True, help="the scene-label table (.csv)")
    parser.add_argument("--factors", help="planted: synthetic_factors.csv")
    parser.add_argument("--weights", help="places365: the classifier's state dict")
    parser.add_argument("--arch", default="resnet18", choices=PLACES365_ARCHS)
    parser.add_argument("--frames", type=int, default=3, help="places365: frames per video")
    parser.add_argument("--device", default="cpu", help="places365: cpu or cuda")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    started = time.perf_counter()
    try:
        if args.source == "planted":
            if not args.factors:
                raise DataError("--source planted needs --factors synthetic_factors.csv")
            frame = planted_scene_labels(args.manifest, args.factors)
        else:
            if not args.weights:
                raise DataError("--source places365 needs --weights (a Places365 state dict)")
            frame = classifier_scene_labels(
                args.manifest, args.weights, arch=args.arch, frames=args.frames, device=args.device
            )
        frame = write_scene_labels(args.out, frame)
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"scene labels ({args.source}): {len(frame)} training videos, "
        f"{frame['scene'].nunique()} scenes, {time.perf_counter() - started:.1f} s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
