"""Dataset adapters: each turns a dataset on disk into the canonical manifest, boxes and truth masks.

An adapter module exposes `ingest(settings, out_dir, *, seed, n_shards, on_error) -> IngestResult`.
`settings` is the adapter's own config section (`dataset.<kind>`); `out_dir` is
`results/<dataset>/`. The adapter returns tables; `benchmark.ingest` validates and writes them.
Adapters that have true masks (synthetic, JHMDB) write them themselves under `masks/truth/`
through `benchmark.masks` and list them in `truth_masks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class IngestResult:
    manifest: pd.DataFrame
    boxes: pd.DataFrame
    annotation_source: str
    skipped: list[dict] = field(default_factory=list)  # rows of docs/contracts.md skipped.csv
    truth_masks: dict[str, str] = field(default_factory=dict)  # video_id -> mask_sha256
    report: dict = field(default_factory=dict)  # counts for the log (clipped boxes, ...)


@dataclass(frozen=True)
class Adapter:
    """One dataset kind: where its adapter lives and what it writes beyond manifest and boxes
    (the ingest rule's outputs, and which runs and mask sources the dataset allows)."""

    module: str  # exposes `ingest(settings, out_dir, ...)`; imported only when ingesting
    has_truth: bool = False  # true actor masks under masks/truth/ (a `truth` mask source)
    has_factors: bool = False  # planted scene factors in synthetic_factors.csv (planted scenes)


ADAPTERS: dict[str, Adapter] = {
    "synthetic": Adapter("benchmark.datasets.synthetic", has_truth=True, has_factors=True),
    "ucf101": Adapter("benchmark.datasets.ucf101"),
    "hmdb51": Adapter("benchmark.datasets.hmdb51", has_truth=True),  # JHMDB puppet masks
    "generic": Adapter("benchmark.datasets.generic"),
    # UCF101-24 at its real geometry, rendered from a box file: true masks of the rendered actors
    "ucf101_24_standin": Adapter("benchmark.datasets.ucf101_24_standin", has_truth=True),
}
