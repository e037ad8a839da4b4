"""Honest metrics: a stratified held-out test split, class weights, and ``evaluation_``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.utils.class_weight import compute_class_weight

from mlp_engine import ConfigError, MLPClassifier, MLPRegressor
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network, Workspace, sample_epoch, with_ones
from mlp_engine.training import class_weights, holdout

H = 1e-6
N_OUTPUTS = {"sigmoid": 1, "softmax": 3, "identity": 2}


# ------------------------------------------------------------------------------ test split


def test_holdout_is_stratified_disjoint_and_seeded() -> None:
    strata = np.repeat([0, 1, 2], [500, 100, 20])
    kept, test = holdout(strata.size, 0.2, strata, np.random.default_rng(7))
    assert np.intersect1d(kept, test).size == 0
    np.testing.assert_array_equal(np.union1d(kept, test), np.arange(strata.size))
    assert np.bincount(strata[test]).tolist() == [100, 20, 4]  # 20 % of each class
    again = holdout(strata.size, 0.2, strata, np.random.default_rng(7))
    np.testing.assert_array_equal(again[1], test)
    other = holdout(strata.size, 0.2, strata, np.random.default_rng(8))
    assert not np.array_equal(other[1], test)


def test_holdout_keeps_every_class_in_training_and_draws_nothing_at_zero() -> None:
    strata = np.array([0] * 10 + [1])
    kept, test = holdout(strata.size, 0.9, strata, np.random.default_rng(0))
    assert 10 in kept and np.bincount(strata[test]).tolist() == [9]
    rng = np.random.default_rng(0)
    kept, test = holdout(5, 0.0, None, rng)
    assert kept.tolist() == [0, 1, 2, 3, 4] and test.size == 0
    assert rng.random() == np.random.default_rng(0).random()  # no draw consumed
    with pytest.raises(ValueError, match="test_fraction"):
        holdout(3, 0.1, None, np.random.default_rng(0))


def test_test_rows_are_never_seen_by_preprocessing_or_training() -> None:
    """Every row has its own category: the model's categories are exactly the training split's,
    and the reports' supports add up to the three disjoint splits."""
    n = 200
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    y = np.where(x > 0.5, "b", "a")
    ids = np.array([f"row{i:03d}" for i in range(n)])
    settings: dict[str, Any] = {"epochs": 3, "hidden_layers": (4,), "seed": 11}
    model = MLPClassifier(
        test_fraction=0.25, validation_fraction=0.2, max_categories=n + 1, **settings
    ).fit({"x": x, "id": ids}, y)
    _, test = holdout(n, 0.25, (y == "b").astype(np.intp), np.random.default_rng(11))
    learnt = set(model.features[1]["categories"])
    assert learnt.isdisjoint(ids[test])
    supports = {
        split: sum(c["support"] for c in report["per_class"].values())
        for split, report in model.evaluation_.items()
    }
    assert supports["test"] == test.size
    assert supports["validation"] == round(0.2 * (n - test.size))
    assert supports["train"] == len(learnt) == n - test.size - supports["validation"]
    test_labels = y[test]
    matrix = model.evaluation_["test"]["confusion_matrix"]
    assert matrix["labels"] == ["a", "b"]
    assert [sum(row) for row in matrix["matrix"]] == [
        int((test_labels == "a").sum()),
        int((test_labels == "b").sum()),
    ]


def test_test_split_of_an_array_model_changes_nothing_when_zero() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    plain = MLPClassifier(epochs=4, seed=1).fit(X, y)
    explicit = MLPClassifier(epochs=4, seed=1, test_fraction=0.0).fit(X, y)
    np.testing.assert_array_equal(plain.weights_[0], explicit.weights_[0])
    assert plain.evaluation_ is not None
    assert plain.evaluation_["test"] is None and plain.evaluation_["validation"] is None
    assert plain.evaluation_["train"]["accuracy"] == pytest.approx(plain.score(X, y))


# ---------------------------------------------------------------------------- class weights


