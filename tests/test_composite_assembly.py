"""SCUBA / SCUFO / Confl-FG assembly on a tiny synthetic dataset, in process: counts, pairing, the
box-vs-mask leak, exports, and the errors for bad inputs."""

import shutil

import numpy as np
import pandas as pd
import pytest

from benchmark import exports
from benchmark.atomic import write_csv_atomic
from benchmark.backgrounds import (
    build_source,
    configured_sources,
    split_video_ids,
    stripe_source_versions,
)
from benchmark.clips import test_clip_indices as clip_indices
from benchmark.composite.collect import _read_shard_tables, collect_items
from benchmark.composite.errors import AssemblyError, ItemCollisionError
from benchmark.composite.protocols import run_conflfg_shard, run_scuba_shard, run_scufo_shard
from benchmark.config import results_dir, validate_config
from benchmark.ids import shard_name, shard_of
from benchmark.ingest import run_ingest
from benchmark.layout import ItemSet
from benchmark.manifest import read_boxes, read_manifest
from benchmark.masks import (
    actor_masks_from_arrays,
    box_masks,
    mask_path,
    read_actor_masks,
    write_actor_masks,
)
from benchmark.table_files import read_items
from benchmark.video import read_image, read_video
from tests.test_review_server import _tree

VERSIONS = 2
SOURCES = 3


def build_inputs(
    root,
    n_shards: int,
    *,
    versions: int = VERSIONS,
    on_error: str = "fail",
    sources: list | None = None,
    frames: int = 8,
    size: int = 48,
    item_format: str = "jpeg_zip",
) -> dict:
    """Tiny synthetic dataset + box_first masks + the review gate (every test video approved)."""
    config = validate_config(
        {
            "results": str(root),
            "n_shards": n_shards,
            "on_error": on_error,
            "dataset": {
                "name": "tiny",
                "kind": "synthetic",
                "synthetic": {
                    "classes": 3,
                    "videos_per_class": {"train": 1, "val": 1, "test": 2},
                    "frames": frames,
                    "size": size,
                },
            },
            "benchmark": {
                "variants": ["box_first", "truth"],
                "versions": versions,
                "item_format": item_format,
            },
            **({"backgrounds": {"sources": sources}} if sources else {}),
        }
    )
    run_ingest(config)
    results = results_dir(config)
    manifest = read_manifest(results / "manifest.csv")
    boxes = read_boxes(results / "boxes.parquet")
    shas = {}
    for row in manifest.itertuples():
        masks = box_masks(
            row.video_id,
            boxes[boxes.video_id == row.video_id],
            row.num_frames,
            row.height,
            row.width,
        )
        shas[row.video_id] = write_actor_masks(
            mask_path(results / "masks", "box_first", row.video_id), masks
        )
    write_mask_index(results, "box_first", shas, n_shards)
    write_csv_atomic(
        results / "review" / "approved.csv", manifest.loc[manifest.split == "test", ["video_id"]]
    )
    return config


def write_mask_index(results, source, shas, n_shards):
    rows = pd.DataFrame(sorted(shas.items()), columns=["video_id", "mask_sha256"])
    for k in range(n_shards):
        part = rows[[shard_of(v, n_shards) == k for v in rows.video_id]]
        write_csv_atomic(results / "masks" / source / "shards" / f"{shard_name(k)}.csv", part)


def build_backgrounds(config):
    results = results_dir(config)
    for source in configured_sources(config):
        build_source(
            source,
            results,
            seed=config["seed"],
            video_ids=split_video_ids(results),
            versions=stripe_source_versions(config, source),
            extensions=config["backgrounds"]["image_extensions"],
        )


def run_assembly(config, threads=1, variants=None):
    for variant in variants or config["benchmark"]["variants"]:
        for k in range(config["n_shards"]):
            run_scuba_shard(config, variant, shard_name(k), threads)
            run_scufo_shard(config, variant, shard_name(k), threads)
            run_conflfg_shard(config, variant, shard_name(k), threads)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    config = build_inputs(tmp_path_factory.mktemp("assembly"), n_shards=2)
    build_backgrounds(config)
    run_assembly(config)
    collect_items(config)
    return config


def _items(config, variant, protocol, source):
    return read_items(ItemSet(protocol, variant, source).items_path(results_dir(config)))


