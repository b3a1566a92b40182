"""The masks rules under real Snakemake: a tiny synthetic run through ingest, rectangles, the sam
tracker with a tiny random checkpoint, and QC; then reruns touch only what a config change affects."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from benchmark.tracking.sam import save_tiny_sam

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def _snakefile(folder: Path) -> Path:
    rules = REPO / "pipeline" / "rules"
    text = (
        'configfile: "config.yaml"\n\n\n'
        + "".join(
            f'include: "{rules / name}"\n'
            for name in ("common.smk", "inputs.smk", "ingest.smk", "masks.smk")
        )
        + "\n\nrule all:\n    default_target: True\n    input:\n        ALL_TARGETS,\n"
    )
    path = folder / "Snakefile"
    path.write_text(text)
    return path


def _snakemake(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [
            str(SNAKEMAKE),
            "-s",
            str(folder / "Snakefile"),
            "--directory",
            str(folder),
            "--cores",
            "2",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
def test_masks_rules_run_sam_and_rerun_only_what_changed(tmp_path):
    save_tiny_sam(tmp_path / "tiny.pth", seed=0)
    config = {
        "dataset": {
            "name": "syn",
            "kind": "synthetic",
            "synthetic": {
                "classes": 2,
                "videos_per_class": {"train": 1, "val": 0, "test": 2},
                "frames": 6,
                "size": 32,
            },
        },
        "seed": 0,
        "n_shards": 1,
        "tracking": {
            "trackers": ["sam"],
            "sam": {"model_type": "tiny_test", "checkpoint": "tiny.pth"},
        },
        "masks": {"sources": ["box_first"]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    _snakefile(tmp_path)
    _snakemake(tmp_path)
    results = tmp_path / "results" / "syn"
    for source in ("truth", "box_first", "sam"):
        qc = pd.read_csv(results / "masks" / source / "qc.csv")
        expected = 6 if source == "truth" else 4  # rectangles and trackers: the test split only
        assert len(qc) == expected, source
        assert (qc["frames"] == 6).all()
        assert (results / "masks" / source / "skipped.csv").exists()
    index = pd.read_csv(results / "masks" / "sam" / "shards" / "shard-000.csv")
    with gzip.open(results / "masks" / "sam" / f"{index['video_id'][0]}.json.gz", "rt") as handle:
        stored = json.load(handle)
    assert stored["tracker"] == "sam" and stored["provenance"]["model_type"] == "tiny_test"
    assert len(stored["frames"]) == 6
    assert (tmp_path / "logs" / "syn" / "track_actors" / "sam" / "shard-000.log").exists()
    # A knob of a tracker that is not run changes nothing; a QC threshold reruns QC only.
    config["tracking"]["grabcut"] = {"iterations": 7}
    config["masks"]["qc"] = {"low_score": 0.1}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    plan = _snakemake(tmp_path, "-n")
    assert "qc_masks" in plan and "track_actors" not in plan and "build_box_masks" not in plan
