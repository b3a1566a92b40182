"""Verify a downloaded release bundle: what a third party runs before trusting a benchmark.

Checks, each problem naming its file (or item) and saying what is wrong:
- every file listed in `SHA256SUMS` is there with that sha256 (a shorter file is reported as
  truncated, using the sizes recorded in `bundle.json`), and no file is there that is not listed;
- (full mode) `bundle.json` parses and has this format version; every set's `items.csv` exists,
  has the recorded number of items and pairs SCUBA with SCUFO by id in both directions;
- (full mode) every item decodes to its recorded frame count and pixel sha256.
`--fast` stops after the checksums. The last line printed is a one-line PASS / FAIL summary and
the exit status is 0 only on PASS.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.release import FORMAT_VERSION
from benchmark.release.bundle import BUNDLE_JSON
from benchmark.release.files import (
    CHECKSUMS,
    ReleaseError,
    bundle_files,
    file_sha256,
    read_checksums,
)
from benchmark.table_files import TableError, read_items
from benchmark.video import VideoReadError, pixels_sha256, read_image, video_pixels


@dataclass
class Problem:
    path: str  # relative to the bundle (or the item id's items.csv)
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class VerifyReport:
    bundle: Path
    fast: bool
    files: int = 0
    items: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        mode = "checksums only" if self.fast else "checksums, pairs, counts, pixels"
        verdict = "PASS" if self.ok else f"FAIL ({len(self.problems)} problems)"
        return (
            f"verify {self.bundle}: {verdict} - {self.files} files, {self.items} items decoded "
            f"({mode}) in {self.seconds:.1f} s"
        )

    def to_dict(self) -> dict:
        return {
            "bundle": self.bundle.name,
            "ok": self.ok,
            "fast": self.fast,
            "files": self.files,
            "items": self.items,
            "problems": [str(p) for p in self.problems],
        }


def check_files(root: Path, report: VerifyReport, sizes: dict[str, int]) -> None:
    listed = read_checksums(root / CHECKSUMS)
    present = set(bundle_files(root)) - {CHECKSUMS}
    for name in sorted(set(listed) - present):
        report.problems.append(Problem(name, "missing (listed in SHA256SUMS)"))
    for name in sorted(present - set(listed)):
        report.problems.append(Problem(name, "extra file, not listed in SHA256SUMS"))
    for name in sorted(set(listed) & present):
        report.files += 1
        if file_sha256(root / name) == listed[name]:
            continue
        size, expected = (root / name).stat().st_size, sizes.get(name)
        if expected is not None and size < expected:
            report.problems.append(Problem(name, f"truncated: {size} of {expected} bytes"))
        else:
            report.problems.append(Problem(name, "altered: sha256 differs from SHA256SUMS"))


def _read_sets(root: Path, info: dict, report: VerifyReport) -> dict[tuple, pd.DataFrame]:
    tables = {}
    for entry in info.get("sets", []):
        name = entry["items_csv"]
        try:
            items = read_items(root / name)
        except TableError as error:
            report.problems.append(Problem(name, f"unreadable items table ({error})"))
            continue
        if len(items) != entry["items"]:
            report.problems.append(
                Problem(name, f"{len(items)} items, bundle.json says {entry['items']}")
            )
        tables[(entry["variant"], entry["protocol"], entry["source"])] = items
    return tables


def check_pairs(tables: dict[tuple, pd.DataFrame], report: VerifyReport) -> None:
    """SCUBA item i names its SCUFO partner and the partner names i back (ids, never positions)."""
    for (variant, protocol, source), scuba in sorted(tables.items()):
        if protocol != "scuba":
            continue
        where = f"bench/{variant}/scufo-{source}/items.csv"
        scufo = tables.get((variant, "scufo", source))
        if scufo is None:
            report.problems.append(Problem(where, "missing: SCUBA set has no SCUFO set"))
            continue
        back = dict(zip(scufo["item_id"], scufo["pair_id"], strict=True))
        for item, partner in zip(scuba["item_id"], scuba["pair_id"], strict=True):
            if partner not in back:
                report.problems.append(Problem(where, f"no SCUFO partner {partner!r} of {item!r}"))
            elif back[partner] != item:
                report.problems.append(
                    Problem(where, f"{partner!r} pairs with {back[partner]!r}, not {item!r}")
                )
        orphans = sorted(set(back) - set(scuba["pair_id"]))
        for item in orphans:
            report.problems.append(Problem(where, f"SCUFO item {item!r} has no SCUBA partner"))


def check_items(
    root: Path, tables: dict[tuple, pd.DataFrame], report: VerifyReport, log: Callable
) -> None:
    for (variant, protocol, source), items in sorted(tables.items()):
        for row in items.itertuples(index=False):
            path = root / row.path
            try:
                if protocol == "scufo":
                    frames = row.frames  # the one frame is repeated to its SCUBA item's length
                    digest = pixels_sha256(read_image(path))
                else:
                    frames, _, digest = video_pixels(path)  # one frame in memory at a time
            except (VideoReadError, OSError) as error:
                report.problems.append(Problem(row.path, f"does not decode ({error})"))
                continue
            report.items += 1
            if frames != row.frames:
                report.problems.append(
                    Problem(row.path, f"{frames} frames, items.csv says {row.frames}")
                )
            if digest != row.sha256:
                report.problems.append(
                    Problem(row.path, "decoded pixels differ from the sha256 in items.csv")
                )
        log(f"{variant}/{protocol}-{source}: {len(items)} items decoded")


def verify_bundle(
    bundle: str | os.PathLike, *, fast: bool = False, log: Callable[[str], None] = print
) -> VerifyReport:
    root = Path(bundle)
    started = time.perf_counter()
    report = VerifyReport(root, fast)
    if not (root / CHECKSUMS).is_file():
        report.problems.append(Problem(CHECKSUMS, "missing: not a release bundle (or incomplete)"))
        report.seconds = time.perf_counter() - started
        return report
    info: dict = {}
    try:
        info = json.loads((root / BUNDLE_JSON).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        report.problems.append(Problem(BUNDLE_JSON, f"unreadable ({error})"))
    try:
        check_files(root, report, info.get("file_sizes", {}))
    except ReleaseError as error:
        report.problems.append(Problem(CHECKSUMS, str(error)))
    if not fast and info:
        if info.get("format_version") != FORMAT_VERSION:
            report.problems.append(
                Problem(
                    BUNDLE_JSON,
                    f"format version {info.get('format_version')}, this reader knows {FORMAT_VERSION}",
                )
            )
        tables = _read_sets(root, info, report)
        check_pairs(tables, report)
        check_items(root, tables, report, log)
        total = int(sum(len(t) for t in tables.values()))
        if total != info.get("counts", {}).get("items"):
            report.problems.append(
                Problem(
                    BUNDLE_JSON,
                    f"{total} items in the sets, counts.items says "
                    f"{info.get('counts', {}).get('items')}",
                )
            )
    report.seconds = time.perf_counter() - started
    return report
