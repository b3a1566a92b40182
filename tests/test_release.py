"""Release bundles from a real smoke-sized workflow run (rules build_release / verify_release):
verify passes, tampering is named, rebuilds are byte-identical, the loader reproduces the workflow's
own predictions, and the ALBAR / StillMix importers round-trip our items through their official
layouts (written here by small generators of those layouts)."""

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.config import load_config
from benchmark.release.__main__ import main as release_main
from benchmark.release.bundle import build_bundle
from benchmark.release.files import read_checksums
from benchmark.release.importers import (
    LayoutError,
    albar_labeller,
    import_albar,
    import_stillmix,
)
from benchmark.release.verify import verify_bundle
from benchmark.workflow import run_workflow

RELEASE_CONFIG = {
    "dataset": {
        "name": "smoke",
        "kind": "synthetic",
        "synthetic": {
            "classes": 3,
            "videos_per_class": {"train": 6, "val": 1, "test": 2},
            "frames": 8,
            "size": 48,
        },
    },
    "n_shards": 2,
    "benchmark": {
        "versions": 1,
        "variants": ["box_first", "truth"],
        "test_clip": {"frames": 4, "stride": 2},
    },
    "training": {
        "epochs": 1,
        "batch_size": 6,
        "clip": {"frames": 4, "stride": 2},
        "crop_size": 40,
        "resize": 48,
        "seeds": [0],
    },
    "runs": [{"name": "vanilla", "method": "vanilla"}],
    "report": {"after_run": False},
    "release": {"enabled": True, "archive": True, "date": "2026-12-01"},
}
BUNDLE_NAME = "smoke_bench"
BG_SOURCES = ["stripe", "plasma", "mosaic"]


@pytest.fixture(scope="session")
def workflow_dir(tmp_path_factory) -> Path:
    """One real workflow run with the release on: results/smoke/ with release/smoke_bench/."""
    workdir = tmp_path_factory.mktemp("release-workflow")
    run_workflow(workdir, RELEASE_CONFIG, cores=2)
    return workdir


@pytest.fixture()
def bundle(workflow_dir) -> Path:
    return workflow_dir / "results" / "smoke" / "release" / BUNDLE_NAME


@pytest.fixture()
def bundle_copy(bundle, tmp_path) -> Path:
    copy_dir = tmp_path / BUNDLE_NAME
    shutil.copytree(bundle, copy_dir)
    return copy_dir


def _results(workflow_dir: Path) -> Path:
    return workflow_dir / "results" / "smoke"


def _config(project_root: Path) -> dict:
    """The config the workflow ran with: config/default.yaml under the test's overrides."""
    return load_config(project_root / "config" / "default.yaml", copy.deepcopy(RELEASE_CONFIG))


# ---------------------------------------------------------------------------------------------
# build and verify


@pytest.mark.slow
def test_workflow_release_verifies(workflow_dir, bundle):
    report = json.loads((bundle.parent / f"{BUNDLE_NAME}.verify.json").read_text())
    assert report["ok"] and report["problems"] == []
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["variants"] == ["box_first", "truth"] and info["build_date"] == "2026-12-01"
    # 6 test videos x 1 version: SCUBA and SCUFO per source, Confl-FG on stripe, per variant.
    assert info["counts"]["items"] == 2 * (2 * 3 + 1) * 6 == report["items"]
    assert {s["items"] for s in info["sets"]} == {6}
    listed = read_checksums(bundle / "SHA256SUMS")
    assert "bundle.json" in listed and "README.md" in listed and "SHA256SUMS" not in listed
    for name in ("manifest.csv", "masks/truth/qc.csv", "review/summary.csv"):
        assert name in listed
    assert sum(n.startswith("masks/truth/") and n.endswith(".json.gz") for n in listed) == 6
    # Generated backgrounds ship as parameters and hashes, without their images.
    stripes = pd.read_csv(
        bundle / "backgrounds" / "stripe" / "backgrounds.csv", keep_default_na=False
    )
    assert len(stripes) == 6 and (stripes["path"] == "").all()
    assert not any(n.startswith("backgrounds/stripe/images") for n in listed)
    assert json.loads(stripes["params"].iloc[0])["half_width"] > 0
    provenance = json.loads((bundle / "provenance" / "provenance.json").read_text())
    assert provenance["project_version"] and provenance["packages"]["numpy"]
    assert provenance["build_date_source"] == "release.date"
    readme = (bundle / "README.md").read_text()
    assert "| 0 | rise |" in readme and "benchmark.scoring score" in readme
    assert "Licences and redistribution" in readme
    manifest = pd.read_csv(bundle / "manifest.csv", keep_default_na=False)
    assert (manifest["split"] == "test").all() and (manifest["path"] == "").all()


