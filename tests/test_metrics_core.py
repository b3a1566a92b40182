"""benchmark.metrics against hand-worked examples: accuracy, Contra (joined by pair_id), Confl-FG,
static max probability, prediction-file checks, mean ± std over seeds, bootstrap determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from benchmark.metrics import (
    BenchmarkSets,
    MetricsError,
    SeedScores,
    bootstrap_average_ci,
    conflfg_scores,
    contrasted_accuracy,
    contrasted_correct,
    mean_static_max_prob,
    mean_std,
    paired_difference,
    score_seed,
    top1_accuracy,
)
from benchmark.table_files import TableError, read_items, read_predictions

K = 3
LABELS = {"a": 0, "b": 1, "c": 2, "d": 0}
# Hand-worked: SCUBA right on a, b, d (75 %); SCUFO right only on a (25 %);
# Contra = SCUBA right and SCUFO partner wrong = b, d -> 2 / 4 = 50 %.
SCUBA_PREDICTED = {"a__0": 0, "b__0": 1, "c__0": 0, "d__0": 0}
SCUFO_PREDICTED = {"a__0__static": 0, "b__0__static": 2, "c__0__static": 1, "d__0__static": 2}


def item_rows(protocol: str, order: list[str]) -> pd.DataFrame:
    rows = []
    for video in order:
        scuba, scufo = f"{video}__0", f"{video}__0__static"
        rows.append(
            {
                "item_id": scufo if protocol == "scufo" else scuba,
                "video_id": video,
                "version": 0,
                "protocol": protocol,
                "source": "stripe",
                "variant": "truth",
                "background_id": "stripe-0",
                "label": LABELS[video],
                "static_label": "",
                "static_video_id": "",
                "frames": 8,
                "first_frame": 0,
                "static_frame": "" if protocol == "scuba" else 3,
                "pair_id": scuba if protocol == "scufo" else scufo,
                "path": f"x/{video}.zip",
                "sha256": "0" * 64,
            }
        )
    return pd.DataFrame(rows)


def prediction_rows(
    predicted: dict[str, int], static: bool = False, confidence: float = 0.6
) -> pd.DataFrame:
    rows = []
    for item, cls in predicted.items():
        probs = np.full(K, (1 - confidence) / (K - 1))
        probs[cls] = confidence
        row = {
            "item_id": item,
            "predicted": cls,
            "static_max_prob": confidence if static else np.nan,
        }
        row.update({f"p_{k}": probs[k] for k in range(K)})
        rows.append(row)
    return pd.DataFrame(rows)


def read_set(path, protocol: str) -> pd.DataFrame:
    """One set's items as the scorer holds them: indexed by item id."""
    return read_items(path, protocol).set_index("item_id", drop=False)


def write(path, frame: pd.DataFrame):
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def pair_sets(tmp_path):
    """SCUBA items in one order, SCUFO items in the reverse order (position pairing would be wrong)."""
    scuba = read_set(write(tmp_path / "scuba.csv", item_rows("scuba", list("abcd"))), "scuba")
    scufo = read_set(write(tmp_path / "scufo.csv", item_rows("scufo", list("dcba"))), "scufo")
    scuba_pred = read_predictions(
        write(tmp_path / "p1.csv", prediction_rows(SCUBA_PREDICTED)), scuba.index
    )
    scufo_pred = read_predictions(
        write(tmp_path / "p2.csv", prediction_rows(SCUFO_PREDICTED, True)), scufo.index
    )
    return scuba, scuba_pred, scufo, scufo_pred


def test_top1_and_contra_hand_worked(pair_sets):
    scuba, scuba_pred, scufo, scufo_pred = pair_sets
    assert top1_accuracy(scuba, scuba_pred) == 75.0
    assert top1_accuracy(scufo, scufo_pred) == 25.0
    indicator = contrasted_correct(scuba, scuba_pred, scufo, scufo_pred)
    assert indicator.to_dict() == {"a__0": False, "b__0": True, "c__0": False, "d__0": True}
    assert contrasted_accuracy(scuba, scuba_pred, scufo, scufo_pred) == 50.0


