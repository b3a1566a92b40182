"""Training and prediction on a tiny real synthetic dataset (the lead's generator, real mp4 files):
exact resume, the clip check, bad inputs, prediction files as docs/contracts.md, and a short run whose
test accuracy is well above chance."""

from __future__ import annotations

import copy
import json
import math

import pandas as pd
import pytest
import torch

from albar.data import ClipSettings, train_clip_indices
from albar.predict import PredictionError, check_prediction_ids, predict_run
from albar.runs import effective_training, find_run
from albar.train import TrainingError, load_checkpoint, main, model_from_checkpoint, train_run
from benchmark.config import validate_config
from benchmark.video import write_frame_zip, write_image

CLASSES = 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """3 classes x (6 train, 1 val, 2 test) videos of 16 frames at 32x32."""
    from benchmark.ingest import run_ingest

    root = tmp_path_factory.mktemp("albar_data")
    config = validate_config(
        {
            "results": str(root),
            "dataset": {
                "name": "synthetic",
                "kind": "synthetic",
                "synthetic": {
                    "classes": CLASSES,
                    "videos_per_class": {"train": 6, "val": 1, "test": 2},
                    "size": 32,
                },
            },
            "training": {"epochs": 2, "batch_size": 6, "crop_size": 32, "resize": 32},
            "runs": [
                {"name": "vanilla", "method": "vanilla"},
                {"name": "albar", "method": "albar", "adv_bound": "log_k"},
            ],
        }
    )
    run_ingest(config, threads=1)
    return config, root / "synthetic"


def _train(config, results, name, out, **kwargs):
    run = find_run(config, name)
    return train_run(
        run=run,
        training=effective_training(config, run),
        seed=0,
        test_clip=config["benchmark"]["test_clip"],
        manifest_path=results / "manifest.csv",
        out_dir=out,
        log=lambda _: None,
        **kwargs,
    )