@pytest.mark.slow
def test_two_releases_of_one_build_are_byte_identical(
    workflow_dir, bundle, tmp_path, monkeypatch, project_root
):
    monkeypatch.chdir(workflow_dir)  # the config's results/ and review folders are relative
    config = _config(project_root)
    first = build_bundle(config, tmp_path / "a" / BUNDLE_NAME, log=lambda _: None)
    second = build_bundle(config, tmp_path / "b" / BUNDLE_NAME, log=lambda _: None)
    sums = (bundle / "SHA256SUMS").read_bytes()
    assert (first.path / "SHA256SUMS").read_bytes() == sums
    assert (second.path / "SHA256SUMS").read_bytes() == sums
    workflow_archive = bundle.parent / f"{BUNDLE_NAME}.tar.gz"
    assert first.archive_sha256 == second.archive_sha256
    assert first.archive.read_bytes() == workflow_archive.read_bytes()


@pytest.mark.slow
def test_the_archive_verifies_after_download(bundle, capsys):
    assert release_main(["verify", str(bundle.parent / f"{BUNDLE_NAME}.tar.gz")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "PASS" in last and "84 items decoded" in last


def _first_item(bundle: Path, protocol: str = "scuba") -> str:
    items = pd.read_csv(bundle / "bench" / "truth" / f"{protocol}-stripe" / "items.csv")
    return items["path"].iloc[0]


@pytest.mark.slow
@pytest.mark.parametrize("tamper", ["flip_byte", "delete", "add", "truncate"])
def test_verify_names_a_tampered_file(bundle_copy, tamper, capsys):
    target = _first_item(bundle_copy)
    path = bundle_copy / target
    if tamper == "flip_byte":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        expected = "altered"
    elif tamper == "delete":
        path.unlink()
        expected = "missing"
    elif tamper == "add":
        target = "bench/truth/scuba-stripe/items/extra__0.zip"
        (bundle_copy / target).write_bytes(b"not an item")
        expected = "extra file"
    else:
        path.write_bytes(path.read_bytes()[:100])
        expected = "truncated"
    report = verify_bundle(bundle_copy, log=lambda _: None)
    assert not report.ok
    assert any(p.path == target and expected in p.message for p in report.problems), report.problems
    assert release_main(["verify", str(bundle_copy), "--fast"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith(f"verify {bundle_copy}: FAIL")
    assert any(target in line for line in out[:-1])


@pytest.mark.slow
def test_verify_full_mode_catches_a_rehashed_item(bundle_copy):
    """An item replaced *and* re-listed in SHA256SUMS passes the checksums; the decoded-pixel
    check against items.csv still names it (what --fast cannot see)."""
    from benchmark.release.files import write_checksums

    scufo = _first_item(bundle_copy, "scufo")
    image = np.asarray(Image.open(bundle_copy / scufo)).copy()
    image[0, 0] = 255 - image[0, 0]
    Image.fromarray(image).save(bundle_copy / scufo)
    write_checksums(bundle_copy)
    assert verify_bundle(bundle_copy, fast=True).ok
    report = verify_bundle(bundle_copy, log=lambda _: None)
    assert [str(p) for p in report.problems] == [
        f"{scufo}: decoded pixels differ from the sha256 in items.csv"
    ]


# ---------------------------------------------------------------------------------------------
# loader


@pytest.mark.slow
def test_loader_predictions_score_as_the_workflows(workflow_dir, bundle, tmp_path):
    import torch

    from albar.benchmark_clips import BenchmarkClips, benchmark_sets, write_predictions
    from albar.data import eval_transforms
    from albar.models import model_spec
    from albar.predict import predict_probabilities
    from albar.train import augmentation, load_checkpoint, model_from_checkpoint
    from benchmark.scoring import main as metrics_main

    run = _results(workflow_dir) / "runs" / "vanilla" / "seed0"
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    model = model_from_checkpoint(checkpoint, run / "checkpoint.pt")
    training = checkpoint["training"]
    aug = augmentation(training, model_spec(checkpoint["model_info"]["name"]))

    def prep(clip: torch.Tensor) -> torch.Tensor:  # (T, 3, H, W) uint8 -> (V, 3, T, S, S)
        return eval_transforms(clip.permute(0, 2, 3, 1).numpy(), aug, training["test_crops"])

    sets = benchmark_sets(bundle)
    assert len(sets) == 14 and sets[0] == "box_first/scuba-mosaic"
    mine = tmp_path / "runs" / "vanilla" / "seed0"
    for name in sets:
        data = BenchmarkClips(bundle, name, transform=prep)
        probs = predict_probabilities(
            model, data, training["predict_batch_size"], torch.device("cpu")
        )
        write_predictions(mine, name, data.item_ids, probs, data.static)
        theirs = pd.read_csv(run / "pred" / f"{name}.csv").set_index("item_id")
        ours = pd.read_csv(mine / "pred" / f"{name}.csv").set_index("item_id")
        pd.testing.assert_frame_equal(ours.loc[theirs.index], theirs)
    shutil.copyfile(run / "metrics.json", mine / "metrics.json")
    args = ["score", "--no-iid", "--bootstrap-samples", "200"]
    assert (
        metrics_main(
            [
                *args,
                "--bench-dir",
                str(bundle),
                "--run",
                f"vanilla={mine.parent}",
                "--out",
                str(tmp_path / "ours"),
            ]
        )
        == 0
    )
    assert (
        metrics_main(
            [
                *args,
                "--bench-dir",
                str(_results(workflow_dir)),
                "--variants",
                "box_first",
                "truth",
                "--run",
                f"vanilla={run.parent}",
                "--out",
                str(tmp_path / "theirs"),
            ]
        )
        == 0
    )
    for table in ("summary.csv", "per_source.csv"):
        ours = pd.read_csv(tmp_path / "ours" / table).sort_values(["variant", "run"], kind="stable")
        theirs = pd.read_csv(tmp_path / "theirs" / table).sort_values(
            ["variant", "run"], kind="stable"
        )
        pd.testing.assert_frame_equal(ours.reset_index(drop=True), theirs.reset_index(drop=True))
    assert pd.read_csv(tmp_path / "ours" / "summary.csv")["iid"].isna().all()


# ---------------------------------------------------------------------------------------------
# importers: generators of the official layouts, from our own items


def write_albar_layout(bundle: Path, out: Path, variant: str, dataset: str = "SMOKE") -> None:
    """The official ALBAR release layout: one zip per SCUBA item, one JPEG per SCUFO item, both
    named `<video>__<k>`, in `<DATASET>_<PROTOCOL>_<Source>/` folders."""
    titles = {"stripe": "Stripe", "plasma": "Plasma", "mosaic": "Mosaic"}
    for source in BG_SOURCES:
        for protocol, title in (("scuba", "SCUBA"), ("scufo", "SCUFO"), ("conflfg", "ConflFG")):
            csv = bundle / "bench" / variant / f"{protocol}-{source}" / "items.csv"
            if not csv.exists():
                continue
            folder = out / f"{dataset}_{title}_{titles[source]}"
            folder.mkdir(parents=True)
            for row in pd.read_csv(csv).itertuples(index=False):
                name = row.item_id.removesuffix("__static")
                if protocol == "scufo":
                    still = Image.open(bundle / row.path).convert("RGB")
                    still.save(folder / f"{name}.jpg", quality=95, subsampling=0)
                else:
                    shutil.copyfile(bundle / row.path, folder / f"{name}.zip")


def write_stillmix_layout(bundle: Path, data: Path, lists: Path, variant: str) -> None:
    """The official StillMix release layout: `<set>/generated_videos/<video>__<k>/frame%06d.jpg`
    and list files `<set>/3classes/testlist01.txt` (Confl-FG: dynamic_ and static_ lists); no SCUFO."""
    import zipfile

    for protocol, source in [("scuba", s) for s in BG_SOURCES] + [("conflfg", "stripe")]:
        kind = (
            "mix_dynamic_static_same_bg" if protocol == "conflfg" else "replacebackground_with_mask"
        )
        set_name = f"{kind}_for_SMOKE_test_{source}"
        items = pd.read_csv(bundle / "bench" / variant / f"{protocol}-{source}" / "items.csv")
        for row in items.itertuples(index=False):
            folder = data / set_name / "generated_videos" / row.item_id
            folder.mkdir(parents=True)
            with zipfile.ZipFile(bundle / row.path) as archive:
                for index, member in enumerate(sorted(archive.namelist()), start=1):
                    (folder / f"frame{index:06d}.jpg").write_bytes(archive.read(member))
        list_dir = lists / set_name / "3classes"
        list_dir.mkdir(parents=True)
        lines = [f"{r.item_id} {r.frames} {r.label}\n" for r in items.itertuples(index=False)]
        if protocol == "conflfg":
            (list_dir / "dynamic_testlist01.txt").write_text("".join(lines))
            static = [
                f"{r.item_id} {r.frames} {r.static_label}\n" for r in items.itertuples(index=False)
            ]
            (list_dir / "static_testlist01.txt").write_text("".join(static))
        else:
            (list_dir / "testlist01.txt").write_text("".join(lines))


def _labels_csv(bundle: Path, path: Path) -> Path:
    manifest = pd.read_csv(bundle / "manifest.csv")
    pd.DataFrame(
        {"filename": "videos/" + manifest["video_id"] + ".avi", "label": manifest["label"]}
    ).to_csv(path, index=False)
    return path


def _items(root: Path, variant: str, protocol: str, source: str) -> pd.DataFrame:
    return pd.read_csv(root / "bench" / variant / f"{protocol}-{source}" / "items.csv")


@pytest.mark.slow
def test_albar_layout_round_trips(workflow_dir, bundle, tmp_path):
    from benchmark.scoring import main as metrics_main

    write_albar_layout(bundle, tmp_path / "albar", "truth")
    labels = _labels_csv(bundle, tmp_path / "hmdb51_labels.csv")
    result = import_albar(
        tmp_path / "albar", tmp_path / "imported", labels="csv", labels_csv=labels, variant="truth"
    )
    assert result.counts == {f"truth/{p}-{s}": 6 for p in ("scuba", "scufo") for s in BG_SOURCES}
    assert result.notes == [
        "SMOKE_ConflFG_Stripe left out: the ALBAR layout has no static-actor labels for Confl-FG"
    ]
    for source in BG_SOURCES:
        for protocol in ("scuba", "scufo"):
            ours = _items(tmp_path / "imported", "truth", protocol, source)
            original = _items(bundle, "truth", protocol, source)
            columns = ["item_id", "video_id", "version", "label", "frames", "pair_id"]
            pd.testing.assert_frame_equal(ours[columns], original[columns])
        # SCUBA pixels are the same bytes; each SCUFO JPEG is matched back to its frozen frame.
        assert list(_items(tmp_path / "imported", "truth", "scuba", source)["sha256"]) == list(
            _items(bundle, "truth", "scuba", source)["sha256"]
        )
        assert list(
            _items(tmp_path / "imported", "truth", "scufo", source)["static_frame"]
        ) == list(_items(bundle, "truth", "scufo", source)["static_frame"])
    # `score` works on it: the workflow's own predictions give the workflow's own SCUBA/SCUFO/Contra.
    run = _results(workflow_dir) / "runs" / "vanilla"
    args = [
        "score",
        "--no-iid",
        "--bootstrap-samples",
        "200",
        "--variants",
        "truth",
        "--conflfg-sources",
        "--run",
        f"vanilla={run}",
    ]
    assert (
        metrics_main(
            [*args, "--bench-dir", str(tmp_path / "imported"), "--out", str(tmp_path / "a")]
        )
        == 0
    )
    assert metrics_main([*args, "--bench-dir", str(bundle), "--out", str(tmp_path / "b")]) == 0
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "a" / "per_source.csv"),
        pd.read_csv(tmp_path / "b" / "per_source.csv"),
    )


@pytest.mark.slow
def test_albar_unpaired_item_is_a_named_error(bundle, tmp_path):
    write_albar_layout(bundle, tmp_path / "albar", "truth")
    lonely = sorted((tmp_path / "albar" / "SMOKE_SCUFO_Plasma").glob("*.jpg"))[0]
    lonely.unlink()
    labels = _labels_csv(bundle, tmp_path / "labels.csv")
    with pytest.raises(LayoutError, match=lonely.stem):
        import_albar(tmp_path / "albar", tmp_path / "imported", labels="csv", labels_csv=labels)
    assert not (tmp_path / "imported").exists()  # nothing half-written


@pytest.mark.slow
def test_stillmix_layout_round_trips(workflow_dir, bundle, tmp_path):
    from benchmark.clips import test_clip_indices
    from benchmark.scoring import main as metrics_main

    write_stillmix_layout(bundle, tmp_path / "data", tmp_path / "lists", "box_first")
    result = import_stillmix(
        tmp_path / "data",
        tmp_path / "imported",
        lists=tmp_path / "lists",
        variant="box_first",
        test_clip={"frames": 4, "stride": 2},
    )
    assert sum(result.counts.values()) == 6 * 7
    for source in BG_SOURCES:
        ours = _items(tmp_path / "imported", "box_first", "scuba", source)
        original = _items(bundle, "box_first", "scuba", source)
        for column in ("item_id", "label", "frames", "pair_id", "sha256"):
            assert list(ours[column]) == list(original[column]), column
        scufo = _items(tmp_path / "imported", "box_first", "scufo", source)
        clips = [np.unique(test_clip_indices(n, 4, 2)) for n in scufo["frames"]]
        middle = [int(clip[len(clip) // 2]) for clip in clips]
        assert list(scufo["static_frame"]) == middle and list(scufo["pair_id"]) == list(
            ours["item_id"]
        )
    conflfg = _items(tmp_path / "imported", "box_first", "conflfg", "stripe")
    original = _items(bundle, "box_first", "conflfg", "stripe")
    assert list(conflfg["static_label"]) == list(original["static_label"])
    assert list(conflfg["sha256"]) == list(original["sha256"])
    run = _results(workflow_dir) / "runs" / "vanilla"
    out = tmp_path / "tables"
    assert (
        metrics_main(
            [
                "score",
                "--no-iid",
                "--bootstrap-samples",
                "200",
                "--bench-dir",
                str(tmp_path / "imported"),
                "--run",
                f"vanilla={run}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    per_source = pd.read_csv(out / "per_source.csv")
    workflow = pd.read_csv(_results(workflow_dir) / "tables" / "per_source.csv")
    workflow = workflow[workflow["variant"] == "box_first"].set_index("bg_source")
    # SCUBA items are the same pixels, so the same predictions score the same.
    assert dict(zip(per_source["bg_source"], per_source["scuba"], strict=True)) == {
        s: workflow.at[s, "scuba"] for s in per_source["bg_source"]
    }


@pytest.mark.slow
def test_stillmix_list_entry_without_frames_is_a_named_error(bundle, tmp_path):
    write_stillmix_layout(bundle, tmp_path / "data", tmp_path / "lists", "truth")
    victim = sorted((tmp_path / "data").glob("*_test_mosaic/generated_videos/*"))[0]
    shutil.rmtree(victim)
    with pytest.raises(LayoutError, match=f"{victim.name}.*without a partner"):
        import_stillmix(tmp_path / "data", tmp_path / "imported", lists=tmp_path / "lists")


def test_ucf101_labels_come_from_the_name(tmp_path):
    label = albar_labeller("ucf101", None, None)
    assert label("v_ApplyEyeMakeup_g01_c01", tmp_path) == 0
    assert label("v_YoYo_g07_c03", tmp_path) == 100
    mapping = tmp_path / "classes.json"
    mapping.write_text(json.dumps({"classes": {"ApplyEyeMakeup": 5, "YoYo": 1}}))
    assert albar_labeller("ucf101", None, mapping)("v_YoYo_g07_c03", tmp_path) == 0
    with pytest.raises(LayoutError, match="v_NoSuchClass_g01_c01"):
        label("v_NoSuchClass_g01_c01", tmp_path)


def test_release_is_off_by_default(project_root):
    from benchmark.config import load_config

    config = load_config(project_root / "config" / "default.yaml")
    assert config["release"] == {
        "enabled": False,
        "name": None,
        "variants": None,
        "include_folder_images": False,
        "archive": False,
        "date": None,
    }


def test_folder_backgrounds_ship_ids_and_hashes_unless_asked(tmp_path):
    from benchmark.backgrounds import BackgroundSource, build_source
    from benchmark.release.bundle import _background_index
    from benchmark.release.sources import bundle_sources

    folder = tmp_path / "places"
    rng = np.random.default_rng(0)
    for name in ("sub/a.png", "b.png", "c.png"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(folder / name)
    results = tmp_path / "results"
    source = BackgroundSource("places365", "folder", str(folder))
    build_source(source, results, seed=0, video_ids=[], versions=1, extensions=[".png"])
    config = {
        "backgrounds": {"sources": [{"name": "places365", "kind": "folder", "path": str(folder)}]}
    }
    tables = {
        ("truth", "scuba", "places365"): pd.DataFrame({"background_id": ["sub/a.png", "c.png"]})
    }
    for include, out in ((False, tmp_path / "ids"), (True, tmp_path / "images")):
        assert _background_index(config, results, out, tables, include) == {"places365": 2}
        index = pd.read_csv(
            out / "backgrounds" / "places365" / "backgrounds.csv", keep_default_na=False
        )
        assert list(index["background_id"]) == ["c.png", "sub/a.png"]  # b.png is used by no item
        shipped = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
        if include:
            assert (
                list(index["path"])
                == shipped
                == [
                    "backgrounds/places365/images/c.png",
                    "backgrounds/places365/images/sub/a.png",
                ]
            )
            assert (out / shipped[1]).read_bytes() == (folder / "sub" / "a.png").read_bytes()
        else:
            assert (index["path"] == "").all() and shipped == []
    ((what, terms),) = bundle_sources("synthetic", config["backgrounds"]["sources"])[1:]
    assert what == "background 'places365'" and "places2.csail.mit.edu" in terms


def _tiny_albar_release(root: Path, name: str) -> np.ndarray:
    """One SCUBA zip and its SCUFO JPEG (frame 1 frozen) under HMDB51_*_Stripe/."""
    from benchmark.composite.item_files import write_jpeg_zip

    frames = np.random.default_rng(1).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
    write_jpeg_zip(
        root / "HMDB51_SCUBA_Stripe" / f"{name}.zip", frames, quality=95, subsampling="4:4:4"
    )
    (root / "HMDB51_SCUFO_Stripe").mkdir()
    Image.fromarray(frames[1]).save(
        root / "HMDB51_SCUFO_Stripe" / f"{name}.jpg", quality=95, subsampling=0
    )
    return frames


def test_albar_import_keeps_hmdb51_names_and_sanitises_ids(tmp_path):
    video = "Pirates_of_the_Caribbean_(1)_brush_hair_h_cm_np1_le_goo_0"
    _tiny_albar_release(tmp_path / "bias", f"{video}__0")
    labels = tmp_path / "hmdb51_labels.csv"
    pd.DataFrame({"filename": [f"brush_hair/{video}.avi"], "label": [3]}).to_csv(
        labels, index=False
    )
    import_albar(tmp_path / "bias", tmp_path / "out", labels="csv", labels_csv=labels)
    scuba = _items(tmp_path / "out", "albar", "scuba", "stripe").iloc[0]
    scufo = _items(tmp_path / "out", "albar", "scufo", "stripe").iloc[0]
    assert scuba["video_id"] == "Pirates_of_the_Caribbean_1_brush_hair_h_cm_np1_le_goo_0"
    assert (scuba["item_id"], scuba["pair_id"]) == (scufo["pair_id"], scufo["item_id"])
    assert scuba["label"] == scufo["label"] == 3 and scuba["frames"] == scufo["frames"] == 4
    assert scufo["static_frame"] == 1 and scuba["background_id"] == "unknown"


def test_albar_scufo_folder_is_a_named_error(tmp_path):
    _tiny_albar_release(tmp_path / "bias", "v_YoYo_g01_c01__0")
    (tmp_path / "bias" / "HMDB51_SCUFO_Stripe" / "v_YoYo_g01_c02__0").mkdir()
    with pytest.raises(LayoutError, match=r"v_YoYo_g01_c02__0: a folder where"):
        import_albar(tmp_path / "bias", tmp_path / "out", labels="ucf101")


@pytest.mark.slow
def test_the_documented_torchvision_example_writes_files_score_reads(
    bundle, tmp_path, monkeypatch, project_root
):
    """docs/score-released.md's ten lines, run on the smoke bundle with an untrained r3d_18 (no
    download here); `score` must accept what they write."""
    import re

    from benchmark.scoring import main as metrics_main

    page = (project_root / "docs" / "score-released.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(code.strip().splitlines()) <= 11  # ten lines of code and one blank line
    code = code.replace("r3d_18(weights=weights)", "r3d_18(weights=None)")
    code = code.replace('"ucf101_bench"', repr(str(bundle)))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "score-released.md", "exec"), {})
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.csv"))
    assert (
        len(written) == 14 and written[0] == "my_runs/r3d/seed0/pred/box_first/conflfg-stripe.csv"
    )
    out = tmp_path / "tables"
    run = ["score", "--no-iid", "--bootstrap-samples", "100", "--bench-dir", str(bundle)]
    assert (
        metrics_main([*run, "--run", f"r3d={tmp_path / 'my_runs' / 'r3d'}", "--out", str(out)]) == 0
    )
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 and summary["scuba_avg"].between(0, 100).all()
