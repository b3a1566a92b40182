"""The real-data configs validate and their whole DAG resolves (dry run) on fabricated stand-ins laid
out like the real downloads: UCF101 + UCF101-24 boxes + SAM checkpoint + Places365 / VQGAN folders,
and HMDB51 + JHMDB masks. Nothing is decoded in a dry run; this checks the workflow's wiring at the
real datasets' scale of shards, variants, sources, runs and seeds."""

import shutil
import subprocess
import sys

import pytest

from benchmark.config import load_config
from benchmark.workflow import run_workflow


def fabricate_layout(root):
    for path in (
        "data/UCF-101/Basketball/v_Basketball_g01_c01.avi",
        "data/ucfTrainTestlist/trainlist01.txt",
        "data/ucfTrainTestlist/testlist01.txt",
        "data/ucfTrainTestlist/classInd.txt",
        "data/ucf101-24/testlist01.txt",
        "data/ucf101-24/pyannot.pkl",
        "data/hmdb51_org/brush_hair/a.avi",
        "data/testTrainMulti_7030_splits/brush_hair_test_split1.txt",
        "data/JHMDB/puppet_mask/brush_hair/a/puppet_mask.mat",
        "data/places365_test_256/Places365_test_00000001.jpg",
        "data/vqgan_clip_backgrounds/0001.png",
        "weights/sam_vit_h_4b8939.pth",
        "weights/swin3d_t-7615ae03.pth",
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(b"")


@pytest.mark.parametrize("name", ["ucf101", "hmdb51"])
def test_real_config_dry_run_resolves_the_whole_dag(tmp_path, project_root, name):
    config_path = project_root / "config" / f"{name}.yaml"
    config = load_config(config_path)
    assert config["review"]["require"] is True
    assert config["training"]["model"] == "swin3d_t"
    fabricate_layout(tmp_path)
    shutil.copy(config_path, tmp_path / f"{name}.yaml")
    run_workflow(tmp_path, configfiles=[tmp_path / f"{name}.yaml"], dryrun=True)


def test_snakemake_lint_is_clean(tmp_path, project_root):
    """`snakemake --lint` on the project Snakefile (default config) finds nothing to report."""
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--snakefile", project_root / "Snakefile"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Lints for" not in output, output[-3000:]
    assert "your workflow is in a good condition" in output
