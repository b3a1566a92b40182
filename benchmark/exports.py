"""Exports of finished item sets for other code bases: mmaction2 rawframe lists and the ALBAR layout.

- mmaction2 (`exports/mmaction2/<variant>/`): one rawframe folder per item,
  `<protocol>-<source>/<item_id>/img_00001.jpg...` (SCUFO: `img_00001.png...`, the frozen frame
  hard-linked `frames` times, lossless), and a list file `<protocol>-<source>.txt` with lines
  `<item_id> <frames> <label>` (RawframeDataset's format; set `filename_tmpl='img_{:05}.png'` for the
  SCUFO lists). JPEG frames of jpeg_zip items are copied byte for byte from the item zip.
- ALBAR (`exports/albar/<variant>/`): `<DATASET>_SCUBA_<Source>/<video_id>__<k>.zip` (JPEG frames
  `img_00001.jpg...`), `<DATASET>_SCUFO_<Source>/<video_id>__<k>/img_00001.jpg` (the frozen frame)
  and `<DATASET>_ConflFG_<Source>/<video_id>__<k>.zip`. The official loader globs each folder and
  pairs SCUBA with SCUFO by *sorted name*, so `verify_albar` re-reads the export and checks, position
  by position, that the sorted names pair the right items, every zip decodes to its item's frames,
  and every SCUFO image matches its SCUBA frame.
Every file is written atomically; an index (`index.csv`) and the list files are written last.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.atomic import atomic_path, write_bytes_atomic, write_csv_atomic, write_text_atomic
from benchmark.composite import (
    SUBSAMPLING,
    AssemblyError,
    item_sets,
    items_csv,
    read_items,
    write_jpeg_zip,
)
from benchmark.config import results_dir
from benchmark.video import read_image, read_video

SOURCE_TITLES = {"stripe": "Stripe", "places365": "Places365", "vqgan": "VQGAN"}
PROTOCOL_TITLES = {"scuba": "SCUBA", "scufo": "SCUFO", "conflfg": "ConflFG"}
MIN_SCUFO_PSNR = 30.0  # dB between an exported SCUFO JPEG and the SCUBA frame it froze


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link `source` at `target` (atomic replace), copying where links are not possible."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def _jpeg_bytes(frame: np.ndarray, quality: int, subsampling: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(
        buffer, format="JPEG", quality=quality, subsampling=SUBSAMPLING[subsampling]
    )
    return buffer.getvalue()


def _sets_of(config: dict, variant: str) -> list[tuple[str, str]]:
    return [(p, s) for v, p, s in item_sets(config) if v == variant]


# ---------------------------------------------------------------------------------------------
# mmaction2


def export_mmaction2(config: dict, variant: str) -> int:
    results = results_dir(config)
    bench = config["benchmark"]
    out = results / "exports" / "mmaction2" / variant
    written = 0
    for protocol, source in _sets_of(config, variant):
        items = read_items(items_csv(results, variant, protocol, source))
        lines = []
        for row in items.itertuples(index=False):
            folder = out / f"{protocol}-{source}" / row.item_id
            item_file = results / row.path
            if protocol == "scufo":
                first = folder / "img_00001.png"
                _link_or_copy(item_file, first)
                for index in range(2, row.frames + 1):
                    _link_or_copy(first, folder / f"img_{index:05d}.png")
            elif item_file.suffix == ".zip":
                with zipfile.ZipFile(item_file) as archive:
                    for name in sorted(archive.namelist()):
                        write_bytes_atomic(folder / name, archive.read(name))
            else:
                frames, _ = read_video(item_file)
                for index, frame in enumerate(frames, start=1):
                    data = _jpeg_bytes(frame, bench["jpeg_quality"], bench["jpeg_subsampling"])
                    write_bytes_atomic(folder / f"img_{index:05d}.jpg", data)
            lines.append(f"{row.item_id} {row.frames} {row.label}\n")
            written += 1
        write_text_atomic(out / f"{protocol}-{source}.txt", "".join(lines))
    return written


# ---------------------------------------------------------------------------------------------
# ALBAR


def albar_folder(config: dict, protocol: str, source: str) -> str:
    dataset = config["benchmark"]["exports"]["albar_dataset"] or config["dataset"]["name"].upper()
    title = SOURCE_TITLES.get(source, source.title().replace("_", ""))
    return f"{dataset}_{PROTOCOL_TITLES[protocol]}_{title}"


def export_albar(config: dict, variant: str) -> int:
    results = results_dir(config)
    bench = config["benchmark"]
    out = results / "exports" / "albar" / variant
    index_rows = []
    for protocol, source in _sets_of(config, variant):
        items = read_items(items_csv(results, variant, protocol, source))
        folder = out / albar_folder(config, protocol, source)
        for row in items.itertuples(index=False):
            item_file = results / row.path
            if protocol == "scufo":
                name = row.pair_id  # the loader pairs SCUFO folder <id> with SCUBA <id>.zip
                target = folder / name / "img_00001.jpg"
                frame = read_image(item_file)
                data = _jpeg_bytes(frame, bench["jpeg_quality"], bench["jpeg_subsampling"])
                write_bytes_atomic(target, data)
            else:
                name = row.item_id
                target = folder / f"{name}.zip"
                if item_file.suffix == ".zip":
                    _link_or_copy(item_file, target)
                else:
                    frames, _ = read_video(item_file)
                    write_jpeg_zip(
                        target,
                        frames,
                        quality=bench["jpeg_quality"],
                        subsampling=bench["jpeg_subsampling"],
                    )
            index_rows.append(
                {
                    "folder": folder.name,
                    "entry": target.relative_to(folder).parts[0],
                    "item_id": row.item_id,
                    "protocol": protocol,
                    "source": source,
                }
            )
    write_csv_atomic(
        out / "index.csv",
        pd.DataFrame(index_rows, columns=["folder", "entry", "item_id", "protocol", "source"]),
    )
    return len(index_rows)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def verify_albar(config: dict, variant: str) -> dict:
    """Re-read the ALBAR export of a variant and check every SCUBA / SCUFO pair by id.

    Returns counts and the lowest SCUFO PSNR; writes `verify.json`; raises AssemblyError naming the
    folder and position of the first misaligned or broken entry.
    """
    results = results_dir(config)
    out = results / "exports" / "albar" / variant
    report: dict = {"variant": variant, "pairs": 0, "conflfg": 0, "min_scufo_psnr_db": None}
    psnrs = []
    sources = sorted({s for p, s in _sets_of(config, variant) if p == "scuba"})
    for source in sources:
        scuba_items = read_items(items_csv(results, variant, "scuba", source)).set_index("item_id")
        scufo_items = read_items(items_csv(results, variant, "scufo", source)).set_index("item_id")
        scuba_dir = out / albar_folder(config, "scuba", source)
        scufo_dir = out / albar_folder(config, "scufo", source)
        # Exactly what the loader does: sorted(glob(folder/*)) on each side.
        scuba_entries = sorted(str(p) for p in scuba_dir.glob("*"))
        scufo_entries = sorted(str(p) for p in scufo_dir.glob("*"))
        if len(scuba_entries) != len(scuba_items) or len(scufo_entries) != len(scufo_items):
            raise AssemblyError(
                f"{out}: {source}: {len(scuba_entries)} SCUBA / {len(scufo_entries)} SCUFO entries, "
                f"items.csv has {len(scuba_items)} / {len(scufo_items)}; re-run the export"
            )
        for position, (scuba_entry, scufo_entry) in enumerate(
            zip(scuba_entries, scufo_entries, strict=True)
        ):
            scuba_id = Path(scuba_entry).name.removesuffix(".zip")
            scufo_name = Path(scufo_entry).name
            if scuba_id not in scuba_items.index:
                raise AssemblyError(
                    f"{scuba_entry}: not an item of {items_csv(results, variant, 'scuba', source)}"
                )
            expected_scufo = scuba_items.at[scuba_id, "pair_id"]
            if scufo_name != scuba_id or scufo_items.at[expected_scufo, "pair_id"] != scuba_id:
                raise AssemblyError(
                    f"{out}: sorted-name pairing breaks at position {position}: {Path(scuba_entry).name} "
                    f"pairs with {scufo_name}, but its SCUFO item is {expected_scufo}; "
                    "rename the items (ids whose sort order changes with the .zip suffix)"
                )
            frames, _ = read_video(scuba_entry)
            item = scuba_items.loc[scuba_id]
            if len(frames) != int(item["frames"]):
                raise AssemblyError(
                    f"{scuba_entry}: {len(frames)} frames, items.csv says {item['frames']}"
                )
            static_files = sorted(Path(scufo_entry).glob("*.jpg"))
            if not static_files:
                raise AssemblyError(f"{scufo_entry}: no .jpg frame")
            static = read_image(static_files[0])
            frozen = frames[int(scufo_items.at[expected_scufo, "static_frame"])]
            if static.shape != frozen.shape:
                raise AssemblyError(
                    f"{static_files[0]}: size {static.shape} != SCUBA frame {frozen.shape}"
                )
            psnrs.append(_psnr(static, frozen))
            if psnrs[-1] < MIN_SCUFO_PSNR:
                raise AssemblyError(
                    f"{static_files[0]}: PSNR {psnrs[-1]:.1f} dB against frame "
                    f"{scufo_items.at[expected_scufo, 'static_frame']} of {scuba_entry}: not its frozen frame"
                )
            report["pairs"] += 1
    for protocol, source in _sets_of(config, variant):
        if protocol != "conflfg":
            continue
        items = read_items(items_csv(results, variant, protocol, source)).set_index("item_id")
        folder = out / albar_folder(config, protocol, source)
        for entry in sorted(folder.glob("*.zip")):
            item_id = entry.name.removesuffix(".zip")
            if item_id not in items.index:
                raise AssemblyError(
                    f"{entry}: not an item of {items_csv(results, variant, protocol, source)}"
                )
            frames, _ = read_video(entry)
            if len(frames) != int(items.at[item_id, "frames"]):
                raise AssemblyError(
                    f"{entry}: {len(frames)} frames, items.csv says {items.at[item_id, 'frames']}"
                )
            report["conflfg"] += 1
        if report["conflfg"] != len(items):
            raise AssemblyError(f"{folder}: {report['conflfg']} zips, items.csv has {len(items)}")
    report["min_scufo_psnr_db"] = None if not psnrs else round(min(min(psnrs), 99.0), 2)
    write_text_atomic(out / "verify.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def export(config: dict, variant: str, fmt: str) -> int:
    if fmt == "mmaction2":
        return export_mmaction2(config, variant)
    if fmt == "albar":
        return export_albar(config, variant)
    raise ValueError(f"unknown export format {fmt!r}")
