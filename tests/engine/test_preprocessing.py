"""Preprocessing steps against scikit-learn's SimpleImputer, StandardScaler and OneHotEncoder.

scikit-learn is a dev dependency used here as the reference; ``mlp_engine`` never imports it.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlp_engine.errors import ModelFormatError
from mlp_engine.preprocessing import FIELDS, KINDS, Numeric, OneHot, Plan, fit_plan
from mlp_engine.tables import as_text

RNG_SEEDS = range(5)


def _numeric_column(rng: np.random.Generator, n: int, missing: float) -> np.ndarray:
    column = rng.normal(rng.uniform(-50, 50), rng.uniform(0.1, 20), size=n)
    column[rng.random(n) < missing] = np.nan
    return column


def _text_column(rng: np.random.Generator, n: int, n_values: int) -> np.ndarray:
    # Zipf-like frequencies so that max_categories has rare values to group.
    weights = 1.0 / np.arange(1, n_values + 1)
    values = np.array([f"v{i:02d}" for i in range(n_values)])
    return values[rng.choice(n_values, size=n, p=weights / weights.sum())]


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_numeric_step_equals_sklearn_median_imputer_scaler_and_indicator(seed: int) -> None:
    rng = np.random.default_rng(seed)
    train, test = _numeric_column(rng, 200, 0.2), _numeric_column(rng, 50, 0.2)
    state = Numeric().fit(train)
    block = Numeric().transform(test, state)

    imputer = SimpleImputer(strategy="median").fit(train[:, None])
    scaler = StandardScaler().fit(imputer.transform(train[:, None]))
    expected = scaler.transform(imputer.transform(test[:, None]))
    indicator = MissingIndicator().fit(train[:, None]).transform(test[:, None])
    assert block.shape == (50, 2)
    np.testing.assert_allclose(block[:, :1], expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(block[:, 1], indicator[:, 0].astype(float))
    assert float(state["median"]) == pytest.approx(imputer.statistics_[0], abs=0)


def test_numeric_without_gaps_has_no_indicator_and_gaps_at_predict_take_the_median() -> None:
    train = np.array([1.0, 2.0, 3.0, 10.0])
    state = Numeric().fit(train)
    assert not bool(state["indicator"])
    block = Numeric().transform(np.array([np.nan, 2.5]), state)
    assert block.shape == (2, 1)
    assert block[0, 0] == pytest.approx((2.5 - float(state["mean"])) / float(state["scale"]))


def test_all_missing_column_imputes_zero_with_an_indicator() -> None:
    state = Numeric().fit(np.full(5, np.nan))
    assert float(state["median"]) == 0.0 and float(state["scale"]) == 1.0
    block = Numeric().transform(np.array([np.nan, 4.0]), state)
    np.testing.assert_array_equal(block, [[0.0, 1.0], [4.0, 0.0]])


def test_constant_column_keeps_scale_one() -> None:
    state = Numeric().fit(np.full(6, 7.5))
    assert float(state["scale"]) == 1.0 and float(state["mean"]) == 7.5
    np.testing.assert_array_equal(Numeric().transform(np.array([7.5, 8.5]), state), [[0], [1]])


def test_numeric_without_standardisation_only_imputes() -> None:
    state = Numeric(standardize=False).fit(np.array([1.0, np.nan, 5.0]))
    np.testing.assert_array_equal(
        Numeric().transform(np.array([np.nan, 2.0]), state), [[3.0, 1.0], [2.0, 0.0]]
    )


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("max_categories", [1, 2, 5, 20])
def test_one_hot_equals_sklearn_with_max_categories_and_unknown_ignored(
    seed: int, max_categories: int
) -> None:
    rng = np.random.default_rng(seed)
    train = _text_column(rng, 300, 12)
    test = np.concatenate([_text_column(rng, 40, 12), ["unseen", "zzz", "v99"]])
    state = OneHot(max_categories).fit(train)
    block = OneHot().transform(test, state)

    encoder = OneHotEncoder(
        handle_unknown="ignore", max_categories=max_categories, sparse_output=False
    ).fit(train[:, None])
    expected = encoder.transform(test[:, None])
    assert block.shape == expected.shape
    np.testing.assert_array_equal(block, expected)
    assert not block[-3:].any()  # unseen values: all zeros


def test_ties_in_frequency_are_broken_by_value_like_sklearn() -> None:
    train = np.array(["a", "a", "b", "b", "c", "c", "d", "e"])
    state = OneHot(3).fit(train)
    encoder = OneHotEncoder(handle_unknown="ignore", max_categories=3, sparse_output=False)
    encoder.fit(train[:, None])
    assert state["categories"].tolist() == ["b", "c"]
    assert state["other"].tolist() == ["a", "d", "e"]
    assert [c.tolist() for c in encoder.categories_] == [["a", "b", "c", "d", "e"]]
    test = np.array(["a", "b", "c", "d", "e", "f"])
    np.testing.assert_array_equal(OneHot().transform(test, state), encoder.transform(test[:, None]))


def test_missing_is_its_own_last_level_only_when_training_saw_it() -> None:
    with_gaps = OneHot(2).fit(np.array(["x", "", "y", "x", "z", ""]))
    assert bool(with_gaps["missing"])
    block = OneHot().transform(np.array(["", "x", "y", "q"]), with_gaps)
    # columns: x (kept), other (y, z), missing
    np.testing.assert_array_equal(block, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 0]])
    without = OneHot().fit(np.array(["x", "y"]))
    assert not bool(without["missing"])
    np.testing.assert_array_equal(
        OneHot().transform(np.array(["", "x"]), without), [[0, 0], [1, 0]]
    )


def test_text_normalisation_of_missing_values_and_numbers() -> None:
    cells = np.array(["a", None, float("nan"), "", 3, 2.5, 3.0, True], dtype=object)
    assert as_text(cells).tolist() == ["a", "", "", "", "3", "2.5", "3", "True"]
    assert as_text(np.array([b"x", b""])).tolist() == ["x", ""]
    assert as_text(np.array([1.0, np.nan, 2.5])).tolist() == ["1", "", "2.5"]


def test_a_plan_is_data_applied_in_order() -> None:
    columns = {
        "n": np.array([1.0, np.nan, 3.0, 4.0]),
        "c": np.array(["a", "b", "", "a"]),
    }
    plan = fit_plan(columns, {"c": "categorical", "n": "numeric"}, max_categories=5)
    assert [step.column for step in plan.steps] == ["c", "n"]
    assert plan.to_config() == [
        {"column": "c", "kind": "categorical"},
        {"column": "n", "kind": "numeric"},
    ]
    for step in plan.steps:
        assert set(step.state) == set(FIELDS[step.kind])
        assert all(isinstance(arr, np.ndarray) for arr in step.state.values())
    X = plan.transform(columns)
    assert X.shape == (4, plan.width) == (4, 3 + 2)
    np.testing.assert_array_equal(
        X[:, :3], KINDS["categorical"].transform(columns["c"], plan.steps[0].state)
    )


def test_plan_from_config_refuses_inconsistent_states() -> None:
    plan = fit_plan({"c": np.array(["a", "b"])}, {"c": "categorical"})
    good = [{"column": "c", "kind": "categorical", "state": dict(plan.steps[0].state)}]
    assert Plan.from_config(good).width == plan.width
    unsorted = {**plan.steps[0].state, "categories": np.array(["b", "a"])}
    with pytest.raises(ModelFormatError, match="sorted"):
        Plan.from_config([{**good[0], "state": unsorted}])
    with pytest.raises(ModelFormatError, match="kind"):
        Plan.from_config([{**good[0], "kind": "hash"}])
    scale = {"median": np.array(0.0), "mean": np.array(0.0), "scale": np.array(0.0)}
    numeric = {**scale, "indicator": np.array(False)}
    with pytest.raises(ModelFormatError, match="positive scale"):
        Plan.from_config([{"column": "n", "kind": "numeric", "state": numeric}])


def test_typical_values_are_the_median_and_the_most_frequent_category() -> None:
    columns = {
        "n": np.array([1.0, np.nan, 3.0, 10.0]),
        "c": np.array(["b", "a", "b", "a", "c", ""]),
        "e": np.array(["", ""]),
    }
    plan = fit_plan(
        {name: columns[name] for name in ("n", "c")}, {"n": "numeric", "c": "categorical"}
    )
    assert [step.typical for step in plan.steps] == [3.0, "a"]  # a/b tie: code-point order
    empty = fit_plan({"e": columns["e"]}, {"e": "categorical"}).steps[0]
    assert empty.typical == "" and empty.state["mode"].shape == (0,)
    # the mode does not change the encoding
    np.testing.assert_array_equal(
        plan.steps[1].transform(columns["c"])[:, :3].sum(axis=1), [1, 1, 1, 1, 1, 0]
    )


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_a_random_table_plan_equals_the_sklearn_pipeline_column_by_column(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_train, n_test = 150, 40
    n = n_train + n_test
    table = {
        "a": _numeric_column(rng, n, 0.1),
        "b": _text_column(rng, n, 9),
        "c": _numeric_column(rng, n, 0.3),
        "d": _text_column(rng, n, 30),
    }
    kinds = {"a": "numeric", "b": "categorical", "c": "numeric", "d": "categorical"}
    train = {name: column[:n_train] for name, column in table.items()}
    test = {name: column[n_train:] for name, column in table.items()}
    plan = fit_plan(train, kinds, max_categories=6)
    blocks = []
    for name, kind in kinds.items():
        fit, new = train[name][:, None], test[name][:, None]
        if kind == "numeric":
            imputer = SimpleImputer(strategy="median").fit(fit)
            scaler = StandardScaler().fit(imputer.transform(fit))
            blocks.append(scaler.transform(imputer.transform(new)))
            blocks.append(MissingIndicator().fit(fit).transform(new).astype(float))
        else:
            encoder = OneHotEncoder(handle_unknown="ignore", max_categories=6, sparse_output=False)
            blocks.append(encoder.fit(fit).transform(new))
    np.testing.assert_allclose(plan.transform(test), np.hstack(blocks), rtol=1e-12, atol=1e-12)
