"""The streaming tube walk (`tubes.run_plan`) gives exactly the masks of the whole-video definition,
and `run.ForwardFrames` hands trackers a video's frames forward, checked against the manifest.

The whole-video definition is written out here as it stood before streaming: every actor's (T, H, W)
masks are tracked first, then each frame is cleaned (largest component, hole filling), then each
frame is voted over the present frames of its temporal window. The streaming walk must encode the
same RLEs and scores for every frame, at every window and on tubes with gaps, entries and exits.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from benchmark.masks import encode_mask
from benchmark.tracking.run import ForwardFrames
from benchmark.tracking.tubes import (
    BadInputError,
    box_region,
    grown_box,
    mask_box,
    plan_video,
    run_plan,
)
from benchmark.video import open_video, read_video, write_video

T, H, W = 40, 36, 48


def boxes_with_gaps() -> pd.DataFrame:
    """Three actors: one through the whole video with gaps, one entering late and leaving early,
    one on a few scattered frames near the border."""
    rows = []
    for t in range(T):
        if t % 7 not in (3, 4):  # gaps of two frames inside the tube
            rows.append(("v", t, 0, 2 + t * 0.3, 4, 20 + t * 0.3, 30))
        if 12 <= t <= 25:
            rows.append(("v", t, 1, 25, 2 + t * 0.5, 46, 14 + t * 0.5))
    for t in (5, 6, 18, 33):
        rows.append(("v", t, 2, 0, 20, 9, 36))
    return pd.DataFrame(rows, columns=["video_id", "frame", "actor", "x1", "y1", "x2", "y2"])


def blobby_step(scored: bool):
    """A tracker step that draws two blobs and a hole per actor (so clean-up has work), spilling
    past the box (so clipping has work), from a generator seeded by frame and actor."""

    def segment(t, prompts):
        out = {}
        for actor, prompt in prompts.items():
            rng = np.random.default_rng(1000 * t + actor)
            mask = np.zeros((H, W), dtype=bool)
            x1, y1, x2, y2 = (int(c) for c in prompt.box)
            mask[y1 : max(y1 + 2, y2 - 1), x1 : max(x1 + 2, x2 - 1)] = True
            mask &= rng.random((H, W)) > 0.15  # speckle: holes and stray components
            mask[rng.integers(0, H), rng.integers(0, W)] = True
            score = None if not scored or t % 5 == 0 else float(rng.random())
            out[actor] = (mask, score)
        return out

    return segment


def whole_video_reference(plan, segment, cleanup):
    """The pre-streaming definition: (T, H, W) masks per actor, then clean-up, then RLEs."""
    masks = {a: np.zeros((plan.num_frames, H, W), dtype=bool) for a in plan.actors}
    scores = {a: np.full(plan.num_frames, np.nan) for a in plan.actors}
    present = {a: np.zeros(plan.num_frames, dtype=bool) for a in plan.actors}
    last_box = {}
    for t, prompts in enumerate(plan.frames):
        resolved = {}
        for actor, prompt in sorted(prompts.items()):
            box = prompt.box
            if box is None:
                before = mask_box(masks[actor][t - 1]) if t and present[actor][t - 1] else None
                box = before if before is not None else last_box.get(actor)
            if box is None:
                continue
            resolved[actor] = SimpleNamespace(box=box, points=prompt.points, labels=prompt.labels)
            last_box[actor] = box
        if not resolved:
            continue
        for actor, (mask, score) in segment(t, resolved).items():
            limit = box_region(grown_box(resolved[actor].box, cleanup["clip_margin"], H, W), H, W)
            masks[actor][t] = mask & limit
            scores[actor][t] = np.nan if score is None else score
            present[actor][t] = True
    half = cleanup["temporal_window"] // 2
    frames = [{} for _ in range(plan.num_frames)]
    for actor in plan.actors:
        stack = masks[actor]
        for t in np.flatnonzero(present[actor]):
            mask = stack[t]
            if cleanup["largest_component"] and mask.any():
                labels, count = ndimage.label(mask)
                if count > 1:
                    mask = labels == int(np.argmax(np.bincount(labels.ravel())[1:])) + 1
            if cleanup["fill_holes"]:
                mask = ndimage.binary_fill_holes(mask)
            stack[t] = mask
        voted = stack.copy()
        for t in np.flatnonzero(present[actor]):
            lo, hi = max(0, t - half), min(plan.num_frames, t + half + 1)
            near = [s for s in range(lo, hi) if present[actor][s]]
            voted[t] = stack[near].sum(axis=0) * 2 > len(near)
        for t in np.flatnonzero(present[actor]):
            score = scores[actor][t]
            frames[t][int(actor)] = (
                encode_mask(voted[t]),
                float(score) if np.isfinite(score) else None,
            )
    return frames


@pytest.mark.parametrize("window", [1, 3, 5, 15])
@pytest.mark.parametrize("scored", [False, True])
def test_streaming_walk_equals_the_whole_video_definition(window, scored):
    plan = plan_video("v", boxes_with_gaps(), T, H, W)
    cleanup = {
        "largest_component": True,
        "fill_holes": True,
        "temporal_window": window,
        "clip_margin": 0.1,
    }
    tracked = run_plan(plan, blobby_step(scored), cleanup)
    expected = whole_video_reference(plan, blobby_step(scored), cleanup)
    assert len(tracked.frames) == T
    assert tracked.frames == expected
    assert {a for frame in tracked.frames for a in frame} == {0, 1, 2}
    # the gaps are propagated (entries on frames without a box), the exits are empty
    assert 3 in {t for t, frame in enumerate(tracked.frames) if 0 in frame}
    assert all(1 not in tracked.frames[t] for t in (11, 26))


def test_an_even_window_is_refused():
    plan = plan_video("v", boxes_with_gaps(), T, H, W)
    cleanup = {"largest_component": False, "fill_holes": False, "temporal_window": 4}
    with pytest.raises(ValueError, match="temporal_window must be odd, got 4"):
        run_plan(plan, blobby_step(False), {**cleanup, "clip_margin": 0.1})


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(12, 32, 48, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("video") / "v.mkv"
    write_video(path, frames, 25.0)
    return path


def reader(path, num_frames=12, height=32, width=48):
    row = SimpleNamespace(
        video_id="v", path=str(path), num_frames=num_frames, height=height, width=width
    )
    return row, open_video(path)


def test_forward_frames_gives_the_decoded_pixels(video):
    decoded, _ = read_video(video)
    row, opened = reader(video)
    with opened as (_, stream):
        frames = ForwardFrames(row, video.parent, stream)
        assert np.array_equal(frames[0], decoded[0])
        assert np.array_equal(frames[0], decoded[0])  # the latest request is kept (restarts)
        assert np.array_equal(frames[[2, 3, 5]], decoded[[2, 3, 5]])
        assert np.array_equal(frames[5], decoded[5])
        with pytest.raises(ValueError, match="frame 4 requested after frame 5"):
            frames[4]
        assert np.array_equal(frames[9], decoded[9])
        frames.finish()


@pytest.mark.parametrize(
    ("num_frames", "height", "width", "says"),
    [(13, 32, 48, "decoded 12 frames"), (11, 32, 48, "decoded 12 frames"), (12, 24, 48, "48x32")],
)
def test_forward_frames_refuses_a_video_unlike_its_manifest_row(
    video, num_frames, height, width, says
):
    row, opened = reader(video, num_frames, height, width)
    with opened as (_, stream), pytest.raises(BadInputError) as error:
        frames = ForwardFrames(row, video.parent, stream)
        frames[0]
        frames.finish()
    message = str(error.value)
    assert str(video) in message and says in message and "re-run ingest" in message
    assert f"the manifest says {num_frames} of {width}x{height}" in message