def test_counts_are_videos_times_versions_times_sources(built):
    results = results_dir(built)
    videos = split_video_ids(results)
    assert len(videos) == 6
    for variant in ("box_first", "truth"):
        scuba = pd.concat(
            _items(built, variant, "scuba", s) for s in ("stripe", "plasma", "mosaic")
        )
        scufo = pd.concat(
            _items(built, variant, "scufo", s) for s in ("stripe", "plasma", "mosaic")
        )
        assert len(scuba) == len(scufo) == len(videos) * VERSIONS * SOURCES
        assert len(_items(built, variant, "conflfg", "stripe")) == len(videos)
        for path in scuba["path"]:
            assert (results / path).exists()
    assert pd.read_csv(results / "bench" / "skipped.csv").empty


def test_scuba_and_scufo_pair_one_to_one_and_scufo_is_a_decoded_scuba_frame(built):
    results = results_dir(built)
    clip = built["benchmark"]["test_clip"]
    for source in ("stripe", "mosaic"):
        scuba = _items(built, "truth", "scuba", source).set_index("item_id")
        scufo = _items(built, "truth", "scufo", source).set_index("item_id")
        assert sorted(scuba["pair_id"]) == sorted(scufo.index)
        assert sorted(scufo["pair_id"]) == sorted(scuba.index)
        for _, row in scufo.iterrows():
            partner = scuba.loc[row["pair_id"]]
            assert (
                row["frames"] == partner["frames"] and row["first_frame"] == partner["first_frame"]
            )
            assert row["background_id"] == partner["background_id"]
            decoded, _ = read_video(results / partner["path"])
            still = read_image(results / row["path"])  # one frame: constant in time at load
            assert still.ndim == 3
            assert np.array_equal(still, decoded[row["static_frame"]])
            assert row["static_frame"] in clip_indices(
                row["frames"], clip["frames"], clip["stride"]
            )


def test_variants_share_backgrounds_and_frames_and_differ_only_in_mask(built):
    for source in ("stripe", "plasma"):
        box = _items(built, "box_first", "scuba", source)
        truth = _items(built, "truth", "scuba", source)
        columns = ["item_id", "background_id", "frames", "first_frame", "label"]
        pd.testing.assert_frame_equal(box[columns], truth[columns])
        assert (box["sha256"] != truth["sha256"]).all()


def test_box_first_keeps_context_object_pixels_that_truth_removes(built):
    """The synthetic context object sits inside the box, outside the actor: rectangles leak it."""
    results = results_dir(built)
    manifest = read_manifest(results / "manifest.csv").set_index("video_id")
    error = {}
    for variant in ("box_first", "truth"):
        diffs = []
        for row in _items(built, variant, "scuba", "stripe").itertuples():
            source, _ = read_video(manifest.at[row.video_id, "path"])
            context = read_actor_masks(
                mask_path(results / "masks", "context", row.video_id)
            ).foreground()
            item, _ = read_video(results / row.path)
            window = slice(row.first_frame, row.first_frame + row.frames)
            where = context[window]
            if where.any():
                diffs.append(np.abs(item.astype(int) - source[window].astype(int))[where].mean())
        error[variant] = float(np.mean(diffs))
    assert error["box_first"] < 12  # the context object's own pixels (JPEG noise only)
    assert error["truth"] > 3 * error["box_first"]  # replaced by background


def test_conflfg_pastes_an_actor_of_another_class(built):
    manifest = read_manifest(results_dir(built) / "manifest.csv").set_index("video_id")
    items = _items(built, "truth", "conflfg", "stripe")
    assert (items["static_label"] != items["label"]).all()
    assert (
        manifest.loc[items["static_video_id"], "label"].to_numpy()
        == items["static_label"].to_numpy()
    ).all()
    # Same partner in every variant (the partner choice never depends on the mask source).
    box = _items(built, "box_first", "conflfg", "stripe")
    assert box["static_video_id"].tolist() == items["static_video_id"].tolist()
    stripe = _items(built, "truth", "scuba", "stripe").set_index("item_id")
    assert (
        items.set_index("item_id")["background_id"] == stripe.loc[items["item_id"], "background_id"]
    ).all()


