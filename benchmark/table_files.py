"""The one home of every schema'd table: load its schema, validate its rows, read and write it atomically.

A table's schema is `benchmark/schemas/<name>.schema.yaml` (package data, found through
`importlib.resources`): a JSON schema of one row, its column order (`x-columns`, or the `const` of
`$defs.columns` / `$defs.fixed_columns`), the columns CSV brings as text that are integers
(`x-integer`) and the file format (`x-format`, CSV unless it says parquet). `validate_rows` checks a
table row by row, or column by column (vectorised, from the same schema) where the schema says
`x-validate: columns` (the manifest and boxes tables: tens of thousands of rows); `read_table` /
`write_table` read and write one with its columns in the schema's order, CSV with LF line ends and no index, always through `benchmark.atomic`, so a failed write
leaves neither the file nor a temporary. The named helpers add each table's own rules on top (unique
ids, typed columns, a prediction file's probabilities). Every error is a `TableError`, one line
naming the file, the row or item and what to do. This module is torch-free and imports nothing of
the project but `benchmark.atomic`, so `albar` may use it to read and write the contract's tables.
"""

from __future__ import annotations

import functools
import importlib.resources
import io
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from benchmark.atomic import atomic_path, write_csv_atomic

# Schema'd tables by name (the schema file is <name>.schema.yaml) -> what to do about a bad row.
TABLES = {
    "manifest": "rebuild it with the ingest stage (python -m benchmark.ingest)",
    "boxes": "rebuild it with the ingest stage (python -m benchmark.ingest)",
    "backgrounds": "rebuild it with the render_backgrounds rule (python -m benchmark.backgrounds)",
    "items": "rebuild it with the composite stage (python -m benchmark.composite)",
    "qc": "rerun the qc_masks rule for this mask source",
    "decisions": "fix the row, or export the decisions again from the review server",
    "scene_labels": "rebuild them with python -m albar.scenes",
    "predictions": "rerun prediction for this run and seed",
    "summary": "rerun the summarise_results rule",
}
# How far a prediction row's probabilities may sum from 1 (files store rounded softmax values).
PROBABILITY_SUM_TOLERANCE = 1e-2


class TableError(ValueError):
    """A table file breaks its schema (or cannot be read); the one-line message names the file,
    the row or item and what to do."""


def _few(values: Iterable, limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', …' if len(values) > limit else ''}]"


@functools.cache
def table_schema(name: str) -> dict:
    """The row schema of table `name` (cached; treat it as read-only)."""
    if name not in TABLES:
        raise KeyError(f"no table schema named {name!r}; known tables: {sorted(TABLES)}")
    resource = importlib.resources.files("benchmark") / "schemas" / f"{name}.schema.yaml"
    return yaml.safe_load(resource.read_text(encoding="utf-8"))


def table_columns(name: str) -> list[str]:
    """The columns of table `name` in file order (for predictions: the fixed ones before p_0 …)."""
    schema = table_schema(name)
    if "x-columns" in schema:
        return list(schema["x-columns"])
    defs = schema.get("$defs", {})
    for key in ("columns", "fixed_columns"):
        if key in defs:
            return list(defs[key]["const"])
    raise KeyError(f"{name}.schema.yaml names no columns")


def table_format(name: str) -> str:
    return table_schema(name).get("x-format", "csv")


