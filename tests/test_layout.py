"""The layout registry (benchmark.layout) and the facts on the registry entries: the item sets and
paths of the default and a real-data config asserted exactly, the Confl-FG single-source rule, a
tracker registry entry changing the masks rules' wildcard constraint and GPU resource through real
Snakemake, no rule file spelling a path or set list the registry owns, and a parse without torch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from albar.method_specs import METHOD_SPECS
from albar.runs import bank_relpath, run_mask_source, run_uses_bank, scene_labels_relpath
from benchmark.config import validate_config
from benchmark.datasets import ADAPTERS
from benchmark.layout import (
    ItemSet,
    LayoutError,
    ResultsLayout,
    config_item_sets,
    config_run_seeds,
    evaluation_sets,
    results_layout,
    table_files,
)
from benchmark.tracking import TRACKERS

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "pipeline" / "rules"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def load(name: str) -> dict:
    path = REPO / "config" / name
    return validate_config(yaml.safe_load(path.read_text()), str(path))


def test_default_config_sets_and_paths():
    config = load("default.yaml")
    sets = config_item_sets(config)
    expected = [
        f"{variant}/{protocol}-{source}"
        for variant in ("box_first", "truth", "grabcut")
        for protocol, sources in (
            ("scuba", ("stripe", "plasma", "mosaic")),
            ("scufo", ("stripe", "plasma", "mosaic")),
            ("conflfg", ("stripe",)),
        )
        for source in sources
    ]
    assert [s.name for s in sets] == expected and len(sets) == 21
    assert [s.name for s in config_item_sets(config, iid=True)] == ["iid", *expected]
    layout = results_layout(config)
    assert layout.root == Path("results/synthetic")
    assert (
        layout.items_csv(sets[0]).as_posix()
        == "results/synthetic/bench/box_first/scuba-stripe/items.csv"
    )
    assert (
        layout.prediction_file("albar", 0, sets[6]).as_posix()
        == "results/synthetic/runs/albar/seed0/pred/box_first/conflfg-stripe.csv"
    )
    assert (
        layout.prediction_file("albar", 0, ItemSet("iid")).as_posix()
        == "results/synthetic/runs/albar/seed0/pred/iid.csv"
    )
    assert layout.mask_shard("grabcut", "shard-001").as_posix() == (
        "results/synthetic/masks/grabcut/shards/shard-001.csv"
    )
    assert layout.bench_shard("truth", "scufo", "shard-000", skipped=True).as_posix() == (
        "results/synthetic/bench/truth/shards/scufo/shard-000.skipped.csv"
    )
    assert layout.mmaction2_list(sets[1]).as_posix() == (
        "results/synthetic/exports/mmaction2/box_first/scuba-plasma.txt"
    )
    runs = {run["name"]: run for run in config["runs"]}
    assert bank_relpath(config, runs["stillmix"], 0).as_posix().startswith("_stillmix_bank/")
    assert bank_relpath(config, runs["stillmix"], 0).as_posix().endswith("/seed0/bank.pt")
    # one bank for every training seed (bank.seed 0), as StillMix builds it once per dataset ...
    assert {bank_relpath(config, runs["stillmix"], seed) for seed in (0, 1, 2)} == {
        bank_relpath(config, runs["stillmix"], 0)
    }
    # ... or, with bank.seed null, a bank per training seed
    own = {**runs["stillmix"], "bank": {**runs["stillmix"]["bank"], "seed": None}}
    assert [bank_relpath(config, own, seed).parent.name for seed in (0, 1, 2)] == [
        "seed0",
        "seed1",
        "seed2",
    ]
    assert config_run_seeds(config)["vanilla"] == [0, 1, 2]  # the default: three training seeds
    assert config_run_seeds(config)["be"] == [0]  # ... and one for the four runs marked so
    assert table_files(False)[:3] == ["summary.csv", "summary.md", "summary.tex"]
    assert len(table_files(False)) == 15 and len(table_files(True)) == 18


def test_real_data_config_sets_and_paths():
    config = load("ucf101.yaml")
    sets = config_item_sets(config)
    assert [s.name for s in sets] == [
        f"{variant}/{protocol}-{source}"
        for variant in ("sam", "box_first")
        for protocol, sources in (
            ("scuba", ("places365", "vqgan", "stripe")),
            ("scufo", ("places365", "vqgan", "stripe")),
            ("conflfg", ("stripe",)),
        )
        for source in sources
    ]
    layout = results_layout(config)
    assert (
        layout.items_csv(sets[-1]).as_posix()
        == "results/ucf101/bench/box_first/conflfg-stripe/items.csv"
    )
    assert layout.seed_dir("videomix", 2).as_posix() == "results/ucf101/runs/videomix/seed2"
    assert config_run_seeds(config)["vanilla"] == [0, 1, 2]
    # UCF101 has neither true masks nor planted factors: its ingest writes no truth shards
    assert not ADAPTERS["ucf101"].has_truth and not ADAPTERS["ucf101"].has_factors


def test_conflfg_uses_its_one_source_only():
    config = load("default.yaml")
    conflfg = [s for s in config_item_sets(config) if s.protocol == "conflfg"]
    assert [s.bg_source for s in conflfg] == ["stripe"] * 3
    config["benchmark"]["conflfg"]["enabled"] = False
    assert all(s.protocol != "conflfg" for s in config_item_sets(config))
    with pytest.raises(LayoutError, match="not among the background sources"):
        evaluation_sets(["truth"], ["plasma"], ["stripe"])


def test_item_set_names_round_trip():
    for name in ("iid", "truth/scuba-stripe", "sam/conflfg-stripe", "box_first/scufo-vqgan"):
        assert ItemSet.from_name(name).name == name
    with pytest.raises(LayoutError, match="expected iid or"):
        ItemSet.from_name("truth/other-stripe")
    with pytest.raises(LayoutError, match="no items.csv"):
        ItemSet("iid").items_path("r")
    assert ResultsLayout("r").release_verify("v1").as_posix() == "r/release/v1.verify.json"


def test_method_specs_are_the_facts_of_the_method_classes():
    from albar.methods import METHODS

    assert set(METHODS) == set(METHOD_SPECS)
    assert [name for name, cls in METHODS.items() if cls.uses_bank] == [
        "stillmix",
        "albar_stillmix",
    ]
    assert [name for name, cls in METHODS.items() if cls.uses_masks] == ["actorcutmix", "sdn"]
    assert run_uses_bank({"method": "albar_stillmix", "stillmix_source": "bank"})
    assert not run_uses_bank({"method": "albar_stillmix", "stillmix_source": "random"})
    assert run_mask_source({"method": "sdn", "actor_masks": "truth"}) == "truth"
    assert run_mask_source({"method": "vanilla", "actor_masks": "truth"}) is None
    assert scene_labels_relpath({"method": "sdn", "scene_source": "planted"}).as_posix() == (
        "_scene_labels/planted.csv"
    )
    assert [name for name, entry in TRACKERS.items() if entry.uses_gpu] == ["sam", "sam2"]


# Path pieces and set lists the registry owns: no rule file spells them.
OWNED_LITERALS = (
    "/pred/",
    "items.csv",
    "/shards/",
    "manifest.csv",
    "boxes.parquet",
    "qc.csv",
    "skipped.csv",
    "backgrounds.csv",
    "/_stillmix_bank",
    "/_scene_labels",
    "/exports/",
    "/bench/",
    "/runs/",
    "checkpoint.pt",
    "metrics.json",
    "/tables",
    "synthetic_factors.csv",
    '"scuba", "scufo"',
    "box_first|box_union",
    "grabcut|",
    '"sam", "sam2"',
    '"hmdb51")',
)


def test_no_rule_file_spells_a_registry_path_or_set_list():
    found = []
    for path in sorted([*RULES.glob("*.smk"), REPO / "Snakefile"]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            found += [f"{path.name}:{number}: {lit}" for lit in OWNED_LITERALS if lit in code]
    assert not found, "\n".join(found)


def test_the_rule_files_import_no_torch():
    """Every module a rule file imports, imported in a fresh interpreter: torch stays out."""
    modules = set()
    for path in RULES.glob("*.smk"):
        modules |= set(
            re.findall(r"^from ((?:benchmark|albar)[\w.]*) import", path.read_text(), re.M)
        )
    assert {"benchmark.layout", "benchmark.tracking", "benchmark.datasets", "albar.runs"} <= modules
    code = "; ".join(f"import {m}" for m in sorted(modules))
    code += "; import sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout.strip() == "[]"


def _masks_snakefile(folder: Path, extra_tracker: bool) -> None:
    includes = "".join(
        f'include: "{RULES / name}"\n' for name in ("common.smk", "inputs.smk", "ingest.smk")
    )
    register = (
        "from benchmark.tracking import TRACKERS, TrackerEntry\n\n"
        'TRACKERS["fake"] = TrackerEntry("fake_module", uses_gpu=True)\n'
        'config["tracking"]["fake"] = {"device": "cuda"}\n\n\n'
        if extra_tracker
        else ""
    )
    (folder / "config.yaml").write_text(yaml.safe_dump({"results": "results"}))
    (folder / "Snakefile").write_text(
        'configfile: "config.yaml"\n\n\n'
        + includes
        + "\n\n"
        + register
        + f'include: "{RULES / "masks.smk"}"\n'
    )


@pytest.mark.slow
@pytest.mark.parametrize("extra_tracker", [False, True])
def test_a_tracker_entry_sets_the_wildcard_constraint_and_gpu(tmp_path, extra_tracker):
    _masks_snakefile(tmp_path, extra_tracker)
    target = "results/synthetic/masks/fake/shards/shard-000.csv"
    done = subprocess.run(
        [str(SNAKEMAKE), "-s", "Snakefile", "-n", "--cores", "1", target],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    output = done.stdout + done.stderr
    if not extra_tracker:  # "fake" is no tracker: no rule may build its masks
        assert done.returncode != 0 and "MissingRuleException" in output, output[-2000:]
        return
    assert done.returncode == 0, output[-3000:]
    assert "rule track_actors:" in output and "tracker=fake" in output
    assert re.search(r"resources: .*gpu=1", output), output[-3000:]
