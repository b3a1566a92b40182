"""paste_actor is bit-exact with the StillMix construction; the vectorised clip path is identical."""

import numpy as np
import pytest
from PIL import Image

from benchmark.clips import test_clip_indices as clip_indices
from benchmark.composite.errors import AssemblyError
from benchmark.composite.item_files import ItemFormat
from benchmark.composite.paste import (
    choose_static_frame,
    composite_chunks,
    composite_clip,
    paste_actor,
    paste_chunks,
    paste_clip,
)


def stillmix_reference(frame: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The original per-frame code: PIL default resize, float multiply, uint8 cast."""
    box_mask = np.expand_dims(mask.astype(float), axis=-1)
    resized = np.array(Image.fromarray(background).resize((frame.shape[1], frame.shape[0]))).astype(
        "float"
    )
    return (frame.astype("float") * box_mask + resized * (1 - box_mask)).astype("uint8")


@pytest.fixture
def clip():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 24, 34, 3), dtype=np.uint8)
    masks = rng.random((5, 24, 34)) > 0.6
    masks[2] = False  # a frame of the span without a mask: pure background
    background = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    return frames, masks, background


def test_paste_actor_is_bit_exact_with_the_original(clip):
    frames, masks, background = clip
    for frame, mask in zip(frames, masks, strict=True):
        assert np.array_equal(
            paste_actor(frame, mask, background), stillmix_reference(frame, mask, background)
        )


def test_composite_clip_equals_paste_actor_per_frame(clip):
    frames, masks, background = clip
    out = composite_clip(frames, masks, background)
    expected = np.stack([paste_actor(f, m, background) for f, m in zip(frames, masks, strict=True)])
    assert out.dtype == np.uint8 and np.array_equal(out, expected)
    # Pure background where the mask is empty; the actor's own pixels where it is set.
    resized = np.asarray(Image.fromarray(background).resize((34, 24), Image.Resampling.BICUBIC))
    assert np.array_equal(out[2], resized)
    assert np.array_equal(out[0][masks[0]], frames[0][masks[0]])
    # A reused output buffer holding another item's pixels is fully overwritten.
    buffer = np.full_like(frames, 7)
    assert composite_clip(frames, masks, background, buffer) is buffer
    assert np.array_equal(buffer, expected)
    # Chunks of 2 frames (two full chunks and a remainder) give the same pixels.
    assert np.array_equal(paste_clip(frames, masks, resized, chunk=2), expected)


def test_streamed_chunks_equal_the_whole_clip(clip):
    frames, masks, background = clip
    expected = composite_clip(frames, masks, background)
    buffer = np.full((2, 24, 34, 3), 7, np.uint8)  # holds another item's pixels
    chunks = composite_chunks(frames, masks, background, chunk=2, buffer=buffer)
    seen = []
    for chunk in chunks:
        assert chunk.base is buffer or chunk is buffer  # written in place: one chunk of memory
        seen.append(chunk.copy())
    assert [len(c) for c in seen] == [2, 2, 1]  # two full chunks and a remainder
    assert np.array_equal(np.concatenate(seen), expected)
    resized = np.asarray(Image.fromarray(background).resize((34, 24), Image.Resampling.BICUBIC))
    default = np.concatenate([c.copy() for c in paste_chunks(frames, masks, resized)])
    assert np.array_equal(default, expected)


@pytest.mark.parametrize("kind", ["jpeg_zip", "mp4"])
def test_an_item_written_from_the_stream_is_byte_identical(tmp_path, clip, kind):
    import itertools

    frames, masks, background = clip
    frames, masks = frames[:, :, :32], masks[:, :, :32]
    fmt = ItemFormat(kind, 12, 95, "4:4:4", "yuv444p")
    whole, streamed = tmp_path / f"a{fmt.suffix}", tmp_path / f"b{fmt.suffix}"
    assert fmt.write(whole, composite_clip(frames, masks, background), 25.0) == 5
    chunks = composite_chunks(frames, masks, background, chunk=2)
    assert fmt.write(streamed, itertools.chain.from_iterable(chunks), 25.0) == 5
    assert whole.read_bytes() == streamed.read_bytes()
    if kind == "mp4":
        with pytest.raises(AssemblyError, match="no frames to write"):
            fmt.write(tmp_path / "empty.mp4", iter([]), 25.0)


def test_size_mismatch_is_an_error(clip):
    frames, masks, background = clip
    with pytest.raises(AssemblyError, match="do not match"):
        composite_clip(frames, masks[:, :-1], background)
    with pytest.raises(AssemblyError, match="differ in size"):
        paste_actor(frames[0], masks[0, :-1], background)
    with pytest.raises(AssemblyError, match="do not match"):
        paste_clip(frames, masks, np.zeros((24, 33, 3), np.uint8))
    with pytest.raises(AssemblyError, match="contiguous"):
        paste_clip(frames, masks, frames[0], out=np.empty((5, 24, 68, 3), np.uint8)[:, :, ::2])
    # The streamed path checks before the first chunk is drawn.
    with pytest.raises(AssemblyError, match="do not match"):
        composite_chunks(frames, masks[:, :-1], background)
    with pytest.raises(AssemblyError, match="chunk buffer"):
        paste_chunks(frames, masks, frames[0], chunk=2, buffer=np.empty((3, 24, 34, 3), np.uint8))


def test_test_clip_is_centred_and_clipped():
    assert clip_indices(16, 8, 2).tolist() == [0, 2, 4, 6, 8, 10, 12, 14]
    assert clip_indices(20, 4, 2).tolist() == [6, 8, 10, 12]
    assert clip_indices(5, 4, 2).tolist() == [0, 1, 2, 3]  # too short for stride 2: stride 1
    assert clip_indices(3, 4, 2).tolist() == [0, 1, 2, 2]  # shorter than the clip: all, then last


def test_static_frame_is_a_nonempty_clip_frame():
    clip = np.array([0, 2, 4, 6])
    nonempty = np.array([True, False, False, True, True, False, True, False])
    assert choose_static_frame(nonempty, clip, "middle", np.random.default_rng(0)) == 4
    picks = {
        choose_static_frame(nonempty, clip, "random", np.random.default_rng(s)) for s in range(40)
    }
    assert picks == {0, 4, 6}
    # No clip frame has a mask: any non-empty item frame; none at all: the clip's middle frame.
    only_outside = np.array([False, True, False, True, False, False, False, False])
    assert choose_static_frame(only_outside, clip, "middle", np.random.default_rng(0)) == 3
    assert choose_static_frame(np.zeros(8, bool), clip, "middle", np.random.default_rng(0)) == 4


@pytest.mark.parametrize("kind", ["jpeg_zip", "mp4"])
def test_item_files_are_reproducible_and_close_to_the_composite(tmp_path, clip, kind):
    from benchmark.video import read_video

    frames, masks, background = clip
    item = composite_clip(frames[:, :, :32], masks[:, :, :32], background)
    fmt = ItemFormat(kind, 12, 95, "4:4:4", "yuv444p")
    first, second = tmp_path / f"a{fmt.suffix}", tmp_path / f"b{fmt.suffix}"
    fmt.write(first, item, 25.0)
    fmt.write(second, item, 25.0)
    assert first.read_bytes() == second.read_bytes()
    decoded, _ = read_video(first)
    assert decoded.shape == item.shape
    mse = np.mean((decoded.astype(float) - item.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 28  # random-noise content: the hardest case for codecs
