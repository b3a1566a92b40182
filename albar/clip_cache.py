"""The decoded test clips of one prediction set, written once and read by every run's prediction.

Decoding is nearly all of a small model's prediction time, and every run × seed predicts the same
items, so the workflow decodes every set once (`python -m albar.clip_cache`, rule
`cache_test_clips`, one job for all sets) into `runs/_test_clips/<set>.npy` + `<set>.json` and `albar.predict --clips`
reads the frames from there instead of the videos. The `.npy` is one 1-D uint8 array (memory-mapped
on reading): every item's test clip as `FrameReader` decodes it — (T, H, W, 3) RGB, the frames of
`benchmark.clips.test_clip_indices` — in the item list's order; a SCUFO item stores its one frame
(T = 1) and is repeated to the clip length on reading, as `FrameReader` does. The `.json` index
names the set, its test clip, the sha256 of the item list (items.csv or manifest.csv) it was built
from, the sha256 of the `.npy` payload and each item's id, offset and shape, so a cache built from
another item list, another test clip or a half-replaced pair is an error, never stale predictions.
Pixels are exactly the decoder's, so predictions from the cache are byte-identical to decoding.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from albar.data import (
    ClipSettings,
    DataError,
    FrameReader,
    VideoEntry,
    read_item_entries,
    read_manifest_entries,
)
from benchmark.atomic import atomic_path, write_text_atomic
from benchmark.clips import test_clip_indices

FORMAT = "albar-test-clips/1"
# a 1-D uint8 .npy header (magic, version, length, dict) padded to 64 bytes: 128 for any length
# below 10**20, so the payload can be streamed after it and the header written last
_HEADER_BYTES = 128


class ClipCacheError(DataError):
    """A test-clip cache does not fit its item list; the message names the file and what to do."""


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def index_path(clips_path: str | os.PathLike) -> Path:
    """`<set>.json` beside `<set>.npy`."""
    return Path(clips_path).with_suffix(".json")


def set_entries(
    name: str, source: str | os.PathLike, results_dir: str | os.PathLike
) -> list[VideoEntry]:
    """The entries of set `name`: the manifest's test split for `iid`, else the items.csv's."""
    if name == "iid":
        return read_manifest_entries(source, "test")
    return read_item_entries(source, results_dir)[0]


def _npy_header(length: int) -> bytes:
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|u1", "fortran_order": False, "shape": (length,)}
    )
    header = buffer.getvalue()
    if len(header) != _HEADER_BYTES:
        raise ValueError(f"unexpected .npy header length {len(header)} for {length} bytes")
    return header


def write_clip_cache(
    *,
    name: str,
    source: str | os.PathLike,
    results_dir: str | os.PathLike,
    clip: ClipSettings,
    out: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> dict:
    """Decode every item of set `name` (items.csv or, for `iid`, manifest.csv at `source`) once into
    `out` (.npy) and its index beside it; returns the index. Both are written atomically, the
    index last."""
    started = time.perf_counter()
    out = Path(out)
    if out.suffix != ".npy":
        raise ClipCacheError(f"{out}: a test-clip cache is a .npy file")
    entries = set_entries(name, source, results_dir)  # first: its error names a missing file
    source_sha = file_sha256(source)
    reader = FrameReader(cache=False)
    digest, offset, items = hashlib.sha256(), 0, []
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        handle.write(b"\0" * _HEADER_BYTES)
        for entry in entries:
            # the static frame once: FrameReader broadcasts it, so store what it read
            pick = (lambda n: [0]) if entry.static else _test_pick(clip)
            frames = np.ascontiguousarray(reader.clip(entry, pick), dtype=np.uint8)
            data = frames.tobytes()
            handle.write(data)
            digest.update(data)
            items.append([entry.key, offset, *frames.shape[:3], bool(entry.static)])
            offset += len(data)
        handle.seek(0)
        handle.write(_npy_header(offset))
    index = {
        "format": FORMAT,
        "set": name,
        "test_clip": {"frames": clip.frames, "stride": clip.stride},
        "source_sha256": source_sha,
        "clips_bytes": offset,
        "clips_sha256": digest.hexdigest(),
        "columns": ["item_id", "offset", "frames", "height", "width", "static"],
        "items": items,
    }
    write_text_atomic(index_path(out), json.dumps(index, indent=0, sort_keys=True) + "\n")
    seconds = time.perf_counter() - started
    log(
        f"{name}: cached {len(entries)} test clips ({offset / 2**20:.1f} MiB) in {seconds:.1f} s "
        f"({len(entries) / max(seconds, 1e-9):.0f} clips/s)"
    )
    return index


def _test_pick(clip: ClipSettings) -> Callable[[int], list[int]]:
    return lambda n: test_clip_indices(n, clip.frames, clip.stride).tolist()


class ClipCache:
    """A reader for `EvalClips` in place of `FrameReader`: `clip(entry, pick)` returns the entry's
    cached test clip. It holds only the test clip, so it checks at opening that it was built for
    this item list (`source`, the same file bytes), these entries, in this order, and this clip."""

    def __init__(
        self,
        clips_path: str | os.PathLike,
        *,
        name: str,
        source: str | os.PathLike,
        entries: Sequence[VideoEntry],
        clip: ClipSettings,
    ) -> None:
        self.path = Path(clips_path)
        rebuild = (
            "delete the cache and rerun the workflow (rule cache_test_clips rebuilds it) "
            "or rebuild it with python -m albar.clip_cache"
        )
        index_file = index_path(self.path)
        try:
            index = json.loads(index_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClipCacheError(
                f"{index_file}: test-clip cache index not found; {rebuild}"
            ) from None
        except (OSError, ValueError) as error:
            raise ClipCacheError(
                f"{index_file}: not a test-clip cache index ({error}); {rebuild}"
            ) from None
        if not isinstance(index, dict) or index.get("format") != FORMAT:
            raise ClipCacheError(f"{index_file}: not a {FORMAT} index; {rebuild}")
        if index.get("set") != name:
            raise ClipCacheError(
                f"{index_file}: holds set {index.get('set')!r}, not {name!r}; {rebuild}"
            )
        wanted = {"frames": clip.frames, "stride": clip.stride}
        if index.get("test_clip") != wanted:
            raise ClipCacheError(
                f"{index_file}: built for test clip {index.get('test_clip')}, prediction uses "
                f"{wanted}; {rebuild}"
            )
        if index.get("source_sha256") != file_sha256(source):
            raise ClipCacheError(
                f"{index_file}: built from another version of {source} (the item list changed "
                f"since); {rebuild}"
            )
        try:
            rows = [
                (str(i), int(o), int(t), int(h), int(w), bool(s))
                for i, o, t, h, w, s in index["items"]
            ]
            clips = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise ClipCacheError(f"{self.path}: test-clip cache not found; {rebuild}") from None
        except (KeyError, TypeError, ValueError, OSError) as error:
            raise ClipCacheError(
                f"{self.path}: unreadable test-clip cache ({error}); {rebuild}"
            ) from None
        if clips.dtype != np.uint8 or clips.ndim != 1 or clips.size != index.get("clips_bytes"):
            raise ClipCacheError(
                f"{self.path}: holds {clips.dtype} {clips.shape}, its index says uint8 "
                f"({index.get('clips_bytes')},); {rebuild}"
            )
        if hashlib.sha256(memoryview(clips)).hexdigest() != index.get("clips_sha256"):
            raise ClipCacheError(
                f"{self.path}: contents do not match its index (sha256); {rebuild}"
            )
        keys = [e.key for e in entries]
        if [r[0] for r in rows] != keys or [r[5] for r in rows] != [e.static for e in entries]:
            raise ClipCacheError(f"{index_file}: its items are not {source}'s, in order; {rebuild}")
        self._clips, self._frames = clips, clip.frames
        self._rows = {r[0]: r[1:5] for r in rows}

    def clip(self, entry: VideoEntry, pick) -> np.ndarray:
        """The entry's test clip, (T, H, W, 3) uint8; `pick` is the test clip's (checked at opening)."""
        offset, t, h, w = self._rows[entry.key]
        frames = np.array(self._clips[offset : offset + t * h * w * 3]).reshape(t, h, w, 3)
        if entry.static:  # SCUFO: the one frame repeated, as FrameReader does
            return np.broadcast_to(frames[0], (len(pick(1)), h, w, 3))
        return frames


def main(argv=None) -> int:
    from benchmark.config import ConfigError, add_config_arguments, config_from_args
    from benchmark.runtime import set_threads

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_arguments(parser)
    parser.add_argument(
        "--set",
        nargs=2,
        action="append",
        required=True,
        metavar=("NAME", "SOURCE"),
        help="a set (iid or <variant>/<protocol>-<source>) and its items.csv (manifest.csv for "
        "iid); repeat for every set",
    )
    parser.add_argument(
        "--results", required=True, help="results/<dataset>/ (item paths are relative to it)"
    )
    parser.add_argument("--out", required=True, help="cache folder: writes <out>/<set>.npy, .json")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    started = time.perf_counter()
    try:
        clip_cfg = config_from_args(args)["benchmark"]["test_clip"]
        clip = ClipSettings(int(clip_cfg["frames"]), int(clip_cfg["stride"]))
        names = [name for name, _ in args.set]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ClipCacheError(f"sets {repeated} given more than once")
        # one process for every set: on small sets, starting Python and torch costs more than
        # the decoding of a set
        total = 0
        for name, source in args.set:
            index = write_clip_cache(
                name=name,
                source=source,
                results_dir=args.results,
                clip=clip,
                out=Path(args.out) / f"{name}.npy",
            )
            total += len(index["items"])
    except (DataError, ConfigError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    print(
        f"cached {total} test clips of {len(args.set)} sets in {seconds:.1f} s "
        f"({total / max(seconds, 1e-9):.0f} clips/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