def test_exports_mmaction2_and_albar_verify(built):
    results = results_dir(built)
    assert exports.export(built, "truth", "mmaction2") == 6 * 2 * 3 * 2 + 6
    assert exports.verify(built, "truth", "mmaction2") == {
        "variant": "truth",
        "items": 78,
        "lists": 7,
    }
    lines = (results / "exports/mmaction2/truth/scufo-stripe.txt").read_text().splitlines()
    first_id, frames, label = lines[0].split()
    folder = results / "exports/mmaction2/truth/scufo-stripe" / first_id
    assert sorted(p.name for p in folder.iterdir()) == [
        f"img_{i:05d}.png" for i in range(1, int(frames) + 1)
    ]
    assert exports.export(built, "truth", "albar") == 6 * 2 * 3 * 2 + 6
    report = exports.verify_albar(built, "truth")
    assert report["pairs"] == 36 and report["conflfg"] == 6 and report["min_scufo_psnr_db"] > 30
    assert report["label_rule"] == "hmdb51"  # a dataset with a labels file
    # SCUFO entries are single JPEG files, as the loader's torchvision.io.read_image needs
    scufo_dir = results / "exports/albar/truth/TINY_SCUFO_Stripe"
    entries = sorted(scufo_dir.iterdir())
    assert entries and all(p.is_file() and p.suffix == ".jpg" for p in entries)
    # A SCUFO entry that pairs with the wrong SCUBA zip by sorted name is caught.
    entries[0].rename(scufo_dir / "zz_misplaced.jpg")
    with pytest.raises(AssemblyError, match="position 0|no items of"):
        exports.verify_albar(built, "truth")


def test_exports_write_the_same_bytes_with_threads_and_verify_reports_the_first_problem(
    tmp_path,
):
    """Both exports of mp4 items (the decoding path) and the ALBAR verification, one item at a
    time and three at a time: the same files byte for byte and the same report; a broken export
    is reported at the first broken entry in the loader's order however many threads decode."""
    config = build_inputs(tmp_path / "mp4", n_shards=1, versions=1, item_format="mp4")
    build_backgrounds(config)
    run_assembly(config)
    collect_items(config)
    out = results_dir(config) / "exports"
    trees, reports = [], []
    for threads in (1, 3):
        shutil.rmtree(out, ignore_errors=True)
        assert exports.export(config, "truth", "mmaction2", threads) == 6 * 3 * 2 + 6
        assert exports.export(config, "truth", "albar", threads) == 6 * 3 * 2 + 6
        reports.append(exports.verify(config, "truth", "albar", threads))
        trees.append(_tree(out))
    assert len(trees[0]) > 6 * 3 * 2 * 8  # the rawframes of every SCUBA item, at least
    assert trees[0] == trees[1]
    assert reports[0] == reports[1]
    assert reports[0]["pairs"] == 18 and reports[0]["conflfg"] == 6
    zips = sorted((out / "albar/truth/TINY_SCUBA_Stripe").iterdir())
    for broken in (zips[3], zips[1]):  # the later one first: the order found must not matter
        broken.write_bytes(broken.read_bytes()[:100])
    for threads in (1, 3):
        with pytest.raises(AssemblyError, match=f"{zips[1].name}: the loader cannot read"):
            exports.verify(config, "truth", "albar", threads)


def test_mmaction2_verify_reads_the_lists_as_rawframedataset(built, tmp_path):
    config = {**built, "results": str(tmp_path)}
    shutil.copytree(
        results_dir(built), results_dir(config), ignore=shutil.ignore_patterns("exports")
    )
    exports.export(config, "truth", "mmaction2")
    lists = results_dir(config) / "exports/mmaction2/truth"
    path = lists / "scuba-stripe.txt"
    lines = path.read_text().splitlines()
    item_id, frames, label = lines[0].split()
    path.write_text("\n".join([f"{item_id} {frames} {(int(label) + 1) % 3}", *lines[1:]]) + "\n")
    with pytest.raises(AssemblyError, match=f"{item_id} has {frames} frames / label"):
        exports.verify_mmaction2(config, "truth")
    path.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(AssemblyError, match="does not list each item"):
        exports.verify_mmaction2(config, "truth")
    path.write_text("\n".join(lines) + "\n")
    (lists / "scuba-stripe" / item_id / "img_00002.jpg").unlink()
    with pytest.raises(AssemblyError, match="RawframeDataset reads"):
        exports.verify_mmaction2(config, "truth")


# Original-name styles of the two real datasets; HMDB51's names carry `#()!&,` (and `;'`).
HMDB51_NAMES = [
    "#122_Cleaning_Up_The_Beach_(Part_2)!_hit_f_nm_np1_le_bad_0",
    "Prelinger_ActYourA1949_(fight),_drink_&_smoke_u_cm_np2_fr_med_3",
    "Bubble_Blowing_Contest!!_smile_h_nm_np1_fr_goo_1",
    "Faith_Rewarded_&_#9_kiss_(f)_u_cm_np2_ri_med_0",
    "How_to_Stop_a_Rear_Choke_Hold_,_climb_f_cm_np1_ba_bad_2",
    "THE_PROTECTOR_kick_f_cm_np1_fr_med_13",
]


