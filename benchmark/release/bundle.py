"""Build a release bundle of a finished benchmark: the files a third party downloads and verifies.

The bundle mirrors `results/<dataset>/` for what it ships, so `python -m benchmark.scoring score
--bench-dir BUNDLE` and `BenchmarkClips(BUNDLE, ...)` read it exactly as they read a build:

    bundle.json                       format version, dataset, test clip, sets and counts
    README.md                         the datasheet
    SHA256SUMS                        `sha256sum -c` format, every other file
    manifest.csv                      the test split (IID labels); `path` empty: videos are not shipped
    bench/<variant>/<protocol>-<source>/items.csv and items/...
    masks/<variant>/qc.csv and <video_id>.json.gz   the masks every item was cut with
    review/                           gate summary, status, approved list, reviewers' decisions
    backgrounds/<source>/backgrounds.csv            ids, hashes, parameters (images only on request)
    provenance/config.yaml, provenance/provenance.json

Nothing in it depends on the clock, the output folder or file-system order: the build date comes
from `release.date`, `SOURCE_DATE_EPOCH` or the commit date (in that order), so two builds of the
same results give the same `SHA256SUMS` and the same archive bytes. The bundle is written to a
temporary folder beside the target and renamed into place, so a failed build leaves no half bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from benchmark.backgrounds import read_backgrounds_table
from benchmark.config import results_dir
from benchmark.layout import ItemSet, config_item_sets, results_layout
from benchmark.manifest import read_manifest, write_manifest
from benchmark.masks import mask_path
from benchmark.release import FORMAT_VERSION
from benchmark.release.files import (
    ReleaseError,
    _copy,
    _write_csv,
    _write_text,
    bundle_files,
    staged_folder,
    write_archive,
    write_checksums,
)
from benchmark.release.provenance import build_date, date_epoch, provenance, recorded_config
from benchmark.release.sources import bundle_sources
from benchmark.table_files import read_items

BUNDLE_JSON = "bundle.json"


@dataclass(frozen=True)
class ReleaseSettings:
    """The `release` config section, resolved against the config it sits in."""

    name: str
    variants: list[str]
    include_folder_images: bool
    archive: bool
    date: str | None

    @classmethod
    def from_config(cls, config: dict) -> ReleaseSettings:
        release = config["release"]
        built = list(config["benchmark"]["variants"])
        variants = list(release["variants"] or built)
        unknown = [v for v in variants if v not in built]
        if unknown:
            raise ReleaseError(
                f"release.variants {unknown} are not among benchmark.variants {built}; build them "
                "first or remove them from release.variants"
            )
        return cls(
            name=release["name"] or f"{config['dataset']['name']}_bench",
            variants=variants,
            include_folder_images=bool(release["include_folder_images"]),
            archive=bool(release["archive"]),
            date=release["date"],
        )


def release_dir(config: dict) -> Path:
    """`results/<dataset>/release/<name>/`, where the workflow writes the bundle."""
    return results_layout(config).release_dir(ReleaseSettings.from_config(config).name)


@dataclass(frozen=True)
class BuiltBundle:
    path: Path
    files: int
    items: int
    archive: Path | None
    archive_sha256: str | None


# ---------------------------------------------------------------------------------------------
# The bundle


def _sets(config: dict, variants: list[str]) -> list[tuple[str, str, str]]:
    return [
        (s.variant, s.protocol, s.bg_source)
        for s in config_item_sets(config)
        if s.variant in variants
    ]


def _copy_items(results: Path, out: Path, sets, log) -> tuple[dict, list[dict]]:
    tables = {}
    summary = []
    for variant, protocol, source in sets:
        path = ItemSet(protocol, variant, source).items_path(results)
        items = read_items(path)
        for row in items.itertuples(index=False):
            _copy(results / row.path, out / row.path)
        _copy(path, out / path.relative_to(results))
        tables[(variant, protocol, source)] = items
        summary.append(
            {
                "variant": variant,
                "protocol": protocol,
                "source": source,
                "items": len(items),
                "videos": int(items["video_id"].nunique()),
                "items_csv": path.relative_to(results).as_posix(),
            }
        )
        log(f"{variant}/{protocol}-{source}: {len(items)} items")
    return tables, summary


def _copy_masks(results: Path, out: Path, tables: dict, variants: list[str]) -> int:
    copied = 0
    for variant in variants:
        videos: set[str] = set()
        for (v, _, _), items in tables.items():
            if v == variant:
                videos |= set(items["video_id"])
                # A Confl-FG item's static actor was cut from its partner video's mask.
                videos |= {x for x in items["static_video_id"].dropna() if x}
        for video_id in sorted(videos):
            source = mask_path(results / "masks", variant, video_id)
            _copy(source, out / source.relative_to(results))
            copied += 1
        _copy(results / "masks" / variant / "qc.csv", out / "masks" / variant / "qc.csv")
    return copied


def _copy_review(config: dict, results: Path, out: Path) -> list[str]:
    shipped = []
    for name in ("summary.csv", "summary.md", "status.csv", "approved.csv"):
        if (results / "review" / name).is_file():
            _copy(results / "review" / name, out / "review" / name)
            shipped.append(f"review/{name}")
    review = config["review"]
    folder = Path(review["decisions_dir"]) / config["dataset"]["name"]
    for suffix in (".csv", ".prompts.json"):
        source = folder / f"{review['tracker']}{suffix}"
        if source.is_file():
            _copy(source, out / "review" / "decisions" / source.name)
            shipped.append(f"review/decisions/{source.name}")
    return shipped


def _background_index(
    config: dict, results: Path, out: Path, tables: dict, include_images: bool
) -> dict[str, int]:
    """Each source's index restricted to the backgrounds the shipped items use. Generated images
    are their parameters and hashes (re-render them from the parameters); folder images are their
    relative ids and hashes, copied only with include_images."""
    used: dict[str, set[str]] = {}
    for (_, _, source), items in tables.items():
        used.setdefault(source, set()).update(items["background_id"])
    counts = {}
    for entry in config["backgrounds"]["sources"]:
        name = entry["name"]
        if name not in used:
            continue
        table = read_backgrounds_table(results / "backgrounds" / name / "backgrounds.csv")
        table = table[table["background_id"].isin(used[name])].copy()
        missing = sorted(used[name] - set(table["background_id"]))
        if missing:
            raise ReleaseError(
                f"{results / 'backgrounds' / name / 'backgrounds.csv'}: backgrounds {missing[:5]} of "
                "shipped items are not indexed; rebuild the backgrounds and items"
            )
        if entry["kind"] == "folder" and include_images:
            paths = []
            for row in table.itertuples(index=False):
                relative = Path("backgrounds") / name / "images" / row.background_id
                _copy(Path(row.path), out / relative)
                paths.append(relative.as_posix())
            table["path"] = paths
        else:
            table["path"] = ""  # not shipped: the id (and params) say what it was
        table = table.sort_values("background_id", kind="stable")
        _write_csv(out / "backgrounds" / name / "backgrounds.csv", table)
        counts[name] = len(table)
    return counts


def _test_manifest(results: Path, out: Path) -> pd.DataFrame:
    manifest = read_manifest(results / "manifest.csv")
    test = manifest[manifest["split"] == "test"].copy()
    test["path"] = ""  # the original videos are not part of a bundle
    return write_manifest(out / "manifest.csv", test)


def _class_counts(tables: dict, manifest: pd.DataFrame, variant: str) -> pd.DataFrame:
    names = dict(zip(manifest["label"].astype(int), manifest["label_name"], strict=False))
    columns = {}
    for (v, protocol, source), items in sorted(tables.items()):
        if v == variant:
            columns[f"{protocol}-{source}"] = items["label"].astype(int).value_counts()
    frame = pd.DataFrame(columns).fillna(0).astype(int).sort_index()
    frame.insert(0, "class", [names.get(int(label), "") for label in frame.index])
    frame.index.name = "label"
    return frame.reset_index()


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def datasheet(
    config: dict,
    settings: ReleaseSettings,
    info: dict,
    sets: list[dict],
    class_counts: pd.DataFrame,
    record: dict,
) -> str:
    """The bundle's README.md: what it is, how it was built, counts, how to score, terms."""
    bench = config["benchmark"]
    dataset = config["dataset"]
    sources = bundle_sources(dataset["kind"], config["backgrounds"]["sources"])
    clip = bench["test_clip"]
    commit = record["git_commit"] or "unknown"
    if record["git_dirty"]:
        commit += " (with uncommitted changes)"
    lines = [
        f"# {settings.name}: SCUBA / SCUFO / Confl-FG bias benchmark of `{dataset['name']}`",
        "",
        "## What it is",
        "Test items that measure background and foreground (static) bias of action recognition "
        "models. SCUBA keeps each test video's actor and replaces everything else with an "
        "unrelated still background (higher accuracy is better); SCUFO freezes one frame of each "
        "SCUBA item (lower is better); Contra counts SCUBA items predicted right whose SCUFO pair "
        "is predicted wrong; Confl-FG pastes a static actor of another class beside the moving one.",
        "",
        "## How it was built",
        f"- Built by albar-bench {record['project_version']}, commit {commit}; build date "
        f"{info['build_date'] or 'not recorded'} ({info['build_date_source']}).",
        f"- Dataset `{dataset['name']}` (adapter `{dataset['kind']}`), test split; seed "
        f"{config['seed']}; background versions per video: {bench['versions']}.",
        f"- Variants (the mask the actor was cut with): {', '.join(settings.variants)}. The same "
        "videos, backgrounds and frozen frames in every variant; only the mask differs.",
        f"- Background sources: {', '.join(s['name'] for s in config['backgrounds']['sources'])}.",
        f"- Item format {bench['item_format']}; SCUFO frames are lossless PNGs chosen inside the "
        f"centred test clip of {clip['frames']} frames at stride {clip['stride']}.",
        f"- Review: mask source `{config['review']['tracker']}` gates the video set "
        f"(approval required: {str(config['review']['require']).lower()}); see review/.",
        "- The resolved configuration, package versions and weight-file hashes: provenance/.",
        "",
        "## Contents",
        _markdown_table(pd.DataFrame(sets).drop(columns=["items_csv"])),
        "",
        f"Items per class (variant `{settings.variants[0]}`; every variant has the same videos):",
        "",
        _markdown_table(class_counts),
        "",
        "## Check and score",
        "```",
        f"python -m benchmark.release verify {settings.name}        # checksums, pairs, counts, pixels",
        f"python -m benchmark.scoring score --bench-dir {settings.name} --run mymodel=my_runs/mymodel "
        "--out my_tables --no-iid",
        "```",
        "Prediction files: `my_runs/mymodel/seed0/pred/<variant>/<protocol>-<source>.csv` with "
        "`item_id, predicted, static_max_prob, p_0 … p_{K-1}`, one row per item of that set's "
        "items.csv, plus `seed0/metrics.json` (`method`, `epochs`, `steps`). A SCUFO item is its "
        f"one PNG repeated to the clip length; clip frames: start = max(0, (n - "
        f"({clip['frames']}-1)*{clip['stride']} - 1) // 2), frame j = min(start + j*"
        f"{clip['stride']}, n-1). `albar.benchmark_clips.BenchmarkClips` does this. IID needs "
        "the original test videos (manifest.csv lists them, without paths): score it with "
        "`pred/iid.csv` and without `--no-iid`.",
        "",
        "## Licences and redistribution",
        "This bundle contains pixels derived from the sources below, under their terms:",
        "",
        *[f"- **{what}**: {terms}" for what, terms in sources],
        "",
    ]
    return "\n".join(lines)


