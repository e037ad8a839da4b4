"""Estimators on tables: named columns, categories, missing values, DataFrames, model files."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers.model_files import build_zip, npy, pickled_object_array

from mlp_engine import MLPClassifier, MLPRegressor, ModelFormatError, decision_grid, evaluate, load
from mlp_engine.persistence import load_model_file, save_model_file

N = 240


def make_table(seed: int = 0, n: int = N) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns: age (numeric, gaps), color (text, gaps), city (object, many values, None)."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n)
    age[rng.random(n) < 0.1] = np.nan
    color = rng.choice(["red", "green", "blue", ""], n)
    city = np.array([f"c{i}" for i in rng.integers(0, 30, n)], dtype=object)
    city[rng.random(n) < 0.05] = None
    y = np.where((np.nan_to_num(age, nan=40.0) > 40) ^ (color == "red"), "yes", "no")
    return {"age": age, "color": color, "city": city}, y


def fit_table(**settings: Any) -> tuple[MLPClassifier, dict[str, np.ndarray], np.ndarray]:
    table, y = make_table()
    params = {"hidden_layers": (8,), "epochs": 15, "max_categories": 5, **settings}
    return MLPClassifier(**params).fit(table, y), table, y


def test_features_signature_and_names() -> None:
    model, table, _ = fit_table()
    assert model.feature_names_in_.tolist() == ["age", "color", "city"]
    assert model.n_features_in_ == 3
    age, color, city = model.features
    assert age == {"name": "age", "type": "numeric", "missing": int(np.isnan(table["age"]).sum())}
    assert color["type"] == "categorical" and color["categories"] == ["blue", "green", "red"]
    assert color["missing"] == int((table["color"] == "").sum())
    assert city["missing"] == sum(v is None for v in table["city"])
    assert len(city["categories"]) == len({v for v in table["city"] if v is not None})
    # age: value + indicator; color: 3 + missing; city: 4 kept + other + missing
    assert model.layers_[0] == 2 + 4 + 6


def test_array_models_name_their_columns_x0_x1() -> None:
    X = np.random.default_rng(0).normal(size=(30, 3))
    model = MLPRegressor(epochs=2).fit(X, X[:, 0])
    assert model.feature_names_in_.tolist() == ["x0", "x1", "x2"]
    assert model.features == [{"name": f"x{i}", "type": "numeric", "missing": 0} for i in range(3)]
    assert model.plan_ is None
    np.testing.assert_array_equal(model.predict({"x2": X[:, 2], "x0": X[:, 0], "x1": X[:, 1]}),
                                  model.predict(X))  # fmt: skip


def test_column_order_does_not_matter_and_wrong_columns_are_named() -> None:
    model, table, _ = fit_table()
    shuffled = {name: table[name] for name in ["city", "age", "color"]}
    np.testing.assert_array_equal(model.predict_proba(shuffled), model.predict_proba(table))
    with pytest.raises(ValueError, match="'zip'"):
        model.predict({**table, "zip": table["age"]})
    with pytest.raises(ValueError, match="'city'"):
        model.predict({"age": table["age"], "color": table["color"]})
    with pytest.raises(ValueError, match="categorical columns"):
        model.predict(np.zeros((2, 3)))


def test_unseen_and_missing_values_predict_without_error() -> None:
    model, _, _ = fit_table()
    rows = {"age": [None, 30.0], "color": ["purple", None], "city": [float("nan"), "nowhere"]}
    proba = model.predict_proba(rows)
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert set(model.predict(rows)) <= {"no", "yes"}


def test_forced_categorical_columns_take_numbers_as_text() -> None:
    table = {"code": np.array([1, 2, 3, 1, 2, 3] * 5), "x": np.arange(30.0)}
    y = np.array([0, 1, 1, 0, 1, 1] * 5)
    model = MLPClassifier(epochs=3, hidden_layers=(4,)).fit(table, y, categorical=["code"])
    assert model.features[0] == {
        "name": "code",
        "type": "categorical",
        "missing": 0,
        "categories": ["1", "2", "3"],
    }
    as_text = {"code": np.array(["1", "2", "3"], dtype=object), "x": np.arange(3.0)}
    as_numbers = {"code": np.array([1, 2, 3.0]), "x": np.arange(3.0)}
    np.testing.assert_array_equal(model.predict_proba(as_text), model.predict_proba(as_numbers))
    with pytest.raises(ValueError, match="'nope'"):
        MLPClassifier().fit(table, y, categorical=["nope"])
    with pytest.raises(ValueError, match="array"):
        MLPClassifier().fit(np.zeros((6, 2)), y[:6], categorical=["x0"])


def test_pandas_dataframe_equals_the_mapping() -> None:
    table, y = make_table()
    frame = pd.DataFrame(table)
    frame["color"] = frame["color"].replace("", pd.NA)
    frame["age"] = frame["age"].astype("Float64")  # nullable: NA, not NaN
    a = MLPClassifier(hidden_layers=(8,), epochs=5, max_categories=5).fit(frame, y)
    b = MLPClassifier(hidden_layers=(8,), epochs=5, max_categories=5).fit(table, y)
    assert a.features == b.features
    np.testing.assert_array_equal(a.weights_[0], b.weights_[0])
    np.testing.assert_array_equal(a.predict_proba(frame), b.predict_proba(table))


def test_numeric_only_table_model_matches_the_array_model() -> None:
    """Without gaps, validation or a test split, the plan standardises exactly as the array
    path does and no split is drawn, so the same seed gives the same weights."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 2)) * [1.0, 50.0] + [0.0, 10.0]
    y = (X[:, 0] * 50 > X[:, 1] - 10).astype(int)
    table_model = MLPClassifier(epochs=10, seed=5).fit({"a": X[:, 0], "b": X[:, 1]}, y)
    array_model = MLPClassifier(epochs=10, seed=5).fit(X, y)
    assert table_model.layers_ == array_model.layers_
    np.testing.assert_allclose(table_model.weights_[0], array_model.weights_[0], rtol=1e-10)
    np.testing.assert_allclose(table_model.predict_proba(X), array_model.predict_proba(X))
    gaps = np.array([[np.nan, 0.0]])  # positional arrays work, NaN is a gap
    assert table_model.predict(gaps).shape == (1,)
    np.testing.assert_array_equal(table_model.data_min_, X.min(axis=0))


