"""Scores of prediction files against a built benchmark: accuracies, Contra, Confl-FG, over seeds.

Everything here is keyed by item id. Labels come from the benchmark's own `items.csv` (and the
manifest's test split for IID), never from a prediction file, and SCUBA / SCUFO items are paired
through `items.csv`'s `pair_id` column, never by row position: the released ALBAR evaluation paired
them by position after silently dropping undecodable clips, so one bad file shifted every later pair.
A prediction file that misses an item, repeats one or names an unknown one is an error naming them.

Per seed first (each set's accuracy, each background source's Contra, "Avg" = unweighted mean over
sources), then mean and sample standard deviation (ddof 1) over seeds. Bootstrap intervals resample
items (per source, the sources' means averaged as the point estimate is), seeded from the config.

The command line that scores runs trained anywhere (`python -m benchmark.scoring score|compare`,
`albar-bench score|compare`) lives in `benchmark/scoring.py`, above this module and the tables.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.ids import item_rng
from benchmark.layout import ItemSet as EvalSet
from benchmark.layout import evaluation_sets
from benchmark.manifest import read_manifest
from benchmark.table_files import probability_columns, read_items, read_predictions

PROTOCOLS = ("scuba", "scufo", "conflfg")
# Per-source figure -> name of its mean over background sources.
AVERAGED_METRICS = {
    "scuba": "scuba_avg",
    "scufo": "scufo_avg",
    "contra": "contra_avg",
    "static_max_prob": "static_max_prob",
}
CONFLFG_METRICS = ("conflfg", "conflfg_static", "conflfg_moving_gt_static")
TRAINING_INFO_KEYS = ("method", "epochs", "steps")
# How far `static_max_prob` may differ from max(p_k) of the same SCUFO row.
STATIC_MAX_PROB_TOLERANCE = 1e-3
_SEED_DIR = re.compile(r"^seed(\d+)$")


class MetricsError(ValueError):
    """A prediction file, an items table or a run folder is unusable; the message names it."""


# --------------------------------------------------------------------------------------------
# Reading items, labels and predictions


def iid_labels(manifest_path: str | os.PathLike) -> pd.DataFrame:
    """The IID set: the manifest's test split, `item_id` = `video_id`, indexed by `item_id`."""
    manifest = read_manifest(manifest_path)
    test = manifest.loc[manifest["split"] == "test", ["video_id", "label"]].copy()
    if test.empty:
        raise MetricsError(
            f"{manifest_path}: the manifest has no test-split videos to score IID on"
        )
    test.insert(0, "item_id", test["video_id"])
    return test.set_index("item_id", drop=False)


def probabilities(predictions: pd.DataFrame) -> np.ndarray:
    """(N, K) class probabilities in the frame's row order."""
    return predictions[probability_columns(predictions)].to_numpy(np.float64)


def _check_label_space(
    items: pd.DataFrame, predictions: pd.DataFrame, path: Path, column: str = "label"
) -> None:
    num_classes = len(probability_columns(predictions))
    too_big = items.loc[items[column] >= num_classes, "item_id"].tolist()
    if too_big:
        raise MetricsError(
            f"{path}: {len(too_big)} items (e.g. {_few(too_big)}) have a {column} outside the "
            f"{num_classes} classes of the prediction file; was the model trained on this label space?"
        )


# --------------------------------------------------------------------------------------------
# Metrics on one set


def top1_correct(items: pd.DataFrame, predictions: pd.DataFrame) -> pd.Series:
    """Per item (indexed by item id, in `items` order): is the predicted class the item's label?"""
    predicted = predictions["predicted"].reindex(items.index)
    if predicted.isna().any():
        raise MetricsError(
            f"no prediction for items {_few(items.index[predicted.isna()].tolist())}"
        )
    return pd.Series(
        predicted.to_numpy() == items["label"].to_numpy(), index=items.index, name="correct"
    )


def top1_accuracy(items: pd.DataFrame, predictions: pd.DataFrame) -> float:
    """Top-1 accuracy in percent over every item (each `__k` version counts once)."""
    return 100.0 * float(top1_correct(items, predictions).mean())


