"""The one test-clip rule (benchmark.clips): distinct frames on short items, the synthetic default
unchanged, and the same clip in the benchmark's SCUFO choice, training's test view and prediction."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from benchmark.clips import test_clip_indices as clip_indices
from benchmark.clips import test_stride as clip_stride
from benchmark.config import SCHEMA_DIR

LENGTHS = (8, 15, 34, 40, 63, 64, 100)


def _old_rule(n: int, frames: int, stride: int) -> np.ndarray:
    """The rule before issue 15 (fixed stride, last frame repeated), for the unchanged cases."""
    start = max(0, (n - (frames - 1) * stride - 1) // 2)
    return np.minimum(start + stride * np.arange(frames), n - 1)


@pytest.mark.parametrize("frames,stride", [(32, 2), (16, 2), (8, 2), (16, 4)])
@pytest.mark.parametrize("n", LENGTHS)
def test_a_clip_shows_distinct_frames_in_order(n, frames, stride):
    clip = clip_indices(n, frames, stride)
    assert clip.shape == (frames,) and clip.dtype == np.int64
    assert clip.min() >= 0 and clip.max() <= n - 1
    assert np.all(np.diff(clip) >= 0)  # never back in time (no loop)
    if n >= frames:
        assert len(np.unique(clip)) == frames  # T distinct frames
    else:
        assert np.array_equal(np.unique(clip), np.arange(n))  # every frame of the item
        assert np.array_equal(clip[:n], np.arange(n)) and (clip[n:] == n - 1).all()


def test_known_clips_at_real_lengths():
    # T = 32 at stride 2 (the real configs): the stride drops to 1 below 63 frames
    assert [clip_stride(n, 32, 2) for n in LENGTHS] == [1, 1, 1, 1, 2, 2, 2]
    assert clip_indices(15, 32, 2).tolist() == list(range(15)) + [14] * 17
    assert clip_indices(34, 32, 2).tolist() == list(range(1, 33))  # centred: start (34-32)//2
    assert clip_indices(40, 32, 2).tolist() == list(range(4, 36))
    assert clip_indices(63, 32, 2).tolist() == list(range(0, 63, 2))
    assert clip_indices(64, 32, 2).tolist() == list(range(0, 63, 2))
    assert clip_indices(100, 32, 2).tolist() == list(range(18, 81, 2))
    # a 150-frame item (docs/protocols.md): ours 43..105, ALBAR's release 0..62
    assert clip_indices(150, 32, 2).tolist() == list(range(43, 106, 2))
    # a larger stride shrinks to the largest that fits, not straight to 1
    assert clip_stride(40, 8, 8) == 5 and clip_indices(40, 8, 8).tolist() == list(range(2, 38, 5))


def test_old_rule_froze_short_items():
    """What the issue measured on the old rule; the new one differs exactly there."""
    assert len(np.unique(_old_rule(15, 32, 2))) == 8
    assert len(np.unique(_old_rule(34, 32, 2))) == 18
    assert len(np.unique(clip_indices(34, 32, 2))) == 32


def test_unchanged_wherever_the_strided_clip_fits():
    for frames, stride in [(8, 2), (32, 2), (16, 3)]:
        for n in range((frames - 1) * stride + 1, 200):
            assert np.array_equal(clip_indices(n, frames, stride), _old_rule(n, frames, stride))


def test_the_synthetic_default_keeps_its_clip():
    """Default config: 16-frame synthetic items, test clip 8 frames at stride 2 - unchanged."""
    benchmark = yaml.safe_load((SCHEMA_DIR / "config" / "benchmark.schema.yaml").read_text())
    dataset = yaml.safe_load((SCHEMA_DIR / "config" / "dataset.schema.yaml").read_text())
    test_clip = benchmark["properties"]["test_clip"]["properties"]
    frames, stride = test_clip["frames"]["default"], test_clip["stride"]["default"]
    synthetic_frames = _find_default(dataset, "frames")
    assert (synthetic_frames, frames, stride) == (16, 8, 2)
    expected = [0, 2, 4, 6, 8, 10, 12, 14]
    assert clip_indices(synthetic_frames, frames, stride).tolist() == expected
    assert _old_rule(synthetic_frames, frames, stride).tolist() == expected


def _find_default(schema, key):
    """The default of the first property named `key` anywhere in a schema."""
    if isinstance(schema, dict):
        props = schema.get("properties", {})
        if key in props and "default" in props[key]:
            return props[key]["default"]
        for value in schema.values():
            found = _find_default(value, key)
            if found is not None:
                return found
    elif isinstance(schema, list):
        for value in schema:
            found = _find_default(value, key)
            if found is not None:
                return found
    return None


def test_training_and_prediction_use_the_benchmark_clip():
    """EvalClips (training's test view and albar.predict) reads exactly the frames the benchmark rule
    picks, and the SCUFO frame is chosen among them."""
    from pathlib import Path

    from albar.data import Augmentation, ClipSettings, EvalClips, FrameReader, VideoEntry
    from benchmark.composite.paste import choose_static_frame

    n = 34
    # frame i is a constant image of value 7·i, so the frames read back name themselves
    frames = np.stack([np.full((8, 8, 3), 7 * i, np.uint8) for i in range(n)])
    reader = FrameReader(cache=True)
    path = Path("in-memory.mp4")
    reader._videos[path] = frames  # the decoded-video cache: exact values, no codec in the way
    aug = Augmentation(8, 8, (1.0, 1.0), (1.0, 1.0), False, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    views, _, _ = EvalClips([VideoEntry("v", path, 0)], ClipSettings(32, 2), aug, reader)[0]
    seen = (views[0, 0, :, 0, 0] * 255).round().long().tolist()  # (V, 3, T, S, S) in [0, 1]
    expected = clip_indices(n, 32, 2)
    assert seen == [7 * i for i in expected.tolist()]
    assert len(set(seen)) == 32  # the old rule showed 18 distinct frames here
    picks = {
        choose_static_frame(np.ones(n, bool), expected, "random", np.random.default_rng(s))
        for s in range(50)
    }
    assert picks <= set(expected.tolist()) and len(picks) > 10


def test_three_test_crops_resize_the_short_side_to_the_crop_size():
    """test_crops 3 = StillMix's Resize(-1, 224) + ThreeCrop(224): the crops span the full height
    of a landscape frame and together its full width; 1 crop keeps the resize-256 centre crop."""
    from albar.data import Augmentation, eval_transforms

    height, width = 240, 320
    frame = np.zeros((height, width, 3), np.uint8)
    frame[0] = 255  # a top-row marker: visible in every crop only when nothing is cut vertically
    frame[:, -1] = 200  # a right-column marker: only the last crop reaches the right edge
    frames = np.stack([frame, frame])
    aug = Augmentation(224, 256, (1.0, 1.0), (1.0, 1.0), False, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    views = eval_transforms(frames, aug, crops=3) * 255  # (3, 3, T, 224, 224)
    assert views.shape == (3, 3, 2, 224, 224)
    assert (views[:, 0, :, 0, 1:-1] > 200).all()  # the top row is in all three crops
    assert (views[2, 0, :, 1:, -1] > 150).all() and (views[:2, 0, :, 1:, -1] < 50).all()
    # the middle crop starts at (299 - 224) // 2 of the 224 × 299 resize
    assert round(320 * 224 / 240) == 299
    single = eval_transforms(frames, aug, crops=1) * 255  # resize 256, centre crop: rows 16..239
    assert single.shape == (1, 3, 2, 224, 224)
    assert (single[0, 0, :, 0] < 1).all()  # the top row is cut off there
