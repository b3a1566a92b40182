import numpy as np
import pytest

from benchmark.ids import (
    IdCollisionError,
    item_id,
    item_rng,
    sanitize_video_id,
    shard_name,
    shard_of,
    stable_digest,
    unique_video_ids,
)


def test_sanitize_keeps_last_component_and_safe_characters():
    assert sanitize_video_id("Basketball/v_Basketball_g01_c01") == "v_Basketball_g01_c01"
    assert (
        sanitize_video_id("April_09_brush_hair_u_nm_np1_ba_goo_0.avi")
        == "April_09_brush_hair_u_nm_np1_ba_goo_0"
    )
    assert (
        sanitize_video_id("Faith_Hill_-_Breathe_(Music_Video)#1!&,.avi")
        == "Faith_Hill_-_Breathe_Music_Video_1"
    )


def test_colliding_and_duplicate_names_are_errors_naming_both():
    with pytest.raises(IdCollisionError, match=r"a\(1\).*a!1"):
        unique_video_ids(["a(1)", "a!1"])
    with pytest.raises(IdCollisionError, match="listed twice"):
        unique_video_ids(["x", "x"])


def test_shards_are_crc32_based_and_stable():
    # crc32("v_Basketball_g01_c01") is a fixed number; the shard must never depend on the process.
    assert shard_of("v_Basketball_g01_c01", 1) == 0
    assert [shard_of(f"vid{i}", 4) for i in range(6)] == [shard_of(f"vid{i}", 4) for i in range(6)]
    assert shard_name(7) == "shard-007"
    assert stable_digest("a", 1) == stable_digest("a", "1")
    assert stable_digest("a", "b") != stable_digest("ab")


def test_item_rng_depends_on_every_part_but_reproduces():
    draw = item_rng(0, "scuba", "stripe", "v1", 0).random(3)
    assert np.array_equal(draw, item_rng(0, "scuba", "stripe", "v1", 0).random(3))
    for other in (
        item_rng(1, "scuba", "stripe", "v1", 0),
        item_rng(0, "scufo", "stripe", "v1", 0),
        item_rng(0, "scuba", "plasma", "v1", 0),
        item_rng(0, "scuba", "stripe", "v2", 0),
        item_rng(0, "scuba", "stripe", "v1", 1),
    ):
        assert not np.array_equal(draw, other.random(3))
    assert item_id("v1", 3) == "v1__3" and item_id("v1", 3, static=True) == "v1__3__static"
