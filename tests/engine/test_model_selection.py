"""Cross-validation folds and search spaces (mlp_engine.model_selection)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedKFold

from mlp_engine.errors import ConfigError
from mlp_engine.model_selection import (
    fold_assignment,
    grid_size,
    grid_trials,
    kfold_assignment,
    parse_space,
    random_trials,
    stratified_assignment,
)

ALLOWED = {"hidden_layers", "activation", "learning_rate", "l2", "epochs", "batch_size"}


def _sklearn_counts(y: np.ndarray, k: int) -> list[list[int]]:
    """Per fold (sorted), the class counts of scikit-learn's StratifiedKFold test folds."""
    classes = np.unique(y)
    folds = StratifiedKFold(k, shuffle=True, random_state=0).split(np.zeros((y.size, 1)), y)
    return sorted([int((y[test] == c).sum()) for c in classes] for _, test in folds)


@pytest.mark.parametrize(
    ("counts", "k"),
    [((50, 50), 3), ((90, 10), 5), ((7, 13, 30), 4), ((3, 3, 100), 10), ((5, 6), 2)],
)
@pytest.mark.filterwarnings("ignore:The least populated class")  # classes smaller than k
def test_stratified_folds_balance_classes_as_sklearn(counts: tuple[int, ...], k: int) -> None:
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(1).shuffle(y)
    folds = stratified_assignment(y, k, seed=7)
    assert folds.shape == y.shape and set(folds.tolist()) <= set(range(k))
    ours = sorted(
        [int(((folds == f) & (y == c)).sum()) for c in range(len(counts))] for f in range(k)
    )
    assert ours == _sklearn_counts(y, k)


def test_stratified_folds_take_string_labels_and_are_seeded() -> None:
    y = np.array(["b", "a", "c"] * 20)
    first, again = stratified_assignment(y, 3, 5), stratified_assignment(y, 3, 5)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, stratified_assignment(y, 3, 6))
    for label in ("a", "b", "c"):
        assert sorted(np.bincount(first[y == label], minlength=3).tolist()) == [6, 7, 7]


def test_kfold_sizes_match_sklearn() -> None:
    for n, k in [(10, 3), (100, 10), (7, 7), (31, 4)]:
        folds = kfold_assignment(n, k, seed=0)
        ours = np.bincount(folds, minlength=k).tolist()
        theirs = [len(test) for _, test in KFold(k).split(np.zeros((n, 1)))]
        assert ours == theirs
        assert np.array_equal(folds, kfold_assignment(n, k, seed=0))


def test_fold_assignment_dispatches_on_task() -> None:
    y = np.linspace(0, 1, 12)
    np.testing.assert_array_equal(
        fold_assignment(y, 3, 1, stratified=False), kfold_assignment(12, 3, 1)
    )
    labels = np.array([0, 1] * 6)
    np.testing.assert_array_equal(
        fold_assignment(labels, 3, 1, stratified=True), stratified_assignment(labels, 3, 1)
    )


@pytest.mark.parametrize(("n", "k"), [(2, 3), (10, 1)])
def test_folds_refuse_too_few_rows_or_folds(n: int, k: int) -> None:
    with pytest.raises(ConfigError) as info:
        kfold_assignment(n, k, 0)
    assert info.value.field == "cv_folds"


def test_grid_is_the_cartesian_product_in_order() -> None:
    space = {"hidden_layers": [[4], [8, 8]], "learning_rate": [0.1, 0.01, 0.001]}
    dims = parse_space(space, ALLOWED, grid=True)
    assert grid_size(dims) == 6
    expected = [
        {"hidden_layers": h, "learning_rate": lr}
        for h, lr in itertools.product(space["hidden_layers"], space["learning_rate"])
    ]
    assert grid_trials(dims) == expected
    assert grid_trials(dims, limit=4) == expected[:4]


def test_grid_size_of_a_huge_grid_is_counted_not_built() -> None:
    dims = parse_space(
        {"l2": list(range(1000)), "epochs": list(range(1, 1001))}, ALLOWED, grid=True
    )
    assert grid_size(dims) == 10**6
    assert len(grid_trials(dims, limit=3)) == 3


def test_random_trials_are_seeded_and_inside_their_ranges() -> None:
    space = {
        "learning_rate": {"log_uniform": [1e-4, 1e-1]},
        "l2": {"uniform": [0, 0.5]},
        "batch_size": {"int_uniform": [1, 4]},
        "activation": ["relu", "tanh"],
    }
    dims = parse_space(space, ALLOWED, grid=False)
    trials = random_trials(dims, 200, seed=3)
    assert trials == random_trials(dims, 200, seed=3)
    assert trials != random_trials(dims, 200, seed=4)
    assert all(1e-4 <= t["learning_rate"] <= 1e-1 for t in trials)
    assert all(0 <= t["l2"] <= 0.5 for t in trials)
    assert {t["batch_size"] for t in trials} == {1, 2, 3, 4}
    assert {t["activation"] for t in trials} == {"relu", "tanh"}
    logs = np.log10([t["learning_rate"] for t in trials])
    assert abs(float(np.median(logs)) + 2.5) < 0.3  # uniform in the log: median near 10^-2.5


def test_random_over_lists_only_draws_distinct_points() -> None:
    dims = parse_space({"epochs": [1, 2, 3], "activation": ["relu", "tanh"]}, ALLOWED, grid=False)
    trials = random_trials(dims, 100, seed=0)
    assert len(trials) == 6
    assert len({(t["epochs"], t["activation"]) for t in trials}) == 6


@pytest.mark.parametrize(
    ("space", "grid", "field"),
    [
        ({}, True, "search.space"),
        ({"nope": [1]}, True, "search.space.nope"),
        ({"l2": []}, True, "search.space.l2"),
        ({"l2": {"uniform": [0, 1]}}, True, "search.space.l2"),
        ({"l2": {"uniform": [1, 0]}}, False, "search.space.l2"),
        ({"l2": {"uniform": [0, math.inf]}}, False, "search.space.l2"),
        ({"learning_rate": {"log_uniform": [0, 1]}}, False, "search.space.learning_rate"),
        ({"epochs": {"int_uniform": [1.5, 3]}}, False, "search.space.epochs"),
        ({"epochs": {"normal": [1, 3]}}, False, "search.space.epochs"),
        ({"epochs": 5}, False, "search.space.epochs"),
        ({"epochs": {"int_uniform": [0, 2**70]}}, False, "search.space.epochs"),
    ],
)
def test_bad_spaces_name_the_parameter(space: dict, grid: bool, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_space(space, ALLOWED, grid=grid)
    assert info.value.field == field
