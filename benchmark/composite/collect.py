"""Collect: join every variant's shard tables into the `items.csv` of each item set and write
`bench/skipped.csv`, checking ids, SCUBA / SCUFO pairs, counts and that every variant covers the
same videos."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.atomic import write_csv_atomic
from benchmark.composite.errors import AssemblyError, ItemCollisionError
from benchmark.config import results_dir
from benchmark.ids import shard_name
from benchmark.layout import ResultsLayout, config_bg_sources, config_item_sets, config_protocols
from benchmark.manifest import SKIPPED_COLUMNS
from benchmark.table_files import read_items, table_columns, write_items


def _read_shard_tables(results: Path, variant: str, protocol: str, n_shards: int) -> pd.DataFrame:
    frames, origin = [], {}
    for k in range(n_shards):
        path = ResultsLayout(results).bench_shard(variant, protocol, shard_name(k))
        table = read_items(path)
        for item, source in zip(table["item_id"], table["source"], strict=True):
            if (item, source) in origin:
                raise ItemCollisionError(
                    f"item id {item!r} ({variant}/{protocol}-{source}) is in both "
                    f"{origin[item, source]} and {path}; delete stale shard tables and rebuild"
                )
            origin[item, source] = path
        frames.append(table)
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=table_columns("items"))
    )


def collect_items(config: dict) -> dict[tuple[str, str, str], int]:
    """Join every variant's shard tables into the items.csv files; write bench/skipped.csv.

    A video skipped in any variant or protocol leaves every variant. Fails if a SCUBA item lacks
    its SCUFO partner or the reverse, or if a video lacks any of its versions x sources items.
    """
    results = results_dir(config)
    n_shards = int(config["n_shards"])
    bench = config["benchmark"]
    variants = bench["variants"]
    skipped_rows = []
    for variant in variants:
        for protocol in ("scuba", "conflfg") if bench["conflfg"]["enabled"] else ("scuba",):
            for k in range(n_shards):
                path = ResultsLayout(results).bench_shard(
                    variant, protocol, shard_name(k), skipped=True
                )
                if not path.exists():
                    raise AssemblyError(
                        f"{path}: shard skip list not found; the shard did not finish"
                    )
                skipped_rows.append(pd.read_csv(path, dtype=str, keep_default_na=False))
    skipped = (
        pd.concat(skipped_rows, ignore_index=True)
        if skipped_rows
        else pd.DataFrame(columns=SKIPPED_COLUMNS)
    )
    skipped = skipped.drop_duplicates().sort_values(["video_id", "mask_source", "reason"])
    gone = set(skipped["video_id"])
    write_csv_atomic(ResultsLayout(results).bench_skipped, skipped[SKIPPED_COLUMNS])

    tables = {}
    for variant in variants:
        for protocol in config_protocols(config):
            table = _read_shard_tables(results, variant, protocol, n_shards)
            tables[(variant, protocol)] = table[~table["video_id"].isin(gone)]
    sources = config_bg_sources(config)
    video_sets = {}
    for variant in variants:
        scuba, scufo = tables[(variant, "scuba")], tables[(variant, "scufo")]
        _check_pairs(scuba, scufo, variant)
        videos = sorted(set(scuba["video_id"]))
        expected = len(videos) * bench["versions"] * len(sources)
        if len(scuba) != expected:
            counts = scuba.groupby("video_id").size()
            short = counts[counts != bench["versions"] * len(sources)].index.tolist()[:5]
            raise AssemblyError(
                f"bench/{variant}: {len(scuba)} SCUBA items, expected {expected} (= {len(videos)} "
                f"videos x {bench['versions']} versions x {len(sources)} sources); incomplete: {short}"
            )
        video_sets[variant] = videos
    first = variants[0]
    for variant in variants[1:]:
        if video_sets[variant] != video_sets[first]:
            diff = sorted(set(video_sets[variant]) ^ set(video_sets[first]))[:5]
            raise AssemblyError(
                f"variants {first!r} and {variant!r} cover different videos: {diff}"
            )
    counts = {}
    for item_set in config_item_sets(config):
        variant, protocol, source = item_set.variant, item_set.protocol, item_set.bg_source
        table = tables[(variant, protocol)]
        part = table[table["source"] == source]
        write_items(item_set.items_path(results), part.reset_index(drop=True))
        counts[(variant, protocol, source)] = len(part)
    return counts


def _check_pairs(scuba: pd.DataFrame, scufo: pd.DataFrame, variant: str) -> None:
    scuba_pairs = dict(zip(scuba["item_id"] + "|" + scuba["source"], scuba["pair_id"], strict=True))
    scufo_pairs = dict(zip(scufo["item_id"] + "|" + scufo["source"], scufo["pair_id"], strict=True))
    lonely = [k for k, v in scuba_pairs.items() if f"{v}|{k.split('|')[1]}" not in scufo_pairs]
    orphans = [k for k, v in scufo_pairs.items() if f"{v}|{k.split('|')[1]}" not in scuba_pairs]
    if lonely or orphans:
        raise AssemblyError(
            f"bench/{variant}: SCUBA items without a SCUFO partner {lonely[:5]}, SCUFO items without "
            f"a SCUBA partner {orphans[:5]}; rebuild the composite_scufo shards"
        )
