"""Ingest stage: run the configured dataset adapter and write manifest.csv, boxes.parquet and
ingest/skipped.csv under results/<dataset>/ (docs/contracts.md).

    python -m benchmark.ingest --config config/default.yaml [--threads N]
"""

from __future__ import annotations

import argparse
import importlib
import time

from benchmark.config import add_config_arguments, config_from_args, results_dir
from benchmark.datasets import ADAPTERS, IngestResult
from benchmark.manifest import (
    clip_boxes,
    validate_boxes,
    write_boxes,
    write_manifest,
    write_skipped,
)
from benchmark.runtime import set_threads


def add_training_boxes(boxes, manifest, path) -> tuple:
    """Boxes of training videos from `dataset.training_boxes_csv` (generic format), added for
    train-split videos without boxes of their own. Returns (boxes, {videos, boxes, kept_own})."""
    import pandas as pd

    from benchmark.datasets.generic import BOX_CSV_COLUMNS, IngestError, _read_csv, require_file

    path = require_file(path, "dataset.training_boxes_csv")
    table = _read_csv(path, BOX_CSV_COLUMNS, "dataset.training_boxes_csv")
    id_of = dict(zip(manifest["source_name"], manifest["video_id"], strict=True))
    id_of.update({video_id: video_id for video_id in manifest["video_id"]})
    unknown = sorted(set(table["video"]) - set(id_of))
    if unknown:
        raise IngestError(
            f"{path}: {len(unknown)} videos not in the manifest, e.g. {unknown[:3]}; "
            "name them by their source name or video id (dataset.training_boxes_csv)"
        )
    table = table.assign(video_id=table["video"].map(id_of))
    split = manifest.set_index("video_id")["split"]
    not_train = sorted(set(table.loc[table["video_id"].map(split) != "train", "video_id"]))
    if not_train:
        raise IngestError(
            f"{path}: boxes for {len(not_train)} videos outside the train split, e.g. "
            f"{not_train[:3]}; dataset.training_boxes_csv is for training videos only"
        )
    own = set(boxes["video_id"])
    kept_own = sorted(set(table["video_id"]) & own)
    extra = table[~table["video_id"].isin(own)][boxes.columns.tolist()]
    extra = extra.astype({"frame": "int64", "actor": "int64"})
    merged = pd.concat([boxes, extra], ignore_index=True)
    report = {
        "videos": int(extra["video_id"].nunique()),
        "boxes": len(extra),
        "kept_own": len(kept_own),
    }
    return merged, report


def run_ingest(config: dict, threads: int = 1) -> IngestResult:
    """Ingest the dataset named by `config["dataset"]` and write the canonical tables."""
    dataset = config["dataset"]
    out_dir = results_dir(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    adapter = importlib.import_module(ADAPTERS[dataset["kind"]].module)
    settings = dataset.get(dataset["kind"], {})
    kwargs = {
        "seed": config["seed"],
        "n_shards": config["n_shards"],
        "on_error": config["on_error"],
    }
    if dataset["kind"] in ("synthetic", "ucf101_24_standin"):
        kwargs["workers"] = threads
    started = time.perf_counter()
    result = adapter.ingest(settings, out_dir, **kwargs)
    manifest = write_manifest(out_dir / "manifest.csv", result.manifest)
    if dataset.get("training_boxes_csv"):
        result.boxes, added = add_training_boxes(
            result.boxes, manifest, dataset["training_boxes_csv"]
        )
        result.report["training_boxes"] = added
    boxes, clipped = clip_boxes(validate_boxes(result.boxes, manifest), manifest)
    write_boxes(
        out_dir / "boxes.parquet", boxes, result.annotation_source
    )  # validates again: cheap
    write_skipped(out_dir / "ingest" / "skipped.csv", result.skipped)
    seconds = time.perf_counter() - started
    splits = manifest["split"].value_counts().to_dict()
    print(
        f"ingest {dataset['name']} ({dataset['kind']}): {len(manifest)} videos {splits}, "
        f"{len(boxes)} boxes ({clipped} clipped to the frame), {len(result.skipped)} skipped, "
        f"{seconds:.1f} s; adapter report: {result.report}"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument("--threads", type=int, default=1, help="worker processes / threads to use")
    args = parser.parse_args(argv)
    set_threads(1)
    run_ingest(config_from_args(args), threads=args.threads)


if __name__ == "__main__":
    main()
