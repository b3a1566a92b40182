"""The shared decode of prediction (albar.clip_cache) on a tiny real synthetic dataset (real mp4
videos, a zip of JPEGs, a PNG): predictions read from the cache are byte-identical to decoding every
item, the cache is the same bytes on a rebuild, and a stale or damaged cache is a one-line error."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from albar.clip_cache import ClipCache, ClipCacheError, index_path, write_clip_cache
from albar.clip_cache import main as cache_main
from albar.data import ClipSettings, read_manifest_entries
from albar.predict import main as predict_main
from albar.predict import predict_run
from albar.runs import effective_training, find_run
from albar.train import train_run
from benchmark.config import validate_config
from benchmark.table_files import item_row
from benchmark.video import read_video, write_frame_zip, write_image
from benchmark.workflow import PROJECT_ROOT, SNAKEFILE
from tests.test_workflow_smoke import SMOKE_CONFIG

CLASSES = 3


def _train_vanilla(config, results, *, seed, out_dir):
    """The config's vanilla run, one seed, trained into out_dir."""
    run = find_run(config, "vanilla")
    train_run(
        run=run,
        training=effective_training(config, run),
        seed=seed,
        test_clip=config["benchmark"]["test_clip"],
        manifest_path=results / "manifest.csv",
        out_dir=out_dir,
        log=lambda _: None,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """3 classes x (4 train, 1 val, 2 test) videos of 16 frames at 32x32, a one-epoch vanilla run,
    and hand-made SCUBA (zip) / SCUFO (PNG) items of the test videos, one of them 40x24."""
    from benchmark.ingest import run_ingest

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("clip_cache")
    config = validate_config(
        {
            "results": str(root),
            "dataset": {
                "name": "synthetic",
                "kind": "synthetic",
                "synthetic": {
                    "classes": CLASSES,
                    "videos_per_class": {"train": 4, "val": 1, "test": 2},
                    "size": 32,
                },
            },
            "training": {"epochs": 1, "batch_size": 6, "crop_size": 24, "resize": 28},
            "runs": [{"name": "vanilla", "method": "vanilla"}],
        }
    )
    run_ingest(config, threads=1)
    results = root / "synthetic"
    _train_vanilla(config, results, seed=0, out_dir=root / "run")
    manifest = pd.read_csv(results / "manifest.csv")
    rows = {"scuba": [], "scufo": []}
    for n, r in enumerate(manifest[manifest["split"] == "test"].itertuples()):
        frames, _ = read_video(r.path)
        if n == 0:  # another frame size in the same set: the index keeps per-item shapes
            frames = np.ascontiguousarray(np.repeat(frames, 2, axis=1)[:, 12:52, 4:28])
        scuba = f"bench/truth/scuba-stripe/{r.video_id}__0.zip"
        scufo = f"bench/truth/scufo-stripe/{r.video_id}__0__static.png"
        write_frame_zip(results / scuba, frames[: 5 + n])  # short items: the stride shrinks
        write_image(results / scufo, frames[3])
        common = {"video_id": r.video_id, "version": 0, "source": "stripe", "variant": "truth"}
        common.update(background_id=f"stripe_{n:05d}")
        common.update(label=r.label, frames=len(frames), first_frame=0, sha256="ab" * 32)
        rows["scuba"].append(
            {**common, "item_id": f"{r.video_id}__0", "protocol": "scuba", "path": scuba}
        )
        rows["scufo"].append(
            {**common, "item_id": f"{r.video_id}__0__static", "protocol": "scufo", "path": scufo}
        )
    items = {}
    for protocol, table in rows.items():
        items[f"truth/{protocol}-stripe"] = results / f"bench/truth/{protocol}-stripe/items.csv"
        rows_with_every_column = [item_row(**row) for row in table]
        pd.DataFrame(rows_with_every_column).to_csv(items[f"truth/{protocol}-stripe"], index=False)
    return config, results, root / "run" / "checkpoint.pt", items


def _cache_all(config, results, items, out_dir):
    clip = ClipSettings(**config["benchmark"]["test_clip"])
    sources = {"iid": results / "manifest.csv", **items}
    for name, source in sources.items():
        write_clip_cache(
            name=name,
            source=source,
            results_dir=results,
            clip=clip,
            out=out_dir / f"{name}.npy",
            log=lambda _: None,
        )


def _predict(config, results, checkpoint, items, out, clips_dir=None):
    return predict_run(
        checkpoint_path=checkpoint,
        manifest_path=results / "manifest.csv",
        results_dir=results,
        items=list(items.values()),
        out_dir=out,
        test_clip=config["benchmark"]["test_clip"],
        clips_dir=clips_dir,
        log=lambda _: None,
    )


def test_predictions_from_the_cache_are_byte_identical_to_decoding(trained, tmp_path):
    torch.set_num_threads(1)
    config, results, checkpoint, items = trained
    old = _predict(config, results, checkpoint, items, tmp_path / "old")
    _cache_all(config, results, items, tmp_path / "clips")
    new = _predict(config, results, checkpoint, items, tmp_path / "new", tmp_path / "clips")
    assert sorted(old) == sorted(new) == ["iid", "truth/scuba-stripe", "truth/scufo-stripe"]
    for name in old:
        assert old[name].read_bytes() == new[name].read_bytes(), name
    scufo = pd.read_csv(new["truth/scufo-stripe"])
    assert len(scufo) == 6 and scufo["static_max_prob"].between(1 / CLASSES, 1).all()

    index = json.loads(index_path(tmp_path / "clips" / "truth/scuba-stripe.npy").read_text())
    shapes = {row[0]: tuple(row[2:5]) for row in index["items"]}
    frames = config["benchmark"]["test_clip"]["frames"]
    assert sorted(set(shapes.values())) == [(frames, 32, 32), (frames, 40, 24)]
    static = json.loads(index_path(tmp_path / "clips" / "truth/scufo-stripe.npy").read_text())
    assert {tuple(row[2:6]) for row in static["items"]} == {(1, 32, 32, True), (1, 40, 24, True)}
    clips = np.load(tmp_path / "clips" / "truth/scuba-stripe.npy", mmap_mode="r")
    assert clips.dtype == np.uint8 and clips.size == index["clips_bytes"]

    # the same config gives the same bytes, and the CLI writes what the function does
    cfg = json.dumps({"benchmark": {"test_clip": config["benchmark"]["test_clip"]}})
    argv = ["--config-json", cfg, "--results", str(results), "--out", str(tmp_path / "cli")]
    argv += ["--set", "iid", str(results / "manifest.csv")]
    argv += ["--set", "truth/scuba-stripe", str(items["truth/scuba-stripe"])]
    assert cache_main(argv) == 0
    for name in ("iid", "truth/scuba-stripe"):
        for suffix in (".npy", ".json"):
            rebuilt = (tmp_path / "cli" / f"{name}{suffix}").read_bytes()
            assert rebuilt == (tmp_path / "clips" / f"{name}{suffix}").read_bytes(), name


def test_a_changed_item_list_is_refused_not_predicted_stale(trained, tmp_path):
    config, results, checkpoint, items = trained
    _cache_all(config, results, items, tmp_path / "clips")
    changed = dict(items)
    table = pd.read_csv(items["truth/scuba-stripe"])
    changed["truth/scuba-stripe"] = tmp_path / "bench/truth/scuba-stripe/items.csv"
    changed["truth/scuba-stripe"].parent.mkdir(parents=True)
    table.iloc[::-1].to_csv(changed["truth/scuba-stripe"], index=False)  # same items, new order
    with pytest.raises(
        ClipCacheError, match="built from another version of .*scuba-stripe"
    ) as info:
        _predict(config, results, checkpoint, changed, tmp_path / "pred", tmp_path / "clips")
    print(f"MESSAGE: {info.value}")
    assert not (tmp_path / "pred").exists()  # nothing half-written

    # a cache of another test clip than prediction's
    write_clip_cache(
        name="iid",
        source=results / "manifest.csv",
        results_dir=results,
        clip=ClipSettings(4, 1),
        out=tmp_path / "short" / "iid.npy",
        log=lambda _: None,
    )
    entries = read_manifest_entries(results / "manifest.csv", "test")
    with pytest.raises(ClipCacheError, match=r"built for test clip \{'frames': 4, 'stride': 1\}"):
        ClipCache(
            tmp_path / "short" / "iid.npy",
            name="iid",
            source=results / "manifest.csv",
            entries=entries,
            clip=ClipSettings(**config["benchmark"]["test_clip"]),
        )
    with pytest.raises(ClipCacheError, match="holds set 'iid', not 'truth/scuba-stripe'"):
        ClipCache(
            tmp_path / "short" / "iid.npy",
            name="truth/scuba-stripe",
            source=results / "manifest.csv",
            entries=entries,
            clip=ClipSettings(4, 1),
        )


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", r"holds uint8 \(\d+,\), its index says uint8"),
        ("flip", "contents do not match its index"),
        ("no_index", "test-clip cache index not found"),
        ("bad_index", "not a test-clip cache index"),
        ("no_clips", "test-clip cache not found"),
        ("pickle", "unreadable test-clip cache"),
    ],
)
def test_a_damaged_cache_is_a_one_line_error(trained, tmp_path, capsys, damage, message):
    config, results, checkpoint, items = trained
    _cache_all(config, results, items, tmp_path / "clips")
    npy = tmp_path / "clips" / "truth/scufo-stripe.npy"
    data = npy.read_bytes()
    if damage == "truncate":
        np.save(npy, np.frombuffer(data[128:-10], dtype=np.uint8))
    elif damage == "flip":
        npy.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "no_index":
        index_path(npy).unlink()
    elif damage == "bad_index":
        index_path(npy).write_text("{not json")
    elif damage == "no_clips":
        npy.unlink()
    elif damage == "pickle":
        np.save(npy, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cfg = json.dumps({"benchmark": {"test_clip": config["benchmark"]["test_clip"]}, "training": {}})
    argv = ["--config-json", cfg, "--checkpoint", str(checkpoint)]
    argv += ["--manifest", str(results / "manifest.csv"), "--results", str(results)]
    argv += ["--items", *map(str, items.values()), "--out", str(tmp_path / "pred")]
    assert predict_main([*argv, "--clips", str(tmp_path / "clips"), "--threads", "1"]) == 2
    err = capsys.readouterr().err.strip()
    print(f"MESSAGE: {err}")  # the docs' bad-input table quotes these (pytest -s)
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "scufo-stripe" in err
    assert re.search(message, err), err
    assert "rule cache_test_clips rebuilds it" in err and not (tmp_path / "pred").exists()


def test_cache_cli_names_a_missing_item_list(tmp_path, capsys):
    cfg = json.dumps({"benchmark": {"test_clip": {"frames": 8, "stride": 2}}})
    argv = ["--config-json", cfg, "--set", "truth/scuba-stripe", str(tmp_path / "items.csv")]
    assert cache_main([*argv, "--results", str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "items.csv: items table not found" in err
    assert not (tmp_path / "c").exists()
    argv += ["--set", "truth/scuba-stripe", str(tmp_path / "other.csv")]
    assert cache_main([*argv, "--results", str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    assert "sets ['truth/scuba-stripe'] given more than once" in capsys.readouterr().err


def _snakemake(workdir, *args) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir),
         "--configfile", str(workdir / "config.yaml"), "--cores", "1", *args],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr


def _planned_jobs(out: str) -> dict[str, int]:
    """{rule: job count} of a dry run's output."""
    if "Nothing to be done" in out:
        return {}
    table = out.split("Job stats:")[1].split("total")[0]
    return {
        line.split()[0]: int(line.split()[1])
        for line in table.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }


def test_a_changed_item_list_or_checkpoint_reruns_exactly_what_depends_on_it(tmp_path):
    """On the smoke DAG (two runs, two seeds each), every output present and up to date (`--touch`): a changed
    items.csv reruns the cache job and every run's prediction; a changed checkpoint reruns that
    run's prediction job (its seeds are scored in one) only, and decodes nothing."""
    config = {**SMOKE_CONFIG, "runs": SMOKE_CONFIG["runs"][:2]}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    plan = _snakemake(tmp_path, "-n", "--forceall")
    assert plan.count("rule cache_test_clips:") == 1  # one job decodes every set
    cache_job = plan.split("rule cache_test_clips:")[1].split("    output: ")[1].splitlines()[0]
    assert len(cache_job.split(", ")) == 2 * (1 + 3 * 7)  # .npy + .json of IID, 3 variants x 7
    for line in plan.splitlines():
        if line.startswith("    output: "):
            for name in line.removeprefix("    output: ").split(", "):
                (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / name).touch()
    _snakemake(tmp_path, "--touch", "--forceall")
    assert _planned_jobs(_snakemake(tmp_path, "-n")) == {}

    results = tmp_path / "results" / "smoke"
    with open(results / "bench/truth/scuba-stripe/items.csv", "a") as handle:
        handle.write("changed\n")  # Snakemake compares contents, not only times
    out = _snakemake(tmp_path, "-n")
    assert "reason: Updated input files: results/smoke/bench/truth/scuba-stripe/items.csv" in out
    assert _planned_jobs(out) == {
        "cache_test_clips": 1,
        "predict_seeds_0_1": 2,  # 2 runs, each job scoring its 2 training seeds
        "summarise_results": 1,
        "all": 1,
    }
    _snakemake(tmp_path, "--touch")
    (results / "runs/vanilla/seed0/checkpoint.pt").write_bytes(b"retrained")
    out = _snakemake(tmp_path, "-n")
    assert "wildcards: run=vanilla\n" in out and "run=stillmix" not in out
    assert _planned_jobs(out) == {"predict_seeds_0_1": 1, "summarise_results": 1, "all": 1}


def test_shared_test_clips_off_leaves_every_prediction_job_decoding_itself(tmp_path):
    """config shared_test_clips: false (the real-data configs, where the cache would not fit on
    disk): no cache job, and the prediction command decodes (no --clips)."""
    config = {**SMOKE_CONFIG, "runs": SMOKE_CONFIG["runs"][:1], "shared_test_clips": False}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    plan = _snakemake(tmp_path, "-n", "-p", "--forceall")
    assert "rule cache_test_clips:" not in plan and "runs/_test_clips" not in plan
    # one run, its two seeds scored in one job
    assert plan.count("-m albar.predict ") == 1 and "--clips" not in plan
    assert "--checkpoint results/smoke/runs/vanilla/seed0/checkpoint.pt " in plan
    config["shared_test_clips"] = True
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    plan = _snakemake(tmp_path, "-n", "-p", "--forceall")
    assert (
        "--clips results/smoke/runs/_test_clips --out results/smoke/runs/vanilla/seed0/pred "
        "results/smoke/runs/vanilla/seed1/pred" in plan
    )
    assert plan.count("python -m albar.clip_cache ") == 1


@pytest.fixture(scope="module")
def second_seed(trained):
    """Seed 1 of the same run: a second checkpoint with the same test view."""
    config, results, _, _ = trained
    out = results.parent / "run_seed1"
    _train_vanilla(config, results, seed=1, out_dir=out)
    return out / "checkpoint.pt"


def test_a_runs_seeds_scored_in_one_pass_write_each_seeds_own_files(trained, second_seed, tmp_path):
    """predict_checkpoints (one job for a run's seeds) writes, per checkpoint, the bytes that
    predict_run writes for it alone, from the videos and from the cache."""
    from albar.predict import predict_checkpoints

    torch.set_num_threads(1)
    config, results, checkpoint, items = trained
    _cache_all(config, results, items, tmp_path / "clips")
    for clips_dir in (None, tmp_path / "clips"):
        alone = [
            _predict(config, results, path, items, tmp_path / f"alone{n}", clips_dir)
            for n, path in enumerate((checkpoint, second_seed))
        ]
        together = predict_checkpoints(
            checkpoint_paths=[checkpoint, second_seed],
            out_dirs=[tmp_path / "together0", tmp_path / "together1"],
            manifest_path=results / "manifest.csv",
            results_dir=results,
            items=list(items.values()),
            test_clip=config["benchmark"]["test_clip"],
            clips_dir=clips_dir,
            log=lambda _: None,
        )
        for one, both in zip(alone, together, strict=True):
            assert sorted(one) == sorted(both)
            for name in one:
                assert one[name].read_bytes() == both[name].read_bytes(), name
        # the two seeds are different models: their files differ
        assert alone[0]["iid"].read_bytes() != alone[1]["iid"].read_bytes()


def test_checkpoints_of_different_test_views_are_not_scored_together(
    trained, second_seed, tmp_path
):
    from albar.checkpoint import load_checkpoint
    from albar.predict import predict_checkpoints
    from albar.train import TrainingError
    from benchmark.safe_torch import save_torch_file

    config, results, checkpoint, items = trained
    other = load_checkpoint(second_seed)
    other["training"] = {**other["training"], "resize": other["training"]["resize"] + 4}
    save_torch_file(other, tmp_path / "other.pt")
    with pytest.raises(TrainingError, match="other.pt: test view .* predict these checkpoints"):
        predict_checkpoints(
            checkpoint_paths=[checkpoint, tmp_path / "other.pt"],
            out_dirs=[tmp_path / "a", tmp_path / "b"],
            manifest_path=results / "manifest.csv",
            results_dir=results,
            items=list(items.values()),
            log=lambda _: None,
        )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