@functools.cache
def row_validator(name: str, definition: str | None = None):
    """A jsonschema validator of one row of `name` (or of its `$defs.<definition>`); cached."""
    import jsonschema

    schema = table_schema(name)
    if definition is not None:
        schema = {**schema, "$ref": f"#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema)


def _is_integral(value: object) -> bool:
    if isinstance(value, str):
        return value.lstrip("-").isdigit()
    return isinstance(value, float) and value.is_integer()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def validate_rows(
    frame: pd.DataFrame,
    name: str,
    path: str | os.PathLike | None,
    what: str | None = None,
    line_offset: int | None = None,
) -> pd.DataFrame:
    """Validate every row of `frame` against table `name`'s schema; return it in column order.

    Empty cells (NaN / None) are null; integer columns (`x-integer`) arriving as text or floats
    are checked as integers. Row numbers are file lines of a CSV (header = 1), 1-based rows of a
    parquet table, unless `line_offset` says otherwise. An `x-validate: columns` table is checked
    column-wise and returned typed. Raises TableError naming the file, the row (and its id) and
    what to do.
    """
    if line_offset is None:
        line_offset = 1 if table_format(name) == "parquet" else 2
    what = what or f"{name} table"
    where = f"{path}: " if path is not None else ""
    columns = table_columns(name)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TableError(f"{where}{what} lacks columns {missing}; {TABLES[name]}")
    frame = frame[columns]
    if table_schema(name).get("x-validate") == "columns":
        return _validate_columns(frame, name, where, what, line_offset)
    # A schema whose top level describes the file (decisions: the CSV and the prompts JSON)
    # keeps the row in $defs.row.
    validator = row_validator(name, "row" if "row" in table_schema(name).get("$defs", {}) else None)
    integers = set(table_schema(name).get("x-integer", []))
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for row, record in enumerate(records):
        for key, value in record.items():
            if isinstance(value, np.generic):
                value = record[key] = value.item()
            # CSV cells arrive as text, nullable integer columns as floats: coerce exact ones.
            if key in integers and _is_integral(value):
                record[key] = int(value)
        error = next(iter(validator.iter_errors(record)), None)
        if error is not None:
            field = ".".join(str(p) for p in error.absolute_path) or "(row)"
            ident = record.get(columns[0])
            named = f" ({columns[0]} {ident})" if isinstance(ident, str) else ""
            raise TableError(
                f"{where}{what} row {row + line_offset}{named}: {field}: "
                f"{_one_line(error.message)}; {TABLES[name]}"
            )
    return frame


# The keywords a column-wise schema may use (anything else would go unchecked, so it is refused).
_COLUMN_KEYWORDS = {
    "type",
    "pattern",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "description",
}


def _validate_columns(
    frame: pd.DataFrame, name: str, where: str, what: str, line_offset: int
) -> pd.DataFrame:
    """`validate_rows` for an `x-validate: columns` table: each column checked at once against
    its property (type, pattern, enum, bounds); returns a typed copy (integer columns int64,
    number columns as `pd.to_numeric` types them, the rest as given). The error names the first
    bad row, as the row-by-row check does, and how many rows break the column."""
    schema = table_schema(name)
    columns = table_columns(name)
    frame = frame.copy()
    for column in columns:
        spec = schema["properties"][column]
        unknown = set(spec) - _COLUMN_KEYWORDS
        if unknown:
            raise KeyError(
                f"{name}.schema.yaml: {column} uses {sorted(unknown)}, not checked column-wise"
            )
        values = frame[column]
        kind = spec.get("type", "string" if "enum" in spec else None)
        if kind in ("integer", "number"):
            numbers = pd.to_numeric(values, errors="coerce").astype(np.float64)
            array = numbers.to_numpy()
            bad = ~np.isfinite(array)  # JSON has no NaN or infinity; empty cells arrive as NaN
            problem = f"must be a finite {kind}"
            if kind == "integer":
                with np.errstate(invalid="ignore"):
                    bad |= array != np.round(array)
            with np.errstate(invalid="ignore"):
                if "minimum" in spec:
                    bad |= array < spec["minimum"]
                    problem += f" >= {spec['minimum']}"
                if "exclusiveMinimum" in spec:
                    bad |= array <= spec["exclusiveMinimum"]
                    problem += f" > {spec['exclusiveMinimum']}"
                if "maximum" in spec:
                    bad |= array > spec["maximum"]
                    problem += f" <= {spec['maximum']}"
            # A number column keeps pandas' own type (whole numbers stay integers, as they were
            # written), so a table reads and writes back to the same bytes.
            typed = (
                numbers.astype(np.int64)
                if kind == "integer" and not bad.any()
                else pd.to_numeric(values, errors="coerce")
            )
        elif kind == "string":
            # Checked once per distinct value (170,000 boxes name ~1,000 videos); null is bad.
            codes, distinct = pd.factorize(values, use_na_sentinel=True)
            distinct = pd.Series(np.asarray(distinct, dtype=object))
            ok = distinct.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
            problem = "must be text"
            text = distinct.where(ok, "").astype(str)
            if "pattern" in spec:
                ok = ok & text.str.match(spec["pattern"]).to_numpy(dtype=bool)
                problem += f" matching {spec['pattern']}"
            if "enum" in spec:
                ok = ok & text.isin(spec["enum"]).to_numpy()
                problem = f"must be one of {spec['enum']}"
            bad = (codes < 0) | ~np.append(ok, False)[codes]
            typed = values
        else:
            raise KeyError(f"{name}.schema.yaml: {column} has no type checked column-wise")
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            value = values.iloc[row]
            value = value.item() if isinstance(value, np.generic) else value  # -1, not np.int64(-1)
            ident = frame[columns[0]].iloc[row]
            named = f" ({columns[0]} {ident})" if isinstance(ident, str) else ""
            raise TableError(
                f"{where}{what} row {row + line_offset}{named}: {column}: "
                f"{_one_line(repr(value))} {problem} (rows breaking it: {int(bad.sum())}); "
                f"{TABLES[name]}"
            )
        frame[column] = typed
    return frame.reset_index(drop=True)


def write_table(name: str, path: str | os.PathLike, frame: pd.DataFrame) -> pd.DataFrame:
    """Validate `frame` and write it atomically in the table's format; return the written frame."""
    frame = validate_rows(frame, name, path)
    if table_format(name) == "parquet":
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    else:
        write_csv_atomic(path, frame)
    return frame


def read_table(
    name: str,
    path: str | os.PathLike,
    missing_hint: str,
    dtype: dict | type | None = str,
    na_values: list[str] | dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Read and validate table `name` from `path`; `missing_hint` says what to run when it is absent.

    CSV cells are read as `dtype` (text by default; empty cells stay "" unless `na_values`, for
    every column or per column, says [""]).
    """
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: {name} table not found; {missing_hint}")
    try:
        if table_format(name) == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=dtype, keep_default_na=False, na_values=na_values or [])
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        raise TableError(
            f"{path}: not a readable {name} table ({type(error).__name__}: "
            f"{_one_line(error)[:120]}); {TABLES[name]}"
        ) from None
    return validate_rows(frame, name, path)


# ---------------------------------------------------------------------------------------------
# tables/summary.csv (benchmark.tables builds it)


def summary_metrics() -> list[str]:
    """The figures of the summary table that get a `<metric>_std` column when seeds > 1."""
    return list(table_schema("summary")["$defs"]["std_metrics"]["const"])


def validate_summary(summary: pd.DataFrame, path: str | os.PathLike) -> None:
    """Check every summary row (its `_std` columns included) against summary.schema.yaml."""
    columns = table_columns("summary")
    expected = columns + [f"{m}_std" for m in summary_metrics()]
    if list(summary.columns) not in (columns, expected):
        raise TableError(
            f"{path}: summary columns must be {columns} (then the _std columns); "
            f"got {list(summary.columns)}; {TABLES['summary']}"
        )
    validator = row_validator("summary")
    for record in summary.to_dict("records"):
        record = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in record.items()}
        record = {
            k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()
        }
        errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
        if errors:
            where = f"variant {record.get('variant')!r}, run {record.get('run')!r}"
            field = ".".join(str(p) for p in errors[0].absolute_path) or "(row)"
            raise TableError(
                f"{path}: summary row ({where}) breaks summary.schema.yaml: {field}: "
                f"{_one_line(errors[0].message)}; {TABLES['summary']}"
            )


# ---------------------------------------------------------------------------------------------
# qc.csv (mask quality control; benchmark.tracking.qc computes the figures)


def write_qc(path: str | os.PathLike, rows: list[dict]) -> pd.DataFrame:
    """Write a mask source's qc.csv (validated first); return the table."""
    return write_table("qc", path, pd.DataFrame(rows, columns=table_columns("qc")))


def read_qc(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check a mask source's qc.csv: empty figures are NaN, empty flags "", each video once."""
    columns = table_columns("qc")
    text = {"video_id": str, "mask_sha256": str, "flags": str}
    empty_is_null = {c: [""] for c in columns if c not in text}
    frame = read_table(
        "qc",
        path,
        "run the qc_masks rule for this mask source",
        dtype=text,
        na_values=empty_is_null,
    )
    duplicated = frame.loc[frame["video_id"].duplicated(), "video_id"].tolist()
    if duplicated:
        raise TableError(f"{path}: video_id(s) listed twice: {duplicated[:5]}; {TABLES['qc']}")
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# items.csv (benchmark items; docs/contracts.md "Benchmark items")


def validate_items(frame: pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """Check an items table against items.schema.yaml and for ids listed twice; return it typed."""
    frame = validate_rows(frame, "items", path, "items table").copy()
    for column in ("version", "label", "frames", "first_frame"):
        frame[column] = pd.to_numeric(frame[column]).astype(np.int64)
    for column in ("static_label", "static_frame"):
        frame[column] = pd.to_numeric(frame[column]).astype("Int64")
    # Shard tables hold every source; an item id is unique within its source (its items.csv).
    duplicated = frame.loc[frame.duplicated(["source", "item_id"]), "item_id"]
    if len(duplicated):
        raise TableError(
            f"{path}: item id(s) listed twice: {_few(sorted(set(duplicated)))}; {TABLES['items']}"
        )
    return frame.reset_index(drop=True)


def write_items(path: str | os.PathLike, rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Write an items table sorted by item id (validated first); return it typed."""
    frame = pd.DataFrame(rows, columns=table_columns("items")) if isinstance(rows, list) else rows
    frame = frame.sort_values("item_id", kind="stable") if len(frame) else frame
    frame = validate_items(frame, path)
    write_csv_atomic(path, frame)
    return frame


def read_items(path: str | os.PathLike, protocol: str | None = None) -> pd.DataFrame:
    """Read and check one items table (typed, in file order); with `protocol`, every row must be
    an item of that protocol."""
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: items table not found; run the composite stage")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False).replace("", None)
    frame = validate_items(frame, path)
    if protocol is not None:
        wrong = frame.loc[frame["protocol"] != protocol, "item_id"].tolist()
        if wrong:
            raise TableError(
                f"{path}: items {_few(wrong)} are not {protocol!r} items; use the items.csv of "
                f"the {protocol} set"
            )
    return frame


def item_row(**values) -> dict:
    """One items row with every column present (None where not given)."""
    row = dict.fromkeys(table_columns("items"))
    row.update(values)
    return row


# ---------------------------------------------------------------------------------------------
# Prediction files (docs/contracts.md "Predictions and results")


def _probability_pattern() -> re.Pattern:
    return re.compile(table_schema("predictions")["$defs"]["probability_column"]["pattern"])


def _read_prediction_csv(path: Path) -> pd.DataFrame:
    """The file as a table, or one line saying why it is not a prediction CSV (empty, binary,
    not UTF-8, not CSV) instead of a pandas traceback."""
    data = path.read_bytes()
    if not data.strip():
        raise TableError(
            f"{path}: prediction file is empty; rerun prediction for this run and seed"
        )
    if b"\0" in data[:65536]:
        raise TableError(
            f"{path}: binary data, not a prediction CSV (item_id, predicted, static_max_prob, "
            "p_0 …); rerun prediction for this run and seed"
        )
    try:
        data.decode("utf-8")
        return pd.read_csv(
            io.BytesIO(data), dtype={"item_id": str}, keep_default_na=False, na_values=[""]
        )
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        detail = _one_line(error)[:120]
        raise TableError(
            f"{path}: not a readable prediction CSV ({type(error).__name__}: {detail}); rerun "
            "prediction for this run and seed"
        ) from None


def validate_predictions(
    frame: pd.DataFrame, path: str | os.PathLike, expected_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Enforce predictions.schema.yaml on a prediction table; return it typed, indexed by item_id.

    Vectorised (a file holds every item of a set times K classes): the columns (fixed ones, then
    p_0 … p_{K-1} contiguous), the item-id pattern, unique ids, each p_k a probability and a row
    summing to 1, `predicted` a class index equal to the argmax of the stored p_k, and
    `static_max_prob` empty or in [0, 1]; with `expected_ids`, exactly those items.
    """
    schema = table_schema("predictions")
    properties = schema["properties"]
    fixed = table_columns("predictions")
    prob_column = _probability_pattern()
    missing = [c for c in fixed if c not in frame.columns]
    if missing:
        raise TableError(
            f"{path}: prediction file lacks columns {missing}; {TABLES['predictions']}"
        )
    extra = [c for c in frame.columns if c not in fixed and not prob_column.match(c)]
    if extra:
        raise TableError(
            f"{path}: unexpected columns {extra}; a prediction file holds item_id, predicted, "
            "static_max_prob, p_0 … p_{K-1} (labels come from items.csv, never from predictions)"
        )
    prob_columns = [c for c in frame.columns if prob_column.match(c)]
    expected_prob = [f"p_{k}" for k in range(len(prob_columns))]
    if not prob_columns or prob_columns != expected_prob:
        raise TableError(
            f"{path}: probability columns must be p_0 … p_{{K-1}} in order; got {prob_columns}"
        )
    frame = frame.copy()
    if frame["item_id"].isna().any():
        raise TableError(
            f"{path}: rows {_few(frame.index[frame['item_id'].isna()].tolist())} have no item_id"
        )
    id_pattern = properties["item_id"]["pattern"]
    bad_ids = ~frame["item_id"].astype(str).str.match(id_pattern)
    if bad_ids.any():
        raise TableError(
            f"{path}: item ids {_few(frame.loc[bad_ids, 'item_id'].tolist())} are not of "
            "[A-Za-z0-9_.-] (benchmark/schemas/predictions.schema.yaml)"
        )
    duplicated = sorted(set(frame.loc[frame["item_id"].duplicated(), "item_id"]))
    if duplicated:
        raise TableError(
            f"{path}: duplicate item ids {_few(duplicated)} ({len(duplicated)} in all)"
        )
    if expected_ids is not None:
        expected = set(expected_ids)
        present = set(frame["item_id"])
        absent = sorted(expected - present)
        unknown = sorted(present - expected)
        problems = []
        if absent:
            problems.append(f"missing item ids {_few(absent)} ({len(absent)} in all)")
        if unknown:
            problems.append(
                f"item ids not in the benchmark {_few(unknown)} ({len(unknown)} in all)"
            )
        if problems:
            raise TableError(f"{path}: " + "; ".join(problems))
    probability = next(iter(schema["patternProperties"].values()))
    low, high = probability["minimum"], probability["maximum"]
    probs = frame[prob_columns].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        bad_rows = ~np.isfinite(probs).all(axis=1) | (probs < low).any(1) | (probs > high).any(1)
        bad_rows |= np.abs(probs.sum(axis=1) - 1.0) > PROBABILITY_SUM_TOLERANCE
    if bad_rows.any():
        raise TableError(
            f"{path}: items {_few(frame.loc[bad_rows, 'item_id'].tolist())} do not hold softmax "
            f"probabilities (each in [0, 1], a row summing to 1 within {PROBABILITY_SUM_TOLERANCE})"
        )
    predicted = pd.to_numeric(frame["predicted"], errors="coerce")
    bad = (
        predicted.isna()
        | (predicted < properties["predicted"]["minimum"])
        | (predicted >= len(prob_columns))
        | (predicted != predicted.round())
    )
    if bad.any():
        raise TableError(
            f"{path}: items {_few(frame.loc[bad, 'item_id'].tolist())} have a `predicted` that is not "
            f"a class index in 0..{len(prob_columns) - 1}"
        )
    frame["predicted"] = predicted.astype(np.int64)
    # One source of truth: `predicted` must be what the probabilities say (numpy's argmax, so a
    # tie goes to the lowest class index), or a file could score a class its model did not pick.
    top = probs.argmax(axis=1)
    disagree = frame["predicted"].to_numpy() != top
    if disagree.any():
        rows = np.flatnonzero(disagree)
        shown = ", ".join(
            f"{frame['item_id'].iloc[i]} (predicted {frame['predicted'].iloc[i]}, argmax {top[i]})"
            for i in rows[:3]
        )
        raise TableError(
            f"{path}: `predicted` is not the argmax of p_0 … p_{len(prob_columns) - 1} in "
            f"{len(rows)} rows, e.g. {shown}; write predicted = argmax of the stored "
            "probabilities (ties: the lowest class index)"
        )
    frame[prob_columns] = probs
    static = frame["static_max_prob"]
    static_values = pd.to_numeric(static, errors="coerce")
    static_range = properties["static_max_prob"]
    bad_static = (
        (static.notna() & static_values.isna())
        | (static_values < static_range["minimum"])
        | (static_values > static_range["maximum"])
    )
    if bad_static.any():
        raise TableError(
            f"{path}: items {_few(frame.loc[bad_static, 'item_id'].tolist())} have a "
            "static_max_prob that is neither empty nor a probability in [0, 1]"
        )
    frame["static_max_prob"] = static_values
    return frame.set_index("item_id", drop=False)


def read_predictions(
    path: str | os.PathLike, expected_ids: Iterable[str] | None = None
) -> pd.DataFrame:
    """Read a prediction file and enforce its schema (`validate_predictions`); indexed by item_id,
    the probabilities are the `p_*` columns in class order."""
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: prediction file not found; run prediction for this run and seed")
    return validate_predictions(_read_prediction_csv(path), path, expected_ids)


def write_predictions(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """Check a prediction table against its schema and write it atomically (CSV, LF, no index)."""
    validate_predictions(frame, path)
    write_csv_atomic(path, frame)


def probability_columns(frame: pd.DataFrame) -> list[str]:
    """The `p_k` columns of a prediction table, in its column order."""
    pattern = _probability_pattern()
    return [c for c in frame.columns if pattern.match(c)]
