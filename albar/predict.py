"""Class probabilities of a trained run for every item set → the prediction files of docs/contracts.md.

    python -m albar.predict --checkpoint runs/<run>/seed<k>/checkpoint.pt \
        --manifest results/<ds>/manifest.csv --results results/<ds> \
        --items bench/truth/scuba-stripe/items.csv ... --out runs/<run>/seed<k>/pred

writes `pred/iid.csv` (the manifest's test split; item_id = video_id) and
`pred/<variant>/<protocol>-<bg_source>.csv` for each items.csv (variant, protocol and source read
from the file's columns), each with `item_id, predicted, static_max_prob, p_0 … p_{K−1}`.
Every item is the benchmark's centred test clip (`benchmark.clips.test_clip_indices` with the
checkpoint's clip, which training checked against `benchmark.test_clip`), viewed as in training's
test transform: short side resized to `resize` and centre-cropped, or, when `test_crops` is 3, short
side resized to the crop size and three crops along the long side (StillMix), probabilities averaged. A SCUFO item is its one stored frame repeated to the clip length;
`static_max_prob` (max softmax probability) is filled for SCUFO rows only. Labels are never written:
scoring reads them from items.csv / manifest.csv. A prediction set whose ids are not exactly the
item list's (missing or duplicate ids) is an error naming them; nothing is written half-way.
Several `--checkpoint`s with as many `--out` folders (the seeds of one run: the same test view)
are scored in one pass, each item decoded and transformed once for all of them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from albar.clip_cache import ClipCache
from albar.data import (
    ClipSettings,
    DataError,
    EvalClips,
    FrameReader,
    VideoEntry,
    read_item_entries,
    read_manifest_entries,
)
from albar.models import model_spec
from albar.train import (
    TrainingError,
    augmentation,
    load_checkpoint,
    model_from_checkpoint,
    pick_device,
)
from benchmark.layout import IID, ItemSet
from benchmark.table_files import write_predictions

PROBABILITY_DECIMALS = 6


class PredictionError(ValueError):
    """A prediction set does not match its item list; the message names the ids."""


def check_prediction_ids(predicted: Sequence[str], expected: Iterable[str], where: str) -> None:
    """The predicted ids must be exactly the expected ones, each once."""
    counts = Counter(predicted)
    duplicated = sorted(i for i, n in counts.items() if n > 1)
    expected = set(expected)
    missing = sorted(expected - set(counts))
    unknown = sorted(set(counts) - expected)
    problems = []
    if duplicated:
        problems.append(f"duplicate item ids {duplicated[:5]} ({len(duplicated)} in all)")
    if missing:
        problems.append(f"missing item ids {missing[:5]} ({len(missing)} in all)")
    if unknown:
        problems.append(f"item ids not in the item list {unknown[:5]} ({len(unknown)} in all)")
    if problems:
        raise PredictionError(f"{where}: " + "; ".join(problems))


@torch.inference_mode()
def predict_probabilities(
    model: nn.Module | Sequence[nn.Module],
    dataset: EvalClips,
    batch_size: int,
    device: torch.device,
) -> np.ndarray | list[np.ndarray]:
    """(N, K) softmax probabilities in the dataset's order, views averaged; with a list of models
    (a run's seeds) one array per model, every batch decoded and transformed once for all of them.
    Each model sees exactly the batches it would see alone, so its probabilities are the same."""
    models = [model] if isinstance(model, nn.Module) else list(model)
    for each in models:
        each.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=0)
    out: list[list[torch.Tensor]] = [[] for _ in models]
    for views, _, _ in loader:
        batch, n_views = views.shape[:2]
        clips = views.flatten(0, 1).to(device)
        for number, each in enumerate(models):
            logits = each(clips).float()
            out[number].append(logits.softmax(1).view(batch, n_views, -1).mean(1).cpu())
    probs = [torch.cat(chunks).numpy() if chunks else np.zeros((0, 0)) for chunks in out]
    return probs[0] if isinstance(model, nn.Module) else probs


def prediction_frame(
    item_ids: Sequence[str], probs: np.ndarray, static: Sequence[bool]
) -> pd.DataFrame:
    """The docs/contracts.md prediction table; static_max_prob only on SCUFO (static) rows."""
    probs = np.round(probs, PROBABILITY_DECIMALS)
    # argmax of the rounded values the file stores (ties: lowest index), which is what scoring
    # checks `predicted` against; the argmax before rounding could differ on a near-tie.
    frame = pd.DataFrame({"item_id": list(item_ids), "predicted": probs.argmax(1)})
    frame["static_max_prob"] = np.where(np.asarray(static, dtype=bool), probs.max(1), np.nan)
    for k in range(probs.shape[1]):
        frame[f"p_{k}"] = probs[:, k]
    return frame


def _set_name(frame: pd.DataFrame, path: Path) -> tuple[str, str, str]:
    names = []
    for column in ("variant", "protocol", "source"):
        values = sorted(set(frame[column].astype(str))) if column in frame.columns else []
        if len(values) != 1:
            raise DataError(f"{path}: column {column!r} must hold one value, found {values[:3]}")
        names.append(values[0])
    return names[0], names[1], names[2]


def predict_run(
    *,
    checkpoint_path: str | Path,
    manifest_path: str | Path,
    results_dir: str | Path,
    items: Sequence[str | Path],
    out_dir: str | Path,
    test_clip: dict | None = None,
    device: str = "cpu",
    clips_dir: str | Path | None = None,
    log=print,
) -> dict[str, Path]:
    """Write every prediction file of one trained run; returns {set name: written path}.

    With `clips_dir`, each set's frames come from its decoded test clips `<clips_dir>/<set>.npy`
    (`albar.clip_cache`, checked against the item list) instead of the videos: the same pixels, so
    the same files."""
    return predict_checkpoints(
        checkpoint_paths=[checkpoint_path],
        out_dirs=[out_dir],
        manifest_path=manifest_path,
        results_dir=results_dir,
        items=items,
        test_clip=test_clip,
        device=device,
        clips_dir=clips_dir,
        log=log,
    )[0]


def _test_view(checkpoint: dict) -> dict:
    """What decides a checkpoint's test input and batches: clip, transform, crops, batch size."""
    training = checkpoint["training"]
    return {
        "test_clip": dict(checkpoint["test_clip"]),
        "model": checkpoint["model_info"]["name"],
        **{
            key: training[key]
            for key in ("crop_size", "resize", "test_crops", "predict_batch_size")
        },
    }


def predict_checkpoints(
    *,
    checkpoint_paths: Sequence[str | Path],
    out_dirs: Sequence[str | Path],
    manifest_path: str | Path,
    results_dir: str | Path,
    items: Sequence[str | Path],
    test_clip: dict | None = None,
    device: str = "cpu",
    clips_dir: str | Path | None = None,
    log=print,
) -> list[dict[str, Path]]:
    """`predict_run` for several checkpoints of the same test view (the seeds of one run), each
    item decoded and transformed once for all of them; one {set name: path} per checkpoint.
    Every checkpoint's files are the ones `predict_run` writes for it alone."""
    started = time.perf_counter()
    if len(checkpoint_paths) != len(out_dirs) or not checkpoint_paths:
        raise TrainingError(
            f"{len(checkpoint_paths)} checkpoints for {len(out_dirs)} prediction folders; "
            "pass one --out per --checkpoint"
        )
    results_dir = Path(results_dir)
    models, view = [], None
    for path in map(Path, checkpoint_paths):
        checkpoint = load_checkpoint(path)
        clip_cfg = checkpoint["test_clip"]
        if test_clip is not None and dict(test_clip) != dict(clip_cfg):
            raise TrainingError(
                f"{path}: trained for test clip {clip_cfg}, the benchmark uses {test_clip}; "
                "retrain the run"
            )
        if view is None:
            view, first, training = _test_view(checkpoint), path, checkpoint["training"]
            model_name = checkpoint["model_info"]["name"]
        elif _test_view(checkpoint) != view:
            raise TrainingError(
                f"{path}: test view {_test_view(checkpoint)} differs from {first}'s {view}; "
                "predict these checkpoints in separate jobs"
            )
        models.append(model_from_checkpoint(checkpoint, path).to(device))
    clip = ClipSettings(view["test_clip"]["frames"], view["test_clip"]["stride"])
    aug = augmentation(training, model_spec(model_name))
    crops, batch_size = view["test_crops"], view["predict_batch_size"]
    reader = FrameReader(cache=False)

    sets: list[tuple[str, ItemSet, list[VideoEntry], Path]] = []
    iid = read_manifest_entries(manifest_path, "test")
    sets.append(("iid", ItemSet(IID), iid, Path(manifest_path)))
    seen_names: dict[str, Path] = {}
    for items_path in items:
        entries, frame = read_item_entries(items_path, results_dir)
        variant, protocol, source = _set_name(frame, Path(items_path))
        name = f"{variant}/{protocol}-{source}"
        if name in seen_names:
            raise DataError(f"{items_path}: set {name} also comes from {seen_names[name]}")
        seen_names[name] = Path(items_path)
        sets.append((name, ItemSet(protocol, variant, source), entries, Path(items_path)))

    results: list[dict[str, pd.DataFrame]] = [{} for _ in models]
    total = 0
    for name, _, entries, source in sets:
        set_started = time.perf_counter()
        frames = reader
        if clips_dir is not None:
            frames = ClipCache(
                Path(clips_dir) / f"{name}.npy",
                name=name,
                source=source,
                entries=entries,
                clip=clip,
            )
        probs = predict_probabilities(
            models, EvalClips(entries, clip, aug, frames, crops), batch_size, torch.device(device)
        )
        keys, static = [e.key for e in entries], [e.static for e in entries]
        for number, model_probs in enumerate(probs):
            frame = prediction_frame(keys, model_probs, static)
            check_prediction_ids(frame["item_id"].tolist(), keys, name)
            results[number][name] = frame
        total += len(entries)
        log(f"{name}: {len(entries)} items in {time.perf_counter() - set_started:.1f} s")
    # written only once every set of every checkpoint succeeded: no half-written prediction folder
    written: list[dict[str, Path]] = []
    for out_dir, frames_of in zip(map(Path, out_dirs), results, strict=True):
        paths = {}
        for name, item_set, _, _ in sets:
            paths[name] = out_dir / item_set.prediction_name
            write_predictions(paths[name], frames_of[name])
        written.append(paths)
    seconds = time.perf_counter() - started
    log(
        f"predicted {total} items of {len(sets)} sets for {len(models)} checkpoint(s) in "
        f"{seconds:.1f} s ({total * len(models) / seconds:.0f} item predictions/s)"
    )
    return written


def main(argv=None) -> int:
    from benchmark.config import ConfigError, add_config_arguments, config_from_args
    from benchmark.runtime import set_threads

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--checkpoint",
        required=True,
        nargs="+",
        help="runs/<run>/seed<k>/checkpoint.pt; several (a run's seeds): each item decoded once",
    )
    parser.add_argument("--manifest", required=True, help="manifest.csv (its test split is IID)")
    parser.add_argument(
        "--results", required=True, help="results/<dataset>/ (item paths are relative to it)"
    )
    parser.add_argument(
        "--items", nargs="*", default=[], help="items.csv files of the benchmark sets"
    )
    parser.add_argument(
        "--out",
        required=True,
        nargs="+",
        help="prediction folder (runs/<run>/seed<k>/pred), one per --checkpoint",
    )
    parser.add_argument(
        "--clips",
        help="folder of decoded test clips, <set>.npy per set (python -m albar.clip_cache); "
        "without it every item is decoded from its video",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    try:
        config = config_from_args(args)
        device = pick_device(config.get("training", {}).get("device", "auto")).type
        predict_checkpoints(
            checkpoint_paths=args.checkpoint,
            out_dirs=args.out,
            manifest_path=args.manifest,
            results_dir=args.results,
            items=args.items,
            test_clip=config["benchmark"]["test_clip"],
            device=device,
            clips_dir=args.clips,
        )
    except (TrainingError, DataError, PredictionError, ConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
