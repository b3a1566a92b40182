"""Importers of the officially released bias benchmarks into an items.csv-indexed benchmark folder.

The output has this project's layout (`OUT/bench/<variant>/<protocol>-<source>/items.csv` and
`items/`), so `python -m benchmark.scoring score --bench-dir OUT --no-iid` and `BenchmarkClips`
read it like a build. Items are paired by name, never by position; an item without its partner
(or a list entry without its frames, or frames without a list entry) is an error naming it. What
a layout cannot supply is written as such: `background_id` "unknown", `first_frame` 0.

- ALBAR (`<DATASET>_SCUBA_<Source>/<name>__<k>.zip`, `<DATASET>_SCUFO_<Source>/<name>__<k>.jpg`):
  labels from the names as its loader derives them — UCF101 `v_<Class>_g..` through its class
  mapping (1-based, minus 1) or our 101-class list, other datasets by looking `<name>.avi` up in a
  `filename,label` table (its `hmdb51_labels.csv`). A SCUFO image's `static_frame` is the SCUBA frame
  it matches best (PSNR). Its Confl-FG folders carry no static-actor label and are left out (named).
- StillMix (`<set>/generated_videos/<name>__<k>/frame000001.jpg...` with list files
  `<set>/**/testlist0<split>.txt` of `<name>__<k> <frames> <label>` lines; Confl-FG with
  `dynamic_` and `static_testlist0<split>.txt`): StillMix released no SCUFO (its README: SCUFO is
  sampled from SCUBA at test time), so each SCUFO item freezes one frame of its SCUBA item's
  centred test clip (the middle one, or a seeded random one) — the same rule our assembly uses
  without a mask. Frames are re-packed byte for byte into an item zip.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.clips import test_clip_indices
from benchmark.composite.paste import choose_static_frame
from benchmark.datasets.ucf101 import CLASS_LABEL
from benchmark.exports import PROTOCOL_TITLES, SOURCE_TITLES
from benchmark.ids import item_id, item_rng, sanitize_video_id
from benchmark.release.files import ReleaseError, staged_folder
from benchmark.table_files import item_row, write_items
from benchmark.video import (
    FRAME_EXTENSIONS,
    VideoReadError,
    open_video,
    pixels_sha256,
    read_image,
    write_image,
)

ALBAR_FOLDER = re.compile(
    r"^(?P<dataset>[A-Za-z0-9]+)_(?P<protocol>SCUBA|SCUFO|ConflFG)_(?P<source>[A-Za-z0-9]+)$"
)
STILLMIX_SET = re.compile(
    r"^(?P<kind>replacebackground_with_[a-z]+(?:_and_[a-z]+)?|mix_dynamic_static_same_bg)"
    r"(?P<static>_static)?_for_(?:[A-Za-z0-9]+_)?test_(?P<source>[a-z0-9]+)$"
)
VERSIONED_NAME = re.compile(r"^(?P<video>.+)__(?P<k>\d+)$")
UCF101_NAME = re.compile(r"^v_(?P<cls>[A-Za-z]+)_g\d+_c\d+$")
# Release spellings of background sources that differ from ours.
SOURCE_NAMES = {title.lower(): name for name, title in SOURCE_TITLES.items()} | {
    "place365": "places365"
}
PROTOCOLS_BY_TITLE = {title: protocol for protocol, title in PROTOCOL_TITLES.items()}
UNKNOWN_BACKGROUND = "unknown"


class LayoutError(ReleaseError):
    """A released layout does not fit (unpaired items, missing lists, unknown labels)."""


@dataclass
class ImportResult:
    out: Path
    layout: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = sum(self.counts.values())
        text = f"import {self.layout} -> {self.out}: {total} items in {len(self.counts)} sets"
        return text + "".join(f"\nnote: {note}" for note in self.notes)


def source_name(title: str) -> str:
    """A release's background-source spelling (Places365, VQGAN, place365, ...) -> ours."""
    return SOURCE_NAMES.get(title.lower(), re.sub(r"[^a-z0-9_]", "_", title.lower()))


def split_name(name: str, where: Path) -> tuple[str, int]:
    """`<video>__<k>` -> (video name, k)."""
    match = VERSIONED_NAME.match(name)
    if not match:
        raise LayoutError(f"{where}: name {name!r} does not end in __<k> (the version)")
    return match["video"], int(match["k"])


def _row(**values) -> dict:
    row = item_row(
        background_id=UNKNOWN_BACKGROUND, first_frame=0, static_label=None, static_video_id=None
    )
    row.update(values)
    return row


