"""Exports of finished item sets for other code bases: mmaction2 rawframe lists and the ALBAR layout.

- mmaction2 (`exports/mmaction2/<variant>/`): one rawframe folder per item,
  `<protocol>-<source>/<item_id>/img_00001.jpg...` (SCUFO: `img_00001.png...`, the frozen frame
  hard-linked `frames` times, lossless), and a list file `<protocol>-<source>.txt` with lines
  `<item_id> <frames> <label>` (RawframeDataset's format: `data_prefix` = the `<protocol>-<source>`
  folder, `start_index` 1, `filename_tmpl='img_{:05}.png'` for the SCUFO lists). JPEG frames of
  jpeg_zip items are copied byte for byte from the item zip. `verify_mmaction2` re-reads every list
  as RawframeDataset does (whitespace-split lines of exactly three fields, `total_frames` files
  named by the template from index 1) and checks every item is listed once with its label.
- ALBAR (`exports/albar/<variant>/`): `<DATASET>_SCUBA_<Source>/<name>__<k>.zip` (JPEG frames
  `img_00001.jpg...`), `<DATASET>_SCUFO_<Source>/<name>__<k>.jpg` (ONE image: the official loader
  reads a SCUFO entry with `torchvision.io.read_image`) and `<DATASET>_ConflFG_<Source>/<name>__<k>.zip`,
  where `<name>` is the video's ORIGINAL name (the last part of the manifest's `source_name`, video
  extension dropped; HMDB51's `#()!&,` kept) — the loader takes labels from entry names: UCF101 the
  class between `/v_` and `_g0` of the path, HMDB51 `basename[:-7] + ".avi"` in its labels file, so
  a name ends in exactly `__<k>.zip` / `__<k>.jpg` (k one digit: at most 10 versions). The loader
  pairs SCUBA with SCUFO by the position in `sorted(glob(folder/*))`; `verify_albar` re-reads the
  export with those rules (`albar_label`) and checks every item is there, every position pairs an
  item with its own SCUFO, every name gives the item's label, every zip decodes (torchvision, in
  sorted member order) to the item's frame count and every SCUFO image matches its SCUBA frame.
Every file is written atomically; entries of an earlier export that are no longer items are removed;
an index (`index.csv`) and the list files are written last. `--threads N` exports (and verifies)
N items at a time; the files are the same for every N.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import glob
import json
import os
import shutil
import sys
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.atomic import atomic_path, write_bytes_atomic, write_csv_atomic, write_text_atomic
from benchmark.composite.errors import AssemblyError
from benchmark.composite.item_files import write_jpeg_zip
from benchmark.config import add_config_arguments, config_from_args, results_dir
from benchmark.layout import ItemSet, ResultsLayout, config_item_sets
from benchmark.manifest import read_manifest
from benchmark.runtime import set_threads
from benchmark.table_files import read_items
from benchmark.video import encode_jpeg, open_video, read_image

SOURCE_TITLES = {"stripe": "Stripe", "places365": "Places365", "vqgan": "VQGAN"}
PROTOCOL_TITLES = {"scuba": "SCUBA", "scufo": "SCUFO", "conflfg": "ConflFG"}
MIN_SCUFO_PSNR = 30.0  # dB between an exported SCUFO JPEG and the SCUBA frame it froze
ALBAR_SUFFIX = (
    7  # characters the loader strips from an HMDB51 entry name: "__<k>.zip" / "__<k>.jpg"
)
ALBAR_MAX_VERSIONS = 10  # k must be one digit for that
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov")
MMACTION2_TEMPLATES = {"scufo": "img_{:05}.png"}  # filename_tmpl per protocol
MMACTION2_TEMPLATE = "img_{:05}.jpg"  # RawframeDataset's default


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` at `target` (atomic replace), copying where links are not possible."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def _sets_of(config: dict, variant: str) -> list[tuple[str, str]]:
    return [(s.protocol, s.bg_source) for s in config_item_sets(config) if s.variant == variant]


def _in_order(work: Callable, jobs: Iterable, threads: int) -> Iterator:
    """`work(job)` for every job, yielded in job order. With threads > 1, up to `threads` jobs run
    at once in threads (PyAV's decoder, OpenCV's JPEG encoder and file writes release the GIL),
    and at most 2 * threads finished results wait, so memory stays bounded by a few items."""
    if threads <= 1:
        yield from map(work, jobs)
        return
    with ThreadPoolExecutor(threads) as pool:
        pending: collections.deque = collections.deque()
        try:
            for job in jobs:
                pending.append(pool.submit(work, job))
                if len(pending) >= 2 * threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:  # an error or an early stop: do not start what is left
                future.cancel()


def _run_all(work: Callable, jobs: Iterable, threads: int) -> None:
    """`work(job)` for every job (see `_in_order`); the first error is raised."""
    for _ in _in_order(work, jobs, threads):
        pass


# ---------------------------------------------------------------------------------------------
# mmaction2


def _write_rawframes(job: tuple[str, Path, Path, int], quality: int, subsampling: str) -> None:
    """One item's rawframe folder: `job` = (protocol, item file, folder, frames)."""
    protocol, item_file, folder, frame_count = job
    if protocol == "scufo":
        first = folder / mmaction2_template(protocol).format(1)
        _link_or_copy(item_file, first)
        for index in range(2, frame_count + 1):
            _link_or_copy(first, folder / mmaction2_template(protocol).format(index))
    elif item_file.suffix == ".zip":
        with zipfile.ZipFile(item_file) as archive:
            for name in sorted(archive.namelist()):
                write_bytes_atomic(folder / name, archive.read(name))
    else:
        with open_video(item_file) as (_, frames):  # one frame in memory at a time
            for index, frame in enumerate(frames, start=1):
                data = encode_jpeg(frame, quality=quality, subsampling=subsampling)
                write_bytes_atomic(folder / mmaction2_template(protocol).format(index), data)