def test_shuffled_prediction_file_gives_identical_scores(tmp_path, pair_sets):
    scuba, scuba_pred, scufo, scufo_pred = pair_sets
    shuffled = prediction_rows(SCUFO_PREDICTED, True).sample(frac=1.0, random_state=3)
    assert shuffled["item_id"].tolist() != list(SCUFO_PREDICTED)
    shuffled_pred = read_predictions(write(tmp_path / "shuffled.csv", shuffled), scufo.index)
    assert contrasted_correct(scuba, scuba_pred, scufo, shuffled_pred).equals(
        contrasted_correct(scuba, scuba_pred, scufo, scufo_pred)
    )
    assert top1_accuracy(scufo, shuffled_pred) == 25.0


def test_missing_partner_is_an_error_naming_the_item(tmp_path, pair_sets):
    scuba, scuba_pred, _, _ = pair_sets
    scufo = read_set(write(tmp_path / "scufo3.csv", item_rows("scufo", list("acd"))), "scufo")
    preds = {k: v for k, v in SCUFO_PREDICTED.items() if not k.startswith("b")}
    scufo_pred = read_predictions(
        write(tmp_path / "p3.csv", prediction_rows(preds, True)), scufo.index
    )
    with pytest.raises(MetricsError, match=r"SCUBA items \['b__0'\] have no SCUFO partner"):
        contrasted_correct(scuba, scuba_pred, scufo, scufo_pred)


def test_prediction_file_with_missing_duplicate_or_unknown_ids(tmp_path, pair_sets):
    scuba = pair_sets[0]
    missing = prediction_rows({k: v for k, v in SCUBA_PREDICTED.items() if k != "c__0"})
    with pytest.raises(TableError, match=r"missing item ids \['c__0'\]"):
        read_predictions(write(tmp_path / "m.csv", missing), scuba.index)
    duplicated = pd.concat([prediction_rows(SCUBA_PREDICTED), prediction_rows({"b__0": 1})])
    with pytest.raises(TableError, match=r"duplicate item ids \['b__0'\]"):
        read_predictions(write(tmp_path / "d.csv", duplicated), scuba.index)
    unknown = prediction_rows({**SCUBA_PREDICTED, "zz__0": 1})
    with pytest.raises(TableError, match=r"not in the benchmark \['zz__0'\]"):
        read_predictions(write(tmp_path / "u.csv", unknown), scuba.index)


def test_labels_never_come_from_predictions(tmp_path, pair_sets):
    scuba = pair_sets[0]
    with_label = prediction_rows(SCUBA_PREDICTED).assign(label=1)
    with pytest.raises(TableError, match="unexpected columns \\['label'\\]"):
        read_predictions(write(tmp_path / "l.csv", with_label), scuba.index)


def test_probabilities_must_be_softmax_rows(tmp_path, pair_sets):
    scuba = pair_sets[0]
    bad = prediction_rows(SCUBA_PREDICTED)
    bad.loc[2, "p_0"] = 0.9
    with pytest.raises(TableError, match=r"items \['c__0'\] do not hold softmax"):
        read_predictions(write(tmp_path / "b.csv", bad), scuba.index)


def test_conflfg_three_figures_hand_worked(tmp_path):
    items = pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3", "i4"],
            "label": [0, 1, 2, 0],
            "static_label": [1, 2, 0, 2],
        }
    ).set_index("item_id", drop=False)
    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])
    preds = pd.DataFrame({"item_id": ["i4", "i3", "i2", "i1"], "predicted": [1, 2, 2, 0]})
    for k in range(K):
        preds[f"p_{k}"] = probs[[3, 2, 1, 0], k]
    preds = preds.set_index("item_id", drop=False)
    # moving right: i1, i3; static right: i2; moving > static: i1, i3 (i4 is a tie: not higher).
    assert conflfg_scores(items, preds) == {
        "conflfg": 50.0,
        "conflfg_static": 25.0,
        "conflfg_moving_gt_static": 50.0,
    }


def test_static_max_prob_mean_and_consistency(tmp_path):
    frame = pd.concat(
        [
            prediction_rows({"a__0__static": 0}, True, 0.6),
            prediction_rows({"b__0__static": 1}, True, 0.5),
            prediction_rows({"c__0__static": 2}, True, 0.7),
        ]
    )
    preds = read_predictions(write(tmp_path / "s.csv", frame))
    assert mean_static_max_prob(preds) == pytest.approx(0.6)
    frame.iloc[1, frame.columns.get_loc("static_max_prob")] = 0.9
    with pytest.raises(MetricsError, match=r"differs from max\(p_k\) for items \['b__0__static'\]"):
        mean_static_max_prob(read_predictions(write(tmp_path / "s2.csv", frame)))


