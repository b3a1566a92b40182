"""Retrack: re-run the reviewed tracker on exactly the videos marked `retrack`, with their prompts.

A video is *pending* when its decision is `retrack` and the decision's `mask_sha256` is still the
current one (once re-tracked, the new masks have a new digest, the decision turns stale and the
video is back in the gallery for a new look). Each pending video goes through the tracking stage's
own code path — `benchmark.tracking.build_tracker`, `tubes.plan_video` with the reviewer's prompts,
`run.track_video` — so the masks are exactly what `track_actors` writes for the same prompts when
it rebuilds the shard (trackers are seeded per video). Then the shard indexes are updated, the QC
table is recomputed and the gallery rebuilt. The run is listed in `review/<tracker>/retracked.csv`.
"""

from __future__ import annotations

import time

import pandas as pd

from benchmark.atomic import write_csv_atomic
from benchmark.config import results_dir
from benchmark.ids import shard_of
from benchmark.manifest import clip_boxes, read_boxes, read_manifest
from benchmark.masks import mask_path, write_actor_masks
from benchmark.review.decisions import decisions_path, prompts_path_for, read_decisions
from benchmark.table_files import read_qc

RETRACKED_COLUMNS = ["video_id", "old_mask_sha256", "new_mask_sha256", "prompt_frames", "seconds"]


class RetrackError(ValueError):
    """Retracking cannot run as configured; the message says what to change."""


def pending_retracks(config: dict) -> list[str]:
    """Videos whose decision is `retrack` on their current masks, sorted."""

    results = results_dir(config)
    manifest = read_manifest(results / "manifest.csv")
    decision_set = read_decisions(decisions_path(config), set(manifest["video_id"]))
    qc = read_qc(results / "masks" / config["review"]["tracker"] / "qc.csv")
    current = dict(zip(qc["video_id"], qc["mask_sha256"], strict=True))
    return sorted(
        video_id
        for video_id, decision in decision_set.decisions.items()
        if decision.decision == "retrack" and current.get(video_id) == decision.mask_sha256
    )


def run_retrack(
    config: dict, *, threads: int = 1, dry_run: bool = False, rebuild_gallery: bool = True
) -> int:
    """Re-track the pending videos; returns a process exit code (0 = done or nothing to do)."""
    from benchmark.tracking import TRACKERS, build_tracker
    from benchmark.tracking.prompts import read_prompts
    from benchmark.tracking.qc import run_qc
    from benchmark.tracking.run import shard_paths, track_video
    from benchmark.tracking.tubes import plan_video

    tracker_name = config["review"]["tracker"]
    if tracker_name not in TRACKERS:
        raise RetrackError(
            f"review.tracker is {tracker_name!r}, a mask source without a tracker; retrack works for "
            f"{sorted(TRACKERS)}"
        )
    tracking = config["tracking"]
    results = results_dir(config)
    pending = pending_retracks(config)
    prompts_file = prompts_path_for(decisions_path(config))
    prompts = read_prompts(prompts_file)
    out = results / "review" / tracker_name / "retracked.csv"
    for video_id in pending:
        frames = [p.frame for p in prompts.get(video_id, [])]
        print(
            f"retrack {video_id}: prompts on frames {frames or 'none (the tracker reruns as it is)'}"
        )
    if dry_run or not pending:
        print(f"{len(pending)} video(s) pending retrack" + (" (dry run)" if dry_run else ""))
        if not dry_run:
            write_csv_atomic(out, pd.DataFrame(columns=RETRACKED_COLUMNS))
        return 0

    manifest = read_manifest(results / "manifest.csv").set_index("video_id", drop=False)
    boxes, _ = clip_boxes(
        read_boxes(results / "boxes.parquet", manifest.reset_index(drop=True)), manifest
    )
    qc_before = read_qc(results / "masks" / tracker_name / "qc.csv")
    old_sha = dict(zip(qc_before["video_id"], qc_before["mask_sha256"], strict=True))
    tracker = build_tracker(tracker_name, tracking[tracker_name], seed=config["seed"])
    rows, new_sha = [], {}
    for video_id in pending:
        started = time.perf_counter()
        row = manifest.loc[video_id]
        plan = plan_video(
            video_id,
            boxes[boxes["video_id"] == video_id],
            int(row.num_frames),
            int(row.height),
            int(row.width),
            prompts.get(video_id),
        )
        masks = track_video(tracker, plan, row, results)
        new_sha[video_id] = write_actor_masks(
            mask_path(results / "masks", tracker_name, video_id), masks
        )
        rows.append(
            {
                "video_id": video_id,
                "old_mask_sha256": old_sha.get(video_id, ""),
                "new_mask_sha256": new_sha[video_id],
                "prompt_frames": ";".join(str(p.frame) for p in prompts.get(video_id, [])),
                "seconds": round(time.perf_counter() - started, 3),
            }
        )
    # the shard indexes list every mask file's digest; QC (and so the gate and gallery) read them
    for shard in sorted({shard_of(v, config["n_shards"]) for v in pending}):
        index_path, _ = shard_paths(results, tracker_name, shard)
        index = pd.read_csv(index_path, dtype=str, keep_default_na=False)
        index["mask_sha256"] = [
            new_sha.get(v, sha)
            for v, sha in zip(index["video_id"], index["mask_sha256"], strict=True)
        ]
        write_csv_atomic(index_path, index)
    run_qc(results, tracker_name, config["n_shards"], boxes, config["masks"]["qc"])
    write_csv_atomic(out, pd.DataFrame(rows, columns=RETRACKED_COLUMNS))
    changed = sum(r["old_mask_sha256"] != r["new_mask_sha256"] for r in rows)
    print(f"retracked {len(rows)} video(s) with {tracker_name} ({changed} with new masks) -> {out}")
    if rebuild_gallery:
        from benchmark.review.gallery import GallerySettings, build_gallery

        review = config["review"]
        stats = build_gallery(
            results,
            dataset=config["dataset"]["name"],
            tracker=tracker_name,
            settings=GallerySettings.from_config(review["gallery"]),
            decisions_csv=decisions_path(config),
            splits=review["splits"],
            threads=threads,
        )
        print(f"gallery rebuilt: {stats['sprites_drawn']} previews redrawn")
    return 0
