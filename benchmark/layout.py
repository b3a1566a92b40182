"""The results layout: which item sets a config builds and where every result file lives.

One registry for the whole project, asked by every rule file and by both packages: the item sets of
a config (each variant x protocol x background source, Confl-FG on its one stripe source only),
their names (`<variant>/<protocol>-<source>`, which are also the prediction files' names), the
prediction sets of a run, and the path of every file under `results/<dataset>/` that one stage
writes and another reads (docs/contracts.md). Nothing else spells these folders and file names.

It imports neither torch nor pandas, so the Snakefile's parse stays fast. A path method takes
values or wildcard placeholders alike (`layout.mask_shard("{source}", "{shard}")`), so a rule's
pattern and the file a package writes come from the same line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

IID = "iid"
# Every protocol an item set can have, in table order.
PROTOCOLS = ("scuba", "scufo", "conflfg")
# Folders under runs/ that hold what several runs share (not runs themselves).
BANK_DIR = "_stillmix_bank"
SCENE_DIR = "_scene_labels"
# The results tables: (stem, written as csv + md + tex) and the single-format files.
TABLE_STEMS = ("summary", "per_source", "leakage", "differences")
PAPER_COMPARISON_STEM = "paper_comparison"
TABLE_FORMATS = ("csv", "md", "tex")
TABLE_EXTRA_FILES = ("scores_per_seed.csv", "scuba_vs_scufo.png", "leakage_effect.png")


class LayoutError(ValueError):
    """An item set or a config's sets are inconsistent; the message names them."""


# --------------------------------------------------------------------------------------------
# Item sets


@dataclass(frozen=True)
class ItemSet:
    """One set of benchmark items: the IID test split, or one variant's protocol on one
    background source. Its `name` names both its `items.csv` folder and its prediction file."""

    protocol: str  # iid | scuba | scufo | conflfg
    variant: str | None = None
    bg_source: str | None = None

    @property
    def name(self) -> str:
        if self.protocol == IID:
            return IID
        return f"{self.variant}/{self.protocol}-{self.bg_source}"

    @classmethod
    def from_name(cls, name: str) -> ItemSet:
        """`iid` or `<variant>/<protocol>-<source>` -> the set (its `name` gives `name` back)."""
        if name == IID:
            return cls(IID)
        variant, _, rest = name.partition("/")
        protocol, _, source = rest.partition("-")
        if not variant or protocol not in PROTOCOLS or not source:
            raise LayoutError(
                f"item set {name!r}: expected iid or <variant>/<protocol>-<source> with protocol "
                f"one of {list(PROTOCOLS)}"
            )
        return cls(protocol, variant, source)

    @property
    def prediction_name(self) -> str:
        """The prediction file under a seed's `pred/` folder: `iid.csv` or
        `<variant>/<protocol>-<source>.csv`."""
        return f"{self.name}.csv"

    def prediction_path(self, seed_dir: str | os.PathLike) -> Path:
        """`<seed_dir>/pred/<prediction_name>`."""
        return Path(seed_dir) / "pred" / self.prediction_name

    def items_path(self, results_dir: str | os.PathLike) -> Path:
        """`bench/<variant>/<protocol>-<source>/items.csv` (the IID set has none: its labels are
        the manifest's test split)."""
        if self.protocol == IID:
            raise LayoutError("the IID set has no items.csv; its labels come from manifest.csv")
        return Path(results_dir) / "bench" / self.name / "items.csv"


def evaluation_sets(
    variants: Sequence[str],
    bg_sources: Sequence[str],
    conflfg_sources: Sequence[str] = (),
    iid: bool = True,
) -> list[ItemSet]:
    """Every set a run is scored on, in table order: IID (unless `iid` is False: a released or
    imported benchmark without the original videos), then per variant SCUBA and SCUFO per
    background source and Confl-FG on its source(s) (the stripes, in StillMix's protocol)."""
    unknown = [source for source in conflfg_sources if source not in bg_sources]
    if unknown:
        raise LayoutError(
            f"Confl-FG sources {unknown} are not among the background sources {list(bg_sources)}"
        )
    sets = [ItemSet(IID)] if iid else []
    for variant in variants:
        for protocol in ("scuba", "scufo"):
            sets += [ItemSet(protocol, variant, source) for source in bg_sources]
        sets += [ItemSet("conflfg", variant, source) for source in conflfg_sources]
    return sets