def _unpaired(left: set[str], right: set[str], left_where: Path, right_where: Path) -> None:
    only_left, only_right = sorted(left - right), sorted(right - left)
    if only_left or only_right:
        problems = []
        if only_left:
            problems.append(
                f"{left_where} has {only_left[:5]} ({len(only_left)}) without a partner"
            )
        if only_right:
            problems.append(
                f"{right_where} has {only_right[:5]} ({len(only_right)}) without a partner"
            )
        raise LayoutError("unpaired items (pairing is by name): " + "; ".join(problems))


def _video_ids(names: list[str], where: Path) -> dict[str, str]:
    """Release video name -> our video_id (sanitised; two names on one id is an error)."""
    ids: dict[str, str] = {}
    owner: dict[str, str] = {}
    for name in sorted(set(names)):
        video_id = sanitize_video_id(name)
        if video_id in owner:
            raise LayoutError(
                f"{where}: videos {owner[video_id]!r} and {name!r} both map to id {video_id!r}"
            )
        owner[video_id] = name
        ids[name] = video_id
    return ids


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _write_import_record(out: Path, result: ImportResult, source: Path) -> None:
    record = {
        "layout": result.layout,
        "source": source.name,
        "counts": result.counts,
        "notes": result.notes,
    }
    (out / "import.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# ALBAR


def albar_labeller(
    labels: str, labels_csv: str | os.PathLike | None, class_mapping: str | os.PathLike | None
) -> Callable[[str, Path], int]:
    """The label of a release video name, as the ALBAR loader derives it."""
    if labels == "ucf101":
        mapping = CLASS_LABEL
        if class_mapping is not None:
            classes = json.loads(Path(class_mapping).read_text())["classes"]
            mapping = {name: int(index) - 1 for name, index in classes.items()}

        def ucf101(video: str, where: Path) -> int:
            match = UCF101_NAME.match(video)
            if not match or match["cls"] not in mapping:
                raise LayoutError(
                    f"{where}: {video!r} is not a UCF101 name v_<Class>_gXX_cXX of a known class"
                )
            return mapping[match["cls"]]

        return ucf101
    if labels_csv is None:
        raise LayoutError("--labels csv needs --labels-csv FILE (filename,label)")
    table = pd.read_csv(labels_csv, dtype={"filename": str}, keep_default_na=False)
    if not {"filename", "label"} <= set(table.columns):
        raise LayoutError(f"{labels_csv}: needs columns filename,label")
    by_name = {Path(f).name: int(v) for f, v in zip(table["filename"], table["label"], strict=True)}
    by_stem = {Path(f).stem: int(v) for f, v in zip(table["filename"], table["label"], strict=True)}

    def from_table(video: str, where: Path) -> int:
        # The loader looks basename[:-7] + ".avi" up: the video name with .avi appended.
        for key, table_ in ((f"{video}.avi", by_name), (video, by_name), (video, by_stem)):
            if key in table_:
                return table_[key]
        raise LayoutError(f"{where}: video {video!r} is not in {labels_csv}")

    return from_table


def _scan_item(path: Path, still: np.ndarray, where: Path) -> tuple[int, str, int]:
    """(frames, `pixels_sha256`, the frame closest to `still` in mean squared error) of an item,
    decoded one frame at a time."""
    digest = hashlib.sha256()
    count, best, best_error = 0, 0, np.inf
    with open_video(path) as (_, frames):
        for t, frame in enumerate(frames):
            if t == 0 and still.shape != frame.shape:
                raise LayoutError(f"{where}: size {still.shape[:2]} differs from its SCUBA item's")
            digest.update(np.ascontiguousarray(frame).tobytes())
            error = ((frame[None].astype(np.float32) - still.astype(np.float32)) ** 2).mean(
                axis=(1, 2, 3)
            )[0]
            if error < best_error:
                best, best_error = t, error
            count = t + 1
    return count, digest.hexdigest(), best


def _scan_and_keep(path: Path, keep: int | None) -> tuple[str, np.ndarray | None]:
    """(`pixels_sha256`, frame `keep` or None) of an item, decoded one frame at a time."""
    digest = hashlib.sha256()
    kept = None
    with open_video(path) as (_, frames):
        for t, frame in enumerate(frames):
            digest.update(np.ascontiguousarray(frame).tobytes())
            if t == keep:
                kept = frame
    if keep is not None and kept is None:
        raise VideoReadError(f"{path}: has no frame {keep}")
    return digest.hexdigest(), kept


def import_albar(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    labels: str,
    labels_csv: str | os.PathLike | None = None,
    class_mapping: str | os.PathLike | None = None,
    variant: str = "albar",
) -> ImportResult:
    source, out = Path(source), Path(out)
    label_of = albar_labeller(labels, labels_csv, class_mapping)
    folders: dict[tuple[str, str], Path] = {}
    result = ImportResult(out, "albar")
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        match = ALBAR_FOLDER.match(folder.name)
        if not match:
            continue
        protocol = PROTOCOLS_BY_TITLE[match["protocol"]]
        if protocol == "conflfg":
            result.notes.append(
                f"{folder.name} left out: the ALBAR layout has no static-actor labels for Confl-FG"
            )
            continue
        folders[(protocol, source_name(match["source"]))] = folder
    if not folders:
        raise LayoutError(f"{source}: no <DATASET>_SCUBA_<Source>/ or _SCUFO_ folders")
    bg_sources = sorted({s for _, s in folders})
    with staged_folder(out) as staging:
        for bg in bg_sources:
            scuba_dir, scufo_dir = folders.get(("scuba", bg)), folders.get(("scufo", bg))
            if scuba_dir is None or scufo_dir is None:
                present = scuba_dir or scufo_dir
                raise LayoutError(f"{present}: its SCUBA / SCUFO partner folder is missing")
            scuba = _albar_entries(scuba_dir, (".zip",))
            scufo = _albar_entries(scufo_dir, (".jpg", ".jpeg", ".png"))
            _unpaired(set(scuba), set(scufo), scuba_dir, scufo_dir)
            videos = _video_ids([split_name(n, scuba_dir)[0] for n in scuba], scuba_dir)
            scuba_rows, scufo_rows = [], []
            for name in sorted(scuba):
                video, k = split_name(name, scuba[name])
                video_id, label = videos[video], label_of(video, scuba[name])
                scuba_id, scufo_id = item_id(video_id, k), item_id(video_id, k, static=True)
                rel = Path("bench") / variant / f"scuba-{bg}" / "items" / f"{scuba_id}.zip"
                _link_or_copy(scuba[name], staging / rel)
                still_rel = (
                    Path("bench")
                    / variant
                    / f"scufo-{bg}"
                    / "items"
                    / f"{scufo_id}{scufo[name].suffix}"
                )
                _link_or_copy(scufo[name], staging / still_rel)
                still = read_image(staging / still_rel)
                frames, digest, static_frame = _scan_item(staging / rel, still, scufo[name])
                common = dict(video_id=video_id, version=k, source=bg, variant=variant, label=label)
                scuba_rows.append(
                    _row(
                        item_id=scuba_id,
                        protocol="scuba",
                        frames=frames,
                        pair_id=scufo_id,
                        path=rel.as_posix(),
                        sha256=digest,
                        **common,
                    )
                )
                scufo_rows.append(
                    _row(
                        item_id=scufo_id,
                        protocol="scufo",
                        frames=frames,
                        static_frame=static_frame,
                        pair_id=scuba_id,
                        path=still_rel.as_posix(),
                        sha256=pixels_sha256(still),
                        **common,
                    )
                )
            for protocol, rows in (("scuba", scuba_rows), ("scufo", scufo_rows)):
                table = staging / "bench" / variant / f"{protocol}-{bg}" / "items.csv"
                write_items(table, rows)
                result.counts[f"{variant}/{protocol}-{bg}"] = len(rows)
        _write_import_record(staging, result, source)
    return result


def _albar_entries(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """{name without suffix: path} of one ALBAR folder; anything else there is an error."""
    entries = {}
    for path in sorted(folder.iterdir()):
        if path.is_dir() or path.suffix.lower() not in suffixes:
            kind = "a folder" if path.is_dir() else "a file"
            raise LayoutError(
                f"{path}: {kind} where the ALBAR loader expects {' / '.join(suffixes)} entries"
            )
        entries[path.name[: -len(path.suffix)]] = path
    return entries


# ---------------------------------------------------------------------------------------------
# StillMix


def _find_list(lists: Path, set_name: str, filename: str) -> Path:
    found = sorted((lists / set_name).rglob(filename)) if (lists / set_name).is_dir() else []
    if len(found) != 1:
        raise LayoutError(
            f"{lists / set_name}: expected one {filename} below it, found {len(found)}"
        )
    return found[0]


def read_stillmix_list(path: Path) -> dict[str, tuple[int, int]]:
    """`<name> <frames> <label>` lines -> {name: (frames, label)}; a repeated name is an error."""
    entries: dict[str, tuple[int, int]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise LayoutError(f"{path}: line {number} is not '<name> <frames> <label>'")
        if parts[0] in entries:
            raise LayoutError(f"{path}: {parts[0]!r} is listed twice")
        entries[parts[0]] = (int(parts[1]), int(parts[2]))
    return entries


def _frame_zip(folder: Path, target: Path) -> int:
    """The folder's frames (sorted names) as img_00001.jpg... in a stored zip, bytes unchanged."""
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_EXTENSIONS)
    if not frames:
        raise LayoutError(f"{folder}: no frame images")
    target.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index, frame in enumerate(frames, start=1):
            info = zipfile.ZipInfo(f"img_{index:05d}{frame.suffix.lower()}", (1980, 1, 1, 0, 0, 0))
            archive.writestr(info, frame.read_bytes())
    target.write_bytes(buffer.getvalue())
    return len(frames)


def import_stillmix(
    source: str | os.PathLike,
    out: str | os.PathLike,
    *,
    lists: str | os.PathLike,
    split: int = 1,
    variant: str = "stillmix",
    scufo_from_scuba: str = "middle",
    test_clip: dict | None = None,
    seed: int = 0,
) -> ImportResult:
    source, out, lists = Path(source), Path(out), Path(lists)
    clip = test_clip or {"frames": 32, "stride": 2}
    result = ImportResult(out, "stillmix")
    sets: list[tuple[str, str, Path]] = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        match = STILLMIX_SET.match(folder.name)
        if not match:
            continue
        if match["static"]:
            result.notes.append(
                f"{folder.name} left out: SCUFO items are frozen frames of the SCUBA items"
            )
            continue
        protocol = "conflfg" if match["kind"] == "mix_dynamic_static_same_bg" else "scuba"
        sets.append((protocol, source_name(match["source"]), folder))
    if not sets:
        raise LayoutError(
            f"{source}: no StillMix set folders (replacebackground_with_*_for_*test_<source>)"
        )
    with staged_folder(out) as staging:
        for protocol, bg, folder in sets:
            frames_root = (
                folder / "generated_videos" if (folder / "generated_videos").is_dir() else folder
            )
            if protocol == "conflfg":
                list_path = _find_list(lists, folder.name, f"dynamic_testlist0{split}.txt")
                listed = read_stillmix_list(list_path)
                static_path = _find_list(lists, folder.name, f"static_testlist0{split}.txt")
                static = read_stillmix_list(static_path)
                _unpaired(set(listed), set(static), frames_root, static_path)
            else:
                list_path = _find_list(lists, folder.name, f"testlist0{split}.txt")
                listed = read_stillmix_list(list_path)
            on_disk = {p.name: p for p in frames_root.iterdir() if p.is_dir()}
            _unpaired(set(listed), set(on_disk), list_path, frames_root)
            videos = _video_ids([split_name(n, frames_root)[0] for n in listed], frames_root)
            rows, scufo_rows = [], []
            for name in sorted(listed):
                video, k = split_name(name, on_disk[name])
                video_id = videos[video]
                frames_listed, label = listed[name]
                own_id = item_id(video_id, k)
                rel = Path("bench") / variant / f"{protocol}-{bg}" / "items" / f"{own_id}.zip"
                count = _frame_zip(on_disk[name], staging / rel)
                if count != frames_listed:
                    raise LayoutError(
                        f"{on_disk[name]}: {count} frames, its list entry says {frames_listed}"
                    )
                frozen = None
                if protocol == "scuba":
                    indices = test_clip_indices(count, clip["frames"], clip["stride"])
                    rng = item_rng(seed, "scufo", bg, video_id, k)
                    frozen = choose_static_frame(
                        np.ones(count, bool), indices, scufo_from_scuba, rng
                    )
                digest, still = _scan_and_keep(staging / rel, frozen)
                common = dict(video_id=video_id, version=k, source=bg, variant=variant, label=label)
                row = _row(
                    item_id=own_id,
                    protocol=protocol,
                    frames=count,
                    path=rel.as_posix(),
                    sha256=digest,
                    **common,
                )
                if protocol == "conflfg":
                    row["static_label"] = static[name][1]
                    rows.append(row)
                    continue
                scufo_id = item_id(video_id, k, static=True)
                row["pair_id"] = scufo_id
                rows.append(row)
                still_rel = Path("bench") / variant / f"scufo-{bg}" / "items" / f"{scufo_id}.png"
                write_image(staging / still_rel, still)
                scufo_rows.append(
                    _row(
                        item_id=scufo_id,
                        protocol="scufo",
                        frames=count,
                        static_frame=frozen,
                        pair_id=own_id,
                        path=still_rel.as_posix(),
                        sha256=pixels_sha256(read_image(staging / still_rel)),
                        **common,
                    )
                )
            tables = [(protocol, rows)] + ([("scufo", scufo_rows)] if protocol == "scuba" else [])
            for name, table_rows in tables:
                write_items(staging / "bench" / variant / f"{name}-{bg}" / "items.csv", table_rows)
                result.counts[f"{variant}/{name}-{bg}"] = len(table_rows)
        if scufo_from_scuba:
            result.notes.append(
                f"SCUFO built from SCUBA: the {scufo_from_scuba} frame of each item's centred "
                f"{clip['frames']}-frame clip at stride {clip['stride']}"
            )
        _write_import_record(staging, result, source)
    return result