def contrasted_correct(
    scuba_items: pd.DataFrame,
    scuba_predictions: pd.DataFrame,
    scufo_items: pd.DataFrame,
    scufo_predictions: pd.DataFrame,
) -> pd.Series:
    """Per SCUBA item: right on the SCUBA clip *and* wrong on its SCUFO partner (`pair_id`).

    A SCUBA item whose partner is absent from the SCUFO items, or whose partner does not point back,
    is an error naming the item: dropping it would flatter the score.
    """
    partner = scuba_items["pair_id"]
    no_partner = scuba_items.index[(partner == "") | ~partner.isin(scufo_items.index)].tolist()
    if no_partner:
        raise MetricsError(
            f"SCUBA items {_few(no_partner)} have no SCUFO partner (pair_id {_few(partner[no_partner].tolist())} "
            "not among the SCUFO items); rebuild the benchmark"
        )
    back = scufo_items.loc[partner.to_numpy(), "pair_id"].to_numpy()
    mismatched = scuba_items.index[back != scuba_items.index.to_numpy()].tolist()
    if mismatched:
        raise MetricsError(
            f"SCUBA items {_few(mismatched)} and their SCUFO partners do not name each other"
        )
    unpaired = sorted(set(scufo_items.index) - set(partner))
    if unpaired:
        raise MetricsError(
            f"SCUFO items {_few(unpaired)} have no SCUBA partner; rebuild the benchmark"
        )
    scuba_right = top1_correct(scuba_items, scuba_predictions)
    scufo_right = top1_correct(scufo_items, scufo_predictions)
    scufo_right_of_partner = scufo_right.reindex(partner.to_numpy()).to_numpy()
    return pd.Series(
        scuba_right.to_numpy() & ~scufo_right_of_partner, index=scuba_items.index, name="contra"
    )


def contrasted_accuracy(
    scuba_items: pd.DataFrame,
    scuba_predictions: pd.DataFrame,
    scufo_items: pd.DataFrame,
    scufo_predictions: pd.DataFrame,
) -> float:
    """Contra in percent: the fraction of SCUBA items right on SCUBA and wrong on their SCUFO pair."""
    return 100.0 * float(
        contrasted_correct(scuba_items, scuba_predictions, scufo_items, scufo_predictions).mean()
    )


def conflfg_scores(items: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, float]:
    """Confl-FG's three figures, in percent.

    `conflfg`: accuracy w.r.t. the moving actor's label (ALBAR's column); `conflfg_static`: accuracy
    w.r.t. the static (pasted) actor's label; `conflfg_moving_gt_static`: fraction of items whose
    moving class has a higher probability than the static class.
    """
    rows = predictions.reindex(items.index)
    probs = probabilities(rows)
    index = np.arange(len(items))
    moving = probs[index, items["label"].to_numpy()]
    static = probs[index, items["static_label"].to_numpy()]
    predicted = rows["predicted"].to_numpy()
    return {
        "conflfg": 100.0 * float(np.mean(predicted == items["label"].to_numpy())),
        "conflfg_static": 100.0 * float(np.mean(predicted == items["static_label"].to_numpy())),
        "conflfg_moving_gt_static": 100.0 * float(np.mean(moving > static)),
    }


def mean_static_max_prob(
    predictions: pd.DataFrame, path: str | os.PathLike = "SCUFO predictions"
) -> float:
    """Mean over SCUFO items of the static clip's top probability (as a probability, 0–1).

    Reported beside SCUFO because a model reaches SCUFO ≈ 0 just as well by being confidently wrong
    on static clips as by being uncertain; only the latter is the debiasing ALBAR aims at.
    """
    max_prob = probabilities(predictions).max(axis=1)
    stored = predictions["static_max_prob"].to_numpy(np.float64)
    unfilled = np.isnan(stored)
    if unfilled.any():
        raise MetricsError(
            f"{path}: SCUFO items {_few(predictions.index[unfilled].tolist())} have no static_max_prob"
        )
    off = np.abs(stored - max_prob) > STATIC_MAX_PROB_TOLERANCE
    if off.any():
        raise MetricsError(
            f"{path}: static_max_prob differs from max(p_k) for items {_few(predictions.index[off].tolist())}"
        )
    return float(max_prob.mean())


# --------------------------------------------------------------------------------------------
# One run, one seed


@dataclass
class SeedScores:
    """A run's scores for one seed: flat metrics plus the per-item Contra indicators."""

    run: str
    seed: int
    training: dict
    num_classes: int = 0
    # (variant or "", bg_source or "", metric) -> value; IID has variant "" and bg_source "".
    values: dict[tuple[str, str, str], float] = field(default_factory=dict)
    # (variant, bg_source) -> per-SCUBA-item Contra indicator (bool Series indexed by item id).
    contra_items: dict[tuple[str, str], pd.Series] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        return [
            {
                "run": self.run,
                "seed": self.seed,
                "variant": v,
                "bg_source": s,
                "metric": m,
                "value": x,
            }
            for (v, s, m), x in self.values.items()
        ]