def export_mmaction2(config: dict, variant: str, threads: int = 1) -> int:
    results = results_dir(config)
    bench = config["benchmark"]
    out = ResultsLayout(results).export_dir("mmaction2", variant)
    write = functools.partial(
        _write_rawframes, quality=bench["jpeg_quality"], subsampling=bench["jpeg_subsampling"]
    )
    written = 0
    for protocol, source in _sets_of(config, variant):
        rows = list(
            read_items(ItemSet(protocol, variant, source).items_path(results)).itertuples(
                index=False
            )
        )
        folder = out / f"{protocol}-{source}"
        _run_all(
            write,
            [(protocol, results / r.path, folder / r.item_id, r.frames) for r in rows],
            threads,
        )
        write_text_atomic(
            ResultsLayout(results).mmaction2_list(ItemSet(protocol, variant, source)),
            "".join(f"{r.item_id} {r.frames} {r.label}\n" for r in rows),
        )
        written += len(rows)
    verify_mmaction2(config, variant)  # the lists as RawframeDataset reads them, or an error
    return written


def mmaction2_template(protocol: str) -> str:
    """RawframeDataset's `filename_tmpl` for one protocol's list."""
    return MMACTION2_TEMPLATES.get(protocol, MMACTION2_TEMPLATE)


def read_rawframe_list(path: Path) -> list[tuple[str, int, int]]:
    """A list file as RawframeDataset reads it: per line `frame_dir total_frames label`
    (whitespace-split; a single label, no offset). Raises AssemblyError naming the line."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.strip().split()
        if len(fields) != 3:
            raise AssemblyError(
                f"{path}:{number}: {len(fields)} fields, RawframeDataset needs "
                "'frame_dir total_frames label'"
            )
        try:
            rows.append((fields[0], int(fields[1]), int(fields[2])))
        except ValueError as error:
            raise AssemblyError(f"{path}:{number}: {error}") from error
    return rows


def verify_mmaction2(config: dict, variant: str) -> dict:
    """Re-read the mmaction2 export as RawframeDataset would (data_prefix = the set's folder,
    start_index 1, the set's filename template) and check every item of items.csv is listed once,
    with its label and a folder holding exactly `total_frames` frames. Writes `verify.json`."""
    results = results_dir(config)
    out = ResultsLayout(results).export_dir("mmaction2", variant)
    report: dict = {"variant": variant, "items": 0, "lists": 0}
    for protocol, source in _sets_of(config, variant):
        where = ItemSet(protocol, variant, source).items_path(results)
        items = read_items(where).set_index("item_id")
        list_path = ResultsLayout(results).mmaction2_list(ItemSet(protocol, variant, source))
        if not list_path.exists():
            raise AssemblyError(f"{list_path}: not found; run the mmaction2 export first")
        rows = read_rawframe_list(list_path)
        listed = [frame_dir for frame_dir, _, _ in rows]
        if sorted(listed) != sorted(items.index) or len(set(listed)) != len(listed):
            extra = sorted(set(listed) - set(items.index))[:3]
            missing = sorted(set(items.index) - set(listed))[:3]
            raise AssemblyError(
                f"{list_path}: does not list each item of {where} once (unknown {extra}, "
                f"missing {missing}); re-run the export"
            )
        template = mmaction2_template(protocol)
        prefix = out / f"{protocol}-{source}"
        for frame_dir, total, label in rows:
            item = items.loc[frame_dir]
            if label != int(item["label"]) or total != int(item["frames"]):
                raise AssemblyError(
                    f"{list_path}: {frame_dir} has {total} frames / label {label}, {where} says "
                    f"{item['frames']} / {item['label']}"
                )
            folder = prefix / frame_dir
            expected = {template.format(i) for i in range(1, total + 1)}
            present = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
            if present != expected:
                lacking = sorted(expected - present)[:3]
                raise AssemblyError(
                    f"{folder}: holds {len(present)} files, RawframeDataset reads {total} named "
                    f"{template!r} (missing {lacking}); re-run the export"
                )
            report["items"] += 1
        report["lists"] += 1
    write_text_atomic(
        ResultsLayout(results).export_verify("mmaction2", variant),
        json.dumps(report, indent=2, sort_keys=True) + "\n",
    )
    return report


# ---------------------------------------------------------------------------------------------
# ALBAR


def albar_folder(config: dict, protocol: str, source: str) -> str:
    title = SOURCE_TITLES.get(source, source.title().replace("_", ""))
    return f"{albar_dataset(config)}_{PROTOCOL_TITLES[protocol]}_{title}"


def albar_dataset(config: dict) -> str:
    return config["benchmark"]["exports"]["albar_dataset"] or config["dataset"]["name"].upper()


def original_name(source_name: str) -> str:
    """A video's own name from the manifest's `source_name`: its last path part, extension dropped
    (`Class/v_Class_g01_c01.avi` -> `v_Class_g01_c01`; HMDB51 names keep every character)."""
    name = source_name.replace("\\", "/").rstrip("/").split("/")[-1]
    for ext in VIDEO_EXTENSIONS:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def albar_names(manifest: pd.DataFrame) -> dict[str, str]:
    """video_id -> the name ALBAR entries of that video start with; two videos with the same
    original name (the loader could not tell them apart) are an error naming both."""
    names: dict[str, str] = {}
    owner: dict[str, str] = {}
    for video_id, source_name in zip(manifest["video_id"], manifest["source_name"], strict=True):
        name = original_name(str(source_name)) or str(video_id)
        if name in (".", "..") or "\x00" in name:
            raise AssemblyError(f"manifest: video {video_id}: {source_name!r} is no file name")
        if name in owner and owner[name] != video_id:
            raise AssemblyError(
                f"manifest: videos {owner[name]} and {video_id} share the original name {name!r}; "
                "the ALBAR loader tells items apart by that name only"
            )
        owner[name] = str(video_id)
        names[str(video_id)] = name
    return names


def albar_entry(names: dict[str, str], video_id: str, version: int, protocol: str) -> str:
    """The entry file name of one item: `<name>__<k>.zip`, or `.jpg` for SCUFO."""
    if not 0 <= int(version) < ALBAR_MAX_VERSIONS:
        raise AssemblyError(
            f"item {video_id}__{version}: the ALBAR loader needs one-digit versions "
            f"(benchmark.versions <= {ALBAR_MAX_VERSIONS}); turn benchmark.exports.albar off or lower it"
        )
    return f"{names[video_id]}__{int(version)}{'.jpg' if protocol == 'scufo' else '.zip'}"


def _remove_stale(folder: Path, keep: set[str]) -> None:
    """Delete entries of an earlier export that are not items any more: the loader globs `*`, so
    a stale file or folder would be read as an item."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _write_albar_entry(job: tuple[str, Path, Path], quality: int, subsampling: str) -> None:
    """One item's ALBAR entry: `job` = (protocol, item file, entry path)."""
    protocol, item_file, target = job
    if protocol == "scufo":
        frame = read_image(item_file)
        write_bytes_atomic(target, encode_jpeg(frame, quality=quality, subsampling=subsampling))
    elif item_file.suffix == ".zip":
        _link_or_copy(item_file, target)
    else:
        with open_video(item_file) as (_, frames):  # one frame in memory at a time
            write_jpeg_zip(target, frames, quality=quality, subsampling=subsampling)


def export_albar(config: dict, variant: str, threads: int = 1) -> int:
    results = results_dir(config)
    bench = config["benchmark"]
    out = ResultsLayout(results).export_dir("albar", variant)
    names = albar_names(read_manifest(ResultsLayout(results).manifest))
    write = functools.partial(
        _write_albar_entry, quality=bench["jpeg_quality"], subsampling=bench["jpeg_subsampling"]
    )
    index_rows = []
    for protocol, source in _sets_of(config, variant):
        rows = list(
            read_items(ItemSet(protocol, variant, source).items_path(results)).itertuples(
                index=False
            )
        )
        folder = out / albar_folder(config, protocol, source)
        entries = [albar_entry(names, r.video_id, r.version, protocol) for r in rows]
        jobs = [
            (protocol, results / r.path, folder / e) for r, e in zip(rows, entries, strict=True)
        ]
        _run_all(write, jobs, threads)
        index_rows += [
            {
                "folder": folder.name,
                "entry": entry,
                "item_id": row.item_id,
                "protocol": protocol,
                "source": source,
            }
            for row, entry in zip(rows, entries, strict=True)
        ]
        _remove_stale(folder, set(entries))
    write_csv_atomic(
        ResultsLayout(results).albar_export_index(variant),
        pd.DataFrame(index_rows, columns=["folder", "entry", "item_id", "protocol", "source"]),
    )
    return len(index_rows)


# --- the official loader's rules, re-implemented to check an export --------------------------


def albar_label_rule(config: dict) -> str:
    """Which of the loader's label rules reads this export: `ucf101` or `hmdb51` by the folder's
    dataset prefix (as the loader decides); any other dataset is read with the HMDB51 rule (a name
    looked up in a labels file), the loader's rule for every dataset with a labels csv."""
    dataset = albar_dataset(config).lower()
    return "ucf101" if "ucf101" in dataset else "hmdb51"


def albar_label(path: str, rule: str, table: dict[str, int]) -> int:
    """The label the official loader gives the entry at `path`, or KeyError if it finds none.

    ucf101: the class name between the last `/v_` and the next `_g0` of the path, looked up in
    the class mapping (1-based index) minus 1; `table` maps class name -> 1-based index.
    hmdb51: `basename(path)[:-7] + ".avi"` looked up in the labels file; `table` maps
    `<original name>.avi` -> label."""
    if rule == "ucf101":
        return int(table[path.split(f"{os.sep}v_")[-1].split("_g0")[0]]) - 1
    return int(table[os.path.basename(path)[:-ALBAR_SUFFIX] + ".avi"])


def albar_label_table(rule: str, manifest: pd.DataFrame) -> dict[str, int]:
    """The release's class mapping (ucf101) or labels file (hmdb51), from our manifest.

    ucf101: class name -> 1-based index, under the class's own name and under the spelling its
    videos' names use (UCF101's `HandstandPushups` videos are named `v_HandStandPushups_…`, and the
    loader parses the class from the video name)."""
    if rule == "ucf101":
        table = {
            str(n): int(k) + 1
            for n, k in zip(manifest["label_name"], manifest["label"], strict=True)
        }
        for source, label in zip(manifest["source_name"], manifest["label"], strict=True):
            name = original_name(str(source))
            if name.startswith("v_") and "_g0" in name:
                table.setdefault(name[2:].split("_g0")[0], int(label) + 1)
        return table
    return {
        original_name(str(s)) + ".avi": int(k)
        for s, k in zip(manifest["source_name"], manifest["label"], strict=True)
    }


def _loader_entries(folder: Path) -> list[str]:
    """Exactly what the loader lists: sorted(glob(os.path.join(folder, '*')))."""
    return sorted(glob.glob(os.path.join(glob.escape(str(folder)), "*")))


def _decode_zip(path: str, keep: int | None = None) -> tuple[int, np.ndarray | None]:
    """Decode every frame of a SCUBA / Confl-FG zip as the loader does (members in sorted name
    order, each with torchvision's decoder), one frame in memory at a time; returns the frame count
    and frame `keep` ((H, W, 3) uint8; None when not asked for or absent)."""
    import torch
    import torchvision

    count, kept = 0, None
    try:
        with zipfile.ZipFile(path) as archive:
            for count, name in enumerate(sorted(archive.namelist()), start=1):
                data = torch.frombuffer(bytearray(archive.read(name)), dtype=torch.uint8)
                frame = torchvision.io.decode_image(data)
                if count - 1 == keep:
                    kept = frame.permute(1, 2, 0).numpy()
    except (zipfile.BadZipFile, RuntimeError, OSError) as error:
        raise AssemblyError(
            f"{path}: the loader cannot read this entry ({error}); re-run the ALBAR export"
        ) from error
    return count, kept


@contextlib.contextmanager
def _torchvision_image_io():
    """torchvision 0.29 deprecates its image decoders (one warning per call); the loader we check
    uses exactly them, so we do too, without the warnings. Entered once around the whole check
    (the warning filters are global: not safe to enter in each thread)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")
        yield


def _read_scufo(path: str) -> np.ndarray:
    """A SCUFO entry as the loader reads it: torchvision.io.read_image(path); (H, W, 3) uint8."""
    import torchvision

    return torchvision.io.read_image(path).permute(1, 2, 0).numpy()


def _decode_pair(job: tuple[str, int, str]) -> tuple[int, np.ndarray | None, np.ndarray]:
    """A SCUBA zip and its SCUFO image as the loader reads them: `job` = (SCUBA entry, its frozen
    frame's index, SCUFO entry) -> (SCUBA frame count, that frame, the SCUFO image)."""
    scuba_entry, keep, scufo_entry = job
    count, frozen = _decode_zip(scuba_entry, keep=keep)
    return count, frozen, _read_scufo(scufo_entry)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


class _AlbarSet:
    """One exported folder read back: loader entries -> item rows (via index.csv)."""

    def __init__(self, config, variant, protocol, source, index, label_of: Callable[[str], int]):
        results = results_dir(config)
        self.where = ItemSet(protocol, variant, source).items_path(results)
        self.items = read_items(self.where).set_index("item_id")
        self.folder = ResultsLayout(results).export_dir("albar", variant) / albar_folder(
            config, protocol, source
        )
        listed = index[index["folder"] == self.folder.name]
        self.item_of = dict(zip(listed["entry"], listed["item_id"], strict=True))
        self.entries = _loader_entries(self.folder)
        found = [Path(e).name for e in self.entries]
        unknown = sorted(set(found) - set(self.item_of))
        if unknown:
            raise AssemblyError(
                f"{self.folder}: entries {unknown[:3]} are no items of {self.where}; re-run the export"
            )
        missing = sorted(set(self.items.index) - {self.item_of[n] for n in found})
        if missing:
            raise AssemblyError(
                f"{self.folder}: items {missing[:3]} of {self.where} have no entry ({len(missing)}); "
                "re-run the export"
            )
        for entry in self.entries:  # every name must give its item's label, before any pairing
            self._check_label(entry, label_of)

    def _check_label(self, entry: str, label_of: Callable[[str], int]) -> None:
        row = self.items.loc[self.item_of[Path(entry).name]]
        try:
            label = label_of(entry)
        except (KeyError, ValueError, IndexError) as error:
            raise AssemblyError(
                f"{entry}: the ALBAR loader finds no label for this name ({error!r}); the name must "
                "be the original video name plus __<k>.zip / __<k>.jpg"
            ) from error
        if label != int(row["label"]):
            raise AssemblyError(
                f"{entry}: the ALBAR loader reads label {label}, {self.where} says {row['label']}"
            )

    def item(self, entry: str) -> pd.Series:
        """The item row of one loader entry."""
        return self.items.loc[self.item_of[Path(entry).name]]


def verify_albar(config: dict, variant: str, threads: int = 1) -> dict:
    """Re-read the ALBAR export of a variant with the official loader's rules (module docstring).

    Returns counts, the label rule and the lowest SCUFO PSNR; writes `verify.json`; raises
    AssemblyError naming the entry (and position) of the first missing, misnamed, mislabelled,
    misaligned or broken one.
    """
    results = results_dir(config)
    index_path = ResultsLayout(results).albar_export_index(variant)
    if not index_path.exists():
        raise AssemblyError(f"{index_path}: not found; run the ALBAR export first")
    index = pd.read_csv(index_path, dtype=str, keep_default_na=False)
    rule = albar_label_rule(config)
    table = albar_label_table(rule, read_manifest(ResultsLayout(results).manifest))

    def label_of(path: str) -> int:
        return albar_label(path, rule, table)

    report: dict = {
        "variant": variant,
        "label_rule": rule,
        "pairs": 0,
        "conflfg": 0,
        "min_scufo_psnr_db": None,
    }
    with _torchvision_image_io():
        _check_albar_sets(config, variant, index, label_of, threads, report)
    write_text_atomic(
        ResultsLayout(results).export_verify("albar", variant),
        json.dumps(report, indent=2, sort_keys=True) + "\n",
    )
    return report


def _check_albar_sets(config, variant, index, label_of, threads: int, report: dict) -> None:
    """verify_albar's checks of every SCUBA / SCUFO pair and Confl-FG entry, decoding `threads`
    entries at a time and reporting the first problem in the loader's order; fills `report`."""
    out = ResultsLayout(results_dir(config)).export_dir("albar", variant)
    psnrs = []
    sets = _sets_of(config, variant)
    for source in sorted({s for p, s in sets if p == "scuba"}):
        scuba = _AlbarSet(config, variant, "scuba", source, index, label_of)
        scufo = _AlbarSet(config, variant, "scufo", source, index, label_of)
        pairs = [  # (SCUBA entry, SCUFO entry, that SCUFO's item row), as the loader pairs them
            (s, f, scufo.item(f)) for s, f in zip(scuba.entries, scufo.entries, strict=True)
        ]
        jobs = [(s, int(static["static_frame"]), f) for s, f, static in pairs]
        with contextlib.closing(_in_order(_decode_pair, jobs, threads)) as decoded:
            for position, (scuba_entry, scufo_entry, static) in enumerate(pairs):
                item = scuba.item(scuba_entry)
                if static["pair_id"] != item.name:
                    raise AssemblyError(
                        f"{out}: the loader pairs {Path(scuba_entry).name} with "
                        f"{Path(scufo_entry).name} (sorted position {position}), but that SCUFO "
                        f"item belongs to {static['pair_id']}; rename the items"
                    )
                psnrs.append(_pair_psnr(scuba_entry, scufo_entry, item, static, *next(decoded)))
                report["pairs"] += 1
    for protocol, source in sets:
        if protocol != "conflfg":
            continue
        conflfg = _AlbarSet(config, variant, protocol, source, index, label_of)
        with contextlib.closing(_in_order(_decode_zip, conflfg.entries, threads)) as decoded:
            for entry, (count, _) in zip(conflfg.entries, decoded, strict=True):
                item = conflfg.item(entry)
                if count != int(item["frames"]):
                    raise AssemblyError(f"{entry}: {count} frames, items.csv says {item['frames']}")
                report["conflfg"] += 1
    report["min_scufo_psnr_db"] = None if not psnrs else round(min(min(psnrs), 99.0), 2)


def _pair_psnr(scuba_entry, scufo_entry, item, static, count, frozen, still) -> float:
    """One decoded SCUBA / SCUFO pair (`_decode_pair`) checked against items.csv (frame count,
    size, PSNR at least MIN_SCUFO_PSNR); returns the PSNR."""
    if count != int(item["frames"]):
        raise AssemblyError(f"{scuba_entry}: {count} frames, items.csv says {item['frames']}")
    if still.shape != frozen.shape:
        raise AssemblyError(f"{scufo_entry}: size {still.shape} != SCUBA frame {frozen.shape}")
    psnr = _psnr(still, frozen)
    if psnr < MIN_SCUFO_PSNR:
        raise AssemblyError(
            f"{scufo_entry}: PSNR {psnr:.1f} dB against frame "
            f"{static['static_frame']} of {scuba_entry}: not its frozen frame"
        )
    return psnr


def export(config: dict, variant: str, fmt: str, threads: int = 1) -> int:
    if fmt == "mmaction2":
        return export_mmaction2(config, variant, threads)
    if fmt == "albar":
        return export_albar(config, variant, threads)
    raise ValueError(f"unknown export format {fmt!r}")


def verify(config: dict, variant: str, fmt: str, threads: int = 1) -> dict:
    """Re-read one export as its consumer would; see verify_mmaction2 / verify_albar."""
    if fmt == "mmaction2":
        return verify_mmaction2(config, variant)
    if fmt == "albar":
        return verify_albar(config, variant, threads)
    raise ValueError(f"unknown export format {fmt!r}")


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.exports", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("export", "verify"):
        command = sub.add_parser(name, help=f"{name} the exports of one variant")
        command.add_argument("--variant", required=True)
        command.add_argument("--format", choices=("mmaction2", "albar"), required=True)
        add_config_arguments(command)
        command.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    config = config_from_args(args)
    started = time.perf_counter()
    if args.command == "export":
        written = export(config, args.variant, args.format, args.threads)
        summary = f"export {args.format} {args.variant}: {written} items"
    else:
        report = verify(config, args.variant, args.format, args.threads)
        summary = f"verify {args.format} {args.variant}: {json.dumps(report, sort_keys=True)}"
    seconds = time.perf_counter() - started
    print(f"{summary} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
