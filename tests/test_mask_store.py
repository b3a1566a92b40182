import gzip

import numpy as np
import pandas as pd
import pytest

from benchmark.masks import (
    MaskFileError,
    actor_masks_from_arrays,
    box_masks,
    decode_rle,
    encode_mask,
    mask_sha256,
    read_actor_masks,
    write_actor_masks,
)


def two_actor_masks():
    a = np.zeros((3, 12, 16), bool)
    b = np.zeros((3, 12, 16), bool)
    a[:, 2:6, 3:7] = True
    b[1:, 7:10, 10:15] = True
    return {0: a, 1: b}


def test_rle_round_trip_and_union(tmp_path):
    arrays = two_actor_masks()
    masks = actor_masks_from_arrays(
        "v1", "truth", arrays, scores={0: np.full(3, 0.9), 1: np.full(3, 0.5)}
    )
    assert [sorted(f) for f in masks.frames] == [[0], [0, 1], [0, 1]]
    sha = write_actor_masks(tmp_path / "v1.json.gz", masks)
    again = read_actor_masks(tmp_path / "v1.json.gz")
    assert np.array_equal(again.foreground(), arrays[0] | arrays[1])
    assert again.frames[1][1][1] == pytest.approx(0.5)
    assert mask_sha256(again) == sha
    assert np.array_equal(decode_rle(encode_mask(arrays[1][2])), arrays[1][2])


def test_sha_ignores_provenance_and_compression_but_not_pixels(tmp_path):
    arrays = two_actor_masks()
    base = actor_masks_from_arrays("v1", "sam", arrays, provenance={"model": "vit_b"})
    other = actor_masks_from_arrays("v1", "sam", arrays, provenance={"model": "vit_h"})
    assert mask_sha256(base) == mask_sha256(other)
    arrays[1][2, 0, 0] = True
    assert mask_sha256(actor_masks_from_arrays("v1", "sam", arrays)) != mask_sha256(base)
    # Files are byte-reproducible (gzip mtime 0).
    write_actor_masks(tmp_path / "a.json.gz", base)
    write_actor_masks(tmp_path / "b.json.gz", base)
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()


def test_box_masks_first_and_union_follow_the_exclusive_convention():
    boxes = pd.DataFrame(
        {
            "video_id": "v",
            "frame": [0, 0, 2],
            "actor": [1, 0, 0],
            "x1": [1.7, 8.0, 0.0],
            "y1": [1.2, 2.0, 0.0],
            "x2": [4.9, 10.0, 2.0],
            "y2": [3.5, 5.0, 2.0],
        }
    )
    first = box_masks("v", boxes, 3, 6, 12, mode="first")
    assert list(first.frames[0]) == [0]  # first row after ordering by actor
    assert first.frame_mask(0).sum() == 3 * 2  # rows 2..4, cols 8..9
    assert first.frame_mask(1).sum() == 0
    union = box_masks("v", boxes, 3, 6, 12, mode="union")
    mask = union.frame_mask(0)
    assert mask[1:3, 1:4].all() and not mask[3, 1] and not mask[1, 4]  # int(1.2)=1..int(3.5)-1=2
    assert mask.sum() == 6 + 6


def test_malformed_files_are_named(tmp_path):
    (tmp_path / "bad.json.gz").write_bytes(gzip.compress(b"{not json"))
    with pytest.raises(MaskFileError, match="bad.json.gz"):
        read_actor_masks(tmp_path / "bad.json.gz")
    with pytest.raises(MaskFileError, match="not found"):
        read_actor_masks(tmp_path / "none.json.gz")