class BenchmarkSets:
    """The labels of a built benchmark, read once and shared by every run and seed."""

    def __init__(
        self,
        results_dir: str | os.PathLike,
        variants: Sequence[str],
        bg_sources: Sequence[str],
        conflfg_sources: Sequence[str] = (),
        manifest_path: str | os.PathLike | None = None,
        iid: bool = True,
    ):
        self.results_dir = Path(results_dir)
        self.variants = list(variants)
        self.bg_sources = list(bg_sources)
        self.conflfg_sources = list(conflfg_sources)
        self.sets = evaluation_sets(self.variants, self.bg_sources, self.conflfg_sources, iid)
        self.manifest_path = (
            Path(manifest_path) if manifest_path else self.results_dir / "manifest.csv"
        )
        self.items: dict[EvalSet, pd.DataFrame] = {}
        for eval_set in self.sets:
            if eval_set.protocol == "iid":
                self.items[eval_set] = iid_labels(self.manifest_path)
            else:
                self.items[eval_set] = _scored_items(
                    eval_set.items_path(self.results_dir), eval_set.protocol
                )

    def variant_video_ids(self, variant: str) -> list[str]:
        """The source videos of one variant's benchmark (its SCUBA items' videos)."""
        ids: set[str] = set()
        for eval_set, items in self.items.items():
            if eval_set.variant == variant and eval_set.protocol == "scuba":
                ids |= set(items["video_id"])
        return sorted(ids)


def _scored_items(path: Path, protocol: str) -> pd.DataFrame:
    """One set's items (table_files.read_items), indexed by item id; Confl-FG items need their
    static actor's label."""
    items = read_items(path, protocol)
    if protocol == "conflfg":
        absent = items.loc[items["static_label"].isna(), "item_id"].tolist()
        if absent:
            raise MetricsError(f"{path}: Confl-FG items {_few(absent)} have no static_label")
        items["static_label"] = items["static_label"].astype(np.int64)
    return items.set_index("item_id", drop=False)


def read_training_info(seed_dir: str | os.PathLike) -> dict:
    """`metrics.json` written by training: needs at least method, epochs and steps."""
    path = Path(seed_dir) / "metrics.json"
    if not path.exists():
        raise MetricsError(
            f"{path}: not found; training writes it (runs trained elsewhere: write "
            '{"method": ..., "epochs": ..., "steps": ...} there)'
        )
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise MetricsError(f"{path}: not valid JSON ({error})") from error
    missing = [key for key in TRAINING_INFO_KEYS if key not in info]
    if missing:
        raise MetricsError(f"{path}: lacks keys {missing} (need {list(TRAINING_INFO_KEYS)})")
    return info


def score_seed(
    bench: BenchmarkSets, run: str, seed: int, seed_dir: str | os.PathLike
) -> SeedScores:
    """Score every set of one run's seed folder (`runs/<run>/seed<k>/`)."""
    scores = SeedScores(run=run, seed=seed, training=read_training_info(seed_dir))
    predictions: dict[EvalSet, pd.DataFrame] = {}
    for eval_set in bench.sets:
        path = eval_set.prediction_path(seed_dir)
        items = bench.items[eval_set]
        preds = read_predictions(path, items.index)
        _check_label_space(items, preds, path)
        num_classes = probabilities(preds).shape[1]
        if scores.num_classes and num_classes != scores.num_classes:
            raise MetricsError(
                f"{path}: {num_classes} class probabilities, but other sets of this seed have {scores.num_classes}"
            )
        scores.num_classes = num_classes
        predictions[eval_set] = preds
        variant, source = eval_set.variant or "", eval_set.bg_source or ""
        if eval_set.protocol == "conflfg":
            _check_label_space(items, preds, path, "static_label")
            for metric, value in conflfg_scores(items, preds).items():
                scores.values[(variant, source, metric)] = value
        else:
            scores.values[(variant, source, eval_set.protocol)] = top1_accuracy(items, preds)
        if eval_set.protocol == "scufo":
            scores.values[(variant, source, "static_max_prob")] = mean_static_max_prob(preds, path)
    for variant in bench.variants:
        for source in bench.bg_sources:
            scuba, scufo = EvalSet("scuba", variant, source), EvalSet("scufo", variant, source)
            try:
                indicator = contrasted_correct(
                    bench.items[scuba], predictions[scuba], bench.items[scufo], predictions[scufo]
                )
            except MetricsError as error:
                raise MetricsError(f"{scuba.items_path(bench.results_dir)}: {error}") from error
            scores.contra_items[(variant, source)] = indicator
            scores.values[(variant, source, "contra")] = 100.0 * float(indicator.mean())
        # "Avg" = unweighted mean over background sources (the paper's Avg columns).
        for metric, name in AVERAGED_METRICS.items():
            per_source = [scores.values[(variant, s, metric)] for s in bench.bg_sources]
            scores.values[(variant, "", name)] = float(np.mean(per_source))
        for metric in CONFLFG_METRICS:
            per_source = [scores.values[(variant, s, metric)] for s in bench.conflfg_sources]
            if per_source:
                scores.values[(variant, "", metric)] = float(np.mean(per_source))
    return scores