def test_round_trip_of_a_table_model_predicts_identically(tmp_path: Any) -> None:
    model, table, _ = fit_table(test_fraction=0.25, validation_fraction=0.2)
    path = tmp_path / "table.npz"
    model.save(path, metadata={"name": "t"})
    loaded = load(path)
    assert isinstance(loaded, MLPClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(table), model.predict_proba(table))
    assert loaded.features == model.features
    assert loaded.evaluation_ == model.evaluation_
    assert loaded.feature_names_in_.tolist() == model.feature_names_in_.tolist()
    assert np.isnan(loaded.data_min_[1]) and loaded.data_min_[0] == model.data_min_[0]
    with np.load(path, allow_pickle=False) as npz:
        categories = npz["p2_categories"]
    assert categories.dtype.kind == "U"
    assert categories.tolist() == model.plan_.steps[2].state["categories"].tolist()


def test_regressor_on_a_table_and_evaluate() -> None:
    table, _ = make_table(1)
    target = np.nan_to_num(table["age"], nan=40.0) / 10 + (table["color"] == "red")
    model = MLPRegressor(hidden_layers=(8,), epochs=30, test_fraction=0.2).fit(table, target)
    result = evaluate(model, table, target)
    assert result["n_samples"] == N
    assert set(result["metrics"]) == {"mse", "rmse", "mae", "r2"}
    assert set(model.evaluation_) == {"train", "validation", "test"}
    assert model.evaluation_["validation"] is None and model.evaluation_["test"] is not None


def test_evaluate_a_classifier_and_refuse_unknown_labels() -> None:
    model, table, y = fit_table()
    result = evaluate(model, table, y)
    assert result["n_samples"] == N
    assert result["metrics"]["accuracy"] == pytest.approx(model.score(table, y))
    assert result["metrics"]["confusion_matrix"]["labels"] == ["no", "yes"]
    with pytest.raises(ValueError, match="'maybe'"):
        evaluate(model, table, np.where(y == "yes", "maybe", y))


# ------------------------------------------------------------------------- model files


def _plan_file() -> tuple[dict[str, bytes], MLPClassifier]:
    model, _, _ = fit_table()
    buf = io.BytesIO()
    model.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        return {name: zf.read(name) for name in zf.namelist()}, model


def test_unicode_is_allowed_only_for_category_members() -> None:
    members, _ = _plan_file()
    for name in ("W0.npy", "p0_median.npy", "p1_missing.npy"):
        bad = dict(members)
        bad[name] = npy(np.array(["x"] if name == "W0.npy" else "x"))
        with pytest.raises(ModelFormatError, match=name.removesuffix(".npy")):
            load_model_file(io.BytesIO(build_zip(bad)))


def test_category_members_are_checked_before_reading() -> None:
    members, _ = _plan_file()
    too_long = dict(members, **{"p1_categories.npy": npy(np.array(["x" * 2000, "y", "z"]))})
    with pytest.raises(ModelFormatError, match="1 to 1024 characters"):
        load_model_file(io.BytesIO(build_zip(too_long)))
    other_shape = dict(members, **{"p1_categories.npy": npy(np.array(["a", "b"]))})
    with pytest.raises(ModelFormatError, match="config 'preprocessing'"):
        load_model_file(io.BytesIO(build_zip(other_shape)))
    missing = {k: v for k, v in members.items() if k != "p2_other.npy"}
    with pytest.raises(ModelFormatError, match="missing member 'p2_other'"):
        load_model_file(io.BytesIO(build_zip(missing)))


