"""Crafted files fed to every loader of a file a user may have downloaded: none may run code, and
each refusal is one line naming the file.

The payload is the classic one: a pickle whose REDUCE calls `os.system` to create a marker file.
It is written both as a real `torch.save` zip archive and as a bare pickle, and handed to the
prediction checkpoint (`albar.predict`, in-process CLI), the resume state (`state/last.pt` of a
real training run), the StillMix bank, pretrained backbone weights, the StillMix reference
weights, SAM checkpoints and both UCF101 annotation pickles. Then the files that load but hold the
wrong things: state dicts whose values are not tensors, a previous-version resume state holding a
numpy array, and annotation pickles with absurd numbers or shapes.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from albar.methods.stillmix import _reference_network
from albar.models import ModelError, build_model
from albar.predict import main as predict_main
from albar.runs import effective_training, find_run
from albar.train import TrainingError, load_checkpoint, train_run
from benchmark.config import validate_config
from benchmark.datasets.generic import IngestError
from benchmark.datasets.ucf101 import read_box_file
from benchmark.safe_pickle import PickleLoadError, UnsafePickleError, load_pickle
from benchmark.tracking import TrackerSetupError
from benchmark.tracking.sam import load_sam


class RunsShell:
    """Unpickling this calls os.system: the attack every loader must refuse."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo ran > '{self.marker}'",))


def one_line(error: BaseException, path: Path) -> str:
    message = str(error)
    assert "\n" not in message, message
    assert str(path) in message, message
    print(f"MESSAGE: {message}")  # the docs' bad-input table quotes these (pytest -s)
    return message


def crafted_files(tmp_path: Path) -> list[tuple[Path, Path]]:
    """(file, marker) pairs: a torch.save zip and a bare pickle, each running os.system."""
    files = []
    for kind in ("zip", "pickle"):
        marker = tmp_path / f"marker-{kind}"
        path = tmp_path / f"crafted-{kind}.pt"
        payload = {"model": RunsShell(marker), "frames": RunsShell(marker)}
        if kind == "zip":
            torch.save(payload, path)
        else:
            path.write_bytes(pickle.dumps(payload, protocol=2))
        files.append((path, marker))
    return files


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny real synthetic dataset (2 classes, 16-frame mp4 videos) for the training loaders."""
    from benchmark.ingest import run_ingest

    root = tmp_path_factory.mktemp("untrusted")
    config = validate_config(
        {
            "results": str(root),
            "dataset": {
                "name": "synthetic",
                "kind": "synthetic",
                "synthetic": {
                    "classes": 2,
                    "videos_per_class": {"train": 2, "val": 0, "test": 1},
                    "size": 32,
                },
            },
            "training": {"epochs": 1, "batch_size": 2, "crop_size": 32, "resize": 32},
            "runs": [
                {"name": "vanilla", "method": "vanilla"},
                {"name": "stillmix", "method": "stillmix"},
            ],
        }
    )
    run_ingest(config, threads=1)
    return config, root / "synthetic"


def _train(config, results: Path, name: str, out: Path, **kwargs):
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


def test_prediction_checkpoint_cli(tmp_path, capsys):
    for path, marker in crafted_files(tmp_path):
        code = predict_main(
            [
                "--config-json",
                json.dumps({"benchmark": {"test_clip": {"frames": 8, "stride": 2}}}),
                "--checkpoint",
                str(path),
                "--manifest",
                str(tmp_path / "manifest.csv"),
                "--results",
                str(tmp_path),
                "--out",
                str(tmp_path / "pred"),
            ]
        )
        err = capsys.readouterr().err
        assert code == 2
        assert err.count("\n") == 1 and str(path) in err, err
        assert "refused to load" in err and "system" in err
        assert not marker.exists()
        assert not (tmp_path / "pred").exists()
        with pytest.raises(TrainingError) as caught:
            load_checkpoint(path)
        one_line(caught.value, path)
        assert not marker.exists()


def test_resume_state_and_stillmix_bank(dataset, tmp_path):
    config, results = dataset
    for path, marker in crafted_files(tmp_path):
        out = tmp_path / f"run-{path.stem}"
        (out / "state").mkdir(parents=True)
        (out / "state" / "last.pt").write_bytes(path.read_bytes())
        with pytest.raises(TrainingError) as caught:
            _train(config, results, "vanilla", out)
        message = one_line(caught.value, out / "state" / "last.pt")
        assert "refused to load" in message
        with pytest.raises(TrainingError) as caught:
            _train(config, results, "stillmix", tmp_path / "bank-run", bank_path=path)
        message = one_line(caught.value, path)
        assert "StillMix bank" in message and "refused to load" in message
        assert not marker.exists()


def test_a_resume_state_of_the_previous_format_is_refused_not_run(dataset, tmp_path):
    """States written before this change held numpy's RNG state as an ndarray; weights_only
    refuses its global. Today's state holds plain lists and resumes with weights_only=True."""
    config, results = dataset
    _train(config, results, "vanilla", tmp_path, stop_after_epochs=1)
    state_path = tmp_path / "state" / "last.pt"
    state = torch.load(state_path, weights_only=True)
    assert isinstance(state["rng"]["numpy"][1], list)
    state["rng"]["numpy"] = np.random.get_state()
    torch.save(state, state_path)
    with pytest.raises(TrainingError) as caught:
        _train(config, results, "vanilla", tmp_path)
    message = one_line(caught.value, state_path)
    assert "numpy" in message and "retrain" in message