def seed_dirs(run_dir: str | os.PathLike, seeds: Sequence[int] | None = None) -> dict[int, Path]:
    """`{seed: runs/<run>/seed<k>}`; with `seeds` None, every `seed<k>` folder found (at least one)."""
    run_dir = Path(run_dir)
    if seeds is None:
        found = {
            int(m.group(1)): p
            for p in run_dir.iterdir()
            if p.is_dir() and (m := _SEED_DIR.match(p.name))
        }
        if not found:
            raise MetricsError(
                f"{run_dir}: no seed<k>/ folders (expected runs/<run>/seed<k>/pred/...)"
            )
        return dict(sorted(found.items()))
    return {int(seed): run_dir / f"seed{int(seed)}" for seed in seeds}


# --------------------------------------------------------------------------------------------
# Over seeds


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1); the std is NaN with a single seed."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        raise MetricsError("no values to average")
    std = float(np.std(array, ddof=1)) if array.size > 1 else float("nan")
    return float(array.mean()), std


def aggregate_seeds(seed_scores: Sequence[SeedScores]) -> pd.DataFrame:
    """Long table `variant, bg_source, metric, mean, std, seeds` over one run's seeds."""
    keys = list(seed_scores[0].values)
    for scores in seed_scores[1:]:
        if list(scores.values) != keys:
            raise MetricsError(
                f"run {scores.run!r}: seed {scores.seed} was scored on different sets"
            )
    rows = []
    for key in keys:
        mean, std = mean_std([scores.values[key] for scores in seed_scores])
        rows.append(
            {
                "variant": key[0],
                "bg_source": key[1],
                "metric": key[2],
                "mean": mean,
                "std": std,
                "seeds": len(seed_scores),
            }
        )
    return pd.DataFrame(rows)


def seed_mean_indicators(seed_scores: Sequence[SeedScores], variant: str, source: str) -> pd.Series:
    """Per item, the fraction of seeds for which it counts for Contra.

    Every seed scores the same items, so the mean over items of this equals the mean over seeds of
    each seed's Contra: resampling these values bootstraps the seed-averaged figure.
    """
    frame = pd.concat([s.contra_items[(variant, source)] for s in seed_scores], axis=1)
    if frame.isna().any().any():
        raise MetricsError(f"variant {variant!r}, source {source!r}: seeds scored different items")
    return frame.astype(np.float64).mean(axis=1)


# --------------------------------------------------------------------------------------------
# Bootstrap


def bootstrap_average_ci(
    per_source: Sequence[np.ndarray],
    samples: int,
    level: float,
    rngs: Sequence[np.random.Generator],
) -> tuple[float, float]:
    """Percentile interval (in percent) of the unweighted mean over sources of per-item means.

    Each source's items are resampled with replacement independently (source *i* with `rngs[i]`,
    so the interval does not depend on the order the sources are listed in); the statistic is
    computed as the table's point estimate is (mean of source means).
    """
    if len(rngs) != len(per_source):
        raise MetricsError("bootstrap needs one generator per source")
    if samples < 1:
        raise MetricsError("bootstrap samples must be at least 1")
    if not 0 < level < 1:
        raise MetricsError(f"confidence level must be in (0, 1), got {level}")
    totals = np.zeros(samples, dtype=np.float64)
    for values, rng in zip(per_source, rngs, strict=True):
        values = np.asarray(values, dtype=np.float64)
        if values.size == 0:
            raise MetricsError("cannot bootstrap an empty set")
        # Chunks keep the (samples, n) index array small for 10k-item sets.
        chunk = max(1, 2_000_000 // values.size)
        for start in range(0, samples, chunk):
            stop = min(samples, start + chunk)
            draws = rng.integers(0, values.size, size=(stop - start, values.size))
            totals[start:stop] += values[draws].mean(axis=1)
    statistic = 100.0 * totals / len(per_source)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(statistic, alpha)), float(np.quantile(statistic, 1.0 - alpha))