def test_resume_after_a_kill_ends_with_the_same_weights(dataset, tmp_path):
    torch.set_num_threads(1)
    config, results = dataset
    config = copy.deepcopy(config)
    config["training"]["epochs"] = 3
    _train(config, results, "albar", tmp_path / "straight")
    killed = _train(config, results, "albar", tmp_path / "resumed", stop_after_epochs=1)
    assert killed == {"stopped_after_epoch": 1}
    assert not (tmp_path / "resumed" / "checkpoint.pt").exists()
    metrics = _train(config, results, "albar", tmp_path / "resumed")
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    resumed = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["model"]
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key
    assert metrics["epochs"] == 3 and metrics["steps"] == 3 * (CLASSES * 6 // 6)
    log = (tmp_path / "resumed" / "train.log").read_text()
    assert "resumed from" in log
    assert log.count("run albar (albar) seed 0:") == 1  # the header once, not again on resume
    assert log.count("\nepoch ") == 3 and log.index("resumed from") > log.index("epoch 1/3")
    recorded = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert recorded["method"] == "albar" and recorded["selected"]["criterion"] == "last"
    assert [h["epoch"] for h in recorded["history"]] == [1, 2, 3]
    assert all(math.isfinite(h["gp"]) for h in recorded["history"])


def test_a_state_from_another_configuration_is_not_resumed(dataset, tmp_path):
    config, results = dataset
    _train(config, results, "vanilla", tmp_path, stop_after_epochs=1)
    changed = copy.deepcopy(config)
    changed["training"]["lr"] = 0.001
    _train(changed, results, "vanilla", tmp_path)
    assert "starting afresh" in (tmp_path / "train.log").read_text()


def test_training_clip_must_match_the_benchmark_test_clip(dataset, tmp_path):
    config, results = dataset
    run = find_run(config, "vanilla")
    with pytest.raises(TrainingError, match="differs from benchmark.test_clip 16 / 1"):
        train_run(
            run=run,
            training=effective_training(config, run),
            seed=0,
            test_clip={"frames": 16, "stride": 1},
            manifest_path=results / "manifest.csv",
            out_dir=tmp_path,
        )


def test_labels_outside_the_label_space_are_an_error(dataset, tmp_path):
    config, results = dataset
    config = copy.deepcopy(config)
    config["training"]["num_classes"] = 2  # the manifest has labels 0..2
    with pytest.raises(TrainingError, match=r"labels \[2\] outside 0..1"):
        _train(config, results, "vanilla", tmp_path)


def test_cli_reports_config_mistakes_with_exit_code_2(dataset, tmp_path, capsys):
    config, results = dataset
    argv = ["--config-json", json.dumps(config), "--run", "missing", "--seed", "0"]
    assert main(argv) == 2
    assert "run 'missing' is not in the config's runs" in capsys.readouterr().err
    argv = ["--config-json", json.dumps(config), "--run", "vanilla", "--seed", "7"]
    assert main(argv) == 2
    assert "seed 7 is not in" in capsys.readouterr().err


def _job_config(config, name, seeds):
    """The sections the train rules pass (pipeline/rules/inputs.smk run_config_json /
    run_seeds_config_json): the run's entry and the training section with the job's seeds."""
    run = dict(find_run(config, name))
    run["training"] = {**run.get("training", {}), "seeds": seeds}
    training = {**config["training"], "seeds": seeds}
    return json.dumps(
        {
            "runs": [run],
            "training": training,
            "benchmark": {"test_clip": config["benchmark"]["test_clip"]},
        },
        sort_keys=True,
    )


def _files(folder):
    """Every file under `folder` but timing.json, by relative path, as bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "timing.json"
    }


def _cli_train(config, results, name, seeds, out):
    argv = [
        "--config-json",
        _job_config(config, name, seeds),
        "--run",
        name,
        "--manifest",
        str(results / "manifest.csv"),
        "--out",
        str(out),
        "--threads",
        "1",
        "--seed",
    ]
    assert main([*argv, *map(str, seeds)]) == 0


def test_seeds_trained_in_one_job_write_the_bytes_of_seeds_trained_alone(dataset, tmp_path):
    config, results = dataset
    _cli_train(config, results, "albar", [0, 1], tmp_path / "together")
    _cli_train(config, results, "albar", [1], tmp_path / "alone" / "seed1")
    together = _files(tmp_path / "together" / "seed1")
    assert set(together) == {"checkpoint.pt", "metrics.json", "train.log", "state/last.pt"}
    assert together == _files(tmp_path / "alone" / "seed1")
    # the two seeds of the job are two different trainings, each recorded as a lone seed's
    first = torch.load(tmp_path / "together" / "seed0" / "checkpoint.pt", weights_only=True)
    second = torch.load(tmp_path / "together" / "seed1" / "checkpoint.pt", weights_only=True)
    assert (first["seed"], first["training"]["seeds"]) == (0, [0])
    assert (second["seed"], second["training"]["seeds"]) == (1, [1])
    assert second["run"]["training"]["seeds"] == [1]
    assert not torch.equal(first["model"]["head.weight"], second["model"]["head.weight"])


def test_a_rerun_writes_every_file_but_the_timings_byte_for_byte(dataset, tmp_path):
    config, results = dataset
    _cli_train(config, results, "vanilla", [0], tmp_path / "first")
    _cli_train(config, results, "vanilla", [0], tmp_path / "second")
    first = _files(tmp_path / "first")
    assert set(first) == {"checkpoint.pt", "metrics.json", "train.log", "state/last.pt"}
    assert first == _files(tmp_path / "second")
    metrics = json.loads(first["metrics.json"])
    assert "wall_s" not in metrics and "seconds" not in metrics["history"][0]
    assert "clips/s" not in first["train.log"].decode()
    timing = json.loads((tmp_path / "first" / "timing.json").read_text())
    assert timing["run"] == "vanilla" and timing["seed"] == 0 and timing["wall_s"] > 0
    assert [e["epoch"] for e in timing["epochs"]] == [1, 2]
    assert all(e["clips_per_s"] > 0 and e["seconds"] > 0 for e in timing["epochs"])


def test_train_clip_indices_drop_the_stride_for_short_videos():
    clip = ClipSettings(8, 2)
    import numpy as np

    rng = np.random.default_rng(0)
    assert train_clip_indices(10, clip, rng) in (
        [0, 1, 2, 3, 4, 5, 6, 7],
        [1, 2, 3, 4, 5, 6, 7, 8],
        [2, 3, 4, 5, 6, 7, 8, 9],
    )
    assert train_clip_indices(5, clip, rng) == [0, 1, 2, 3, 4, 4, 4, 4]


def _bench_sets(results, manifest):
    """Hand-made SCUBA (zip of JPEGs) and SCUFO (one PNG) items of the test videos."""
    import numpy as np

    from benchmark.video import read_video

    test = manifest[manifest["split"] == "test"]
    rows = {"scuba": [], "scufo": []}
    for r in test.itertuples():
        frames, _ = read_video(r.path)
        scuba = f"bench/truth/scuba-stripe/{r.video_id}__0.zip"
        scufo = f"bench/truth/scufo-stripe/{r.video_id}__0__static.png"
        write_frame_zip(results / scuba, frames)
        write_image(results / scufo, frames[5])
        common = {"video_id": r.video_id, "version": 0, "source": "stripe", "variant": "truth"}
        common.update(label=r.label, frames=len(frames), first_frame=0, sha256="0" * 64)
        common.update(background_id=f"{r.video_id}__0", static_label=None, static_video_id=None)
        scuba_id, scufo_id = f"{r.video_id}__0", f"{r.video_id}__0__static"
        rows["scuba"].append(
            {**common, "item_id": scuba_id, "protocol": "scuba", "path": scuba}
            | {"static_frame": None, "pair_id": scufo_id}
        )
        rows["scufo"].append(
            {**common, "item_id": scufo_id, "protocol": "scufo", "path": scufo}
            | {"static_frame": 5, "pair_id": scuba_id}
        )
    paths = []
    for protocol, items in rows.items():
        path = results / f"bench/truth/{protocol}-stripe/items.csv"
        pd.DataFrame(items).to_csv(path, index=False)
        paths.append(path)
    assert np.all([p.exists() for p in paths])
    return paths


def test_predictions_cover_every_item_in_the_contract_format(dataset, tmp_path):
    config, results = dataset
    _train(config, results, "vanilla", tmp_path / "run")
    manifest = pd.read_csv(results / "manifest.csv")
    items = _bench_sets(results, manifest)
    written = predict_run(
        checkpoint_path=tmp_path / "run" / "checkpoint.pt",
        manifest_path=results / "manifest.csv",
        results_dir=results,
        items=items,
        out_dir=tmp_path / "run" / "pred",
        test_clip=config["benchmark"]["test_clip"],
        log=lambda _: None,
    )
    assert sorted(written) == ["iid", "truth/scuba-stripe", "truth/scufo-stripe"]
    iid = pd.read_csv(tmp_path / "run" / "pred" / "iid.csv")
    test_ids = manifest.loc[manifest["split"] == "test", "video_id"]
    assert list(iid.columns) == ["item_id", "predicted", "static_max_prob"] + [
        f"p_{k}" for k in range(CLASSES)
    ]
    assert sorted(iid["item_id"]) == sorted(test_ids) and iid["static_max_prob"].isna().all()
    probs = iid[[f"p_{k}" for k in range(CLASSES)]].to_numpy()
    assert abs(probs.sum(1) - 1).max() < 1e-4 and (probs.argmax(1) == iid["predicted"]).all()
    scufo = pd.read_csv(tmp_path / "run" / "pred" / "truth" / "scufo-stripe.csv")
    assert scufo["item_id"].str.endswith("__static").all()
    top = scufo[[f"p_{k}" for k in range(CLASSES)]].max(axis=1)
    assert (abs(scufo["static_max_prob"] - top) < 1e-9).all()
    from benchmark.table_files import read_predictions

    read_predictions(
        tmp_path / "run" / "pred" / "truth" / "scuba-stripe.csv"
    )  # the scorer reads it

    # a SCUFO item is its frame repeated: the same as predicting a clip of that frame
    frame_table = pd.read_csv(items[0], dtype=str, keep_default_na=False)
    frame_table.loc[1, "item_id"] = frame_table.loc[0, "item_id"]
    bad = tmp_path / "bad" / "items.csv"
    bad.parent.mkdir()
    frame_table.to_csv(bad, index=False)
    with pytest.raises(ValueError, match=f"listed twice: \\['{frame_table.loc[0, 'item_id']}'\\]"):
        predict_run(
            checkpoint_path=tmp_path / "run" / "checkpoint.pt",
            manifest_path=results / "manifest.csv",
            results_dir=results,
            items=[bad],
            out_dir=tmp_path / "pred2",
            log=lambda _: None,
        )
    assert not (tmp_path / "pred2").exists()  # nothing half-written


def test_prediction_id_check_names_missing_and_duplicate_ids():
    with pytest.raises(
        PredictionError, match=r"duplicate item ids \['a'\].*missing item ids \['c'\]"
    ):
        check_prediction_ids(["a", "a", "b"], ["a", "b", "c"], "truth/scuba-stripe")
    with pytest.raises(PredictionError, match=r"not in the item list \['z'\]"):
        check_prediction_ids(["a", "z"], ["a"], "iid")
    check_prediction_ids(["b", "a"], ["a", "b"], "iid")


def test_a_checkpoint_of_another_model_is_refused(dataset, tmp_path):
    config, results = dataset
    _train(config, results, "vanilla", tmp_path)
    checkpoint = load_checkpoint(tmp_path / "checkpoint.pt")
    with pytest.raises(TrainingError, match="checkpoint is of model 'tiny3d'.*not 'r3d_18'"):
        model_from_checkpoint(checkpoint, tmp_path / "checkpoint.pt", model_name="r3d_18")
    checkpoint["model_info"] = {**checkpoint["model_info"], "num_classes": 7}
    with pytest.raises(TrainingError, match="weights do not fit model 'tiny3d'"):
        model_from_checkpoint(checkpoint, tmp_path / "checkpoint.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="junk.pt: not a readable training checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


@pytest.mark.slow
def test_short_cpu_run_learns_the_motion_classes_well_above_chance(tmp_path):
    """5 classes, 64x64 videos (48x48 crops), 12 epochs of the tiny 3-D CNN on 160 clips: IID test
    accuracy well above chance (20%)."""
    from benchmark.ingest import run_ingest

    torch.set_num_threads(1)
    config = validate_config(
        {
            "results": str(tmp_path),
            "dataset": {
                "name": "synthetic",
                "kind": "synthetic",
                "synthetic": {"videos_per_class": {"train": 32, "val": 0, "test": 8}},
            },
            "training": {"epochs": 12},
            "runs": [{"name": "vanilla", "method": "vanilla"}],
        }
    )
    run_ingest(config, threads=1)
    results = tmp_path / "synthetic"
    _train(config, results, "vanilla", tmp_path / "run")
    written = predict_run(
        checkpoint_path=tmp_path / "run" / "checkpoint.pt",
        manifest_path=results / "manifest.csv",
        results_dir=results,
        items=[],
        out_dir=tmp_path / "run" / "pred",
        log=lambda _: None,
    )
    predictions = pd.read_csv(written["iid"]).set_index("item_id")
    manifest = pd.read_csv(results / "manifest.csv").set_index("video_id")
    test = manifest[manifest["split"] == "test"]
    accuracy = 100 * (predictions.loc[test.index, "predicted"] == test["label"]).mean()
    print(f"IID test accuracy {accuracy:.1f}")
    assert accuracy >= 60, accuracy  # chance is 20
