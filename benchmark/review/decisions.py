"""Reviewer decisions and retrack prompts: read, validate, write and merge (docs/contracts.md "Review decisions").

`config/reviews/<dataset>/<tracker>.csv` holds one row per reviewed video (`video_id, decision,
mask_sha256, reviewer, note, decided_at`) and `<tracker>.prompts.json` the extra tracker prompts of
videos marked `retrack`. Both are validated against `benchmark/schemas/decisions.schema.yaml`; every
error names the file and the line (CSV) or the video (prompts), because these files are edited by
people and merged from several reviewers' exports.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from benchmark.atomic import write_text_atomic
from benchmark.table_files import row_validator, table_columns

DECISION_COLUMNS = table_columns("decisions")
DECISIONS = ("approve", "reject", "retrack")
# Free-text cells a spreadsheet would run as a formula when they start with one of these
# (OWASP "CSV injection"); the writer prefixes such a cell with a single quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FREE_TEXT_COLUMNS = ("reviewer", "note")


class DecisionError(ValueError):
    """A decisions or prompts file is malformed; the message names the file and the line or video."""


@dataclass
class Decision:
    """One reviewed video. `line` is the CSV line it came from (1 = header), for error messages."""

    video_id: str
    decision: str
    mask_sha256: str
    reviewer: str
    note: str
    decided_at: str
    source: str = ""
    line: int = 0

    @property
    def time(self) -> datetime:
        return datetime.fromisoformat(self.decided_at)

    def row(self) -> dict:
        return {column: getattr(self, column) for column in DECISION_COLUMNS}


@dataclass
class DecisionSet:
    """The decisions of one file (or a merge): rows keyed by video, prompts of retrack videos."""

    decisions: dict[str, Decision] = field(default_factory=dict)
    prompts: dict[str, list[dict]] = field(default_factory=dict)


def prompts_path_for(csv_path: str | os.PathLike) -> Path:
    """`X.csv` -> `X.prompts.json` (the sibling naming every export and the canonical file use)."""
    path = Path(csv_path)
    return path.with_name(path.name.removesuffix(".csv") + ".prompts.json")


def validate_decision_row(row: dict, where: str) -> Decision:
    """Check one row against the schema; `where` (file:line) prefixes every error."""
    errors = sorted(
        row_validator("decisions", "row").iter_errors(row), key=lambda e: list(e.absolute_path)
    )
    if errors:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.absolute_path) or 'row'}: {e.message}" for e in errors[:3]
        )
        raise DecisionError(f"{where}: malformed decision row ({details})")
    try:
        stamp = datetime.fromisoformat(row["decided_at"])
    except ValueError as error:
        raise DecisionError(
            f"{where}: decided_at {row['decided_at']!r} is not a valid time"
        ) from error
    if stamp.tzinfo is None:
        raise DecisionError(f"{where}: decided_at {row['decided_at']!r} needs a time zone (e.g. Z)")
    return Decision(**{column: row[column] for column in DECISION_COLUMNS}, source=where)


def parse_decisions_csv(
    text: str, name: str, known_ids: set[str] | None = None
) -> dict[str, Decision]:
    """Parse decisions CSV text; duplicate ids, unknown ids and malformed rows are errors naming the line."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        return {}
    if list(reader.fieldnames) != DECISION_COLUMNS:
        raise DecisionError(
            f"{name}:1: header must be {','.join(DECISION_COLUMNS)}, got {','.join(reader.fieldnames)}"
        )
    decisions: dict[str, Decision] = {}
    for row in reader:
        line = reader.line_num  # the row's (last) line; blank lines are counted, 1 = header
        where = f"{name}:{line}"
        # csv.DictReader puts surplus cells under None and fills missing ones with None
        if None in row or any(value is None for value in row.values()):
            raise DecisionError(
                f"{where}: expected {len(DECISION_COLUMNS)} cells ({','.join(DECISION_COLUMNS)})"
            )
        decision = validate_decision_row(dict(row), where)
        decision.line = line
        if known_ids is not None and decision.video_id not in known_ids:
            raise DecisionError(
                f"{where}: unknown video_id {decision.video_id!r} (not in the manifest); "
                "fix or remove the row"
            )
        if decision.video_id in decisions:
            first = decisions[decision.video_id].line
            raise DecisionError(
                f"{where}: video_id {decision.video_id!r} already decided on line {first}; "
                "keep one row per video (`python -m benchmark.review merge` does)"
            )
        decisions[decision.video_id] = decision
    return decisions