def _case(output: str, seed: int) -> tuple[Network, np.ndarray, np.ndarray, np.ndarray]:
    k = N_OUTPUTS[output]
    rng = np.random.default_rng(seed)
    net = Network.initialized(
        (3, 5, k), ACTIVATIONS["tanh"], OUTPUTS[output], "glorot", rng, "float64"
    )
    X = rng.normal(size=(7, 3))
    if output == "sigmoid":
        Y = rng.integers(0, 2, size=(7, 1)).astype(float)
    elif output == "softmax":
        Y = np.eye(k)[rng.integers(0, k, size=7)]
    else:
        Y = rng.normal(size=(7, k))
    return net, X, Y, rng.uniform(0.2, 3.0, size=7)


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_weighted_gradient_matches_finite_differences(output: str) -> None:
    net, X, Y, weights = _case(output, seed=len(output))
    loss, grads = net.loss_and_gradient(X, Y, weights=weights)
    numeric = np.zeros_like(net.params)
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + H
        plus, _ = net.loss_and_gradient(X, Y, weights=weights)
        net.params[i] = saved - H
        minus, _ = net.loss_and_gradient(X, Y, weights=weights)
        net.params[i] = saved
        numeric[i] = (plus - minus) / (2 * H)
    error = np.linalg.norm(grads - numeric) / np.linalg.norm(numeric)
    assert error < 1e-6
    unweighted, _ = net.loss_and_gradient(X, Y)
    assert loss != pytest.approx(unweighted)
    ones_loss, ones_grads = net.loss_and_gradient(X, Y, weights=np.ones(7))
    assert ones_loss == pytest.approx(unweighted, rel=1e-12)
    np.testing.assert_allclose(ones_grads, net.loss_and_gradient(X, Y)[1], rtol=1e-12)


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_per_sample_path_scales_each_step_by_its_weight(output: str) -> None:
    net, X, Y, weights = _case(output, seed=5)
    steps: list[np.ndarray] = []
    ws = Workspace(net, 1)
    sample_epoch(
        ws, with_ones(X, net.dtype), Y, lambda p, g: steps.append(g.copy()), 1.0, False, weights
    )
    for i, step in enumerate(steps):
        _, grads = net.loss_and_gradient(X[i : i + 1], Y[i : i + 1])
        np.testing.assert_allclose(step, weights[i] * grads, rtol=1e-12, atol=1e-15)


def test_balanced_weights_equal_sklearn() -> None:
    index = np.repeat([0, 1, 2], [70, 20, 10])
    classes = np.array(["a", "b", "c"])
    weights = class_weights(index, classes, "balanced")
    expected = compute_class_weight("balanced", classes=np.arange(3), y=index)
    assert weights is not None
    np.testing.assert_allclose(weights, expected[index], rtol=1e-15)
    mapping = class_weights(index, np.array([0, 1, 2]), {"2": 5.0, 0: 0.5})
    assert mapping is not None and mapping[[0, 80, 95]].tolist() == [0.5, 1.0, 5.0]
    with pytest.raises(ConfigError, match="'7'") as info:
        class_weights(index, np.array([0, 1, 2]), {7: 1.0})
    assert info.value.field == "class_weight"


def test_balanced_class_weight_improves_balanced_accuracy_on_an_imbalanced_set() -> None:
    rng = np.random.default_rng(0)
    n0, n1 = 950, 50
    X = np.concatenate([rng.normal(0.0, 1.0, (n0, 2)), rng.normal(1.5, 1.0, (n1, 2))])
    y = np.repeat([0, 1], [n0, n1])
    settings: dict[str, Any] = {"hidden_layers": (8,), "epochs": 40, "test_fraction": 0.3}
    plain = MLPClassifier(**settings).fit(X, y)
    balanced = MLPClassifier(class_weight="balanced", **settings).fit(X, y)
    before = plain.evaluation_["test"]["balanced_accuracy"]
    after = balanced.evaluation_["test"]["balanced_accuracy"]
    assert after > before + 0.1, (before, after)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"class_weight": "even"}, "class_weight"),
        ({"class_weight": {"a": 0}}, "class_weight"),
        ({"class_weight": {True: 1.0}}, "class_weight"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": -0.1}, "test_fraction"),
        ({"max_categories": 0}, "max_categories"),
    ],
)
def test_new_settings_are_validated(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        MLPClassifier(**kwargs)
    assert info.value.field == field


def test_class_weight_is_for_classifiers_and_round_trips_as_json() -> None:
    with pytest.raises(ConfigError, match="classifiers"):
        MLPRegressor(class_weight="balanced").fit(np.zeros((4, 1)), np.zeros(4))
    model = MLPClassifier(class_weight={1: 2.0}, epochs=2).fit(np.arange(8.0)[:, None], [0, 1] * 4)
    assert model.get_params()["class_weight"] == {1: 2.0}
