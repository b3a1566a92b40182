"""The three protocol builders of one variant's shard: SCUBA (the actor over still backgrounds),
SCUFO (one decoded SCUBA frame per item) and Confl-FG (the actor over a static actor of another
class); each writes its item files and then its shard table, honouring `on_error`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.clips import test_clip_indices
from benchmark.composite.assembly import Assembly, SourceVideo
from benchmark.composite.errors import AssemblyError
from benchmark.composite.item_files import remove_stale_temporaries
from benchmark.composite.paste import (
    CHUNK_FRAMES,
    choose_static_frame,
    paste_actor,
    paste_chunk,
    resize_background,
)
from benchmark.ids import item_id, item_rng, stable_digest
from benchmark.layout import ResultsLayout
from benchmark.manifest import ManifestError, write_skipped
from benchmark.masks import MaskFileError, mask_path, read_actor_masks
from benchmark.table_files import item_row, read_items, write_items
from benchmark.video import (
    VideoReadError,
    pixels_sha256,
    read_frame,
    read_image,
    video_pixels,
    write_image,
)

STAGE = "composite"  # the `stage` column of skipped.csv rows written here


def _skip_row(assembly: Assembly, video_id: str, error: Exception) -> dict:
    return {
        "video_id": video_id,
        "mask_source": assembly.variant,
        "stage": STAGE,
        "reason": str(error),
    }


SKIPPABLE = (VideoReadError, MaskFileError, AssemblyError, ManifestError)


def _map_videos(assembly: Assembly, videos: list[str], work, threads: int) -> tuple[list, list]:
    """Run `work(video_id) -> rows` over videos (threads), honouring `on_error`."""

    def guarded(video_id: str):
        try:
            return work(video_id), None
        except SKIPPABLE as error:
            if assembly.config["on_error"] != "skip":
                raise
            print(f"skip {video_id}: {error}", file=sys.stderr)
            return [], _skip_row(assembly, video_id, error)

    if threads > 1:
        _ = assembly.annotated_frames, assembly.video_set  # load shared tables before the threads
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(guarded, videos))
    else:
        results = [guarded(v) for v in videos]
    rows = [row for item_rows, _ in results for row in item_rows]
    skipped = [skip for _, skip in results if skip is not None]
    return rows, skipped


def _write_items(
    assembly: Assembly,
    protocol: str,
    source: SourceVideo,
    items: list[tuple[str, str, np.ndarray]],
) -> list[tuple[str, str]]:
    """Write every item of one source video in one pass over its frames: `items` lists (background
    source name, item id, the (H, W, 3) still the actor is pasted on). Each chunk of the source is
    pasted onto every still and handed to that item's writer while it is in cache, so memory holds
    one chunk and the open writers, not a clip. Then each item is decoded back, one frame at a
    time, and checked against the span's shape; returns (path relative to results/, pixels sha256)
    per item. A failure anywhere leaves none of the video's items behind under their final names."""
    fmt = assembly.item_format
    paths = []
    for source_name, item, _ in items:
        relative = assembly.item_path(protocol, source_name, item, fmt.suffix)
        remove_stale_temporaries(assembly.results / relative)
        paths.append(relative)
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(fmt.writer(assembly.results / r, source.fps)) for r in paths]
        out = np.empty((CHUNK_FRAMES, *source.shape[1:]), np.uint8)
        for frames, foreground in source.chunks():
            target = out[: len(frames)]
            for (_, _, still), writer in zip(items, writers, strict=True):
                paste_chunk(frames, foreground, still, target)
                writer.add(target)
    checked = []
    for relative in paths:
        count, shape, sha256 = video_pixels(assembly.results / relative)
        if (count, *shape) != source.shape:
            raise AssemblyError(
                f"{assembly.results / relative}: decodes to {(count, *shape)}, wrote {source.shape}"
            )
        checked.append((relative, sha256))
    return checked


# ---------------------------------------------------------------------------------------------
# SCUBA


def scuba_video(assembly: Assembly, video_id: str) -> list[dict]:
    """Every SCUBA item of one video (all sources x versions) from one decode of it: composite,
    write, decode back, hash."""
    label = int(assembly.manifest.at[video_id, "label"])
    with assembly.stream_video(video_id) as source:
        height, width = source.shape[1:3]
        plan = []
        for background in assembly.sources:
            library = assembly.library(background.name)
            for k in range(assembly.bench["versions"]):
                background_id = library.background_id(video_id, k)
                still = resize_background(library.image(background_id), width, height)
                plan.append((background.name, k, background_id, still))
        written = _write_items(
            assembly,
            "scuba",
            source,
            [(name, item_id(video_id, k), still) for name, k, _, still in plan],
        )
    return [
        item_row(
            item_id=item_id(video_id, k),
            video_id=video_id,
            version=k,
            protocol="scuba",
            source=name,
            variant=assembly.variant,
            background_id=background_id,
            label=label,
            frames=source.span_frames,
            first_frame=source.first,
            pair_id=item_id(video_id, k, static=True),
            path=relative,
            sha256=sha256,
        )
        for (name, k, background_id, _), (relative, sha256) in zip(plan, written, strict=True)
    ]