def test_pretrained_reference_and_sam_weights(tmp_path):
    for path, marker in crafted_files(tmp_path):
        with pytest.raises(ModelError) as caught:
            build_model("tiny3d", num_classes=3, pretrained=path)
        one_line(caught.value, path)
        with pytest.raises(ValueError) as caught:
            _reference_network("resnet18", 3, str(path))
        one_line(caught.value, path)
        with pytest.raises(TrackerSetupError) as caught:
            load_sam("vit_b", str(path))
        assert "refused to load" in one_line(caught.value, path)
        assert not marker.exists()


def test_state_dicts_whose_values_are_not_tensors(tmp_path):
    sam_path = tmp_path / "sam.pth"
    torch.save({"image_encoder.patch_embed.proj.weight": "a string", "other": 3}, sam_path)
    with pytest.raises(TrackerSetupError) as caught:
        load_sam("vit_b", str(sam_path))
    assert "are not named tensors" in one_line(caught.value, sam_path)
    weights = tmp_path / "weights.pth"
    state = build_model("tiny3d", num_classes=3).state_dict()
    state[next(iter(state))] = [1, 2, 3]
    torch.save({"state_dict": state}, weights)
    with pytest.raises(ModelError) as caught:
        build_model("tiny3d", num_classes=3, pretrained=weights)
    assert "holds list" in one_line(caught.value, weights)
    with pytest.raises(ValueError) as caught:
        _reference_network("resnet18", 3, str(weights))
    one_line(caught.value, weights)
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save(
        {"model": {"w": 1.0}, "model_info": {"name": "tiny3d", "num_classes": 3, "dropout": 0.0}},
        checkpoint,
    )
    from albar.train import model_from_checkpoint

    with pytest.raises(TrainingError) as caught:
        model_from_checkpoint(load_checkpoint(checkpoint), checkpoint)
    one_line(caught.value, checkpoint)


@pytest.mark.parametrize("box_source", ["pyannot", "ucf101v2"])
def test_annotation_pickles(tmp_path, box_source):
    marker = tmp_path / "marker"
    path = tmp_path / f"{box_source}.pkl"
    path.write_bytes(pickle.dumps({"Biking/v_Biking_g01_c01": RunsShell(marker)}, protocol=2))
    with pytest.raises(UnsafePickleError) as caught:
        read_box_file(box_source, path, {})
    assert "refused global" in one_line(caught.value, path)
    assert not marker.exists()