def build_bundle(
    config: dict,
    out: str | os.PathLike | None = None,
    *,
    log: Callable[[str], None] = print,
) -> BuiltBundle:
    """Write the bundle of `config`'s release settings to `out` (default `release_dir(config)`)."""
    settings = ReleaseSettings.from_config(config)
    results = results_dir(config)
    target = Path(out) if out is not None else release_dir(config)
    date, date_source = build_date(settings.date)
    sets = _sets(config, settings.variants)
    if not sets:
        raise ReleaseError(f"{results}: no item sets for variants {settings.variants}")
    with staged_folder(target) as staging:
        tables, set_rows = _copy_items(results, staging, sets, log)
        manifest = _test_manifest(results, staging)
        masks = _copy_masks(results, staging, tables, settings.variants)
        review = _copy_review(config, results, staging)
        backgrounds = _background_index(
            config, results, staging, tables, settings.include_folder_images
        )
        record = provenance(config, date, date_source)
        _write_text(
            staging / "provenance" / "config.yaml",
            yaml.safe_dump(recorded_config(config), sort_keys=True, allow_unicode=True),
        )
        _write_text(
            staging / "provenance" / "provenance.json",
            json.dumps(record, indent=2, sort_keys=True) + "\n",
        )
        info = {
            "format_version": FORMAT_VERSION,
            "name": settings.name,
            "dataset": config["dataset"]["name"],
            "dataset_kind": config["dataset"]["kind"],
            "build_date": date,
            "build_date_source": date_source,
            "test_clip": dict(config["benchmark"]["test_clip"]),
            "variants": settings.variants,
            "bg_sources": sorted({s for _, p, s in sets if p == "scuba"}),
            "conflfg_sources": sorted({s for _, p, s in sets if p == "conflfg"}),
            "sets": set_rows,
            "counts": {
                "items": int(sum(row["items"] for row in set_rows)),
                "test_videos": len(manifest),
                "benchmark_videos": int(
                    max(row["videos"] for row in set_rows if row["protocol"] == "scuba")
                ),
                "masks": masks,
                "backgrounds": backgrounds,
            },
            "review_files": review,
            "folder_images_included": settings.include_folder_images,
        }
        counts = _class_counts(tables, manifest, settings.variants[0])
        _write_text(
            staging / "README.md", datasheet(config, settings, info, set_rows, counts, record)
        )
        # Sizes let verify tell a truncated file from an altered one; bundle.json cannot list
        # itself, and SHA256SUMS covers it.
        info["file_sizes"] = {
            name: (staging / name).stat().st_size for name in bundle_files(staging)
        }
        _write_text(staging / BUNDLE_JSON, json.dumps(info, indent=2, sort_keys=True) + "\n")
        files = write_checksums(staging)
    archive = archive_sha = None
    if settings.archive:
        archive = target.with_name(f"{target.name}.tar.gz")
        archive_sha = write_archive(target, archive, date_epoch(date))
        log(f"archive {archive}: sha256 {archive_sha}")
    total = int(sum(row["items"] for row in set_rows))
    return BuiltBundle(target, files + 1, total, archive, archive_sha)
