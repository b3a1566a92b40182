"""The review gate: which test videos may enter the benchmark, from the reviewers' decisions.

A decision counts only for the masks it was made on: its `mask_sha256` must equal the current one of
the reviewed tracker (`masks/<tracker>/qc.csv`), else it is *stale*. With `review.require: true` the
benchmark uses exactly the approved, non-stale videos and the build fails if there are none; with
`false` every gated video is used and the flagged ones are listed. Videos skipped by any stage
(`<stage>/skipped.csv`) leave every variant either way. One video set gates every variant (rectangles
and truth included), so variants differ only in the mask.

Outputs under `review/`: `approved.csv` (video_id, label — the set assembly reads), `status.csv` (one
row per gated video with its status and flags), `summary.csv` / `summary.md` (counts per class).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.atomic import write_csv_atomic, write_text_atomic
from benchmark.review.decisions import DecisionSet

STATUSES = ("approved", "rejected", "retrack_pending", "stale", "unreviewed", "skipped")
SUMMARY_COLUMNS = ["label", "label_name", "videos", *STATUSES, "flagged", "used"]


class GateError(ValueError):
    """The gate cannot produce a video set; the message names the counts or the file and row."""


@dataclass
class GateResult:
    approved: pd.DataFrame  # video_id, label
    status: pd.DataFrame  # one row per gated video
    summary: pd.DataFrame  # per class + an "all" row
    require: bool


def gate_videos(
    manifest: pd.DataFrame,
    qc: pd.DataFrame,
    decisions: DecisionSet,
    skipped: pd.DataFrame,
    *,
    require: bool,
    splits: list[str],
    qc_name: str = "qc.csv",
) -> GateResult:
    """Classify every gated video and pick the benchmark's video set (see the module docstring)."""
    gated = manifest[manifest["split"].isin(splits)].sort_values("video_id").reset_index(drop=True)
    skipped_ids = set(skipped["video_id"])
    current = dict(zip(qc["video_id"], qc["mask_sha256"], strict=True))
    flags = dict(zip(qc["video_id"], qc["flags"], strict=True))
    missing = sorted(set(gated["video_id"]) - skipped_ids - set(current))
    if missing:
        raise GateError(
            f"{qc_name}: no masks/QC for {len(missing)} gated video(s) {missing[:5]}; rerun tracking "
            "and QC for the reviewed tracker, or record them in a stage's skipped.csv"
        )
    rows = []
    for video in gated.itertuples(index=False):
        decision = decisions.decisions.get(video.video_id)
        if video.video_id in skipped_ids:
            state = "skipped"
        elif decision is None:
            state = "unreviewed"
        elif decision.mask_sha256 != current[video.video_id]:
            state = "stale"
        else:
            state = {"approve": "approved", "reject": "rejected", "retrack": "retrack_pending"}[
                decision.decision
            ]
        used = state == "approved" if require else state != "skipped"
        rows.append(
            {
                "video_id": video.video_id,
                "label": int(video.label),
                "label_name": video.label_name,
                "status": state,
                "used": used,
                "flags": flags.get(video.video_id, ""),
                "decision": decision.decision if decision else "",
                "reviewer": decision.reviewer if decision else "",
                "reviewed_sha256": decision.mask_sha256 if decision else "",
                "mask_sha256": current.get(video.video_id, ""),
            }
        )
    status = pd.DataFrame(
        rows,
        columns=[
            "video_id",
            "label",
            "label_name",
            "status",
            "used",
            "flags",
            "decision",
            "reviewer",
            "reviewed_sha256",
            "mask_sha256",
        ],
    )
    summary = summarize(status, gated)
    approved = status.loc[status["used"], ["video_id", "label"]].reset_index(drop=True)
    if require and approved.empty:
        counts = summary.iloc[-1]
        raise GateError(
            "review.require is true but no video is approved: "
            + ", ".join(f"{name} {int(counts[name])}" for name in STATUSES)
            + f" (of {int(counts['videos'])} gated videos). Review the gallery "
            "(python -m benchmark.review build/serve), or set review.require: false"
        )
    return GateResult(approved, status, summary, require)


def summarize(status: pd.DataFrame, gated: pd.DataFrame) -> pd.DataFrame:
    """Counts per class (every class of the gated videos, even with zero rows) and an `all` row."""
    classes = gated[["label", "label_name"]].drop_duplicates().sort_values("label")
    rows = []
    for label, label_name in classes.itertuples(index=False):
        part = status[status["label"] == label]
        rows.append(_counts(part, int(label), label_name))
    rows.append(_counts(status, "", "all"))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _counts(part: pd.DataFrame, label: int | str, label_name: str) -> dict:
    counts = {"label": label, "label_name": label_name, "videos": len(part)}
    for name in STATUSES:
        counts[name] = int((part["status"] == name).sum())
    counts["flagged"] = int((part["flags"] != "").sum())
    counts["used"] = int(part["used"].sum())
    return counts


def summary_markdown(result: GateResult, tracker: str, decisions_file: str) -> str:
    """The human-readable summary: the table, then the flagged videos that are used."""
    table = result.summary
    lines = [
        f"# Review gate — tracker `{tracker}`",
        "",
        f"Decisions: `{decisions_file}`; `review.require: {str(result.require).lower()}` — "
        + (
            "only approved videos with unchanged masks are used."
            if result.require
            else "every gated video except skipped ones is used."
        ),
        "",
        "| " + " | ".join(SUMMARY_COLUMNS) + " |",
        "|" + "---|" * len(SUMMARY_COLUMNS),
    ]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    flagged = result.status[(result.status["flags"] != "") & result.status["used"]]
    lines += ["", f"## Flagged videos in the benchmark ({len(flagged)})", ""]
    if flagged.empty:
        lines.append("None.")
    else:
        lines += ["| video_id | label_name | status | flags |", "|---|---|---|---|"]
        for row in flagged.itertuples(index=False):
            lines.append(f"| {row.video_id} | {row.label_name} | {row.status} | {row.flags} |")
    return "\n".join(lines) + "\n"


def write_gate(
    out_dir: str | os.PathLike, result: GateResult, tracker: str, decisions_file: str
) -> None:
    out_dir = Path(out_dir)
    write_csv_atomic(out_dir / "status.csv", result.status)
    write_csv_atomic(out_dir / "summary.csv", result.summary)
    write_text_atomic(out_dir / "summary.md", summary_markdown(result, tracker, decisions_file))
    # approved.csv last: it is what assembly reads, so it only appears next to a complete summary
    write_csv_atomic(out_dir / "approved.csv", result.approved)