def _renamed_copy(built, tmp_path, dataset, name_of):
    """A copy of the fixture whose manifest gives the test videos real-dataset original names."""
    config = {**built, "results": str(tmp_path)}
    config["benchmark"] = {
        **built["benchmark"],
        "exports": {**built["benchmark"]["exports"], "albar_dataset": dataset},
    }
    shutil.copytree(
        results_dir(built), results_dir(config), ignore=shutil.ignore_patterns("exports")
    )
    path = results_dir(config) / "manifest.csv"
    manifest = pd.read_csv(path, dtype=str, keep_default_na=False)
    test = manifest["split"] == "test"
    manifest.loc[test, "source_name"] = [
        name_of(i, row) for i, row in enumerate(manifest[test].itertuples())
    ]
    manifest.to_csv(path, index=False)
    return config


def test_albar_export_keeps_hmdb51_names_and_the_loader_finds_every_label(built, tmp_path):
    config = _renamed_copy(
        built, tmp_path, "HMDB51", lambda i, row: f"{row.label_name}/{HMDB51_NAMES[i]}.avi"
    )
    exports.export(config, "truth", "albar")
    report = exports.verify_albar(config, "truth")
    assert report["pairs"] == 36 and report["conflfg"] == 6 and report["label_rule"] == "hmdb51"
    out = results_dir(config) / "exports/albar/truth"
    manifest = read_manifest(results_dir(config) / "manifest.csv").set_index("video_id")
    label_of_name = {
        s.split("/")[-1]: int(k)
        for s, k in zip(manifest["source_name"], manifest["label"], strict=True)
    }
    index = pd.read_csv(out / "index.csv", dtype=str, keep_default_na=False)
    folders = sorted(index["folder"].unique())
    assert len(folders) == 7 and all(f.startswith("HMDB51_") for f in folders)
    for folder in folders:
        names = sorted(p.name for p in (out / folder).iterdir())
        assert len(names) == (6 if "ConflFG" in folder else 12)  # one Confl-FG version
        for name in names:  # the loader's rule, spelled out: basename[:-7] + ".avi"
            assert name[-7:-5] == "__" and name[-4:] in (".zip", ".jpg")
            assert name[:-7] + ".avi" in label_of_name
    scuba = _items(config, "truth", "scuba", "stripe").set_index("item_id")
    for row in index[index.folder == "HMDB51_SCUBA_Stripe"].itertuples():
        assert label_of_name[row.entry[:-7] + ".avi"] == scuba.at[row.item_id, "label"]
    # the old, sanitised names are not in the loader's labels file
    first = sorted((out / "HMDB51_SCUBA_Stripe").iterdir())[0]
    sanitised = first.with_name(first.name.replace("#", "_").replace("(", "_"))
    assert sanitised != first
    first.rename(sanitised)
    renamed = (index.folder == "HMDB51_SCUBA_Stripe") & (index.entry == first.name)
    index.loc[renamed, "entry"] = sanitised.name
    index.to_csv(out / "index.csv", index=False)
    with pytest.raises(AssemblyError, match="finds no label"):
        exports.verify_albar(config, "truth")


def test_albar_export_ucf101_names_give_the_class_mapping_label(built, tmp_path):
    def ucf_name(i, row):
        return f"{row.label_name}/v_{row.label_name}_g0{i + 1}_c01.avi"

    config = _renamed_copy(built, tmp_path, "UCF101", ucf_name)
    exports.export(config, "truth", "albar")
    report = exports.verify_albar(config, "truth")
    assert report["pairs"] == 36 and report["label_rule"] == "ucf101"
    names = sorted(
        p.name for p in (results_dir(config) / "exports/albar/truth/UCF101_SCUFO_Stripe").iterdir()
    )
    assert names[0].startswith("v_") and names[0].endswith("__0.jpg")
    # a mislabelled item (the name's class is not the item's) is caught
    csv = ItemSet("conflfg", "truth", "stripe").items_path(results_dir(config))
    items = pd.read_csv(csv, keep_default_na=False)
    items.loc[0, "label"] = (items.loc[0, "label"] + 1) % 3
    write_csv_atomic(csv, items)
    with pytest.raises(AssemblyError, match="loader reads label"):
        exports.verify_albar(config, "truth")