def run_scuba_shard(config: dict, variant: str, shard: str, threads: int = 1) -> pd.DataFrame:
    assembly = Assembly(config, variant)
    _check_mask_index(assembly, shard)
    videos = assembly.shard_videos(shard)
    for source in assembly.sources:
        assembly.library(source.name)
    rows, skipped = _map_videos(assembly, videos, lambda v: scuba_video(assembly, v), threads)
    write_skipped(assembly.shard_table("scuba", shard, skipped=True), skipped)
    return write_items(assembly.shard_table("scuba", shard), rows)


def _check_mask_index(assembly: Assembly, shard: str) -> None:
    """Every video of the shard must be in the mask source's shard index (its masks exist)."""
    index_path = ResultsLayout(assembly.results).mask_shard(assembly.variant, shard)
    if not index_path.exists():
        raise AssemblyError(
            f"{index_path}: mask index not found; build mask source {assembly.variant!r}"
        )
    index = pd.read_csv(index_path, dtype=str, keep_default_na=False)
    missing = sorted(set(assembly.shard_videos(shard)) - set(index["video_id"]))
    if missing and assembly.config["on_error"] != "skip":
        raise AssemblyError(
            f"{index_path}: no {assembly.variant!r} masks for approved video(s) {missing[:5]}; "
            "rebuild that mask source or re-run the review gate"
        )


# ---------------------------------------------------------------------------------------------
# SCUFO


def scufo_items(assembly: Assembly, scuba: pd.DataFrame) -> list[dict]:
    """One SCUFO item per SCUBA row of one video: a frozen frame of the decoded SCUBA item."""
    video_id = scuba["video_id"].iloc[0]
    masks = read_actor_masks(mask_path(assembly.results / "masks", assembly.variant, video_id))
    nonempty_source = np.array([masks.frame_mask(t).any() for t in range(masks.num_frames)], bool)
    clip_cfg = assembly.bench["test_clip"]
    rows = []
    for row in scuba.itertuples(index=False):
        nonempty = nonempty_source[row.first_frame : row.first_frame + row.frames]
        clip = test_clip_indices(row.frames, clip_cfg["frames"], clip_cfg["stride"])
        rng = item_rng(assembly.seed, "scufo", row.source, video_id, row.version)
        static = choose_static_frame(nonempty, clip, assembly.bench["scufo"]["frame_choice"], rng)
        frozen = _item_frame(assembly.results / row.path, static, row.frames)
        scufo_id = item_id(video_id, row.version, static=True)
        relative = assembly.item_path("scufo", row.source, scufo_id, ".png")
        target = assembly.results / relative
        remove_stale_temporaries(target)
        write_image(target, frozen)
        rows.append(
            item_row(
                item_id=scufo_id,
                video_id=video_id,
                version=row.version,
                protocol="scufo",
                source=row.source,
                variant=assembly.variant,
                background_id=row.background_id,
                label=row.label,
                frames=row.frames,
                first_frame=row.first_frame,
                static_frame=static,
                pair_id=row.item_id,
                path=relative,
                sha256=pixels_sha256(read_image(target)),
            )
        )
    return rows


def _item_frame(path: Path, t: int, frames: int) -> np.ndarray:
    """Frame t of an item (decoded no further than t), after checking its length (`frames`)."""
    chosen, count = read_frame(path, t)
    if count != frames:
        raise AssemblyError(f"{path}: {count} frames, items.csv says {frames}")
    return chosen


def run_scufo_shard(config: dict, variant: str, shard: str, threads: int = 1) -> pd.DataFrame:
    assembly = Assembly(config, variant)
    scuba = read_items(assembly.shard_table("scuba", shard))
    groups = {v: g for v, g in scuba.groupby("video_id", sort=True)}
    # SCUFO reads only this stage's own SCUBA items: a failure here is a bug, never a skip.
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(lambda v: scufo_items(assembly, groups[v]), sorted(groups)))
    else:
        parts = [scufo_items(assembly, groups[v]) for v in sorted(groups)]
    return write_items(assembly.shard_table("scufo", shard), [r for part in parts for r in part])