def config_bg_sources(config: dict) -> list[str]:
    """The names of `backgrounds.sources`, in config order."""
    return [source["name"] for source in config["backgrounds"]["sources"]]


def config_conflfg_sources(config: dict) -> list[str]:
    """Confl-FG's one background source (`benchmark.conflfg.background`), or none when off."""
    conflfg = config["benchmark"]["conflfg"]
    return [conflfg["background"]] if conflfg["enabled"] else []


def config_protocols(config: dict) -> list[str]:
    """The protocols the assembly builds: SCUBA, SCUFO and (when enabled) Confl-FG."""
    return ["scuba", "scufo"] + (["conflfg"] if config["benchmark"]["conflfg"]["enabled"] else [])


def config_item_sets(config: dict, iid: bool = False) -> list[ItemSet]:
    """The item sets the config builds (with `iid`, also the IID set first: every set a run
    predicts and is scored on)."""
    return evaluation_sets(
        config["benchmark"]["variants"],
        config_bg_sources(config),
        config_conflfg_sources(config),
        iid=iid,
    )


def config_run_seeds(config: dict) -> dict[str, list[int]]:
    """{run name: training seeds}; a run's own `training.seeds` overrides `training.seeds`."""
    shared = config["training"]["seeds"]
    return {
        run["name"]: [int(seed) for seed in (run.get("training") or {}).get("seeds", shared)]
        for run in config["runs"]
    }


def table_files(paper_comparison: bool) -> list[str]:
    """File names of the results tables under tables/ (what `benchmark.tables` writes)."""
    stems = list(TABLE_STEMS) + ([PAPER_COMPARISON_STEM] if paper_comparison else [])
    names = [f"{stem}.{ext}" for stem in stems for ext in TABLE_FORMATS]
    return names + list(TABLE_EXTRA_FILES)


def bank_relpath(bank_hash: str, seed: int | str) -> Path:
    """`_stillmix_bank/<bank_hash>/seed<k>/bank.pt`, relative to the runs folder."""
    return Path(BANK_DIR) / bank_hash / f"seed{seed}" / "bank.pt"


def scene_labels_relpath(key: str) -> Path:
    """`_scene_labels/<key>.csv` (planted, places365-<hash>), relative to the runs folder."""
    return Path(SCENE_DIR) / f"{key}.csv"


# --------------------------------------------------------------------------------------------
# Paths under results/<dataset>/


