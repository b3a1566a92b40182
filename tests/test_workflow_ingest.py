"""The workflow through the real Snakemake API: ingest of a tiny synthetic dataset."""

import pandas as pd

from benchmark.workflow import run_workflow
from tests.conftest import TINY_SYNTHETIC


def test_snakemake_ingests_the_tiny_dataset(tmp_path):
    config = {
        "dataset": {"name": "tiny", "kind": "synthetic", "synthetic": TINY_SYNTHETIC},
        "n_shards": 2,
    }
    run_workflow(tmp_path, config, targets=["results/tiny/manifest.csv"], cores=2)
    manifest = pd.read_csv(tmp_path / "results/tiny/manifest.csv")
    assert len(manifest) == 21
    assert (tmp_path / "results/tiny/masks/truth/shards/shard-001.csv").exists()
    assert (
        (tmp_path / "logs/tiny/ingest_dataset.log")
        .read_text()
        .startswith("ingest tiny (synthetic): 21 videos")
    )
