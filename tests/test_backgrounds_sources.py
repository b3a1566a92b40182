"""Image-folder sources and the procedural scene families of the synthetic default."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.backgrounds import (
    BackgroundError,
    BackgroundLibrary,
    BackgroundSource,
    build_source,
    generate_background,
    index_image_folder,
    read_backgrounds_table,
)
from benchmark.datasets.synthetic import SCENE_FAMILIES
from benchmark.table_files import TableError

EXTENSIONS = [".jpg", ".png"]


def _folder(tmp_path):
    folder = tmp_path / "places"
    (folder / "sub").mkdir(parents=True)
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(folder / "a.png")
    rgba = np.dstack([rgb, np.full((20, 30), 7, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(folder / "sub" / "b.png")
    Image.fromarray(rgb[..., 0]).save(folder / "gray.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("ignored")
    return folder, rgb


def test_folder_index_rejects_grayscale_and_unreadable_and_cuts_rgba(tmp_path):
    folder, rgb = _folder(tmp_path)
    table, rejected = index_image_folder(folder, "places", EXTENSIONS)
    assert table["background_id"].tolist() == ["a.png", "sub/b.png"]
    reasons = dict(
        zip(rejected["path"].map(lambda p: p.split("/")[-1]), rejected["reason"], strict=True)
    )
    assert reasons["gray.png"].startswith("grayscale") and reasons["broken.jpg"].startswith(
        "unreadable"
    )
    # RGBA is cut to RGB (alpha dropped, not blended): same pixels, same sha256 as the RGB file.
    assert table["sha256"].iloc[0] == table["sha256"].iloc[1]


def test_folder_without_usable_image_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "empty_source"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "gray.png")
    with pytest.raises(BackgroundError, match="empty_source.*no usable image"):
        index_image_folder(folder, "vqgan", EXTENSIONS)
    with pytest.raises(BackgroundError, match="not found"):
        index_image_folder(tmp_path / "missing", "vqgan", EXTENSIONS)


def test_folder_draws_are_seeded_per_item_and_changed_files_are_detected(tmp_path):
    folder, _ = _folder(tmp_path)
    source = BackgroundSource("places", "folder", str(folder))
    build_source(source, tmp_path / "res", seed=1, video_ids=[], versions=1, extensions=EXTENSIONS)
    table = read_backgrounds_table(tmp_path / "res" / "backgrounds" / "places" / "backgrounds.csv")
    library = BackgroundLibrary(source, table, tmp_path / "res", seed=1)
    draws = [library.background_id(f"v{i}", k) for i in range(20) for k in range(3)]
    assert set(draws) == {"a.png", "sub/b.png"}
    assert draws == [
        BackgroundLibrary(source, table, tmp_path / "res", 1).background_id(f"v{i}", k)
        for i in range(20)
        for k in range(3)
    ]
    assert library.image("a.png").shape == (20, 30, 3)
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(folder / "a.png")
    with pytest.raises(BackgroundError, match="a.png.*changed"):
        BackgroundLibrary(source, table, tmp_path / "res", seed=1).image("a.png")


@pytest.mark.parametrize("kind", ["plasma", "mosaic"])
def test_procedural_families_are_seeded_colourful_and_not_training_families(kind):
    assert kind not in SCENE_FAMILIES
    image, params = generate_background(kind, 0, kind, "vid", 0)
    again, _ = generate_background(kind, 0, kind, "vid", 0)
    other, _ = generate_background(kind, 0, kind, "vid", 1)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    assert np.array_equal(image, again) and not np.array_equal(image, other)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) >= 12  # not a two-colour periodic pattern
    assert kind in params


def test_generated_source_writes_one_image_per_item_with_validated_table(tmp_path):
    source = BackgroundSource("stripe", "stripe")
    table = build_source(
        source, tmp_path, seed=0, video_ids=["b", "a"], versions=2, extensions=EXTENSIONS
    )
    assert table["background_id"].tolist() == ["a__0", "a__1", "b__0", "b__1"]
    back = read_backgrounds_table(tmp_path / "backgrounds" / "stripe" / "backgrounds.csv")
    pd.testing.assert_frame_equal(back, table)
    assert (tmp_path / back["path"].iloc[0]).exists()
    bad = back.assign(sha256="xyz")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(TableError, match="bad.csv.*row 2.*sha256"):
        read_backgrounds_table(tmp_path / "bad.csv")