def test_pickled_category_members_are_never_unpickled(tmp_path: Any) -> None:
    members, _ = _plan_file()
    sentinel = tmp_path / "pwned"
    evil = dict(members, **{"p1_categories.npy": pickled_object_array(sentinel, (3,))})
    with pytest.raises(ModelFormatError, match="object"):
        load_model_file(io.BytesIO(build_zip(evil)))
    assert not sentinel.exists()


def test_plan_members_without_a_declared_plan_are_refused() -> None:
    X = np.random.default_rng(0).normal(size=(20, 2))
    model = MLPRegressor(epochs=1, hidden_layers=(3,)).fit(X, X[:, 0])
    buf = io.BytesIO()
    model.save(buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    assert not any(name.startswith("p") for name in members)
    members["p0_median.npy"] = npy(np.array(1.0))
    with pytest.raises(ModelFormatError, match="unexpected member 'p0_median'"):
        load_model_file(io.BytesIO(build_zip(members)))


def test_files_written_before_tables_existed_still_load() -> None:
    """An array model saved the old way: no plan members, and none of the config keys tables
    added (feature names, features, preprocessing, evaluation, the new settings)."""
    X = np.random.default_rng(1).normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    model = MLPClassifier(epochs=3, hidden_layers=(4,)).fit(X, y)
    config = model._model_config()
    for key in ("feature_names", "features", "preprocessing", "evaluation"):
        del config[key]
    for key in ("max_categories", "test_fraction", "class_weight"):
        del config["params"][key]
    buf = io.BytesIO()
    save_model_file(buf, model.weights_, model.biases_, config)
    old = load(io.BytesIO(buf.getvalue()))
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))
    assert old.feature_names_in_.tolist() == ["x0", "x1"] and old.plan_ is None
    assert old.evaluation_ is None
    assert old.features == model.features


def test_corrupted_table_model_files_fail_only_with_model_format_error() -> None:
    model, table, _ = fit_table()
    buf = io.BytesIO()
    model.save(buf)
    good = buf.getvalue()
    rng = np.random.default_rng(0)
    loaded = 0
    for pos in range(0, len(good), 7):
        corrupt = bytearray(good)
        corrupt[pos] ^= int(rng.integers(1, 256))
        try:
            other = load(io.BytesIO(bytes(corrupt)))
        except ModelFormatError:
            continue
        loaded += 1  # some bytes do not matter (timestamps, padding); it must still predict
        assert other.predict_proba(table).shape == (N, 2)
    assert loaded < len(good) // 7


def test_decision_grid_over_two_numeric_columns_of_a_table_model() -> None:
    rng = np.random.default_rng(4)
    table = {
        "kind": rng.choice(["a", "b"], 120),
        "x": rng.normal(size=120),
        "y": rng.normal(size=120),
    }
    labels = np.where((table["x"] > 0) ^ (table["kind"] == "b"), 1, 0)
    model = MLPClassifier(hidden_layers=(8,), epochs=60, learning_rate=0.05).fit(table, labels)
    xs, ys, at_a = decision_grid(model, resolution=7, features=(1, 2), fixed={"kind": "a"})
    _, _, at_b = decision_grid(model, resolution=7, features=("x", "y"), fixed={0: "b"})
    points = {"kind": np.full(49, "b"), "x": np.tile(xs, 7), "y": np.repeat(ys, 7)}
    np.testing.assert_allclose(at_b.ravel(), model.predict_proba(points)[:, 1])
    assert at_a.shape == (7, 7) and not np.allclose(at_a, at_b)
    _, _, default = decision_grid(model, resolution=7, features=(1, 2))  # most frequent kind
    mode = model.plan_.steps[0].typical
    np.testing.assert_array_equal(default, at_a if mode == "a" else at_b)
    with pytest.raises(ValueError, match="'kind' is categorical"):
        decision_grid(model, resolution=7, features=(0, 1))


def test_all_missing_and_constant_columns_train_and_predict() -> None:
    table, y = make_table(2)
    table = {**table, "empty": np.full(N, np.nan), "flat": np.full(N, 3.0), "none": np.full(N, "")}
    model = MLPClassifier(hidden_layers=(4,), epochs=5, max_categories=5).fit(table, y)
    by_name = {f["name"]: f for f in model.features}
    assert by_name["empty"]["missing"] == N and by_name["none"]["categories"] == []
    assert np.isnan(model.data_min_[3]) and model.data_min_[4] == 3.0
    proba = model.predict_proba({**table, "empty": np.ones(N), "flat": np.zeros(N)})
    assert np.isfinite(proba).all()
