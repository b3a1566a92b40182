"""Bad input that used to get through (issue 14 part 5), each with the one-line message it now gets.

Generic boxes with non-integer, out-of-range or repeated (video, frame, actor) cells; video paths
that leave video_root (labels.csv, UCF101 split lists, HMDB51 split files); truncated mp4 / avi
files whose index survived, built for real by cutting encoded files short; prediction files whose
`predicted` is not the argmax of their probabilities, or that break the schema, or are empty or
binary. Every message names the file (and the row) and is printed for the docs' bad-input table.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from albar.predict import prediction_frame
from benchmark.atomic import write_csv_atomic
from benchmark.datasets import generic
from benchmark.datasets.generic import IngestError
from benchmark.datasets.hmdb51 import read_split_files
from benchmark.datasets.ucf101 import read_split_list
from benchmark.table_files import TableError, read_predictions
from tests.test_datasets_generic import BOXES, LABELS, write_dataset


def one_line(error: BaseException, *names: object) -> str:
    message = str(error)
    assert "\n" not in message, message
    for name in names:
        assert str(name) in message, message
    print(f"MESSAGE: {message}")  # the docs' bad-input table quotes these (pytest -s)
    return message


# ------------------------------------------------------------------------------ generic boxes


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [
        ("frame", 2.7, "frame 2.7"),
        ("actor", 1.5, "actor 1.5"),
        ("actor", 1e23, "actor 1e+23"),
        ("frame", 1e23, "frame 1e+23"),
        ("frame", -1, "frame -1"),
        ("actor", -2, "actor -2"),
    ],
)
def test_box_frame_and_actor_must_be_integers_in_range(tmp_path, column, value, shown):
    bad = dict(zip(["video", "frame", "actor", "x1", "y1", "x2", "y2"], BOXES[2], strict=True))
    bad[column] = value
    config = write_dataset(tmp_path, boxes=[*BOXES, tuple(bad.values())])
    for on_error in ("fail", "skip"):  # a broken boxes file is never a per-video skip
        with pytest.raises(IngestError) as caught:
            generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error=on_error)
        message = one_line(caught.value, tmp_path / "boxes.csv", "line 7", shown)
        assert "is not an integer in 0.." in message


def test_repeated_video_frame_actor_rows_are_refused(tmp_path):
    repeat = ("jump 01.mp4", 0, 0, 2, 3, 11, 13)  # same video, frame and actor as line 2
    config = write_dataset(tmp_path, boxes=[*BOXES, repeat])
    with pytest.raises(IngestError) as caught:
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    one_line(caught.value, "boxes.csv", "lines 2 and 7", "'jump 01.mp4' frame 0 actor 0")


# ------------------------------------------------------------------------------ paths


@pytest.mark.parametrize("escape", ["../outside.mp4", "clips/../../outside.mp4", "ABSOLUTE"])
def test_labels_video_paths_may_not_leave_video_root(tmp_path, escape):
    config = write_dataset(tmp_path)
    outside = tmp_path / "outside.mp4"  # a real, readable video next to video_root
    (tmp_path / "videos/jump_02.mp4").rename(outside)
    escape = str(outside) if escape == "ABSOLUTE" else escape
    labels = [(escape if video == "jump_02.mp4" else video, *rest) for video, *rest in LABELS]
    pd.DataFrame(labels, columns=["video", "label_name", "split"]).to_csv(
        tmp_path / "labels.csv", index=False
    )
    boxes = [row for row in BOXES if row[0] != "jump_02.mp4"]
    pd.DataFrame(boxes, columns=["video", "frame", "actor", "x1", "y1", "x2", "y2"]).to_csv(
        tmp_path / "boxes.csv", index=False
    )
    with pytest.raises(IngestError) as caught:
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    one_line(caught.value, tmp_path / "labels.csv", "line 3", escape, "leaves the video folder")


def test_split_lists_may_not_name_paths_outside_video_root(tmp_path):
    ucf = tmp_path / "testlist01.txt"
    ucf.write_text("Biking/v_Biking_g01_c01.avi\nBiking/../../../../etc/passwd\n")
    with pytest.raises(IngestError) as caught:
        read_split_list(ucf, with_labels=False)
    one_line(caught.value, f"{ucf}:2", "leaves the video folder")
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "wave_test_split1.txt").write_text("a_wave_f.avi 1\n../../outside.avi 1\n")
    with pytest.raises(IngestError) as caught:
        read_split_files(splits, 1)
    one_line(caught.value, "wave_test_split1.txt:2", "leaves the video folder")
    (splits / "wave_test_split1.txt").write_text("sub/a_wave_f.avi 1\n")
    with pytest.raises(IngestError) as caught:
        read_split_files(splits, 1)
    one_line(caught.value, "wave_test_split1.txt:1", "has a folder part")


# ------------------------------------------------------------------------------ truncated videos


def _encode(path: Path, container: str, codec: str, options: dict, frames: int = 40) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (frames, 24, 32, 3), dtype=np.uint8)
    with av.open(str(path), "w", format=container, options=options) as output:
        stream = output.add_stream(codec, rate=12)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        stream.codec_context.thread_count = 1
        for array in pixels:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)


@pytest.mark.parametrize(
    ("name", "container", "codec", "options"),
    [
        ("cut.mp4", "mp4", "libx264", {"movflags": "faststart"}),  # moov (the index) first
        ("cut.avi", "avi", "mpeg4", {}),  # the header declares the frame count
    ],
)
def test_truncated_video_with_surviving_index_is_reported(
    tmp_path, name, container, codec, options
):
    labels = [*LABELS, (name, "wave", "test")]
    config = write_dataset(tmp_path, labels=labels)
    path = tmp_path / "videos" / name
    shutil.rmtree(path, ignore_errors=True)  # write_dataset made a frame folder of a non-mp4 name
    _encode(path, container, codec, options)
    with av.open(str(path)) as whole:
        assert whole.streams.video[0].frames == 40
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with av.open(str(path)) as cut:  # the index survived: the container still says 40 frames
        assert cut.streams.video[0].frames == 40
    video_id = "cut"
    with pytest.raises(IngestError) as caught:
        generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="fail")
    message = one_line(caught.value, path, "truncated video", "declares 40 frames")
    assert message.startswith(f"{video_id}: ")
    result = generic.ingest(config, tmp_path, seed=0, n_shards=1, on_error="skip")
    assert [row["video_id"] for row in result.skipped] == [video_id]
    assert "truncated video" in result.skipped[0]["reason"]
    assert video_id not in set(result.manifest["video_id"])
    assert len(result.manifest) == len(LABELS)  # the healthy videos are all kept


# ------------------------------------------------------------------------------ prediction files


def _predictions(tmp_path: Path, probs: np.ndarray, predicted=None) -> Path:
    frame = prediction_frame([f"item{i}" for i in range(len(probs))], probs, [False] * len(probs))
    if predicted is not None:
        frame["predicted"] = predicted
    path = tmp_path / "pred.csv"
    write_csv_atomic(path, frame)
    return path


PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.25, 0.5, 0.25]])


def test_predicted_must_be_the_argmax_of_the_probabilities(tmp_path):
    path = _predictions(tmp_path, PROBS, predicted=PROBS.argmin(1))  # the attack: argmin
    with pytest.raises(TableError) as caught:
        read_predictions(path)
    one_line(caught.value, path, "in 3 rows", "item0 (predicted 2, argmax 0)")
    assert read_predictions(_predictions(tmp_path, PROBS))["predicted"].tolist() == [0, 2, 1]


def test_ties_go_to_the_lowest_class_index_as_written_by_predict(tmp_path):
    # 0.4000001 < 0.4000004 before rounding; the file stores 0.4 and 0.4: a tie, class 0 wins.
    near_tie = np.array([[0.4000001, 0.4000004, 0.1999995], [0.2, 0.4, 0.4]])
    path = _predictions(tmp_path, near_tie)
    assert read_predictions(path)["predicted"].tolist() == [0, 1]
    with pytest.raises(TableError) as caught:
        read_predictions(_predictions(tmp_path, near_tie, predicted=[1, 2]))
    one_line(caught.value, path, "item0 (predicted 1, argmax 0)", "ties: the lowest class index")


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"", "prediction file is empty"),
        (b"\n  \n", "prediction file is empty"),
        (bytes(range(256)) * 4, "binary data, not a prediction CSV"),
        ("item_id,predicted\n\u00e9,0\n".encode("latin1"), "not a readable prediction CSV"),
        (b"item_id,predicted,static_max_prob,p_0,p_1\na,0,,1.5,-0.5\n", "each in [0, 1]"),
        (b"item_id,predicted,static_max_prob,p_0,p_1\na,0,2,0.6,0.4\n", "static_max_prob"),
        (b"item_id,predicted,static_max_prob,p_0,p_1\na b,0,,0.6,0.4\n", "[A-Za-z0-9_.-]"),
    ],
)
def test_prediction_files_that_break_the_schema(tmp_path, content, text):
    path = tmp_path / "pred.csv"
    path.write_bytes(content)
    with pytest.raises(TableError) as caught:
        read_predictions(path)
    one_line(caught.value, path, text)
