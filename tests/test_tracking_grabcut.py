"""GrabCut on the synthetic test split: better than rectangles against the truth, and it drops the
planted context object that rectangles let through; plus reviewer seeds and determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.config import load_config
from benchmark.ingest import run_ingest
from benchmark.manifest import read_boxes, read_manifest
from benchmark.table_files import read_qc
from benchmark.tracking import build_tracker
from benchmark.tracking.prompts import ReviewerPrompt
from benchmark.tracking.qc import run_qc
from benchmark.tracking.run import build_box_masks_shard, track_shard
from benchmark.tracking.tubes import plan_video


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    config_path = root / "config.yaml"
    config_path.write_text(
        "dataset: {name: syn, kind: synthetic, synthetic: {videos_per_class: {train: 1, val: 1, test: 2}}}\n"
        f"results: {root / 'results'}\nn_shards: 1\nseed: 0\n"
    )
    config = load_config(config_path)
    run_ingest(config)
    for source in ("box_first", "box_union"):
        build_box_masks_shard(config, source, "shard-000")
    track_shard(config, "grabcut", "shard-000")
    results = root / "results" / "syn"
    boxes = read_boxes(results / "boxes.parquet", read_manifest(results / "manifest.csv"))
    tables = {
        source: run_qc(results, source, 1, boxes, config["masks"]["qc"])
        for source in ("truth", "box_first", "box_union", "grabcut")
    }
    return config, results, tables


def test_grabcut_beats_rectangles_against_the_truth(synthetic):
    _, results, tables = synthetic
    grabcut, box_first = tables["grabcut"], tables["box_first"]
    assert len(grabcut) == len(box_first) == 10  # the test split: 5 classes x 2
    assert grabcut["iou_gt_mean"].mean() >= box_first["iou_gt_mean"].mean() + 0.10
    assert grabcut["leak_gt"].mean() < box_first["leak_gt"].mean() - 0.3
    # the planted context object: rectangles keep most of it, GrabCut little
    assert box_first["leak_context_gt"].mean() > 0.8
    assert grabcut["leak_context_gt"].mean() < 0.3 * box_first["leak_context_gt"].mean()
    assert grabcut["mean_score"].isna().all() and (grabcut["empty_frames"] == 0).all()


def test_qc_tables_for_truth_and_rectangles(synthetic):
    _, results, tables = synthetic
    truth = read_qc(results / "masks" / "truth" / "qc.csv")
    assert len(truth) == 20  # every split has truth
    assert np.allclose(truth["iou_gt_mean"], 1.0) and np.allclose(truth["leak_gt"], 0.0)
    assert (truth["leak_context_gt"] == 0).all()  # the object sits outside the silhouette
    box_first = tables["box_first"]
    assert np.allclose(box_first["box_fill_mean"], 1.0)
    assert box_first["flags"].str.contains("fills_box").all()
    assert (tables["box_union"]["iou_gt_mean"] == box_first["iou_gt_mean"]).all()  # one actor
    assert (results / "masks" / "grabcut" / "skipped.csv").read_text().strip() == (
        "video_id,mask_source,stage,reason"
    )


def test_grabcut_is_deterministic_and_obeys_reviewer_seeds():
    rng = np.random.default_rng(1)
    video = rng.integers(0, 255, size=(3, 40, 40, 3), dtype=np.uint8)
    video[:, 10:30, 10:30] = (200, 30, 30)  # the actor: a red square in a noisy frame
    video[:, 12:18, 12:18] = (30, 30, 200)  # a blue patch on it GrabCut alone would cut out
    boxes = pd.DataFrame(
        [("v", t, 0, 6.0, 6.0, 34.0, 34.0) for t in range(3)],
        columns=["video_id", "frame", "actor", "x1", "y1", "x2", "y2"],
    )
    settings = {
        "iterations": 5,
        "propagate_iterations": 3,
        "crop_margin": 0.3,
        "init_border": 0.2,
        "core_erosion": 0.15,
        "dilation": 0.0,
        "work_size": 96,
        "point_radius": 2,
        "cleanup": {
            "largest_component": True,
            "fill_holes": False,
            "temporal_window": 1,
            "clip_margin": 0.1,
        },
    }
    tracker = build_tracker("grabcut", settings, seed=0)
    plain = tracker.track(plan_video("v", boxes, 3, 40, 40), video)
    again = build_tracker("grabcut", settings, seed=0).track(
        plan_video("v", boxes, 3, 40, 40), video
    )
    assert np.array_equal(plain.foreground(), again.foreground())
    truth = np.zeros((40, 40), dtype=bool)
    truth[10:30, 10:30] = True
    assert (plain.frame_mask(0) & truth).sum() / (plain.frame_mask(0) | truth).sum() > 0.6
    prompts = [
        ReviewerPrompt(0, np.array([[15.0, 15.0, 1]]), None),  # the blue patch is actor
        ReviewerPrompt(0, np.array([[27.0, 27.0, 0]]), None),  # this corner is not
    ]
    seeded = tracker.track(plan_video("v", boxes, 3, 40, 40, prompts), video).frame_mask(0)
    assert seeded[15, 15] and not seeded[27, 27]


def test_a_box_leaving_a_thin_strip_of_frame_falls_back_instead_of_crashing():
    """UCF101-24 has boxes reaching three borders and all but a pixel or two of the fourth: the
    crop is the whole frame, the previous mask fills the box, and downscaling to work_size drops
    the strip of background, so GrabCut had no background samples (an OpenCV assertion that
    failed the whole shard). Found on the real-geometry stand-in (ucf101_24_standin)."""
    from benchmark.tracking.tubes import ActorPrompt

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(240, 320, 3), dtype=np.uint8)
    image[80:160, 130:190] = (200, 30, 30)  # an actor inside the second box
    settings = {
        "iterations": 5, "propagate_iterations": 3, "crop_margin": 0.3, "init_border": 0.2,
        "core_erosion": 0.15, "dilation": 0.0, "work_size": 96, "point_radius": 2,
        "cleanup": {"largest_component": True, "fill_holes": True, "temporal_window": 1,
                    "clip_margin": 0.1},
    }  # fmt: skip
    tracker = build_tracker("grabcut", settings, seed=0)
    box = np.array([0.0, 0.0, 319.0, 240.0])  # one column of the frame is outside the box
    previous = np.zeros((240, 320), dtype=bool)
    previous[:, :319] = True
    prompt = ActorPrompt(0, "box", box)
    mask = tracker.segment_actor(image, prompt, previous, rng_seed=0)
    assert mask[:, :319].all() and not mask[:, 319].any()  # the box itself
    assert tracker.fallback_frames == 1
    # A box with room for background around it still goes through GrabCut.
    inner = tracker.segment_actor(
        image, ActorPrompt(0, "box", np.array([100.0, 60, 220, 180])), None, 0
    )
    assert tracker.fallback_frames == 1 and inner[120, 160] and not inner[65, 105]
