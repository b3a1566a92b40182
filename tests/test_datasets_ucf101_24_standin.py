"""The UCF101-24 stand-in: actors fill the real boxes frame by frame (gaps, borders, occlusion),
true masks match, bytes are reproducible, the CI slice follows its rule, and the real box file's
geometry comes through (910 test videos, 159,289 frames) where ../shared/data holds it."""

import pickle

import numpy as np
import pytest

from benchmark.datasets import ucf101_24_standin as standin
from benchmark.datasets.generic import IngestError
from benchmark.masks import decode_rle, mask_path, read_actor_masks
from benchmark.video import read_video
from tests.conftest import SHARED_DATA

REAL_BOXES = SHARED_DATA / "ucf101-24" / "pyannot.pkl"
REAL_TEST_LIST = SHARED_DATA / "ucf101-24" / "testlist01.txt"


def tube(sf: int, boxes) -> dict:
    boxes = np.asarray(boxes, dtype=np.uint16)  # stored small, as the real file does
    return {"sf": sf, "ef": sf + len(boxes), "boxes": boxes, "label": 0}


@pytest.fixture
def box_file(tmp_path):
    """Three test videos and one train video: a gap between two tubes, a tube at the right and
    bottom borders, two overlapping actors (the later one occludes)."""
    moving = [[10 + 2 * t, 20, 30 + t, 60 + t] for t in range(6)]  # moves and grows
    data = {
        "Biking/v_Biking_g01_c01": {"numf": np.uint8(12), "label": 0,
                                    "annotations": [tube(1, moving), tube(9, [[100, 50, 40, 80]] * 2)]},
        "Diving/v_Diving_g01_c01": {"numf": np.uint16(8), "label": 1,
                                    "annotations": [tube(0, [[290, 200, 30, 40]] * 8)]},
        "Fencing/v_Fencing_g01_c01": {"numf": np.uint8(5), "label": 2,
                                      "annotations": [tube(0, [[50, 50, 60, 100]] * 5),
                                                      tube(0, [[80, 60, 60, 100]] * 5)]},
        "Biking/v_Biking_g02_c01": {"numf": np.uint8(6), "label": 0,
                                    "annotations": [tube(0, [[5, 5, 20, 20]] * 6)]},
    }  # fmt: skip
    path = tmp_path / "pyannot.pkl"
    path.write_bytes(pickle.dumps(data, protocol=3))
    test_list = tmp_path / "testlist.txt"
    test_list.write_text(
        "Biking/v_Biking_g01_c01\nDiving/v_Diving_g01_c01\nFencing/v_Fencing_g01_c01\n"
    )
    return {"box_file": str(path), "test_list": str(test_list), "val_fraction": 0.0}


def tight_box(mask):
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


def test_actors_fill_their_real_boxes_with_gaps_borders_and_occlusion(tmp_path, box_file):
    result = standin.ingest(box_file, tmp_path / "out", seed=0, n_shards=2)
    manifest = result.manifest.set_index("video_id")
    assert manifest.loc["v_Biking_g01_c01", "split"] == "test"
    assert manifest.loc["v_Biking_g02_c01", "split"] == "train"
    assert manifest.loc["v_Diving_g01_c01", "label_name"] == "Diving"
    assert manifest["num_frames"].to_dict() == {
        "v_Biking_g02_c01": 6, "v_Biking_g01_c01": 12, "v_Diving_g01_c01": 8, "v_Fencing_g01_c01": 5
    }  # fmt: skip
    assert (manifest[["width", "height", "fps"]].to_numpy() == [320, 240, 25]).all()

    frames, fps = read_video(manifest.loc["v_Biking_g01_c01", "path"])
    assert frames.shape == (12, 240, 320, 3) and fps == 25
    truth = read_actor_masks(mask_path(tmp_path / "out" / "masks", "truth", "v_Biking_g01_c01"))
    assert truth.num_frames == 12
    # Present exactly where the tubes have boxes: frame 0, 7 and 8 are the gaps.
    assert [sorted(actors) for actors in truth.frames] == [
        [],
        [0],
        [0],
        [0],
        [0],
        [0],
        [0],
        [],
        [],
        [1],
        [1],
        [],
    ]
    for t in range(1, 7):  # the moving, growing actor's silhouette spans its box exactly
        x, y, w, h = 10 + 2 * (t - 1), 20, 30 + (t - 1), 60 + (t - 1)
        assert tight_box(decode_rle(truth.frames[t][0][0])) == [x, y, x + w, y + h]
    boxes = result.boxes[result.boxes["video_id"] == "v_Biking_g01_c01"]
    assert boxes["frame"].tolist() == [1, 2, 3, 4, 5, 6, 9, 10]

    # At the border: the box (290, 200, 30, 40) reaches x = 320 and y = 240 exactly.
    border = read_actor_masks(mask_path(tmp_path / "out" / "masks", "truth", "v_Diving_g01_c01"))
    assert tight_box(decode_rle(border.frames[0][0][0])) == [290, 200, 320, 240]

    # Occlusion: the later actor covers the earlier one; masks are disjoint visible pixels.
    both = read_actor_masks(mask_path(tmp_path / "out" / "masks", "truth", "v_Fencing_g01_c01"))
    first, second = (decode_rle(both.frames[2][k][0]) for k in (0, 1))
    assert not (first & second).any() and first.sum() > 0 and second.sum() > 0
    assert tight_box(second) == [80, 60, 140, 160]
    # The actor differs from the background where its mask is (pixels carry the silhouette).
    video, _ = read_video(manifest.loc["v_Fencing_g01_c01", "path"])
    inside = video[2][second].astype(float).mean(axis=0)
    outside = video[2][~(first | second)].astype(float).mean(axis=0)
    assert np.abs(inside - outside).max() > 10
    assert sorted(result.truth_masks) == sorted(manifest.index)