def test_mean_std_uses_ddof_1_and_none_for_one_seed():
    mean, std = mean_std([50.0, 60.0, 70.0])
    assert (mean, std) == (60.0, 10.0)
    mean, std = mean_std([42.0])
    assert mean == 42.0 and math.isnan(std)


def rngs(seed: int) -> list[np.random.Generator]:
    return [np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])]


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    values = [np.array([1, 0, 1, 1, 0, 1, 0, 1] * 5, float), np.array([0, 0, 1, 0] * 10, float)]
    point = 100 * np.mean([v.mean() for v in values])
    first = bootstrap_average_ci(values, 500, 0.95, rngs(7))
    again = bootstrap_average_ci(values, 500, 0.95, rngs(7))
    other = bootstrap_average_ci(values, 500, 0.95, rngs(8))
    assert first == again
    assert first != other
    assert first[0] < point < first[1]
    assert bootstrap_average_ci([np.ones(10)], 100, 0.9, [np.random.default_rng(0)]) == (
        100.0,
        100.0,
    )


def seed_scores(run: str, seed: int, indicators: dict[str, bool]) -> SeedScores:
    scores = SeedScores(
        run=run, seed=seed, training={"method": run, "epochs": 1, "steps": 1}, num_classes=K
    )
    scores.contra_items[("truth", "stripe")] = pd.Series(indicators)
    return scores


def test_paired_difference_by_item():
    a = [seed_scores("a", 0, {"x": True, "y": True, "z": False, "w": True})]
    b = [seed_scores("b", 0, {"w": False, "z": False, "y": True, "x": False})]  # other order
    result = paired_difference(a, b, "truth", ["stripe"], samples=300, level=0.95, seed=0)
    assert result["diff"] == 50.0  # x and w flip to right: 2 of 4 items
    assert 0.0 <= result["ci_lo"] <= 50.0 <= result["ci_hi"] <= 100.0
    same = paired_difference(a, a, "truth", ["stripe"], samples=300, level=0.95, seed=0)
    assert same == {"diff": 0.0, "ci_lo": 0.0, "ci_hi": 0.0}


def test_score_seed_end_to_end_and_missing_training_keys(tmp_path):
    root = tmp_path / "res"
    manifest = pd.DataFrame(
        [
            {
                "video_id": v,
                "source_name": v,
                "path": "",
                "label": label,
                "label_name": f"c{label}",
                "split": "test",
                "num_frames": 8,
                "fps": 8.0,
                "width": 32,
                "height": 32,
            }
            for v, label in LABELS.items()
        ]
    )
    write(root / "manifest.csv", manifest)
    write(root / "bench/truth/scuba-stripe/items.csv", item_rows("scuba", list("abcd")))
    write(root / "bench/truth/scufo-stripe/items.csv", item_rows("scufo", list("badc")))
    seed_dir = root / "runs/r/seed0"
    write(seed_dir / "pred/iid.csv", prediction_rows({"a": 0, "b": 0, "c": 2, "d": 0}))
    write(seed_dir / "pred/truth/scuba-stripe.csv", prediction_rows(SCUBA_PREDICTED))
    write(seed_dir / "pred/truth/scufo-stripe.csv", prediction_rows(SCUFO_PREDICTED, True))
    bench = BenchmarkSets(root, ["truth"], ["stripe"])
    (seed_dir / "metrics.json").write_text(json.dumps({"method": "vanilla", "epochs": 2}))
    with pytest.raises(MetricsError, match=r"lacks keys \['steps'\]"):
        score_seed(bench, "r", 0, seed_dir)
    (seed_dir / "metrics.json").write_text(
        json.dumps({"method": "vanilla", "epochs": 2, "steps": 9})
    )
    scores = score_seed(bench, "r", 0, seed_dir)
    assert scores.values[("", "", "iid")] == 75.0
    assert scores.values[("truth", "stripe", "scuba")] == 75.0
    assert scores.values[("truth", "", "scufo_avg")] == 25.0
    assert scores.values[("truth", "", "contra_avg")] == 50.0
    assert scores.values[("truth", "", "static_max_prob")] == pytest.approx(0.6)
    assert scores.num_classes == K
