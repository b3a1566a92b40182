"""The sam tracker with the real segment-anything code and a tiny randomly initialised model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from benchmark.masks import decode_rle, mask_sha256, read_actor_masks, write_actor_masks
from benchmark.tracking import TrackerSetupError, build_tracker
from benchmark.tracking.prompts import ReviewerPrompt
from benchmark.tracking.sam import file_sha256, load_sam, save_tiny_sam
from benchmark.tracking.tubes import grown_box, mask_box, plan_video


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("sam") / "tiny.pth"
    save_tiny_sam(path, seed=0)
    return path


def sam_settings(checkpoint, **changes) -> dict:
    settings = {
        "model_type": "tiny_test",
        "checkpoint": str(checkpoint),
        "device": "cpu",
        "batch_size": 2,
        "bf16": True,
        "refine": True,
        "cleanup": {
            "largest_component": True,
            "fill_holes": True,
            "temporal_window": 1,
            "clip_margin": 0.1,
        },
    }
    settings.update(changes)
    return settings


def two_actor_video(frames: int = 6, height: int = 48, width: int = 64):
    """Two textured squares moving right; actor 1 is annotated on frames 2..4 only."""
    rng = np.random.default_rng(0)
    video = rng.integers(0, 60, size=(frames, height, width, 3), dtype=np.uint8)
    rows = []
    for t in range(frames):
        x = 4 + 2 * t
        video[t, 10:26, x : x + 14] = (220, 40, 40)
        rows.append(("v", t, 0, x - 2.0, 8.0, x + 16.0, 28.0))
        if 2 <= t <= 4:
            video[t, 28:44, 40:56] = (40, 200, 60)
            rows.append(("v", t, 1, 38.0, 26.0, 58.0, 46.0))
    boxes = pd.DataFrame(rows, columns=["video_id", "frame", "actor", "x1", "y1", "x2", "y2"])
    return video, boxes


def test_tiny_sam_masks_every_frame_with_union_scores_and_provenance(tiny_checkpoint):
    torch.manual_seed(0)
    video, boxes = two_actor_video()
    tracker = build_tracker("sam", sam_settings(tiny_checkpoint), seed=0)
    masks = tracker.track(plan_video("v", boxes, 6, 48, 64), video)
    assert (masks.num_frames, masks.height, masks.width) == (6, 48, 64)
    assert [sorted(entries) for entries in masks.frames] == [[0], [0], [0, 1], [0, 1], [0, 1], [0]]
    for t, entries in enumerate(masks.frames):
        union = np.zeros((48, 64), dtype=bool)
        for actor, (rle, score) in entries.items():
            mask = decode_rle(rle)
            assert isinstance(score, float) and np.isfinite(score)
            # every mask stays inside its prompt box grown by clip_margin
            row = boxes[(boxes.frame == t) & (boxes.actor == actor)].iloc[0]
            limit = grown_box(np.array([row.x1, row.y1, row.x2, row.y2]), 0.1, 48, 64)
            ys, xs = np.nonzero(mask)
            if len(xs):
                assert xs.min() >= int(limit[0]) and xs.max() < np.ceil(limit[2])
                assert ys.min() >= int(limit[1]) and ys.max() < np.ceil(limit[3])
            union |= mask
        assert np.array_equal(masks.frame_mask(t), union)
    assert np.array_equal(masks.foreground(), np.stack([masks.frame_mask(t) for t in range(6)]))
    provenance = masks.provenance
    assert provenance["tracker"] == "sam" and provenance["model_type"] == "tiny_test"
    assert provenance["checkpoint_sha256"] == file_sha256(tiny_checkpoint)
    assert provenance["segment_anything"] == "1.0" and provenance["device"] == "cpu"
    assert provenance["dtype"] == "float32"  # bf16 applies on CUDA only
    assert len(provenance["prompts"]) == 6 + 3
    assert {entry[2] for entry in provenance["prompts"]} == {"box"}


def test_gap_frames_are_prompted_with_the_previous_mask_box_and_outside_span_is_empty(
    tiny_checkpoint,
):
    video, boxes = two_actor_video()
    sparse = boxes[(boxes.actor == 0) & boxes.frame.isin([1, 4])]
    tracker = build_tracker("sam", sam_settings(tiny_checkpoint), seed=0)
    masks = tracker.track(plan_video("v", sparse, 6, 48, 64), video)
    assert [sorted(entries) for entries in masks.frames] == [[], [0], [0], [0], [0], []]
    log = {entry[0]: entry for entry in masks.provenance["prompts"]}
    assert [log[t][2] for t in (1, 2, 3, 4)] == ["box", "propagate", "propagate", "box"]
    for t in (2, 3):
        previous = masks.actor_mask(t - 1, 0)
        assert previous.any()
        assert log[t][3:7] == [float(c) for c in mask_box(previous)]
    assert not masks.frame_mask(0).any() and not masks.frame_mask(5).any()


def test_rle_round_trip_and_batching_do_not_change_masks(tiny_checkpoint, tmp_path):
    video, boxes = two_actor_video()
    plan = plan_video("v", boxes, 6, 48, 64)
    one = build_tracker("sam", sam_settings(tiny_checkpoint, batch_size=1), seed=0).track(
        plan, video
    )
    four = build_tracker("sam", sam_settings(tiny_checkpoint, batch_size=4), seed=0).track(
        plan, video
    )
    assert np.array_equal(one.foreground(), four.foreground())
    sha = write_actor_masks(tmp_path / "v.json.gz", one)
    again = read_actor_masks(tmp_path / "v.json.gz")
    assert sha == mask_sha256(again) == mask_sha256(one)
    assert np.array_equal(again.foreground(), one.foreground())
    scores = [s for entries in again.frames for _, s in entries.values()]
    assert scores == [s for entries in one.frames for _, s in entries.values()]


def test_reviewer_points_reach_sam_as_point_prompts(tiny_checkpoint):
    video, boxes = two_actor_video()
    prompts = [ReviewerPrompt(3, np.array([[12.0, 15.0, 1], [60.0, 2.0, 0]]), None)]
    tracker = build_tracker("sam", sam_settings(tiny_checkpoint), seed=0)
    masks = tracker.track(plan_video("v", boxes, 6, 48, 64, prompts), video)
    frame3 = {entry[1]: entry for entry in masks.provenance["prompts"] if entry[0] == 3}
    assert frame3[0][2] == "reviewer" and frame3[0][7] == 2  # fg + bg point, on actor 0's tube
    assert frame3[1][2] == "box" and frame3[1][7] == 1  # the background point reaches actor 1 too
    assert sorted(masks.frames[3]) == [0, 1]


def test_missing_checkpoint_says_what_to_download_and_which_key(tmp_path):
    with pytest.raises(TrackerSetupError) as unset:
        load_sam("vit_b", None)
    assert "tracking.sam.checkpoint" in str(unset.value)
    assert "sam_vit_b_01ec64.pth" in str(unset.value)
    with pytest.raises(TrackerSetupError) as missing:
        load_sam("vit_h", str(tmp_path / "nowhere.pth"))
    assert "nowhere.pth" in str(missing.value) and "sam_vit_h_4b8939.pth" in str(missing.value)
    assert "tracking.sam.checkpoint" in str(missing.value)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(TrackerSetupError, match="junk.pth: not a readable SAM checkpoint"):
        load_sam("vit_b", str(junk))


def test_wrong_model_type_fails_before_building_the_model(tiny_checkpoint):
    with pytest.raises(TrackerSetupError) as wrong:
        load_sam("vit_b", str(tiny_checkpoint))
    message = str(wrong.value)
    assert "holds tiny_test" in message and "tracking.sam.model_type" in message
    assert "sam_vit_b_01ec64.pth" in message


def test_cuda_request_without_cuda_is_a_setup_error(tiny_checkpoint):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(TrackerSetupError, match="tracking.sam.device is 'cuda'"):
        build_tracker("sam", sam_settings(tiny_checkpoint, device="cuda"), seed=0)
