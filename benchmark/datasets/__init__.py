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


ADAPTERS = {
    "synthetic": "benchmark.datasets.synthetic",
    "ucf101": "benchmark.datasets.ucf101",
    "hmdb51": "benchmark.datasets.hmdb51",
    "generic": "benchmark.datasets.generic",
    "ucf101_24_standin": "benchmark.datasets.ucf101_24_standin",
}
