"""mlp_engine.metrics against sklearn.metrics: random and edge cases, the table, the reports."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from mlp_engine import metrics
from mlp_engine.metrics import METRICS

# scikit-learn warns (UndefinedMetricWarning, a UserWarning) where our functions stay silent.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TOL = {"rel": 1e-12, "abs": 1e-12}
LABEL_SETS: dict[str, np.ndarray[Any, Any]] = {
    "int": np.array([-1, 0, 3, 7, 10]),
    "str": np.array(["ant", "bee", "cat", "dog", "eel"]),
    # Integral floats: sklearn calls labels like 2.5 "continuous" and refuses them.
    "float": np.array([-2.0, 0.0, 1.0, 3.0, 4.0]),
}


def _classes(rng: np.random.Generator, kind: str, k: int) -> np.ndarray[Any, Any]:
    return np.sort(rng.choice(LABEL_SETS[kind], size=k, replace=False))


def _labels(rng: np.random.Generator, classes: np.ndarray[Any, Any], n: int) -> Any:
    """n labels drawn from a random non-empty subset of classes (so some may be missing)."""
    subset = rng.choice(classes, size=rng.integers(1, classes.size + 1), replace=False)
    return rng.choice(subset, size=n)


def _proba(rng: np.random.Generator, n: int, k: int) -> np.ndarray[Any, Any]:
    """Rows summing to 1; half the time coarse (many ties and exact zeros and ones)."""
    if rng.random() < 0.5:
        return rng.dirichlet(np.ones(k), size=n)
    counts = rng.integers(0, 3, size=(n, k)).astype(np.float64)
    counts[counts.sum(axis=1) == 0, 0] = 1.0
    return counts / counts.sum(axis=1, keepdims=True)


def _sk_roc_auc(y: Any, proba: Any, classes: Any) -> float | None:
    if len(classes) == 2:
        value = skm.roc_auc_score(y, proba[:, 1])
    else:
        value = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)
    return None if math.isnan(value) else float(value)


# ---------------------------------------------------------------- the table


def test_table_holds_every_public_metric_with_its_direction() -> None:
    assert set(METRICS) == {
        "accuracy",
        "balanced_accuracy",
        "log_loss",
        "roc_auc",
        "f1_macro",
        "mse",
        "rmse",
        "mae",
        "r2",
    }
    lower_is_better = {name for name, m in METRICS.items() if not m.greater_is_better}
    assert lower_is_better == {"log_loss", "mse", "rmse", "mae"}
    assert {name for name, m in METRICS.items() if m.needs_proba} == {"log_loss", "roc_auc"}
    regression = {name for name, m in METRICS.items() if m.task == "regression"}
    assert regression == {"mse", "rmse", "mae", "r2"}
    assert all(m.name == name and m.fn is getattr(metrics, name) for name, m in METRICS.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS["mse"].greater_is_better = True  # type: ignore[misc]


# ---------------------------------------------------------------- label metrics vs sklearn


@pytest.mark.parametrize("kind", sorted(LABEL_SETS))
def test_label_metrics_match_sklearn_on_random_cases(kind: str) -> None:
    rng = np.random.default_rng(11)
    for _ in range(50):
        classes = _classes(rng, kind, int(rng.integers(2, 6)))
        n = int(rng.integers(1, 30))
        y, pred = _labels(rng, classes, n), _labels(rng, classes, n)
        assert metrics.accuracy(y, pred) == pytest.approx(skm.accuracy_score(y, pred), **TOL)
        assert metrics.balanced_accuracy(y, pred) == pytest.approx(
            skm.balanced_accuracy_score(y, pred), **TOL
        )
        for labels in (classes, None):
            assert metrics.f1_macro(y, pred, labels) == pytest.approx(
                skm.f1_score(y, pred, labels=labels, average="macro"), **TOL
            )
            np.testing.assert_array_equal(
                metrics.confusion_matrix(y, pred, labels),
                skm.confusion_matrix(y, pred, labels=labels),
            )
            ours = metrics.precision_recall_f1_support(y, pred, labels)
            theirs = skm.precision_recall_fscore_support(y, pred, labels=labels)
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
            assert ours[3].dtype.kind == "i"


def test_class_never_predicted_scores_zero_as_sklearn() -> None:
    y = np.array(["a", "a", "b", "c", "c"])
    pred = np.array(["a", "a", "a", "c", "a"])  # "b" never predicted
    precision, recall, f1, support = metrics.precision_recall_f1_support(y, pred, ["a", "b", "c"])
    assert precision[1] == 0.0 and recall[1] == 0.0 and f1[1] == 0.0
    assert support.tolist() == [2, 1, 2]
    assert metrics.f1_macro(y, pred, ["a", "b", "c"]) == pytest.approx(
        skm.f1_score(y, pred, average="macro"), **TOL
    )
    # A label neither true nor predicted: 0/0 everywhere, counted as 0 in the macro mean.
    with_absent = ["a", "b", "c", "d"]
    assert metrics.f1_macro(y, pred, with_absent) == pytest.approx(
        skm.f1_score(y, pred, labels=with_absent, average="macro"), **TOL
    )
    assert metrics.f1_macro(y, pred, with_absent) < metrics.f1_macro(y, pred, ["a", "b", "c"])


def test_perfect_and_single_class_label_metrics() -> None:
    y = np.array([3, 1, 2, 3])
    assert metrics.accuracy(y, y) == 1.0 and metrics.balanced_accuracy(y, y) == 1.0
    assert metrics.f1_macro(y, y, [1, 2, 3]) == 1.0
    np.testing.assert_array_equal(metrics.confusion_matrix(y, y, [1, 2, 3]), np.diag([1, 1, 2]))
    one = np.array([5, 5, 5])
    assert metrics.balanced_accuracy(one, np.array([5, 4, 5])) == pytest.approx(2 / 3)
    assert metrics.f1_macro(one, one) == skm.f1_score(one, one, average="macro") == 1.0


def test_confusion_matrix_rows_are_true_and_labels_order_is_kept() -> None:
    y = np.array(["x", "y", "y", "z"])
    pred = np.array(["y", "y", "x", "z"])
    matrix = metrics.confusion_matrix(y, pred, ["z", "y", "x"])
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 1], [0, 1, 0]])
    assert matrix.dtype == np.int64
    # A label outside `labels` drops its samples, as sklearn does.
    np.testing.assert_array_equal(
        metrics.confusion_matrix(y, pred, ["x", "y"]),
        skm.confusion_matrix(y, pred, labels=["x", "y"]),
    )


# ---------------------------------------------------------------- probability metrics vs sklearn


@pytest.mark.parametrize("kind", sorted(LABEL_SETS))
def test_log_loss_and_roc_auc_match_sklearn_on_random_cases(kind: str) -> None:
    rng = np.random.default_rng(23)
    undefined = 0
    for _ in range(100):
        k = int(rng.integers(2, 6))
        classes = _classes(rng, kind, k)
        n = int(rng.integers(1, 30))
        y, proba = _labels(rng, classes, n), _proba(rng, n, k)
        expected = skm.log_loss(y, proba, labels=classes)
        assert metrics.log_loss(y, proba, classes) == pytest.approx(expected, **TOL)
        ours, theirs = metrics.roc_auc(y, proba, classes), _sk_roc_auc(y, proba, classes)
        undefined += ours is None
        assert (ours is None) == (theirs is None)
        if theirs is not None:
            assert ours == pytest.approx(theirs, **TOL)
    assert 0 < undefined < 100  # both the defined and the undefined path ran


def test_roc_auc_edges() -> None:
    classes = np.array([0, 1])
    y = np.array([0, 0, 1, 1])

    def binary(p1: list[float]) -> np.ndarray[Any, Any]:
        p = np.array(p1)
        return np.column_stack([1 - p, p])

    assert metrics.roc_auc(y, binary([0.1, 0.2, 0.8, 0.9]), classes) == 1.0  # perfect
    assert metrics.roc_auc(y, binary([0.9, 0.8, 0.2, 0.1]), classes) == 0.0  # reversed
    assert metrics.roc_auc(y, binary([0.5, 0.5, 0.5, 0.5]), classes) == 0.5  # all tied
    tied = binary([0.3, 0.6, 0.6, 0.9])  # a tie across the classes counts half
    assert metrics.roc_auc(y, tied, classes) == skm.roc_auc_score(y, tied[:, 1]) == 0.875
    assert metrics.roc_auc(np.array([1, 1, 1]), binary([0.2, 0.5, 0.9]), classes) is None
    three = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    assert metrics.roc_auc(np.array(["a", "b", "c"]), three, ["a", "b", "c"]) == 1.0
    # Class "c" absent from y_true: its one-vs-rest AUC, hence the macro mean, is undefined.
    assert metrics.roc_auc(np.array(["a", "b", "b"]), three, ["a", "b", "c"]) is None


def test_log_loss_clips_zero_and_one_with_the_dtype_epsilon() -> None:
    classes = np.array(["no", "yes"])
    y = np.array(["no", "yes", "yes"])
    perfect = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    wrong = perfect[:, ::-1].copy()
    for proba in (perfect, wrong, perfect.astype(np.float32), wrong.astype(np.float32)):
        expected = skm.log_loss(y, proba, labels=classes)
        assert metrics.log_loss(y, proba, classes) == pytest.approx(expected, rel=1e-12)
    eps64 = np.finfo(np.float64).eps
    assert metrics.log_loss(y, wrong, classes) == pytest.approx(-math.log(eps64), rel=1e-12)
    eps32 = float(np.finfo(np.float32).eps)
    assert metrics.log_loss(y, wrong.astype(np.float32), classes) == pytest.approx(
        -math.log(eps32), rel=1e-6
    )


def test_log_loss_uses_all_classes_when_y_true_has_one() -> None:
    classes = np.array([2, 5, 9])
    y = np.array([5, 5])
    proba = np.array([[0.2, 0.5, 0.3], [0.1, 0.8, 0.1]])
    expected = -(math.log(0.5) + math.log(0.8)) / 2
    assert metrics.log_loss(y, proba, classes) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(skm.log_loss(y, proba, labels=classes), rel=1e-12)


# ---------------------------------------------------------------- regression vs sklearn


def test_regression_metrics_match_sklearn_on_random_cases() -> None:
    rng = np.random.default_rng(5)
    pairs = [
        (metrics.mse, skm.mean_squared_error),
        (metrics.rmse, skm.root_mean_squared_error),
        (metrics.mae, skm.mean_absolute_error),
        (metrics.r2, skm.r2_score),
    ]
    for _ in range(200):
        n = int(rng.integers(2, 40))
        shape = (n,) if rng.random() < 0.7 else (n, int(rng.integers(1, 4)))
        y = rng.normal(size=shape) * rng.choice([1e-3, 1.0, 1e3])
        pred = y + rng.normal(size=shape) * rng.choice([0.0, 0.1, 10.0])
        if rng.random() < 0.2:
            y[:] = y.flat[0]  # a constant target
        for ours, theirs in pairs:
            assert ours(y, pred) == pytest.approx(theirs(y, pred), rel=1e-10, abs=1e-12)


def test_r2_constant_target_and_too_few_samples() -> None:
    flat = np.array([3.0, 3.0, 3.0])
    assert metrics.r2(flat, flat) == 1.0 == skm.r2_score(flat, flat)
    off = np.array([3.0, 3.0, 2.0])
    assert metrics.r2(flat, off) == 0.0 == skm.r2_score(flat, off)
    assert metrics.r2(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 1.0
    assert math.isnan(metrics.r2([1.0], [2.0])) and math.isnan(skm.r2_score([1.0], [2.0]))
    assert metrics.mse([1, 2], [1, 4]) == 2.0 and metrics.rmse([1, 2], [1, 4]) == math.sqrt(2.0)
    assert metrics.mae([1, 2], [1, 4]) == 1.0


# ---------------------------------------------------------------- reports


def _assert_json_ready(report: dict[str, Any]) -> None:
    assert json.loads(json.dumps(report, allow_nan=False)) == report


@pytest.mark.parametrize("kind", sorted(LABEL_SETS))
def test_classification_report_matches_sklearn(kind: str) -> None:
    rng = np.random.default_rng(31)
    for _ in range(40):
        k = int(rng.integers(2, 5))
        classes = _classes(rng, kind, k)
        n = int(rng.integers(1, 25))
        y, proba = _labels(rng, classes, n), _proba(rng, n, k)
        report = metrics.classification_report(y, proba, classes)
        _assert_json_ready(report)
        pred = classes[np.argmax(proba, axis=1)]
        assert report["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), **TOL)
        assert report["balanced_accuracy"] == pytest.approx(
            skm.balanced_accuracy_score(y, pred), **TOL
        )
        assert report["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=classes), **TOL)
        expected_auc = _sk_roc_auc(y, proba, classes)
        if expected_auc is None:
            assert report["roc_auc"] is None
        else:
            assert report["roc_auc"] == pytest.approx(expected_auc, **TOL)
        assert report["f1_macro"] == pytest.approx(
            skm.f1_score(y, pred, labels=classes, average="macro"), **TOL
        )
        assert report["confusion_matrix"] == {
            "labels": classes.tolist(),
            "matrix": skm.confusion_matrix(y, pred, labels=classes).tolist(),
        }
        p, r, f, s = skm.precision_recall_fscore_support(y, pred, labels=classes)
        assert list(report["per_class"]) == [str(c) for c in classes.tolist()]
        for i, row in enumerate(report["per_class"].values()):
            assert row == pytest.approx(
                {"precision": p[i], "recall": r[i], "f1": f[i]} | {"support": int(s[i])}
            )
            assert type(row["support"]) is int


def test_classification_report_types_ties_and_undefined_auc() -> None:
    classes = np.array([0, 1, 2], dtype=np.int64)
    y = np.array([1, 1])  # one class only: roc_auc undefined
    proba = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4]])  # ties: the first maximum wins
    report = metrics.classification_report(y, proba, classes)
    _assert_json_ready(report)
    assert report["roc_auc"] is None
    assert report["confusion_matrix"]["matrix"] == [[0, 0, 0], [1, 1, 0], [0, 0, 0]]
    assert all(type(label) is int for label in report["confusion_matrix"]["labels"])
    assert set(report["per_class"]) == {"0", "1", "2"}
    assert report["per_class"]["2"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    text = metrics.classification_report(np.array(["b"]), [[0.3, 0.7]], np.array(["a", "b"]))
    assert text["confusion_matrix"]["labels"] == ["a", "b"]
    assert all(type(label) is str for label in text["confusion_matrix"]["labels"])
    assert text["accuracy"] == 1.0 and text["roc_auc"] is None


def test_regression_report_is_json_ready_with_none_for_undefined() -> None:
    report = metrics.regression_report([1.0, 2.0, 4.0], [1.0, 3.0, 2.0])
    _assert_json_ready(report)
    assert report == pytest.approx(
        {
            "mse": 5 / 3,
            "rmse": math.sqrt(5 / 3),
            "mae": 1.0,
            "r2": skm.r2_score([1, 2, 4], [1, 3, 2]),
        }
    )
    single = metrics.regression_report([1.0], [3.0])
    assert single == {"mse": 4.0, "rmse": 2.0, "mae": 2.0, "r2": None}
    _assert_json_ready(single)


def test_score_looks_metrics_up_by_name() -> None:
    classes = np.array(["a", "b", "c"])
    y = np.array(["a", "c", "c", "b"])
    proba = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.5, 0.2, 0.3], [0.2, 0.5, 0.3]])
    pred = classes[np.argmax(proba, axis=1)]
    assert metrics.score("log_loss", y, proba, classes) == metrics.log_loss(y, proba, classes)
    assert metrics.score("accuracy", y, proba, classes) == 0.75
    assert metrics.score("f1_macro", y, proba, classes) == metrics.f1_macro(y, pred, classes)
    assert metrics.score("mse", [1.0, 2.0], [1.0, 4.0]) == 2.0
    assert metrics.score("r2", [1.0], [1.0]) is None
    with pytest.raises(ValueError, match="classes"):
        metrics.score("accuracy", y, proba)
    with pytest.raises(KeyError):
        metrics.score("nope", y, proba, classes)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: metrics.accuracy([], []), "empty"),
        (lambda: metrics.accuracy([1, 2], [1]), "samples"),
        (lambda: metrics.accuracy(["a"], [1]), "mix text and number"),
        (lambda: metrics.f1_macro([1, 2], [1, 2], [1, 1]), "distinct"),
        (lambda: metrics.confusion_matrix([1], [1], ["a"]), "mix text and number"),
        (lambda: metrics.log_loss([0, 3], [[0.5, 0.5], [0.5, 0.5]], [0, 1]), "not in classes"),
        (lambda: metrics.log_loss([0], [[1.5, -0.5]], [0, 1]), r"\[0, 1\]"),
        (lambda: metrics.log_loss([0], [[1.0]], [0]), "at least two"),
        (lambda: metrics.roc_auc([0, 1], [[0.5, 0.5]], [0, 1]), "shape"),
        (lambda: metrics.roc_auc(["a"], [[0.5, 0.5]], [0, 1]), "mix text and number"),
        (lambda: metrics.mse([1.0, 2.0], [1.0]), "shape"),
        (lambda: metrics.mae([], []), "non-empty"),
    ],
)
def test_bad_input_raises_value_error(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
