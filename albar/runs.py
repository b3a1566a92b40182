"""Run entries of the config, without torch: what the Snakemake rules need at DAG-build time.

A run is `{name, method, training: {overrides}, ...method params}` (benchmark/schemas/config/
runs.schema.yaml fills the method's defaults). Its effective training settings are the shared
`training` section with its own overrides; runs whose method uses the StillMix frame bank share
one bank per (bank settings, crop size, bank seed), under runs/_stillmix_bank/<bank_hash>/seed<k>/;
by default every training seed of a run trains on the same bank (`bank.seed`, see `bank_seed`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from albar.method_specs import method_spec
from benchmark.datasets import ADAPTERS
from benchmark.layout import bank_relpath as layout_bank_relpath
from benchmark.layout import scene_labels_relpath as layout_scene_relpath

BANK_SETTING_KEYS = (
    "reference_model",
    "reference_weights",
    "reference_size",
    "reference_epochs",
    "reference_batch_size",
    "reference_lr",
    "lo",
    "bank_size",
)


class RunConfigError(ValueError):
    """A run entry is missing, repeated or inconsistent; the message names it."""


def find_run(config: dict, name: str) -> dict:
    runs = config.get("runs") or []
    names = [r["name"] for r in runs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise RunConfigError(f"runs: names must be unique; repeated {duplicated}")
    for run in runs:
        if run["name"] == name:
            return run
    raise RunConfigError(f"run {name!r} is not in the config's runs {names}")


def effective_training(config: dict, run: dict) -> dict:
    """The training section with the run's own overrides applied, validated again."""
    from benchmark.config import config_schema, deep_merge, validate_config

    merged = deep_merge(config["training"], run.get("training") or {})
    schema = config_schema()["properties"]["training"]
    return validate_config(merged, f"runs[{run['name']}].training", schema=schema)


def seed_job_groups(config: dict, seeds_of: dict[str, list[int]]) -> dict[tuple, list[str]]:
    """The training jobs that train several seeds in one process (cluster.seed_jobs: run): the runs
    of each seed list, by that list. Runs left out (one seed, or seed_jobs: seed) get a job per seed.

    seeds_of: every run's effective training.seeds, by run name."""
    groups: dict[tuple, list[str]] = {}
    if config["cluster"]["seed_jobs"] == "run":
        for name, seeds in seeds_of.items():
            if len(seeds) > 1:
                groups.setdefault(tuple(seeds), []).append(name)
    return groups


def one_seed_config(run: dict, training: dict, seed: int) -> tuple[dict, dict]:
    """The run and training sections as a job training `seed` alone sees them (seeds: [seed]), so a
    seed trained with others writes the same checkpoint, metrics and state as one trained alone."""
    training = {**training, "seeds": [seed]}
    if "seeds" in (run.get("training") or {}):
        run = {**run, "training": {**run["training"], "seeds": [seed]}}
    return run, training


def run_uses_bank(run: dict) -> bool:
    """Whether the run trains on the StillMix frame bank (its method's spec, albar.method_specs)."""
    return method_spec(run).uses_bank(run)


def bank_settings(run: dict, crop_size: int) -> dict:
    """The settings that define a bank; runs with equal settings share it."""
    settings = {key: run["bank"][key] for key in BANK_SETTING_KEYS}
    settings["crop_size"] = crop_size
    return settings


def bank_hash(settings: dict) -> str:
    """Stable short hash of the bank settings: the bank's folder name."""
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def bank_seed(run: dict, training_seed: int) -> int:
    """The seed of the bank a training seed trains on: the run's `bank.seed` (one bank for every
    training seed), or the training seed itself when that is null."""
    seed = run["bank"]["seed"]
    return training_seed if seed is None else seed


def bank_relpath(config: dict, run: dict, training_seed: int) -> Path:
    """_stillmix_bank/<bank_hash>/seed<k>/bank.pt, relative to the runs folder, of the bank the
    training seed trains on (k: `bank_seed`)."""
    settings = bank_settings(run, effective_training(config, run)["crop_size"])
    return layout_bank_relpath(bank_hash(settings), bank_seed(run, training_seed))


# --- actor masks and scene labels of the training videos (ActorCutMix, SDN) -----------------------


def run_mask_source(run: dict) -> str | None:
    """The mask source whose training-video masks the run loads with its clips, or None."""
    return run.get("actor_masks") if method_spec(run).actor_masks else None


def check_run_masks(config: dict, run: dict) -> None:
    """The run's mask source must exist for this dataset and cover the train split."""
    source = run_mask_source(run)
    if source is None:
        return
    kind = config["dataset"]["kind"]
    if source == "truth":
        if not ADAPTERS[kind].has_truth:
            raise RunConfigError(
                f"run {run['name']!r}: actor_masks truth, but dataset kind {kind!r} has no true "
                "masks; use box_first (with boxes of the training videos) or a tracker"
            )
        return
    built = list(config["masks"]["sources"]) + list(config["tracking"]["trackers"])
    if source not in built:
        raise RunConfigError(
            f"run {run['name']!r}: actor_masks {source!r} is not built; add it to "
            "masks.sources (box_first, box_union) or tracking.trackers"
        )
    if "train" not in config["tracking"]["splits"]:
        raise RunConfigError(
            f"run {run['name']!r}: actor_masks {source!r} needs masks of the training videos; "
            "add train to tracking.splits (and boxes of the training videos)"
        )


def scene_labels_relpath(run: dict) -> Path | None:
    """_scene_labels/<key>.csv, relative to the runs folder: planted.csv or places365-<hash>.csv."""
    if not method_spec(run).scene_labels:
        return None
    if run["scene_source"] == "planted":
        return layout_scene_relpath("planted")
    settings = {"weights": run["scene_weights"], "arch": run["scene_arch"]}
    return layout_scene_relpath(f"places365-{bank_hash(settings)}")


def check_run_scenes(config: dict, run: dict) -> None:
    if not method_spec(run).scene_labels:
        return
    planted = ADAPTERS[config["dataset"]["kind"]].has_factors
    if run["scene_source"] == "planted" and not planted:
        raise RunConfigError(
            f"run {run['name']!r}: scene_source planted exists only for the synthetic dataset; "
            "set scene_source: places365 and scene_weights (a Places365 ResNet state dict)"
        )
    if run["scene_source"] == "places365" and not run.get("scene_weights"):
        raise RunConfigError(
            f"run {run['name']!r}: scene_source places365 needs scene_weights (a local Places365 "
            "ResNet state dict)"
        )