def validate_prompts(
    prompts: object, name: str, known_ids: set[str] | None = None
) -> dict[str, list[dict]]:
    """Check a prompts object (video_id -> [{frame, points, box}]); errors name the file and video."""
    errors = sorted(
        row_validator("decisions", "prompts").iter_errors(prompts),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        error = errors[0]
        path = list(error.absolute_path)
        video = f" video {path[0]!r}" if path else ""
        raise DecisionError(
            f"{name}:{video} malformed prompts ({'/'.join(map(str, path[1:])) or 'entry'}: {error.message})"
        )
    assert isinstance(prompts, dict)
    for video_id, entries in prompts.items():
        if known_ids is not None and video_id not in known_ids:
            raise DecisionError(
                f"{name}: prompts for unknown video_id {video_id!r} (not in the manifest)"
            )
        frames = [entry["frame"] for entry in entries]
        if len(frames) != len(set(frames)):
            raise DecisionError(
                f"{name}: video {video_id!r} has two prompts for one frame; keep one per frame"
            )
        for entry in entries:
            box = entry["box"]
            if box is not None and (box[2] <= box[0] or box[3] <= box[1]):
                raise DecisionError(
                    f"{name}: video {video_id!r} frame {entry['frame']}: box {box} has no area"
                )
    return {
        video_id: sorted(entries, key=lambda e: e["frame"]) for video_id, entries in prompts.items()
    }


def read_decisions(csv_path: str | os.PathLike, known_ids: set[str] | None = None) -> DecisionSet:
    """Read a decisions CSV and its `.prompts.json` sibling; a missing CSV is an empty set (nothing reviewed)."""
    csv_path = Path(csv_path)
    result = DecisionSet()
    if csv_path.exists():
        # bytes, not read_text: universal newlines would turn a CR inside a quoted note into LF
        try:
            text = csv_path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise DecisionError(
                f"{csv_path}: not UTF-8 text (bad byte at offset {error.start}); save it as UTF-8"
            ) from error
        result.decisions = parse_decisions_csv(text, str(csv_path), known_ids)
    prompts_path = prompts_path_for(csv_path)
    if prompts_path.exists():
        try:
            raw = json.loads(prompts_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DecisionError(
                f"{prompts_path}:{error.lineno}: not valid JSON ({error.msg})"
            ) from error
        result.prompts = validate_prompts(raw, str(prompts_path), known_ids)
    return result


def neutralise_formula(text: str) -> str:
    """`=SUM(A1)` -> `'=SUM(A1)`: a cell a spreadsheet would evaluate is written as plain text.

    The quote stays in the file and is not stripped on read, so a text that already starts with a
    quote is left alone and write -> read -> write gives the same bytes.
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def decisions_csv_text(decisions: list[Decision] | dict[str, Decision]) -> str:
    """The canonical CSV text: rows sorted by video, LF line ends, free-text cells neutralised."""
    rows = decisions.values() if isinstance(decisions, dict) else decisions
    lines = [",".join(DECISION_COLUMNS)]
    for decision in sorted(rows, key=lambda d: d.video_id):
        row = decision.row()
        for column in FREE_TEXT_COLUMNS:
            row[column] = neutralise_formula(row[column])
        lines.append(",".join(_csv_cell(row[column]) for column in DECISION_COLUMNS))
    return "\n".join(lines) + "\n"


def _csv_cell(text: str) -> str:
    # csv.writer's minimal quoting, plus a bare CR, which csv.writer leaves unquoted when the line
    # end is LF (a note with one then split its row in two on the next read)
    if any(char in text for char in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def prompts_json_text(prompts: dict[str, list[dict]]) -> str:
    ordered = {
        video_id: sorted(prompts[video_id], key=lambda e: e["frame"])
        for video_id in sorted(prompts)
    }
    return json.dumps(ordered, indent=1) + "\n"


def write_decisions(csv_path: str | os.PathLike, decision_set: DecisionSet) -> None:
    """Validate and write both files atomically.

    Prompts are kept for every video that has some, whatever its decision: they are tracker input,
    and an approved mask of a retracked video can only be rebuilt from the same prompts.
    """
    csv_path = Path(csv_path)
    for decision in decision_set.decisions.values():
        validate_decision_row(decision.row(), f"{csv_path}: video {decision.video_id}")
    prompts = validate_prompts(
        {v: p for v, p in decision_set.prompts.items() if p}, str(prompts_path_for(csv_path))
    )
    write_text_atomic(csv_path, decisions_csv_text(decision_set.decisions))
    write_text_atomic(prompts_path_for(csv_path), prompts_json_text(prompts))


@dataclass
class MergeResult:
    merged: DecisionSet
    conflicts: list[tuple[Decision, Decision]]  # same video and mask_sha256, different decisions


def merge_decision_sets(sets: list[DecisionSet]) -> MergeResult:
    """Merge reviewers' decisions: per video the latest `decided_at` wins (a later input wins a tie).

    Two rows for one video and one `mask_sha256` whose decisions differ are conflicts: the merge
    still picks the latest, and lists every such pair so a person can settle them. A winning row's
    prompts come from the same input as the row (none there: none); prompts of a video no input
    decided come from the last input that has them.
    """
    winners: dict[str, tuple[Decision, list[dict] | None]] = {}
    seen: dict[tuple[str, str], list[Decision]] = {}
    loose_prompts: dict[str, list[dict]] = {}
    for decision_set in sets:
        for video_id, entries in decision_set.prompts.items():
            if video_id not in decision_set.decisions:
                loose_prompts[video_id] = entries
        for video_id, decision in decision_set.decisions.items():
            seen.setdefault((video_id, decision.mask_sha256), []).append(decision)
            current = winners.get(video_id)
            if current is None or decision.time >= current[0].time:
                winners[video_id] = (decision, decision_set.prompts.get(video_id))
    conflicts = []
    for rows in seen.values():
        for i, first in enumerate(rows):
            for second in rows[i + 1 :]:
                if first.decision != second.decision:
                    conflicts.append((first, second))
    prompts = {v: p for v, p in loose_prompts.items() if v not in winners}
    prompts.update({v: p for v, (_, p) in winners.items() if p})
    merged = DecisionSet(
        decisions={v: d for v, (d, _) in sorted(winners.items())},
        prompts=dict(sorted(prompts.items())),
    )
    return MergeResult(merged, conflicts)


def merge_page_save(
    current: DecisionSet,
    page: DecisionSet,
    page_cleared: dict[str, str],
    cleared: dict[str, str] | None = None,
) -> DecisionSet:
    """Merge one gallery page's save into the file's decisions, per video (the review server's save).

    `page` is the page's whole state (its decided rows and its prompts), `page_cleared` the videos
    whose decision the page cleared (video -> time), `cleared` every clear the server remembers
    (a superset, may be None). Per video the latest time wins: a page row replaces the file's row
    when it is as late or later (the page saved last), a clear removes a row it is later than or
    as late as, and a page row older than a remembered clear is dropped. The winner's prompts
    come with it (a winning page row: the page's, or none; a file row: the file's); a cleared or
    undecided video keeps the file's prompts unless the page has some.
    """
    cleared = {**page_cleared, **(cleared or {})}
    decisions = dict(current.decisions)
    prompts = dict(current.prompts)
    for video_id, stamp in page_cleared.items():
        existing = decisions.get(video_id)
        if existing is not None and datetime.fromisoformat(stamp) >= existing.time:
            del decisions[video_id]
            if video_id in page.prompts:
                prompts[video_id] = page.prompts[video_id]
    for video_id, decision in page.decisions.items():
        existing = decisions.get(video_id)
        if existing is not None and decision.time < existing.time:
            continue
        stamp = cleared.get(video_id)
        if stamp is not None and datetime.fromisoformat(stamp) > decision.time:
            continue  # cleared after this row was decided, by another tab
        decisions[video_id] = decision
        if page.prompts.get(video_id):
            prompts[video_id] = page.prompts[video_id]
        else:
            prompts.pop(video_id, None)
    for video_id, entries in page.prompts.items():
        if video_id not in page.decisions and video_id not in decisions and entries:
            prompts[video_id] = entries
    return DecisionSet(
        decisions=dict(sorted(decisions.items())),
        prompts={v: p for v, p in sorted(prompts.items()) if p},
    )


def decisions_path(config: dict) -> Path:
    """The canonical decisions CSV of the configured dataset and reviewed tracker."""
    review = config["review"]
    return Path(review["decisions_dir"]) / config["dataset"]["name"] / f"{review['tracker']}.csv"