def bootstrap_rng(seed: int, *names: str) -> np.random.Generator:
    """The generator of one bootstrap (seeded from the config seed and what is being resampled)."""
    return item_rng(seed, "bootstrap", "/".join(names[:-1]), names[-1])


def contra_ci(
    seed_scores: Sequence[SeedScores],
    variant: str,
    bg_sources: Sequence[str],
    *,
    samples: int,
    level: float,
    seed: int,
) -> tuple[float, float]:
    """Bootstrap interval over items for a run's Avg Contra (seed-averaged) on one variant."""
    per_source = [seed_mean_indicators(seed_scores, variant, s).to_numpy() for s in bg_sources]
    rngs = [bootstrap_rng(seed, "contra", variant, seed_scores[0].run, s) for s in bg_sources]
    return bootstrap_average_ci(per_source, samples, level, rngs)


def paired_difference(
    run_a: Sequence[SeedScores],
    run_b: Sequence[SeedScores],
    variant: str,
    bg_sources: Sequence[str],
    *,
    samples: int,
    level: float,
    seed: int,
) -> dict[str, float]:
    """Avg Contra of run A minus run B on one variant, with a bootstrap interval paired by item.

    Both runs are scored on the same items; each resample draws items (per source) and takes both
    runs' indicators of those same items, so item difficulty cancels out of the interval.
    """
    per_source = []
    for source in bg_sources:
        a = seed_mean_indicators(run_a, variant, source)
        b = seed_mean_indicators(run_b, variant, source)
        if set(a.index) != set(b.index):
            raise MetricsError(
                f"variant {variant!r}, source {source!r}: runs {run_a[0].run!r} and {run_b[0].run!r} "
                f"were scored on different items (e.g. {_few(sorted(set(a.index) ^ set(b.index)))})"
            )
        per_source.append((a - b.reindex(a.index)).to_numpy())
    rngs = [
        bootstrap_rng(seed, "contra_diff", variant, run_b[0].run, run_a[0].run, s)
        for s in bg_sources
    ]
    low, high = bootstrap_average_ci(per_source, samples, level, rngs)
    diff = 100.0 * float(np.mean([values.mean() for values in per_source]))
    return {"diff": diff, "ci_lo": low, "ci_hi": high}


# --------------------------------------------------------------------------------------------
# Runs → scores


@dataclass
class RunScores:
    run: str
    seeds: list[SeedScores]

    @property
    def training(self) -> dict:
        """method / epochs / steps (identical over seeds, else an error)."""
        first = self.seeds[0].training
        for scores in self.seeds[1:]:
            for key in TRAINING_INFO_KEYS:
                if scores.training[key] != first[key]:
                    raise MetricsError(
                        f"run {self.run!r}: {key} differs between seeds ({first[key]} vs "
                        f"{scores.training[key]} for seed {scores.seed})"
                    )
        return {key: first[key] for key in TRAINING_INFO_KEYS}


def score_runs(bench: BenchmarkSets, run_dirs: dict[str, dict[int, Path]]) -> list[RunScores]:
    """Score every run's every seed: `run_dirs` = {run: {seed: seed folder}}."""
    runs = []
    for run, seeds in run_dirs.items():
        if not seeds:
            raise MetricsError(f"run {run!r}: no seeds to score")
        runs.append(
            RunScores(run, [score_seed(bench, run, seed, path) for seed, path in seeds.items()])
        )
    return runs


def per_seed_table(runs: Sequence[RunScores]) -> pd.DataFrame:
    """Long table of every per-seed figure: run, seed, variant, bg_source, metric, value."""
    rows = [row for run in runs for scores in run.seeds for row in scores.rows()]
    return pd.DataFrame(rows, columns=["run", "seed", "variant", "bg_source", "metric", "value"])


def _few(values: Sequence, limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', …' if len(values) > limit else ''}]"


if __name__ == "__main__":
    # The command line moved above this module; an old command gets told where, not silence.
    raise SystemExit(
        "python -m benchmark.metrics: the scoring command line is now "
        "`python -m benchmark.scoring score|compare ...` (or `albar-bench score|compare ...`)"
    )
