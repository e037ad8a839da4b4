"""Feature crosses: computed inside the model, stored with it, raw columns in and out."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from mlp_engine import MLPClassifier, MLPRegressor, load
from mlp_engine.crosses import MAX_CROSSED_COLUMNS, cross, cross_names, crossed_width
from mlp_engine.datasets import make
from mlp_engine.errors import ConfigError, ModelFormatError
from mlp_engine.estimators import from_config
from mlp_engine.grid import decision_grid
from mlp_engine.persistence import load_model_file


def _round_trip(model: Any) -> Any:
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    return load(buffer)


def test_crossed_columns_come_in_the_documented_order() -> None:
    V = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]])
    got = cross(V, ("square", "product", "sin"))
    a, b, c = V.T
    want = np.column_stack(
        [a * a, b * b, c * c, a * b, a * c, b * c, np.sin(a), np.sin(b), np.sin(c)]
    )
    np.testing.assert_array_equal(got, want)
    assert cross_names(["a", "b", "c"], ("square", "product", "sin")) == [
        "a^2", "b^2", "c^2", "a*b", "a*c", "b*c", "sin(a)", "sin(b)", "sin(c)",
    ]  # fmt: skip
    assert crossed_width(3, ("product",)) == 3 and crossed_width(45, ("product",)) == 990


def test_the_setting_is_kept_in_the_column_order_whatever_the_order_given() -> None:
    model = MLPClassifier(feature_crosses=["sin", "square"])
    assert model.config.feature_crosses == ("square", "sin")
    assert model.get_params()["feature_crosses"] == ["square", "sin"]
    assert MLPClassifier().get_params()["feature_crosses"] == []


def test_circles_need_no_hidden_layer_with_squares() -> None:
    """TensorFlow Playground's lesson: x1^2 and x2^2 make the circles linearly separable."""
    X, y = make("circles", seed=0)
    plain = MLPClassifier(hidden_layers=[], epochs=100, seed=0).fit(X, y)
    crossed = MLPClassifier(hidden_layers=[], epochs=100, seed=0, feature_crosses=["square"])
    crossed.fit(X, y)
    assert crossed.layers_ == (4, 1) and crossed.n_features_in_ == 2
    assert crossed.score(X, y) >= 0.95
    assert plain.score(X, y) < 0.7  # a straight line cannot separate two rings
    X_test, y_test = make("circles", seed=1)
    assert crossed.score(X_test, y_test) >= 0.95


def test_an_array_model_takes_the_raw_columns_and_round_trips() -> None:
    X, y = make("moons", seed=2)
    model = MLPClassifier(
        hidden_layers=(4,), epochs=10, seed=1, feature_crosses=["product", "sin", "square"]
    ).fit(X, y)
    assert model.layers_[0] == 2 + 1 + 2 + 2
    assert [f["name"] for f in model.features] == ["x0", "x1"]
    assert model.mean_ is not None and model.mean_.shape == (2,)
    loaded = _round_trip(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.crosses_.kinds == ("square", "product", "sin")
    np.testing.assert_array_equal(loaded.crosses_.mean, model.crosses_.mean)
    assert loaded.layers_ == model.layers_ and loaded.features == model.features
    with pytest.raises(ValueError, match="2"):
        model.predict(np.zeros((1, 7)))  # the crossed width is not an input width
    _, _, values = decision_grid(model, resolution=5)
    assert values.shape == (5, 5)


def test_crosses_are_standardised_on_the_training_split() -> None:
    X, y = make("xor", seed=3)
    model = MLPClassifier(hidden_layers=(), epochs=2, feature_crosses=["square"]).fit(X, y)
    squares = X * X
    np.testing.assert_allclose(model.crosses_.mean, squares.mean(axis=0))
    np.testing.assert_allclose(model.crosses_.scale, squares.std(axis=0))
    raw = MLPClassifier(hidden_layers=(), epochs=2, feature_crosses=["square"], standardize=False)
    raw.fit(X, y)
    assert (raw.crosses_.mean == 0).all() and (raw.crosses_.scale == 1).all()


def _table(n: int = 200) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=n), rng.normal(size=n) * 3 + 1
    a[:5] = np.nan
    return {"a": a, "colour": rng.choice(["red", "blue"], n), "b": b}


