"""The sam2 tracker with the real `sam2` 1.1.0 video predictor and a tiny randomly initialised model."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.masks import decode_rle, mask_sha256, read_actor_masks, write_actor_masks
from benchmark.tracking import TrackerSetupError, build_tracker
from benchmark.tracking.prompts import ReviewerPrompt
from benchmark.tracking.sam import file_sha256
from benchmark.tracking.tubes import grown_box, plan_video
from tests.conftest import PROJECT_ROOT
from tests.test_tracking_sam import two_actor_video

pytest.importorskip("sam2", reason="the optional sam2 extra is not installed (bash install.sh)")

from benchmark.tracking.sam2 import ModelFrames, new_inference_state  # noqa: E402
from benchmark.tracking.sam2_models import (  # noqa: E402
    SAM2_MODELS,
    build_predictor,
    read_checkpoint,
    save_tiny_sam2,
)

H, W = 48, 64


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("sam2") / "tiny_sam2.pt"
    save_tiny_sam2(path, seed=0)
    return path


def sam2_settings(checkpoint, **changes) -> dict:
    settings = {
        "model": "tiny_test",
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "device": "cpu",
        "bf16": True,
        "vos_optimized": False,
        "prompt": "every_box",
        "cleanup": {
            "largest_component": True,
            "fill_holes": True,
            "temporal_window": 1,
            "clip_margin": 0.1,
        },
    }
    settings.update(changes)
    return settings


@pytest.fixture(scope="module")
def tracker(tiny_checkpoint):
    return build_tracker("sam2", sam2_settings(tiny_checkpoint), seed=0)


def track(tracker, plan, video, prompt="every_box"):
    tracker.settings["prompt"] = prompt
    return tracker.track(plan, video)


def test_masks_where_the_boxes_are_none_outside_the_tube_with_provenance(tracker, tiny_checkpoint):
    video, boxes = two_actor_video()
    masks = track(tracker, plan_video("v", boxes, 6, H, W), video)
    assert (masks.num_frames, masks.height, masks.width) == (6, H, W)
    # actor 1's tube is frames 2..4: it has no entry (no mask) on the other frames
    assert [sorted(entries) for entries in masks.frames] == [[0], [0], [0, 1], [0, 1], [0, 1], [0]]
    for t, entries in enumerate(masks.frames):
        for actor, (rle, score) in entries.items():
            mask = decode_rle(rle)
            row = boxes[(boxes.frame == t) & (boxes.actor == actor)].iloc[0]
            limit = grown_box(np.array([row.x1, row.y1, row.x2, row.y2]), 0.1, H, W)
            ys, xs = np.nonzero(mask)
            assert len(xs), (t, actor)  # every box frame has mask pixels
            assert xs.min() >= int(limit[0]) and xs.max() < np.ceil(limit[2])
            assert ys.min() >= int(limit[1]) and ys.max() < np.ceil(limit[3])
            assert score is None  # the video predictor yields no IoU estimate
    provenance = masks.provenance
    assert provenance["tracker"] == "sam2" and provenance["model"] == "tiny_test"
    assert provenance["config"] == "configs/sam2.1/sam2.1_hiera_t.yaml"
    assert "++model.image_size=64" in provenance["config_overrides"]
    assert provenance["checkpoint"] == "tiny_sam2.pt"
    assert provenance["checkpoint_sha256"] == file_sha256(tiny_checkpoint)
    assert provenance["sam2"] == "1.1.0" and provenance["dtype"] == "float32"
    assert provenance["prompt"] == "every_box"
    # every box is a conditioning prompt, and the shared plan is logged as for every tracker
    assert len(provenance["sam2_prompts"]) == 6 + 3 == len(provenance["prompts"])
    assert {entry[2] for entry in provenance["prompts"]} == {"box"}


def test_first_mode_prompts_each_tubes_first_box_and_propagates(tracker):
    video, boxes = two_actor_video()
    plan = plan_video("v", boxes, 6, H, W)
    every = track(tracker, plan, video, "every_box")
    first = track(tracker, plan, video, "first")
    assert first.provenance["sam2_prompts"] == [[0, 0, 0], [2, 1, 0]]
    assert first.provenance["prompt"] == "first"
    assert [sorted(entries) for entries in first.frames] == [[0], [0], [0, 1], [0, 1], [0, 1], [0]]
    for t, entries in enumerate(first.frames):
        for actor in entries:
            assert first.actor_mask(t, actor).any(), (t, actor)  # propagated masks, not blanks
    # the prompted frames agree; the propagated ones come from memory instead of a box prompt
    assert np.array_equal(first.actor_mask(0, 0), every.actor_mask(0, 0))
    assert np.array_equal(first.actor_mask(2, 1), every.actor_mask(2, 1))
    assert not np.array_equal(first.foreground(), every.foreground())


def test_actors_keep_their_ids_and_memories_apart(tracker):
    """Tracked together, each actor's masks equal its masks tracked alone: no id mix-up and no
    memory of frames outside its own tube (actor 1's tube starts after the earliest prompt)."""
    video, boxes = two_actor_video()
    together = track(tracker, plan_video("v", boxes, 6, H, W), video, "first")
    for actor in (0, 1):
        alone_boxes = boxes[boxes.actor == actor]
        alone = track(tracker, plan_video("v", alone_boxes, 6, H, W), video, "first")
        for t in range(6):
            assert (actor in together.frames[t]) == (actor in alone.frames[t])
            if actor in alone.frames[t]:
                assert np.array_equal(together.actor_mask(t, actor), alone.actor_mask(t, actor))
    # the two actors' masks are different objects on the frames they share
    assert not np.array_equal(together.actor_mask(3, 0), together.actor_mask(3, 1))


def test_memory_holds_only_frames_inside_each_tube(tracker, monkeypatch):
    """SAM 2 tracks every object over the whole propagated span; the tracker drops each actor's
    outputs outside its tube as they are made, so they never enter its later frames' memory."""
    video, boxes = two_actor_video()
    states = []
    real = tracker.predictor.propagate_in_video

    def keep_state(state, **kwargs):
        states.append(state)
        yield from real(state, **kwargs)

    monkeypatch.setattr(tracker.predictor, "propagate_in_video", keep_state)
    track(tracker, plan_video("v", boxes, 6, H, W), video, "first")
    (state,) = states
    stored = {
        actor: sorted(
            set(state["output_dict_per_obj"][index]["cond_frame_outputs"])
            | set(state["output_dict_per_obj"][index]["non_cond_frame_outputs"])
        )
        for actor, index in state["obj_id_to_idx"].items()
    }
    assert stored == {0: [0, 1, 2, 3, 4, 5], 1: [2, 3, 4]}
    assert sorted(state["frames_tracked_per_obj"][state["obj_id_to_idx"][1]]) == [2, 3, 4]


def test_reviewer_points_and_a_redrawn_box_change_the_masks(tracker):
    video, boxes = two_actor_video()
    plain = track(tracker, plan_video("v", boxes, 6, H, W), video, "first")
    points = [ReviewerPrompt(3, np.array([[12.0, 15.0, 1], [60.0, 2.0, 0]]), None)]
    pointed = track(tracker, plan_video("v", boxes, 6, H, W, points), video, "first")
    # the reviewer frame becomes a conditioning prompt of actor 0 (box + 2 points), and the
    # background point reaches actor 1 on that frame too
    assert [3, 0, 2] in pointed.provenance["sam2_prompts"]
    assert [3, 1, 1] in pointed.provenance["sam2_prompts"]
    assert not np.array_equal(pointed.actor_mask(3, 0), plain.actor_mask(3, 0))
    assert np.array_equal(pointed.actor_mask(1, 0), plain.actor_mask(1, 0))  # before it: unchanged
    redrawn = [ReviewerPrompt(4, np.zeros((0, 3)), (12.0, 10.0, 26.0, 26.0))]
    boxed = track(tracker, plan_video("v", boxes, 6, H, W, redrawn), video, "first")
    assert [4, 0, 0] in boxed.provenance["sam2_prompts"]
    log = {(e[0], e[1]): e for e in boxed.provenance["prompts"]}
    assert log[(4, 0)][2:7] == ["reviewer", 12.0, 10.0, 26.0, 26.0]
    assert not np.array_equal(boxed.actor_mask(4, 0), plain.actor_mask(4, 0))


def test_same_input_same_bytes_and_rle_round_trip(tracker, tiny_checkpoint, tmp_path):
    video, boxes = two_actor_video()
    plan = plan_video("v", boxes, 6, H, W)
    once = track(tracker, plan, video)
    fresh = build_tracker("sam2", sam2_settings(tiny_checkpoint), seed=0)
    twice = fresh.track(plan, video)
    first_sha = write_actor_masks(tmp_path / "a.json.gz", once)
    second_sha = write_actor_masks(tmp_path / "b.json.gz", twice)
    assert first_sha == second_sha == mask_sha256(once)
    assert (tmp_path / "a.json.gz").read_bytes() == (tmp_path / "b.json.gz").read_bytes()
    again = read_actor_masks(tmp_path / "a.json.gz")
    assert np.array_equal(again.foreground(), once.foreground())
    # another process with two threads (the test process runs one): the same masks
    script = (
        "import sys, torch; torch.set_num_threads(2)\n"
        "from benchmark.masks import mask_sha256\n"
        "from benchmark.tracking import build_tracker\n"
        "from benchmark.tracking.tubes import plan_video\n"
        "from tests.test_tracking_sam import two_actor_video\n"
        "from tests.test_tracking_sam2 import sam2_settings\n"
        "video, boxes = two_actor_video()\n"
        "tracker = build_tracker('sam2', sam2_settings(sys.argv[1]), seed=0)\n"
        "print(mask_sha256(tracker.track(plan_video('v', boxes, 6, 48, 64), video)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tiny_checkpoint)],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == first_sha


def test_tiny_checkpoint_bytes_are_seeded(tiny_checkpoint, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.tracking", "make-tiny-sam2", str(tmp_path / "cli.pt")],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert file_sha256(tmp_path / "cli.pt") == file_sha256(tiny_checkpoint)
    assert file_sha256(tiny_checkpoint) in done.stdout
    save_tiny_sam2(tmp_path / "other.pt", seed=1)
    assert file_sha256(tmp_path / "other.pt") != file_sha256(tiny_checkpoint)


def test_lazy_frames_and_state_match_the_packages_own_loader(tracker, tmp_path):
    """The state's keys are init_state's, and a frame is the tensor its JPEG loader makes."""
    video, _ = two_actor_video()
    for t, frame in enumerate(video[:2]):
        Image.fromarray(frame).save(tmp_path / f"{t:05d}.jpg", quality=95)
    predictor = tracker.predictor
    with torch.inference_mode():
        official = predictor.init_state(video_path=str(tmp_path))
    decoded = np.stack([np.asarray(Image.open(tmp_path / f"{t:05d}.jpg")) for t in range(2)])
    ours = new_inference_state(predictor, ModelFrames(decoded, 64, torch.device("cpu")), H, W)
    assert set(ours) == set(official)
    assert (ours["video_height"], ours["video_width"]) == (official["video_height"], W)
    assert ours["num_frames"] == official["num_frames"] == 2
    for t in range(2):
        assert ours["images"][t].shape == (3, 64, 64)
        assert torch.allclose(ours["images"][t], official["images"][t].float(), atol=1e-5)


def test_checkpoint_problems_name_the_file_the_config_and_the_download(tiny_checkpoint, tmp_path):
    with pytest.raises(TrackerSetupError) as unset:
        build_tracker("sam2", sam2_settings(None, model="sam2.1_hiera_tiny"), seed=0)
    assert "tracking.sam2.checkpoint is not set" in str(unset.value)
    assert "segment_anything_2/092824/sam2.1_hiera_tiny.pt" in str(unset.value)
    with pytest.raises(TrackerSetupError) as missing:
        read_checkpoint("sam2_hiera_large", str(tmp_path / "nowhere.pt"))
    assert "nowhere.pt" in str(missing.value)
    assert "segment_anything_2/072824/sam2_hiera_large.pt" in str(missing.value)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(TrackerSetupError, match="junk.pt.*not a readable PyTorch checkpoint"):
        read_checkpoint("tiny_test", str(junk))
    # weights_only: a file that would build an object when unpickled is refused, not run
    code = tmp_path / "code.pt"
    torch.save({"model": argparse.Namespace(x=1)}, code)
    with pytest.raises(TrackerSetupError, match="code.pt: refused to load .*argparse.Namespace"):
        read_checkpoint("tiny_test", str(code))
    other = tmp_path / "sam_state.pt"
    torch.save({"image_encoder.patch_embed.proj.weight": torch.zeros(32, 3, 16, 16)}, other)
    with pytest.raises(TrackerSetupError, match="sam_state.pt.*is not a SAM 2 checkpoint"):
        read_checkpoint("tiny_test", str(other))
    with pytest.raises(TrackerSetupError) as wrong:
        build_tracker("sam2", sam2_settings(tiny_checkpoint, model="sam2.1_hiera_large"), seed=0)
    message = str(wrong.value)
    assert "tiny_sam2.pt" in message and "holds tiny_test" in message
    assert "config configs/sam2.1/sam2.1_hiera_l.yaml" in message
    assert "tracking.sam2.model" in message and "sam2.1_hiera_large.pt" in message


def test_release_signatures_identify_what_a_checkpoint_holds(tmp_path):
    """A state dict shaped like the large SAM 2.1 release (trunk width 144, 48 blocks) is named as
    such when another model is configured; no model is built for the check."""
    fake = {"image_encoder.trunk.patch_embed.proj.weight": torch.zeros(144, 3, 7, 7)}
    fake |= {f"image_encoder.trunk.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(48)}
    fake["no_obj_embed_spatial"] = torch.zeros(1, 64)
    path = tmp_path / "sam2.1_hiera_large.pt"
    torch.save({"model": fake}, path)
    assert read_checkpoint("sam2.1_hiera_large", str(path))["no_obj_embed_spatial"].shape == (1, 64)
    with pytest.raises(
        TrackerSetupError, match="holds sam2.1_hiera_large, but tracking.sam2.model"
    ):
        read_checkpoint("sam2.1_hiera_tiny", str(path))
    del fake["no_obj_embed_spatial"]
    torch.save({"model": fake}, path)
    with pytest.raises(TrackerSetupError, match="holds sam2_hiera_large"):
        read_checkpoint("sam2.1_hiera_large", str(path))
    assert {m.checkpoint for m in SAM2_MODELS.values()} >= {
        "sam2.1_hiera_tiny.pt",
        "sam2.1_hiera_small.pt",
        "sam2.1_hiera_base_plus.pt",
        "sam2.1_hiera_large.pt",
    }


def test_tiny_model_is_the_packages_own_predictor():
    from sam2.sam2_video_predictor import SAM2VideoPredictor

    torch.manual_seed(0)
    predictor = build_predictor("tiny_test")
    assert type(predictor) is SAM2VideoPredictor
    assert predictor.image_size == 64 and predictor.num_maskmem == 7
    assert sum(p.numel() for p in predictor.parameters()) < 1_000_000


def test_missing_package_or_cuda_is_a_setup_error(tiny_checkpoint, monkeypatch):
    if not torch.cuda.is_available():
        with pytest.raises(TrackerSetupError, match="tracking.sam2.device is 'cuda'"):
            build_tracker("sam2", sam2_settings(tiny_checkpoint, device="cuda"), seed=0)
    monkeypatch.setitem(sys.modules, "sam2", None)  # find_spec then reports it absent
    with pytest.raises(TrackerSetupError) as error:
        build_tracker("sam2", sam2_settings(tiny_checkpoint), seed=0)
    message = str(error.value)
    assert "needs the `sam2` package (sam2==1.1.0)" in message and "install.sh" in message