@dataclass(frozen=True)
class ResultsLayout:
    """The files of one dataset's results folder (`results/<dataset>/`, docs/contracts.md)."""

    root: Path

    def __init__(self, root: str | os.PathLike) -> None:
        object.__setattr__(self, "root", Path(root))

    # ingest
    @property
    def manifest(self) -> Path:
        return self.root / "manifest.csv"

    @property
    def boxes(self) -> Path:
        return self.root / "boxes.parquet"

    @property
    def ingest_skipped(self) -> Path:
        return self.root / "ingest" / "skipped.csv"

    @property
    def synthetic_factors(self) -> Path:
        """The planted factors of every synthetic video (scene family, appearance, context)."""
        return self.root / "synthetic_factors.csv"

    # masks
    def masks_dir(self, source: str) -> Path:
        return self.root / "masks" / source

    def mask_shard(self, source: str, shard: str) -> Path:
        """The shard index `masks/<source>/shards/<shard>.csv` (video_id, mask_sha256)."""
        return self.masks_dir(source) / "shards" / f"{shard}.csv"

    def mask_shard_skipped(self, source: str, shard: str) -> Path:
        return self.masks_dir(source) / "shards" / f"{shard}.skipped.csv"

    def mask_qc(self, source: str) -> Path:
        return self.masks_dir(source) / "qc.csv"

    def mask_skipped(self, source: str) -> Path:
        return self.masks_dir(source) / "skipped.csv"

    # review gate
    @property
    def review_dir(self) -> Path:
        return self.root / "review"

    @property
    def review_approved(self) -> Path:
        return self.review_dir / "approved.csv"

    @property
    def review_summary(self) -> Path:
        return self.review_dir / "summary.csv"

    # assembly
    def backgrounds_table(self, bg_source: str) -> Path:
        return self.root / "backgrounds" / bg_source / "backgrounds.csv"

    def bench_shard(self, variant: str, protocol: str, shard: str, skipped: bool = False) -> Path:
        """One assembly shard job's table (or its skip list) before `collect`."""
        suffix = ".skipped.csv" if skipped else ".csv"
        return self.root / "bench" / variant / "shards" / protocol / f"{shard}{suffix}"

    @property
    def bench_skipped(self) -> Path:
        return self.root / "bench" / "skipped.csv"

    def items_csv(self, item_set: ItemSet) -> Path:
        return item_set.items_path(self.root)

    # exports
    def export_dir(self, export_format: str, variant: str) -> Path:
        """`exports/<format>/<variant>/` (format: mmaction2 | albar)."""
        return self.root / "exports" / export_format / variant

    def mmaction2_list(self, item_set: ItemSet) -> Path:
        """One set's RawframeDataset list, `exports/mmaction2/<variant>/<protocol>-<source>.txt`."""
        name = f"{item_set.protocol}-{item_set.bg_source}.txt"
        return self.export_dir("mmaction2", item_set.variant) / name

    def albar_export_index(self, variant: str) -> Path:
        return self.export_dir("albar", variant) / "index.csv"

    def export_verify(self, export_format: str, variant: str) -> Path:
        """The report of re-reading an export as its loader would."""
        return self.export_dir(export_format, variant) / "verify.json"

    # training and prediction
    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def seed_dir(self, run: str, seed: int | str) -> Path:
        return self.runs_dir / run / f"seed{seed}"

    def checkpoint(self, run: str, seed: int | str) -> Path:
        return self.seed_dir(run, seed) / "checkpoint.pt"

    def training_record(self, run: str, seed: int | str) -> Path:
        """`metrics.json`: method, epochs, steps (what scoring reads of training)."""
        return self.seed_dir(run, seed) / "metrics.json"

    def train_log(self, run: str, seed: int | str) -> Path:
        return self.seed_dir(run, seed) / "train.log"

    def prediction_file(self, run: str, seed: int | str, item_set: ItemSet) -> Path:
        return item_set.prediction_path(self.seed_dir(run, seed))

    def test_clips(self, item_set: ItemSet) -> Path:
        """`runs/_test_clips/<set>.npy`: the set's test clips, decoded once for every run's
        prediction (albar.clip_cache)."""
        return self.runs_dir / "_test_clips" / f"{item_set.name}.npy"

    def test_clip_index(self, item_set: ItemSet) -> Path:
        """`runs/_test_clips/<set>.json`: the index of `test_clips(item_set)`."""
        return self.runs_dir / "_test_clips" / f"{item_set.name}.json"

    def bank(self, bank_hash: str, seed: int | str) -> Path:
        return self.runs_dir / bank_relpath(bank_hash, seed)

    def scene_labels(self, key: str) -> Path:
        return self.runs_dir / scene_labels_relpath(key)

    # evaluation and release
    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    def release_dir(self, name: str) -> Path:
        """The bundle folder `release/<name>/` (its archive: `release/<name>.tar.gz`)."""
        return self.root / "release" / name

    def release_archive(self, name: str) -> Path:
        return self.root / "release" / f"{name}.tar.gz"

    def release_verify(self, name: str) -> Path:
        """The report of verifying the bundle as a third party would."""
        return self.root / "release" / f"{name}.verify.json"


def results_layout(config: dict) -> ResultsLayout:
    """The layout of the config's results folder, `<results>/<dataset.name>/`."""
    return ResultsLayout(Path(config["results"]) / config["dataset"]["name"])
