"""The review gate: approved / rejected / retrack / stale / unreviewed / skipped videos give the right
video set and summary, through the function and the CLI the `gate_review` rule runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmark.manifest import validate_manifest, write_manifest, write_skipped
from benchmark.review.__main__ import main as review_main
from benchmark.review.decisions import DecisionError, DecisionSet, parse_decisions_csv
from benchmark.review.gate import GateError, gate_videos

SHA = {name: (f"{k:x}" * 64)[:64] for k, name in enumerate("abcdefghij", start=1)}
NEW = "f" * 64


def _manifest() -> pd.DataFrame:
    rows = []
    # class 0: v_app, v_rej, v_ret ; class 1: v_stale, v_new, v_skip ; a train video never gated
    for video_id, label, split in [
        ("v_app", 0, "test"),
        ("v_rej", 0, "test"),
        ("v_ret", 0, "test"),
        ("v_stale", 1, "test"),
        ("v_new", 1, "test"),
        ("v_skip", 1, "test"),
        ("v_train", 0, "train"),
    ]:
        rows.append(
            {
                "video_id": video_id,
                "source_name": video_id,
                "path": "",
                "label": label,
                "label_name": ["run", "jump"][label],
                "split": split,
                "num_frames": 8,
                "fps": 8.0,
                "width": 32,
                "height": 32,
            }
        )
    return validate_manifest(pd.DataFrame(rows))


def _qc() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": ["v_app", "v_rej", "v_ret", "v_stale", "v_new", "v_train"],
            "mask_sha256": [SHA["a"], SHA["b"], SHA["c"], NEW, SHA["e"], SHA["f"]],
            "frames": 8,
            "empty_frames": 0,
            "mean_score": None,
            "area_mean": 0.2,
            "box_fill_mean": 0.5,
            "max_area_jump": 0.1,
            "iou_gt_mean": None,
            "leak_gt": None,
            "leak_context_gt": None,
            "flags": ["", "tiny", "", "area_jump", "", ""],
        }
    )


DECISIONS = """video_id,decision,mask_sha256,reviewer,note,decided_at
v_app,approve,{a},ann,,2026-11-25T10:00:00Z
v_rej,reject,{b},ann,"leaks, badly",2026-11-25T10:01:00Z
v_ret,retrack,{c},bob,,2026-11-25T10:02:00.5+01:00
v_stale,approve,{d},bob,,2026-11-25T10:03:00Z
v_skip,approve,{g},bob,,2026-11-25T10:04:00Z
""".format(**SHA)

SKIPPED = pd.DataFrame(
    [
        {
            "video_id": "v_skip",
            "mask_source": "grabcut",
            "stage": "track_actors",
            "reason": "unreadable",
        }
    ]
)


def _gate(require: bool):
    decisions = DecisionSet(
        parse_decisions_csv(DECISIONS, "grabcut.csv", set(_manifest()["video_id"]))
    )
    return gate_videos(_manifest(), _qc(), decisions, SKIPPED, require=require, splits=["test"])


def test_required_review_uses_only_fresh_approvals() -> None:
    result = _gate(require=True)
    assert result.approved.to_dict("records") == [{"video_id": "v_app", "label": 0}]
    status = dict(zip(result.status["video_id"], result.status["status"], strict=True))
    assert status == {
        "v_app": "approved",
        "v_rej": "rejected",
        "v_ret": "retrack_pending",
        "v_stale": "stale",  # approved, but on masks that have since changed
        "v_new": "unreviewed",
        "v_skip": "skipped",  # approved, yet skipped by a stage: out of every variant
    }
    summary = result.summary.set_index("label_name")
    assert summary.loc[
        "run", ["videos", "approved", "rejected", "retrack_pending", "used"]
    ].tolist() == [
        3,
        1,
        1,
        1,
        1,
    ]
    assert summary.loc[
        "jump", ["videos", "stale", "unreviewed", "skipped", "flagged", "used"]
    ].tolist() == [
        3,
        1,
        1,
        1,
        1,
        0,
    ]
    total = summary.loc["all"]
    assert [
        int(total[k])
        for k in (
            "videos",
            "approved",
            "rejected",
            "retrack_pending",
            "stale",
            "unreviewed",
            "skipped",
            "used",
        )
    ] == [
        6,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
    ]


def test_optional_review_uses_every_video_but_skipped_and_lists_flags() -> None:
    result = _gate(require=False)
    assert result.approved["video_id"].tolist() == ["v_app", "v_new", "v_rej", "v_ret", "v_stale"]
    assert int(result.summary.iloc[-1]["used"]) == 5
    flagged = result.status[(result.status["flags"] != "") & result.status["used"]]
    assert flagged["video_id"].tolist() == ["v_rej", "v_stale"]


def test_required_review_with_nothing_approved_fails_naming_counts() -> None:
    decisions = DecisionSet()
    with pytest.raises(
        GateError,
        match=r"no video is approved: approved 0, rejected 0, retrack_pending 0, stale 0, unreviewed 5, skipped 1",
    ):
        gate_videos(_manifest(), _qc(), decisions, SKIPPED, require=True, splits=["test"])


def test_missing_qc_row_is_an_error_naming_the_video() -> None:
    qc = _qc()[lambda q: q["video_id"] != "v_new"]
    with pytest.raises(GateError, match=r"no masks/QC for 1 gated video\(s\) \['v_new'\]"):
        gate_videos(_manifest(), qc, DecisionSet(), SKIPPED, require=False, splits=["test"])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "v_nope,approve,{a},ann,,2026-11-25T10:00:00Z",
            r"grabcut.csv:3: unknown video_id 'v_nope'",
        ),
        (
            "v_rej,maybe,{a},ann,,2026-11-25T10:00:00Z",
            r"grabcut.csv:3: malformed decision row \(decision",
        ),
        (
            "v_rej,approve,abc,ann,,2026-11-25T10:00:00Z",
            r"grabcut.csv:3: malformed decision row \(mask_sha256",
        ),
        ("v_rej,approve,{a},ann,,yesterday", r"grabcut.csv:3: malformed decision row \(decided_at"),
        (
            "v_rej,approve,{a},ann,,2026-11-25T10:00:00",
            r"grabcut.csv:3: malformed decision row \(decided_at",
        ),
        ("v_rej,approve,{a},ann", r"grabcut.csv:3: expected 6 cells"),
        (
            "v_app,reject,{a},ann,,2026-11-25T11:00:00Z",
            r"grabcut.csv:3: video_id 'v_app' already decided on line 2",
        ),
    ],
)
def test_malformed_or_unknown_rows_name_the_line(row: str, message: str) -> None:
    text = (
        DECISIONS.splitlines()[0]
        + "\n"
        + DECISIONS.splitlines()[1]
        + "\n"
        + row.format(**SHA)
        + "\n"
    )
    with pytest.raises(DecisionError, match=message):
        parse_decisions_csv(text, "grabcut.csv", set(_manifest()["video_id"]))


def test_gate_cli_writes_approved_and_summary(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results" / "toy"
    write_manifest(results / "manifest.csv", _manifest())
    (results / "masks" / "grabcut").mkdir(parents=True)
    _qc().to_csv(results / "masks" / "grabcut" / "qc.csv", index=False)
    write_skipped(results / "ingest" / "skipped.csv", [])
    write_skipped(results / "masks" / "grabcut" / "skipped.csv", SKIPPED.to_dict("records"))
    reviews = tmp_path / "config" / "reviews" / "toy"
    reviews.mkdir(parents=True)
    (reviews / "grabcut.csv").write_text(DECISIONS)
    config = {
        "results": "results",
        "dataset": {"name": "toy"},
        "review": {
            "tracker": "grabcut",
            "require": True,
            "decisions_dir": "config/reviews",
            "splits": ["test"],
        },
    }
    skips = [
        str(results / "ingest" / "skipped.csv"),
        str(results / "masks" / "grabcut" / "skipped.csv"),
    ]
    assert review_main(["gate", "--config-json", json.dumps(config), "--skipped", *skips]) == 0
    approved = pd.read_csv(results / "review" / "approved.csv")
    assert approved.to_dict("records") == [{"video_id": "v_app", "label": 0}]
    summary = pd.read_csv(results / "review" / "summary.csv", keep_default_na=False)
    assert summary.columns.tolist()[:4] == ["label", "label_name", "videos", "approved"]
    assert summary.iloc[-1]["label_name"] == "all" and int(summary.iloc[-1]["stale"]) == 1
    text = (results / "review" / "summary.md").read_text()
    assert "| 0 | run | 3 | 1 | 1 | 1 | 0 | 0 | 0 | 1 | 1 |" in text

    # nothing reviewed (no decisions file) with require: the rule fails and writes nothing new
    (reviews / "grabcut.csv").unlink()
    (results / "review" / "approved.csv").unlink()
    assert review_main(["gate", "--config-json", json.dumps(config), "--skipped", *skips]) == 2
    assert not (results / "review" / "approved.csv").exists()
    # ... and with require false every non-skipped test video is used
    config["review"]["require"] = False
    assert review_main(["gate", "--config-json", json.dumps(config), "--skipped", *skips]) == 0
    assert len(pd.read_csv(results / "review" / "approved.csv")) == 5
