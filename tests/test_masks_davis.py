"""DAVIS palette-PNG export of a mask file (`python -m benchmark.masks export-davis`)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmark.masks import (
    actor_masks_from_arrays,
    export_davis,
    main,
    voc_palette,
    write_actor_masks,
)


def test_voc_palette_matches_the_pascal_colour_map():
    palette = voc_palette()
    assert palette.shape == (256, 3)
    assert palette[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert palette[255].tolist() == [224, 224, 192]  # the void colour


def test_export_writes_one_palette_png_per_frame_with_object_ids(tmp_path, capsys):
    first = np.zeros((3, 8, 10), dtype=bool)
    second = np.zeros((3, 8, 10), dtype=bool)
    first[:, 1:4, 1:4] = True
    second[1:, 3:7, 3:9] = True  # overlaps the first actor at (3, 3); absent on frame 0
    masks = actor_masks_from_arrays("clip_1", "sam", {0: first, 2: second})
    paths = export_davis(masks, tmp_path / "direct")
    assert [p.name for p in paths] == ["00000.png", "00001.png", "00002.png"]
    image = Image.open(paths[1])
    assert image.mode == "P" and image.size == (10, 8)
    labels = np.array(image)
    assert set(np.unique(labels)) == {0, 1, 3}  # actor a -> object a + 1
    assert labels[2, 2] == 1 and labels[3, 3] == 3 and labels[6, 8] == 3 and labels[0, 0] == 0
    assert set(np.unique(np.array(Image.open(paths[0])))) == {0, 1}
    assert image.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
    source = tmp_path / "masks" / "sam"
    write_actor_masks(source / "clip_1.json.gz", masks)
    assert main(["export-davis", str(source), "--out", str(tmp_path / "cli")]) == 0
    assert "1 videos, 3 frames" in capsys.readouterr().out
    exported = np.array(Image.open(tmp_path / "cli" / "clip_1" / "00002.png"))
    assert np.array_equal(exported, np.array(Image.open(paths[2])))
