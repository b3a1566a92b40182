"""Decisions files: round trip, prompts validation, and `merge` (latest decided_at wins, conflicts listed)."""

from __future__ import annotations

import json

import pytest

from benchmark.review.__main__ import main as review_main
from benchmark.review.decisions import (
    DecisionError,
    DecisionSet,
    merge_decision_sets,
    parse_decisions_csv,
    read_decisions,
    validate_prompts,
    write_decisions,
)

A, B = "a" * 64, "b" * 64
HEADER = "video_id,decision,mask_sha256,reviewer,note,decided_at\n"


def _write(path, rows: list[str], prompts: dict | None = None) -> None:
    path.write_text(HEADER + "".join(row + "\n" for row in rows))
    if prompts is not None:
        path.with_name(path.name.removesuffix(".csv") + ".prompts.json").write_text(
            json.dumps(prompts)
        )


def test_round_trip_keeps_quoted_notes_and_prompts(tmp_path) -> None:
    src = tmp_path / "in.csv"
    prompt = {"frame": 3, "points": [[10.5, 4, 1], [2, 2, 0]], "box": [1, 1, 20, 30]}
    _write(
        src,
        ["v1,retrack," + A + ',ann,"left arm, ""missing""\nsee frame 3",2026-11-25T10:00:00Z'],
        {"v1": [prompt]},
    )
    decision_set = read_decisions(src, {"v1"})
    assert decision_set.decisions["v1"].note == 'left arm, "missing"\nsee frame 3'
    out = tmp_path / "out" / "grabcut.csv"
    write_decisions(out, decision_set)
    again = read_decisions(out, {"v1"})
    assert again.decisions["v1"].row() == decision_set.decisions["v1"].row()
    assert again.prompts == {"v1": [prompt]}
    assert json.loads((tmp_path / "out" / "grabcut.prompts.json").read_text()) == {"v1": [prompt]}


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        ({"v1": [{"frame": 0, "points": [[1, 2, 3]], "box": None}]}, "malformed prompts"),
        ({"v1": [{"frame": -1, "points": [[1, 2, 1]], "box": None}]}, "malformed prompts"),
        ({"v1": [{"frame": 0, "points": [], "box": None}]}, "malformed prompts"),
        ({"v1": [{"frame": 0, "points": [], "box": [5, 5, 5, 9]}]}, "has no area"),
        (
            {
                "v1": [
                    {"frame": 0, "points": [[1, 1, 1]], "box": None},
                    {"frame": 0, "points": [[2, 2, 0]], "box": None},
                ]
            },
            "two prompts for one frame",
        ),
        ({"zz": [{"frame": 0, "points": [[1, 1, 1]], "box": None}]}, "unknown video_id 'zz'"),
    ],
)
def test_bad_prompts_are_errors_naming_the_video(prompts: dict, message: str) -> None:
    with pytest.raises(DecisionError, match=message):
        validate_prompts(prompts, "grabcut.prompts.json", {"v1"})


def test_merge_latest_wins_and_lists_conflicts() -> None:
    ann = parse_decisions_csv(
        HEADER
        + f"v1,approve,{A},ann,,2026-11-25T10:00:00Z\n"
        + f"v2,retrack,{A},ann,,2026-11-25T12:00:00Z\n"
        + f"v3,approve,{A},ann,,2026-11-25T10:00:00Z\n",
        "ann.csv",
    )
    bob = parse_decisions_csv(
        HEADER
        # same masks, other decision, later: wins and is a conflict
        + f"v1,reject,{A},bob,,2026-11-25T11:00:00Z\n"
        # earlier than ann's: loses (and is a conflict, same masks)
        + f"v2,approve,{A},bob,,2026-11-25T13:00:00+02:00\n"
        # new masks, later: wins, no conflict (a decision on other masks)
        + f"v3,reject,{B},bob,,2026-11-25T10:30:00Z\n",
        "bob.csv",
    )
    prompts = {"v2": [{"frame": 1, "points": [[3, 3, 1]], "box": None}]}
    result = merge_decision_sets([DecisionSet(ann, prompts), DecisionSet(bob, {})])
    merged = result.merged.decisions
    assert {v: (d.decision, d.reviewer) for v, d in merged.items()} == {
        "v1": ("reject", "bob"),
        "v2": ("retrack", "ann"),  # 13:00+02:00 is 11:00Z, before ann's 12:00Z
        "v3": ("reject", "bob"),
    }
    assert result.merged.prompts == prompts
    pairs = sorted((a.video_id, a.decision, b.decision) for a, b in result.conflicts)
    assert pairs == [("v1", "approve", "reject"), ("v2", "retrack", "approve")]


def test_merge_cli_writes_the_canonical_file(tmp_path, capsys) -> None:
    ann, bob = tmp_path / "review-ann.csv", tmp_path / "review-bob.csv"
    _write(
        ann,
        [f"v1,retrack,{A},ann,,2026-11-25T10:00:00Z"],
        {"v1": [{"frame": 0, "points": [[1, 1, 1]], "box": None}]},
    )
    _write(
        bob,
        [f"v1,approve,{A},bob,,2026-11-25T09:00:00Z", f"v2,approve,{B},bob,,2026-11-25T09:00:00Z"],
    )
    out = tmp_path / "config" / "reviews" / "toy" / "grabcut.csv"
    out.parent.mkdir(parents=True)
    # the canonical file's existing rows take part: v3 survives the merge
    _write(out, [f"v3,reject,{B},cid,,2026-11-24T09:00:00Z"])
    assert review_main(["merge", str(ann), str(bob), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "conflict: v1" in printed and "1 conflict(s)" in printed
    lines = out.read_text().splitlines()
    assert lines[0] == HEADER.strip()
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["v1", "retrack"],
        ["v2", "approve"],
        ["v3", "reject"],
    ]
    assert json.loads((out.parent / "grabcut.prompts.json").read_text()) == {
        "v1": [{"frame": 0, "points": [[1, 1, 1]], "box": None}]
    }
    assert review_main(["merge", str(ann), str(bob), "--out", str(out), "--strict"]) == 1
    # a malformed input is refused naming its line, and the canonical file is left as it was
    before = out.read_text()
    _write(bob, [f"v1,approve,{A},bob,,2026-11-25"])
    assert review_main(["merge", str(ann), str(bob), "--out", str(out)]) == 2
    assert "review-bob.csv:2: malformed decision row" in capsys.readouterr().err
    assert out.read_text() == before