def test_albar_label_rules_as_the_loader_reads_names():
    manifest = pd.DataFrame(
        {
            "video_id": ["v_HandStandPushups_g01_c01", "hit_a"],
            "source_name": [
                "HandstandPushups/v_HandStandPushups_g01_c01",
                "hit/#122_Cleaning_Up_The_Beach_(Part_2)!_hit_f_nm_np1_le_bad_0.avi",
            ],
            "label": [36, 3],
            "label_name": ["HandstandPushups", "hit"],
        }
    )
    ucf = exports.albar_label_table("ucf101", manifest)
    path = "/data/bias/UCF101_SCUBA_Stripe/v_HandStandPushups_g01_c01__3.zip"
    assert exports.albar_label(path, "ucf101", ucf) == 36  # the video names' own spelling
    hmdb = exports.albar_label_table("hmdb51", manifest)
    name = "#122_Cleaning_Up_The_Beach_(Part_2)!_hit_f_nm_np1_le_bad_0"
    assert exports.albar_label(f"/b/HMDB51_SCUFO_Stripe/{name}__4.jpg", "hmdb51", hmdb) == 3
    with pytest.raises(KeyError):  # a sanitised id is not in the labels file
        exports.albar_label("/b/HMDB51_SCUBA_Stripe/122_Cleaning_Up__4.zip", "hmdb51", hmdb)


def test_albar_export_removes_stale_entries_and_rejects_two_digit_versions(built, tmp_path):
    config = {**built, "results": str(tmp_path)}
    shutil.copytree(
        results_dir(built), results_dir(config), ignore=shutil.ignore_patterns("exports")
    )
    stale = results_dir(config) / "exports/albar/truth/TINY_SCUFO_Stripe/old_item__0__static"
    stale.mkdir(parents=True)
    (stale / "img_00001.jpg").write_bytes(b"")
    exports.export(config, "truth", "albar")
    assert not stale.exists()
    assert exports.verify_albar(config, "truth")["pairs"] == 36
    names = {"v": "v"}
    assert exports.albar_entry(names, "v", 9, "scufo") == "v__9.jpg"
    with pytest.raises(AssemblyError, match="one-digit versions"):
        exports.albar_entry(names, "v", 10, "scuba")


def test_item_id_collision_between_shards_names_both_files(built, tmp_path):
    results = results_dir(built)
    shards = results / "bench" / "truth" / "shards" / "scuba"
    copy = tmp_path / "bench" / "truth" / "shards" / "scuba"
    copy.mkdir(parents=True)
    shutil.copy(shards / "shard-000.csv", copy / "shard-000.csv")
    shutil.copy(shards / "shard-000.csv", copy / "shard-001.csv")
    with pytest.raises(ItemCollisionError, match="shard-000.csv and .*shard-001.csv"):
        _read_shard_tables(tmp_path, "truth", "scuba", 2)


def _bad_variant(built, tmp_path, mutate, on_error="fail"):
    """A copy of the fixture whose `sam` masks are the truth masks, one of them damaged."""
    config = {**built, "results": str(tmp_path), "on_error": on_error}
    source, target = results_dir(built), results_dir(config)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("bench", "exports"))
    videos = split_video_ids(target)
    shas = {}
    for video_id in videos:
        masks = read_actor_masks(mask_path(target / "masks", "truth", video_id))
        fg = masks.foreground()
        if video_id == videos[0]:
            fg = mutate(fg)
        written = actor_masks_from_arrays(
            video_id, "sam", {0: fg}, present={0: np.ones(len(fg), bool)}
        )
        shas[video_id] = write_actor_masks(mask_path(target / "masks", "sam", video_id), written)
    write_mask_index(target, "sam", shas, config["n_shards"])
    return config, videos[0], shard_name(shard_of(videos[0], config["n_shards"]))


def test_mask_size_mismatch_is_an_error_naming_the_mask_file(built, tmp_path):
    config, video, shard = _bad_variant(built, tmp_path, lambda fg: fg[:, :-2, :])
    with pytest.raises(AssemblyError, match=rf"masks/sam/{video}.json.gz: mask size 48x46 differs"):
        run_scuba_shard(config, "sam", shard)


def test_mask_frame_count_mismatch_is_an_error_and_skip_records_it(built, tmp_path):
    config, video, shard = _bad_variant(built, tmp_path, lambda fg: fg[:-1])
    with pytest.raises(
        AssemblyError, match=rf"masks/sam/{video}.json.gz: 7 mask frames but .*decodes to 8"
    ):
        run_scuba_shard(config, "sam", shard)
    config["on_error"] = "skip"
    table = run_scuba_shard(config, "sam", shard)
    assert video not in set(table["video_id"]) and len(table) > 0
    skipped = pd.read_csv(results_dir(config) / "bench/sam/shards/scuba" / f"{shard}.skipped.csv")
    assert skipped[["video_id", "mask_source", "stage"]].values.tolist() == [
        [video, "sam", "composite"]
    ]
