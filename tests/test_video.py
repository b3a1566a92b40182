import numpy as np
import pytest

from benchmark.video import (
    VideoReadError,
    read_frame,
    read_video,
    video_info,
    write_frame_folder,
    write_frame_zip,
    write_video,
)


def gradient_clip(frames=6, height=32, width=48):
    t, y, x = np.mgrid[0:frames, 0:height, 0:width]
    return np.stack([(x * 5 + t * 10) % 256, (y * 7) % 256, (x + y + t * 3) % 256], axis=-1).astype(
        np.uint8
    )


def test_lossless_round_trip_is_exact(tmp_path):
    clip = gradient_clip()
    write_video(tmp_path / "clip.mkv", clip, fps=12.5)
    frames, fps = read_video(tmp_path / "clip.mkv")
    assert np.array_equal(frames, clip)
    assert fps == pytest.approx(12.5)
    write_frame_folder(tmp_path / "frames", clip)
    assert np.array_equal(read_video(tmp_path / "frames")[0], clip)


def test_mp4_and_zip_are_close_and_info_reads_without_decoding(tmp_path):
    clip = gradient_clip()
    write_video(tmp_path / "clip.mp4", clip, fps=25, crf=10)
    write_frame_zip(tmp_path / "clip.zip", clip)
    for name in ("clip.mp4", "clip.zip"):
        frames, _ = read_video(tmp_path / name)
        assert frames.shape == clip.shape
        assert np.abs(frames.astype(int) - clip).mean() < 6
    info = video_info(tmp_path / "clip.mp4")
    assert (info.num_frames, info.width, info.height, info.fps) == (6, 48, 32, 25.0)
    assert video_info(tmp_path / "clip.zip").num_frames == 6


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv", "clip.zip", "frames"])
def test_read_frame_gives_the_streamed_frame_and_the_length(tmp_path, name):
    clip = gradient_clip(frames=9)
    path = tmp_path / name
    if name == "clip.zip":
        write_frame_zip(path, clip)
    elif name == "frames":
        write_frame_folder(path, clip)
    else:
        write_video(path, clip, fps=25, crf=10)
    decoded, _ = read_video(path)
    for t in (0, 4, 8):
        frame, count = read_frame(path, t)
        assert count == 9 and np.array_equal(frame, decoded[t])
    with pytest.raises(VideoReadError, match="has 9 frames, no frame 9") as error:
        read_frame(path, 9)
    assert str(path) in str(error.value)


def test_bad_videos_raise_errors_naming_the_file(tmp_path):
    clip = gradient_clip(frames=30)
    write_video(tmp_path / "good.mp4", clip, fps=25)
    data = (tmp_path / "good.mp4").read_bytes()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (tmp_path / "garbage.mp4").write_bytes(b"not a video at all" * 10)
    (tmp_path / "empty").mkdir()
    for name in ("truncated.mp4", "garbage.mp4", "missing.mp4", "empty"):
        with pytest.raises(VideoReadError, match=name):
            read_video(tmp_path / name)


def test_writer_rejects_bad_arrays_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", gradient_clip(height=31), fps=25)
    with pytest.raises(ValueError, match="zero frames"):
        write_video(tmp_path / "none.mp4", np.zeros((0, 8, 8, 3), np.uint8), fps=25)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("subsampling", ["4:4:4", "4:2:0"])
def test_encode_jpeg_writes_pillows_bytes(subsampling):
    """Items were written with Pillow before OpenCV's faster encoder took over: the bytes must not
    change (same libjpeg-turbo settings), on smooth, noisy and odd-sized frames."""
    import io

    from PIL import Image

    from benchmark.video import encode_jpeg

    rng = np.random.default_rng(7)
    frames = [
        gradient_clip(frames=1, height=240, width=320)[0],
        rng.integers(0, 256, size=(241, 321, 3), dtype=np.uint8),
        rng.integers(0, 256, size=(9, 17, 3), dtype=np.uint8),
    ]
    pillow_flag = {"4:4:4": 0, "4:2:0": 2}[subsampling]
    for frame in frames:
        for quality in (50, 75, 95, 100):
            buffer = io.BytesIO()
            Image.fromarray(frame).save(
                buffer, format="JPEG", quality=quality, subsampling=pillow_flag
            )
            assert encode_jpeg(frame, quality=quality, subsampling=subsampling) == buffer.getvalue()