def test_bytes_are_identical_across_runs_and_worker_counts(tmp_path, box_file):
    one = standin.ingest(box_file, tmp_path / "a", seed=0, n_shards=1, workers=1)
    two = standin.ingest(box_file, tmp_path / "b", seed=0, n_shards=1, workers=2)
    assert one.truth_masks == two.truth_masks
    for video_id in one.manifest["video_id"]:
        a = (tmp_path / "a" / "videos" / f"{video_id}.mp4").read_bytes()
        b = (tmp_path / "b" / "videos" / f"{video_id}.mp4").read_bytes()
        assert a == b


def test_splits_and_slice_choose_videos(tmp_path, box_file):
    only_test = standin.ingest({**box_file, "splits": ["test"]}, tmp_path / "t", seed=0, n_shards=1)
    assert sorted(only_test.manifest["split"]) == ["test"] * 3
    sliced = standin.ingest({**box_file, "slice": 2}, tmp_path / "s", seed=0, n_shards=1)
    # Longest (Biking, 12 frames), then most actors (Fencing, 2): no train video.
    assert sliced.manifest["video_id"].tolist() == ["v_Biking_g01_c01", "v_Fencing_g01_c01"]


def test_a_test_video_missing_from_the_box_file_is_a_clear_error(tmp_path, box_file):
    with open(box_file["test_list"], "a") as handle:
        handle.write("Biking/v_Biking_g09_c09\n")
    with pytest.raises(IngestError, match="v_Biking_g09_c09.*box file and test list"):
        standin.ingest(box_file, tmp_path / "out", seed=0, n_shards=1)


def video(name, frames, rows):
    rows = np.asarray(rows, dtype=float).reshape(-1, 6)
    return standin.VideoTubes(
        name, frames, rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2:]
    )


def test_select_slice_takes_the_best_of_each_ranking_in_turn():
    videos = [
        video("long", 900, [[0, 0, 10, 10, 50, 50]]),
        video("longer_tie_b", 900, [[0, 0, 10, 10, 50, 50]]),
        video("crowd", 100, [[0, k, 10, 10, 50, 50] for k in range(5)]),
        video("gappy", 200, [[0, 0, 10, 10, 50, 50], [150, 0, 10, 10, 50, 50]]),
        video("edge", 50, [[t, 0, 0, 10, 50, 240] for t in range(3)]),
        video("plain", 60, [[0, 0, 10, 10, 50, 50]]),
    ]
    assert standin.slice_features(videos[3]) == {
        "frames": 200, "actors": 1, "gap_frames": 149, "border_boxes": 0
    }  # fmt: skip
    assert standin.slice_features(videos[4])["border_boxes"] == 3
    # frames -> "long" (ties by name), actors -> "crowd", gaps -> "gappy", border -> "edge",
    # frames again -> "longer_tie_b".
    assert standin.select_slice(videos, 5) == ["long", "crowd", "gappy", "edge", "longer_tie_b"]
    assert standin.select_slice(videos, 2) == ["long", "crowd"]
    assert sorted(standin.select_slice(videos, 99)) == sorted(v.name for v in videos)


@pytest.mark.skipif(not REAL_BOXES.exists(), reason=f"{REAL_BOXES} not present (real boxes)")
def test_real_box_file_geometry_and_its_ci_slice():
    names = [line.strip() for line in REAL_TEST_LIST.read_text().splitlines() if line.strip()]
    tubes = standin.read_tubes(REAL_BOXES, names)
    assert len(tubes) == 910
    assert sum(video.num_frames for video in tubes.values()) == 159_289
    annotated = sum(len(np.unique(video.frame)) for video in tubes.values())
    assert annotated == 138_527
    assert max(len(np.unique(video.actor)) for video in tubes.values()) == 10
    chosen = standin.select_slice(list(tubes.values()), 20)
    features = [standin.slice_features(tubes[name]) for name in chosen]
    assert len(set(chosen)) == 20
    assert max(f["frames"] for f in features) == 900
    assert max(f["actors"] for f in features) == 10
    assert sum(f["gap_frames"] > 0 for f in features) >= 5
    assert sum(f["border_boxes"] > 0 for f in features) >= 5