def test_pyannot_frame_counts_must_be_frame_numbers(tmp_path):
    path = tmp_path / "pyannot.pkl"
    for numf in (10**30, -3, 2.5, "12"):
        video = {"numf": numf, "annotations": []}
        path.write_bytes(pickle.dumps({"Biking/v_Biking_g01_c01": video}))
        with pytest.raises(IngestError) as caught:
            read_box_file("pyannot", path, {})
        message = one_line(caught.value, path)
        assert "v_Biking_g01_c01" in message and "numf" in message
    v2 = tmp_path / "UCF101v2-GT.pkl"
    tube = np.array([[1e23, 1, 1, 5, 5]])
    data = {"gttubes": {"Biking/v": {0: [tube]}}, "nframes": {"Biking/v": 10}}
    v2.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(IngestError) as caught:
        read_box_file("ucf101v2", v2, {"Biking/v": "v"})
    assert "not a 1-based frame number" in one_line(caught.value, v2)


def _reconstruct_call(shape, state=None):
    from numpy._core.multiarray import _reconstruct

    class Crafted:
        def __reduce__(self):
            base = (_reconstruct, (np.ndarray, shape, b"b"))
            return base if state is None else (*base, state)

    return Crafted()


class CallsNdarray:
    def __reduce__(self):
        return (np.ndarray, ((10**10,),))


@pytest.mark.parametrize(
    "crafted, text",
    [
        (_reconstruct_call((10**12,)), "declared before its data"),
        (CallsNdarray(), "calls numpy.ndarray(...) directly"),
        (
            _reconstruct_call((0,), (1, (10**9,), np.dtype(object), False, [1, 2])),
            "holds data for 2 elements",
        ),
    ],
)
def test_annotation_pickles_with_huge_shapes(tmp_path, crafted, text):
    path = tmp_path / "pyannot.pkl"
    for protocol in (2, 5):
        path.write_bytes(pickle.dumps({"Biking/v": {"numf": crafted}}, protocol=protocol))
        with pytest.raises(PickleLoadError) as caught:
            load_pickle(path, encoding="latin1")
        assert text in one_line(caught.value, path)


def test_real_annotation_arrays_still_load(tmp_path):
    """numpy arrays of every protocol, object arrays, and a Python 2 pickle (str data under
    encoding latin1, as UCF101v2-GT.pkl is) pass the shape checks as plain ndarrays."""
    path = tmp_path / "a.pkl"
    value = {
        "u16": np.arange(6, dtype=np.uint16).reshape(2, 3),
        "objects": np.array([[1, "x"]], dtype=object),
        "nested": [(np.ones(2),)],
    }
    for protocol in (2, 3, 5):
        path.write_bytes(pickle.dumps(value, protocol=protocol))
        loaded = load_pickle(path, encoding="latin1")
        assert type(loaded["u16"]) is np.ndarray and loaded["u16"].tolist() == [
            [0, 1, 2],
            [3, 4, 5],
        ]
        assert loaded["objects"].tolist() == [[1, "x"]]
        assert type(loaded["nested"][0][0]) is np.ndarray
    # Hand-written Python 2 protocol-2 pickle of np.arange(3, dtype=uint16): data as a str.
    python2 = (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
        b"(K\x01K\x03\x85cnumpy\ndtype\nU\x02u2K\x00K\x01\x87R(K\x03U\x01<NNNJ\xff\xff\xff\xff"
        b"J\xff\xff\xff\xffK\x00tb\x89U\x06\x00\x00\x01\x00\x02\x00tb."
    )
    path.write_bytes(python2)
    loaded = load_pickle(path, encoding="latin1")
    assert type(loaded) is np.ndarray and loaded.dtype == np.uint16 and loaded.tolist() == [0, 1, 2]