# ---------------------------------------------------------------------------------------------
# Confl-FG


def conflfg_partner(
    seed: int,
    video_id: str,
    label: int,
    candidates: pd.DataFrame,
    usable: Callable[[str], bool] = lambda candidate: True,
) -> str:
    """The static-actor video: among candidates of another class, the smallest stable digest of
    (seed, video_id, candidate_id) — it changes only if that candidate leaves the set. Candidates
    for which `usable` is false (no non-empty annotated mask frame in some variant) are passed over,
    so every variant picks the same partner."""
    others = candidates.loc[candidates["label"] != label, "video_id"]
    for candidate in sorted(others, key=lambda c: stable_digest(seed, video_id, c)):
        if usable(candidate):
            return candidate
    raise AssemblyError(
        f"Confl-FG: no test video of a class other than {label} with a non-empty actor mask "
        f"in every variant for {video_id!r}"
    )


def static_actor(
    assembly: Assembly, partner: str, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(frame, mask, source frame) of the partner's static actor: the annotated frame nearest the
    middle of its annotated frames whose mask is not empty, resized to (height, width) if needed."""
    masks = read_actor_masks(mask_path(assembly.results / "masks", assembly.variant, partner))
    num_frames = masks.num_frames
    annotated = assembly.annotated_frames.get(partner, np.arange(num_frames))
    annotated = annotated[annotated < num_frames]
    middle = annotated[len(annotated) // 2] if annotated.size else num_frames // 2
    order = sorted(annotated, key=lambda t: (abs(int(t) - int(middle)), int(t)))
    chosen = next((int(t) for t in order if masks.frame_mask(t).any()), None)
    if chosen is None:
        raise AssemblyError(
            f"{mask_path(assembly.results / 'masks', assembly.variant, partner)}: no annotated frame "
            f"with a non-empty mask, so no static actor can be cut from {partner!r}"
        )
    frame = assembly.frame(partner, chosen)
    mask = masks.frame_mask(chosen)
    if frame.shape[:2] != (height, width):
        frame = np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.BICUBIC))
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))
    return frame, mask, chosen


def conflfg_video(assembly: Assembly, video_id: str) -> list[dict]:
    settings = assembly.bench["conflfg"]
    library = assembly.library(settings["background"])
    candidates = assembly.manifest.loc[assembly.video_set, ["video_id", "label"]]
    label = int(assembly.manifest.at[video_id, "label"])
    partner = conflfg_partner(
        assembly.seed, video_id, label, candidates, assembly.has_static_actor_in_every_variant
    )
    with assembly.stream_video(video_id) as source:
        static_frame, static_mask, static_index = static_actor(
            assembly, partner, *source.shape[1:3]
        )
        plan = []
        for k in range(settings["versions"]):
            background_id = library.background_id(video_id, k)
            # Static actor on the background first, then the moving actor on top of both.
            still = paste_actor(static_frame, static_mask, library.image(background_id))
            plan.append((k, background_id, still))
        written = _write_items(
            assembly,
            "conflfg",
            source,
            [(library.source.name, item_id(video_id, k), still) for k, _, still in plan],
        )
    return [
        item_row(
            item_id=item_id(video_id, k),
            video_id=video_id,
            version=k,
            protocol="conflfg",
            source=library.source.name,
            variant=assembly.variant,
            background_id=background_id,
            label=label,
            static_label=int(assembly.manifest.at[partner, "label"]),
            static_video_id=partner,
            frames=source.span_frames,
            first_frame=source.first,
            static_frame=static_index,
            path=relative,
            sha256=sha256,
        )
        for (k, background_id, _), (relative, sha256) in zip(plan, written, strict=True)
    ]


def run_conflfg_shard(config: dict, variant: str, shard: str, threads: int = 1) -> pd.DataFrame:
    assembly = Assembly(config, variant)
    settings = assembly.bench["conflfg"]
    source = {s.name: s for s in assembly.sources}.get(settings["background"])
    if source is None or source.kind != "stripe":
        raise AssemblyError(
            f"benchmark.conflfg.background {settings['background']!r} must name a stripe-kind "
            "source of backgrounds.sources"
        )
    videos = assembly.shard_videos(shard)
    assembly.library(source.name)
    rows, skipped = _map_videos(assembly, videos, lambda v: conflfg_video(assembly, v), threads)
    write_skipped(assembly.shard_table("conflfg", shard, skipped=True), skipped)
    return write_items(assembly.shard_table("conflfg", shard), rows)