def test_a_table_crosses_its_imputed_numeric_columns_only() -> None:
    table = _table()
    y = (np.nan_to_num(table["a"]) ** 2 + table["b"] > 2).astype(int)
    model = MLPClassifier(hidden_layers=(3,), epochs=5, feature_crosses=["square", "product"])
    model.fit(table, y)
    plan = model.plan_
    assert plan is not None and plan.crosses is model.crosses_
    assert plan.crosses.width == 2 + 1  # a and b: two squares and one product; no colour
    assert model.layers_[0] == plan.width == (1 + 1) + 2 + 1 + 3  # a + indicator, one-hot, b
    assert [f["name"] for f in model.features] == ["a", "colour", "b"]
    encoded = plan.transform(table)
    median = float(plan.steps[0].state["median"])
    want = (median**2 - plan.crosses.mean[0]) / plan.crosses.scale[0]  # NaN -> median, then x^2
    np.testing.assert_allclose(encoded[:5, -3], want)
    loaded = _round_trip(model)
    np.testing.assert_array_equal(loaded.predict_proba(table), model.predict_proba(table))
    assert loaded.plan_.width == plan.width
    xs, ys, values = decision_grid(model, features=("a", "b"), resolution=4)
    mode = np.array([str(plan.steps[1].state["mode"][0])])  # other columns: their typical value
    point = {"a": xs[1:2], "colour": mode, "b": ys[2:3]}
    assert values[2, 1] == pytest.approx(model.predict_proba(point)[0, 1], rel=1e-12)


def test_inputs_too_large_to_cross_are_a_value_error() -> None:
    X, y = np.array([[1e200, 1.0], [2.0, 3.0], [1.0, 1.0], [0.0, 5.0]]), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="feature_crosses overflow"):
        MLPClassifier(feature_crosses=["square"], epochs=1).fit(X, y)
    MLPClassifier(feature_crosses=["sin"], epochs=1).fit(X, y)  # sin stays finite


def test_too_many_crossed_columns_name_the_setting() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 46)), np.arange(20) % 2  # 46 * 45 / 2 = 1035 products
    with pytest.raises(ConfigError, match="1,035 columns") as info:
        MLPClassifier(feature_crosses=["product"], epochs=1).fit(X, y)
    assert info.value.field == "feature_crosses"
    assert crossed_width(46, ("product",)) > MAX_CROSSED_COLUMNS
    MLPClassifier(feature_crosses=["product"], epochs=1).fit(X[:, :45], y)  # 990: allowed
    table = {f"c{i}": column for i, column in enumerate(X.T)}
    with pytest.raises(ConfigError, match="feature_crosses"):
        MLPClassifier(feature_crosses=["product"], epochs=1).fit(table, y)


def test_crosses_need_a_numeric_column_to_cross() -> None:
    table = {"colour": np.array(["a", "b"] * 10)}
    with pytest.raises(ConfigError, match="adds no column") as info:
        MLPClassifier(feature_crosses=["square"], epochs=1).fit(table, np.arange(20) % 2)
    assert info.value.field == "feature_crosses"
    with pytest.raises(ConfigError, match="adds no column"):  # one column has no pair
        MLPRegressor(feature_crosses=["product"], epochs=1).fit(np.ones((5, 1)), np.ones(5))


def test_files_without_crosses_still_load_and_bad_crosses_are_refused() -> None:
    X, y = make("moons", seed=4)
    model = MLPClassifier(hidden_layers=(3,), epochs=3, feature_crosses=["square"]).fit(X, y)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    weights, biases, config = load_model_file(buffer)
    assert config["crosses"]["kinds"] == ["square"]
    plain = MLPClassifier(hidden_layers=(3,), epochs=3).fit(X, y)
    plain_buffer = io.BytesIO()
    plain.save(plain_buffer)
    plain_buffer.seek(0)
    old_weights, old_biases, old_config = load_model_file(plain_buffer)
    del old_config["crosses"]  # a file written before crosses existed
    old = from_config(old_weights, old_biases, old_config)
    assert old.crosses_ is None
    np.testing.assert_array_equal(old.predict_proba(X), plain.predict_proba(X))
    for broken in (
        {**config["crosses"], "kinds": ["sin", "square"]},  # not in column order
        {**config["crosses"], "mean": [0.0]},
        {**config["crosses"], "scale": [1.0, -1.0]},
        {**config["crosses"], "n_inputs": 3},
        None,  # the layers are wider than the raw columns
    ):
        with pytest.raises(ModelFormatError):
            from_config(weights, biases, {**config, "crosses": broken})
