"""benchmark.table_files: every schema'd table round-trips to the same bytes, a bad row of each is a
one-line error naming the file and the row, a failed write leaves nothing, prediction files are held
to their schema on read, and no other module reads or checks a schema'd table on its own (ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark import table_files
from benchmark.table_files import (
    TABLES,
    TableError,
    read_items,
    read_predictions,
    read_qc,
    read_table,
    table_columns,
    table_schema,
    validate_summary,
    write_items,
    write_predictions,
    write_qc,
    write_table,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "tables" / "bench_root"
SHA = "ab" * 32


def one_line(error: BaseException, *parts: str) -> None:
    text = str(error)
    assert "\n" not in text, text
    for part in parts:
        assert part in text, (part, text)


def backgrounds_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "background_id": ["v0__0", "v0__1"],
            "source": ["stripe", "stripe"],
            "path": ["backgrounds/stripe/images/v0__0.png", "backgrounds/stripe/images/v0__1.png"],
            "sha256": [SHA, "cd" * 32],
            "params": ['{"omega": 0.1}', '{"omega": 0.2}'],
        }
    )


def scene_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": ["t0", "t1"],
            "scene": [0, 3],
            "scene_name": ["bands", "rings"],
            "source": ["planted", "planted"],
        }
    )


def decisions_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": ["v0", "v1"],
            "decision": ["approve", "retrack"],
            "mask_sha256": [SHA, SHA],
            "reviewer": ["ann", "bob"],
            "note": ["", "leaks, badly"],
            "decided_at": ["2026-11-25T10:00:00Z", "2026-11-25T10:01:00.5+01:00"],
        }
    )


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "frame"),
    [
        ("backgrounds", backgrounds_frame()),
        ("scene_labels", scene_frame()),
        ("decisions", decisions_frame()),
    ],
)
def test_generic_tables_round_trip_to_the_same_bytes(tmp_path, name, frame):
    path = tmp_path / f"{name}.csv"
    write_table(name, path, frame)
    # what every writer wrote before this module: pandas CSV, no index, LF line ends
    assert path.read_bytes() == frame.to_csv(index=False, lineterminator="\n").encode()
    back = read_table(name, path, "rebuild it")
    assert list(back.columns) == table_columns(name)
    copy = tmp_path / "again.csv"
    write_table(name, copy, back)
    assert copy.read_bytes() == path.read_bytes()


def test_fixture_items_qc_and_predictions_round_trip_to_their_bytes(tmp_path):
    items_path = FIXTURE / "bench" / "truth" / "scuba-stripe" / "items.csv"
    items = read_items(items_path, "scuba")
    assert len(items) == 8 and items["label"].dtype == np.int64
    write_items(tmp_path / "items.csv", items)
    assert (tmp_path / "items.csv").read_bytes() == items_path.read_bytes()
    conflfg = FIXTURE / "bench" / "truth" / "conflfg-stripe" / "items.csv"
    write_items(tmp_path / "conflfg.csv", read_items(conflfg, "conflfg"))
    assert (tmp_path / "conflfg.csv").read_bytes() == conflfg.read_bytes()

    qc_path = FIXTURE / "masks" / "box_first" / "qc.csv"
    qc = read_qc(qc_path)
    assert qc["mean_score"].isna().all() and qc["flags"].tolist() == [""] * len(qc)
    write_qc(tmp_path / "qc.csv", qc.to_dict("records"))
    assert (tmp_path / "qc.csv").read_bytes() == qc_path.read_bytes()

    for name in ("scufo-stripe.csv", "scuba-stripe.csv"):
        pred_path = FIXTURE / "runs" / "albar" / "seed0" / "pred" / "truth" / name
        predictions = read_predictions(pred_path).reset_index(drop=True)
        write_predictions(tmp_path / name, predictions)
        assert (tmp_path / name).read_bytes() == pred_path.read_bytes()


def test_prediction_writer_keeps_the_bytes_albar_writes(tmp_path):
    from albar.predict import prediction_frame

    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    frame = prediction_frame(["a__0__static", "b__0__static"], probs, [True, True])
    write_predictions(tmp_path / "p.csv", frame)
    assert (tmp_path / "p.csv").read_bytes() == frame.to_csv(
        index=False, lineterminator="\n"
    ).encode()
    back = read_predictions(tmp_path / "p.csv", ["a__0__static", "b__0__static"])
    assert back["predicted"].tolist() == [0, 2]
    assert back["static_max_prob"].tolist() == [0.7, 0.6]


def manifest_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": ["v0", "v1", "v2"],
            "source_name": ["Run/v_Run_g01", "Jump/v 1", "12"],
            "path": ["videos/v0.avi", "", "videos/v2.avi"],
            "label": [0, 3, 1],
            "label_name": ["Run", "Jump", "Sit"],
            "split": ["train", "val", "test"],
            "num_frames": [120, 5, 64],
            "fps": [25.0, 29.97, 30.0],
            "width": [320, 320, 400],
            "height": [240, 240, 300],
        }
    )


def boxes_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": ["v0", "v0", "v2"],
            "frame": np.array([0, 0, 63], dtype=np.int64),
            "actor": np.array([0, 1, 0], dtype=np.int64),
            "x1": [1.5, 10.0, 0.0],
            "y1": [2.0, 20.0, 0.0],
            "x2": [30.25, 40.0, 400.0],
            "y2": [50.0, 60.0, 300.0],
        }
    )


def test_manifest_and_boxes_round_trip_to_the_same_bytes(tmp_path):
    manifest = manifest_frame()
    path = tmp_path / "manifest.csv"
    written = write_table("manifest", path, manifest)
    assert path.read_bytes() == manifest.to_csv(index=False, lineterminator="\n").encode()
    back = read_table("manifest", path, "run ingest")
    # CSV cells come back typed from the schema: integers int64, fps float, the rest text
    assert back["label"].dtype == np.int64 and back["fps"].dtype == np.float64
    assert back["path"].tolist() == ["videos/v0.avi", "", "videos/v2.avi"]
    assert back["source_name"].tolist() == ["Run/v_Run_g01", "Jump/v 1", "12"]
    assert back.equals(written)
    write_table("manifest", tmp_path / "again.csv", back)
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()

    boxes = boxes_frame()
    path = tmp_path / "boxes.parquet"
    write_table("boxes", path, boxes)
    back = read_table("boxes", path, "run ingest")
    assert list(back.columns) == table_columns("boxes")
    assert back.equals(boxes)
    write_table("boxes", tmp_path / "again.parquet", back)
    assert (tmp_path / "again.parquet").read_bytes() == path.read_bytes()


def test_the_manifest_and_boxes_schemas_describe_every_column_in_order():
    for name, fmt in (("manifest", "csv"), ("boxes", "parquet")):
        schema = table_schema(name)
        assert table_files.table_format(name) == fmt
        assert list(schema["properties"]) == table_columns(name) == schema["required"]
        assert all(spec.get("description") for spec in schema["properties"].values())
        assert schema["x-validate"] == "columns"


@pytest.mark.parametrize(
    ("column", "value", "text"),
    [
        ("video_id", "b c", "matching"),
        ("split", "holdout", "one of ['train', 'val', 'test']"),
        ("label", "-1", ">= 0"),
        ("num_frames", "2.5", "finite integer"),
        ("fps", "0", "> 0"),
        ("width", "", "finite integer"),
    ],
)
def test_a_bad_manifest_row_names_the_file_the_row_and_the_column(tmp_path, column, value, text):
    path = _bad_csv(tmp_path, manifest_frame(), column, value)
    with pytest.raises(TableError) as caught:
        read_table("manifest", path, "run ingest")
    ident = "(video_id b c)" if column == "video_id" else "(video_id v1)"
    one_line(caught.value, str(path), "manifest table row 3", ident, f"{column}: ", text)
    one_line(caught.value, TABLES["manifest"], "(rows breaking it: 1)")


@pytest.mark.parametrize(
    ("column", "value", "text"),
    [
        ("x1", np.nan, "finite number"),
        ("y2", np.inf, "finite number"),
        ("frame", -1, ">= 0"),
        ("video_id", "a/b", "matching"),
    ],
)
def test_a_bad_boxes_row_names_the_file_the_row_and_the_column(tmp_path, column, value, text):
    bad = boxes_frame()
    bad[column] = bad[column].astype(object if column == "video_id" else bad[column].dtype)
    bad.loc[1, column] = value
    with pytest.raises(TableError) as caught:
        write_table("boxes", tmp_path / "boxes.parquet", bad)
    one_line(
        caught.value, str(tmp_path / "boxes.parquet"), "boxes table row 2", f"{column}: ", text
    )
    assert not (tmp_path / "boxes.parquet").exists()


def test_column_wise_checks_see_every_row_of_a_large_table():
    """The vectorised check is not a sample: the one bad box among 160,000 is found and named."""
    n = 160_000
    boxes = pd.DataFrame(
        {
            "video_id": [f"v{i // 40}" for i in range(n)],
            "frame": np.arange(n, dtype=np.int64) % 40,
            "actor": np.zeros(n, dtype=np.int64),
            "x1": np.zeros(n),
            "y1": np.zeros(n),
            "x2": np.full(n, 10.0),
            "y2": np.full(n, 10.0),
        }
    )
    assert table_files.validate_rows(boxes, "boxes", "boxes.parquet").equals(boxes)
    boxes.loc[n - 7, "frame"] = -4
    with pytest.raises(TableError, match=f"boxes table row {n - 6} \\(video_id v3999\\): frame"):
        table_files.validate_rows(boxes, "boxes", "boxes.parquet")


# --- bad rows -----------------------------------------------------------------------------------


def _bad_csv(tmp_path: Path, frame: pd.DataFrame, column: str, value) -> Path:
    bad = frame.astype(object).copy()
    bad.loc[1, column] = value
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False, lineterminator="\n")
    return path


@pytest.mark.parametrize(
    ("name", "frame", "column", "value", "ident"),
    [
        ("backgrounds", backgrounds_frame(), "sha256", "xyz", "v0__1"),
        ("scene_labels", scene_frame(), "scene", -1, "t1"),
        ("decisions", decisions_frame(), "decision", "maybe", "v1"),
    ],
)
def test_a_bad_row_names_the_file_the_row_and_what_to_do(
    tmp_path, name, frame, column, value, ident
):
    path = _bad_csv(tmp_path, frame, column, value)
    with pytest.raises(TableError) as caught:
        read_table(name, path, "rebuild it")
    one_line(caught.value, str(path), "row 3", ident, column, TABLES[name])


def test_bad_items_qc_and_summary_rows_name_file_and_row(tmp_path):
    items = pd.read_csv(FIXTURE / "bench" / "truth" / "scuba-stripe" / "items.csv", dtype=str)
    path = _bad_csv(tmp_path, items, "label", "-3")
    with pytest.raises(TableError) as caught:
        read_items(path)
    one_line(caught.value, str(path), "items table row 3", items["item_id"][1], "label")
    twice = tmp_path / "twice.csv"
    pd.concat([items, items.iloc[:1]]).to_csv(twice, index=False)
    with pytest.raises(TableError, match="listed twice"):
        read_items(twice)

    qc = pd.read_csv(FIXTURE / "masks" / "truth" / "qc.csv", dtype=str, keep_default_na=False)
    path = _bad_csv(tmp_path, qc, "flags", "made_up")
    with pytest.raises(TableError) as caught:
        read_qc(path)
    one_line(caught.value, str(path), "qc table row 3", "(video_id v1)", "flags")

    summary = pd.read_csv(FIXTURE.parent / "expected" / "summary.csv")
    validate_summary(summary, "summary.csv")
    summary.loc[0, "iid"] = 140.0
    with pytest.raises(TableError) as caught:
        validate_summary(summary, "summary.csv")
    one_line(caught.value, "summary.csv", f"run {summary['run'][0]!r}", "iid", "140.0")


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "out"
    with pytest.raises(TableError, match="sha256"):
        write_table("backgrounds", out / "backgrounds.csv", backgrounds_frame().assign(sha256="no"))
    assert not out.exists() or list(out.iterdir()) == []

    def disk_full(self, path, **kwargs):  # the disk fills half-way through the write
        Path(path).write_text("background_id,sou")
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_table("backgrounds", out / "backgrounds.csv", backgrounds_frame())
    assert list(out.iterdir()) == []


# --- predictions held to their schema ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"item_id,predicted,static_max_prob,p_0,p_1\na,0,,0.6,0.4\nb,1,,0.3,0.7\n", None),
        (b"item_id,predicted,p_0,p_1\na,0,0.6,0.4\n", "lacks columns ['static_max_prob']"),
        (b"item_id,predicted,static_max_prob,p_0,p_2\na,0,,0.6,0.4\n", "p_0 … p_{K-1} in order"),
        (
            b"item_id,predicted,static_max_prob,p_0,p_1,label\na,0,,0.6,0.4,1\n",
            "unexpected columns",
        ),
        (b"item_id,predicted,static_max_prob,p_0,p_1\na/b,0,,0.6,0.4\n", "[A-Za-z0-9_.-]"),
        (b"item_id,predicted,static_max_prob,p_0,p_1\na,-1,,0.6,0.4\n", "not a class index"),
        (b"item_id,predicted,static_max_prob,p_0,p_1\na,1,,0.6,0.4\n", "not the argmax"),
        (b"item_id,predicted,static_max_prob,p_0,p_1\na,0,,0.9,0.4\n", "summing to 1"),
        (b"item_id,predicted,static_max_prob,p_0,p_1\na,0,1.2,0.6,0.4\n", "static_max_prob"),
    ],
)
def test_prediction_files_are_held_to_their_schema_on_read(tmp_path, content, text):
    path = tmp_path / "pred.csv"
    path.write_bytes(content)
    if text is None:
        assert read_predictions(path)["predicted"].tolist() == [0, 1]
        return
    with pytest.raises(TableError) as caught:
        read_predictions(path)
    one_line(caught.value, str(path), text)


def test_the_prediction_schema_describes_the_files_predict_writes():
    schema = table_schema("predictions")
    assert table_columns("predictions") == ["item_id", "predicted", "static_max_prob"]
    assert set(schema["properties"]) == set(table_columns("predictions"))
    assert table_files.PROBABILITY_SUM_TOLERANCE == 1e-2


# --- one home: no second reader ---------------------------------------------------------------------


def _modules() -> list[Path]:
    return sorted(p for pkg in ("benchmark", "albar") for p in (ROOT / pkg).rglob("*.py"))


def _table_column_sets() -> dict[str, set[str]]:
    return {name: set(table_columns(name)) for name in TABLES}


def guard_problems(paths: list[Path], root: Path) -> list[str]:
    """Where a module outside benchmark/table_files.py names a table schema file in code, defines
    `validate_rows` / `_schema`, builds a jsonschema validator, reads or writes parquet (boxes is
    the contract's one parquet table), or spells out four or more columns of a schema'd table (its
    key column among them: manifest and boxes included) as a list / tuple literal."""
    schema_files = {f"{name}.schema.yaml" for name in TABLES}
    columns = _table_column_sets()
    problems = []
    for path in paths:
        where = path.relative_to(root)
        tree = ast.parse(path.read_text(), str(path))
        texts = _docstrings_and_messages(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named = [f for f in schema_files if f in node.value]
                # a docstring or an error message may point a reader at the schema; code may not open it
                if named and id(node) not in texts:
                    problems.append(f"{where}:{node.lineno}: names {named[0]}")
            if isinstance(node, ast.FunctionDef) and node.name in ("validate_rows", "_schema"):
                problems.append(f"{where}:{node.lineno}: defines {node.name}")
            # config.py validates the config schema, not a table
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "Draft202012Validator"
                and path.name != "config.py"
            ):
                problems.append(f"{where}:{node.lineno}: builds its own jsonschema validator")
            if isinstance(node, ast.Attribute) and node.attr in ("read_parquet", "to_parquet"):
                problems.append(f"{where}:{node.lineno}: reads or writes parquet itself")
            if isinstance(node, (ast.List, ast.Tuple)) and len(node.elts) >= 4:
                values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if len(values) == len(node.elts) and all(isinstance(v, str) for v in values):
                    for name, known in columns.items():
                        # a list holding the table's key column and only its columns
                        if table_columns(name)[0] in values and set(values) <= known:
                            problems.append(
                                f"{where}:{node.lineno}: lists columns of the {name} table"
                            )
    return problems


def _docstrings_and_messages(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            ids.add(id(body[0].value))
        if isinstance(node, ast.JoinedStr):
            ids.update(id(v) for v in node.values)
        if isinstance(node, ast.Raise) and node.exc is not None:
            ids.update(id(n) for n in ast.walk(node.exc))
    return ids


def test_no_module_but_table_files_loads_a_table_schema_or_lists_its_columns():
    """A second reader or validator of a schema'd table cannot come back (ast over both packages)."""
    paths = [p for p in _modules() if p != ROOT / "benchmark" / "table_files.py"]
    assert len(paths) > 50
    assert guard_problems(paths, ROOT) == []


def test_the_guard_catches_a_second_reader(tmp_path):
    """The guard is not vacuous: the readers this module replaced would each be caught."""
    module = tmp_path / "second_reader.py"
    module.write_text(
        '''"""A module that reads items.csv on its own."""
import jsonschema
import yaml

ITEM_COLUMNS = ("item_id", "video_id", "protocol", "label", "frames", "path")
MANIFEST_COLUMNS = ["video_id", "path", "label", "split", "num_frames"]
BOX_COLUMNS = ["video_id", "frame", "actor", "x1", "y1", "x2", "y2"]


def _schema():
    return yaml.safe_load(open("benchmark/schemas/items.schema.yaml"))


VALIDATOR = jsonschema.Draft202012Validator(_schema())


def boxes(path):
    return pd.read_parquet(path)
'''
    )
    problems = guard_problems([module], tmp_path)
    assert sorted(p.split(": ", 1)[1] for p in problems) == [
        "builds its own jsonschema validator",
        "defines _schema",
        "lists columns of the boxes table",
        "lists columns of the items table",
        "lists columns of the manifest table",
        "names items.schema.yaml",
        "reads or writes parquet itself",
    ]
