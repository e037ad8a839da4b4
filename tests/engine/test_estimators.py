"""The public estimator API: save/load round trips, configs that do not fit, params, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlp_engine
from mlp_engine import (
    DivergedError,
    MLPClassifier,
    MLPRegressor,
    ModelFormatError,
    datasets,
    decision_grid,
    load,
    metrics,
)
from mlp_engine.errors import MLPEngineError
from mlp_engine.persistence import load_model_file, save_model_file


def _fitted(kind: str) -> tuple[MLPClassifier | MLPRegressor, np.ndarray, Any]:
    if kind == "regression":
        x = np.linspace(-2, 2, 50)[:, None]
        return MLPRegressor(hidden_layers=(8,), epochs=20, seed=0).fit(x, np.sin(x[:, 0])), x, None
    if kind == "regression-2d":
        x = np.linspace(-2, 2, 50)[:, None]
        y = np.column_stack([np.sin(x[:, 0]), x[:, 0]])
        return MLPRegressor(hidden_layers=(8,), epochs=20, seed=0).fit(x, y), x, None
    X, y = datasets.make("gaussians" if kind.startswith("multi") else "moons", seed=0)
    labels = {
        "binary-int": np.array([3, 7])[y % 2],
        "binary-str": np.array(["no", "yes"])[y % 2],
        "multi-int": y,
        "multi-str": np.array(["a", "b", "c"])[y],
        "float32": y,
    }[kind]
    dtype = "float32" if kind == "float32" else "float64"
    clf = MLPClassifier(hidden_layers=(6, 4), epochs=10, dtype=dtype, validation_fraction=0.2)
    return clf.fit(X, labels, on_epoch=None), X, labels


KINDS = ["binary-int", "binary-str", "multi-int", "multi-str", "float32", "regression"]


@pytest.mark.parametrize("kind", [*KINDS, "regression-2d"])
def test_save_then_load_predicts_identically(kind: str, tmp_path: Path) -> None:
    model, X, _ = _fitted(kind)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = load(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if isinstance(model, MLPClassifier):
        assert isinstance(loaded, MLPClassifier)
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
        assert loaded.classes_.dtype.kind == model.classes_.dtype.kind  # ints stay ints
        assert type(loaded.predict(X[:1])[0].item()) is type(model.predict(X[:1])[0].item())
    for name in ("layers_", "n_features_in_", "n_parameters_", "history_", "metrics_"):
        assert getattr(loaded, name) == getattr(model, name), name
    for name in ("data_min_", "data_max_", "mean_", "scale_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    assert loaded.get_params() == model.get_params()
    assert loaded.best_epoch_ == model.best_epoch_ and loaded.stop_reason_ == "completed"
    for got, want in zip(
        loaded.weights_ + loaded.biases_, model.weights_ + model.biases_, strict=True
    ):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_save_to_a_file_object_and_the_config_contents() -> None:
    model, X, _ = _fitted("binary-str")
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    _, _, config = load_model_file(io.BytesIO(buffer.getvalue()))
    assert config["layers"] == [2, 6, 4, 1]
    assert config["task"] == "classification" and config["output"] == "sigmoid"
    assert config["activation"] == "relu" and config["dtype"] == "float64"
    assert config["classes"] == ["no", "yes"] and config["label_kind"] == "str"
    assert set(config["standardize"]) == {"mean", "scale"}
    assert config["params"] == model.get_params()
    assert set(config["metrics"]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(config["history"]) == 10
    json.dumps(config)
    np.testing.assert_array_equal(load(buffer).predict(X), model.predict(X))


def test_metadata_is_stored_and_kept_on_resave() -> None:
    model, _, _ = _fitted("binary-int")
    assert model.metadata_ == {}
    first, second = io.BytesIO(), io.BytesIO()
    model.save(first, metadata={"name": "moons", "job_id": "job_1"})
    assert model.metadata_ == {}  # saving does not change the model
    first.seek(0)
    loaded = load(first)
    assert loaded.metadata_ == {"name": "moons", "job_id": "job_1"}
    loaded.save(second)
    second.seek(0)
    assert load(second).metadata_ == {"name": "moons", "job_id": "job_1"}


def test_unstandardized_model_round_trips(tmp_path: Path) -> None:
    X, y = datasets.make("xor", n_samples=40, seed=0)
    model = MLPClassifier(epochs=3, standardize=False).fit(X, y)
    model.save(tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert loaded.mean_ is None and loaded.scale_ is None
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# ---------------------------------------------------------------- configs that do not fit


def _doctored(tmp_path: Path, change: Any, kind: str = "multi-int") -> Path:
    model, _, _ = _fitted(kind)
    path = tmp_path / "m.npz"
    model.save(path)
    weights, biases, config = load_model_file(path)
    change(config)
    save_model_file(path, weights, biases, config)
    return path


def _set(key: str, value: Any) -> Any:
    return lambda config: config.__setitem__(key, value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("activation", "swish"), "activation"),
        (_set("output", "sigmoid"), "output"),
        (_set("output", "softplus"), "output"),
        (_set("classes", [0, 1]), "output unit"),
        (_set("classes", [0, 1, 2, 3]), "output unit"),
        (_set("classes", [2, 1, 0]), "sorted"),
        (_set("classes", ["a", 1, 2]), "int labels"),
        (_set("label_kind", "float"), "label_kind"),
        (_set("task", "clustering"), "task"),
        (_set("dtype", "float16"), "dtype"),
        (_set("params", {"learning_rate": -1}), "learning_rate must be > 0"),
        (_set("params", {"colour": "red"}), "unknown parameters"),
        (_set("params", "adam"), "params"),
        (_set("standardize", {"mean": [0, 0], "scale": [1, 0]}), "scale"),
        (_set("standardize", {"mean": [0], "scale": [1, 1]}), "mean"),
        (_set("data_min", None), "data_min"),
        (_set("metadata", [1, 2]), "metadata"),
        (lambda c: c.pop("task"), "lacks"),
        (lambda c: c["params"].__setitem__("hidden_layers", [6, 5]), "layers"),
        (lambda c: c["params"].__setitem__("activation", "tanh"), "activation"),
    ],
)
def test_configs_that_do_not_fit_are_rejected(change: Any, message: str, tmp_path: Path) -> None:
    path = _doctored(tmp_path, change)
    with pytest.raises(ModelFormatError, match=message):
        load(path)


def test_regression_config_with_wrong_target_shape_is_rejected(tmp_path: Path) -> None:
    path = _doctored(tmp_path, _set("target_ndim", 3), kind="regression")
    with pytest.raises(ModelFormatError, match="target_ndim"):
        load(path)


def test_a_file_that_is_not_a_model_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"PK\x03\x04 definitely not a model")
    with pytest.raises(ModelFormatError):
        load(path)


# ---------------------------------------------------------------- API surface


def test_package_exports() -> None:
    assert mlp_engine.datasets is datasets
    assert mlp_engine.metrics is metrics and "metrics" in mlp_engine.__all__
    assert callable(decision_grid) and callable(load)
    assert issubclass(ModelFormatError, MLPEngineError) and issubclass(ModelFormatError, ValueError)
    assert issubclass(DivergedError, MLPEngineError) and issubclass(DivergedError, ArithmeticError)
    error = DivergedError(4)
    assert error.epoch == 4 and "epoch 4" in str(error)


def test_get_params_is_json_and_rebuilds_the_estimator() -> None:
    clf = MLPClassifier(hidden_layers=(5, 3), optimizer="sgd", clip_norm=2.0, seed=3)
    params = clf.get_params()
    assert json.loads(json.dumps(params)) == params
    assert params["hidden_layers"] == [5, 3] and params["clip_norm"] == 2.0
    assert MLPClassifier(**params).get_params() == params
    assert set(params) == {
        "hidden_layers", "activation", "optimizer", "learning_rate", "momentum", "nesterov",
        "batch_size", "epochs", "l2", "clip_norm", "init", "shuffle", "validation_fraction",
        "early_stopping", "patience", "standardize", "dtype", "seed", "max_categories",
        "test_fraction", "class_weight", "l1", "feature_crosses",
    }  # fmt: skip
    assert repr(clf) == (
        "MLPClassifier(hidden_layers=(5, 3), optimizer='sgd', clip_norm=2.0, seed=3)"
    )
    generator_seeded = MLPRegressor(seed=np.random.default_rng(0)).get_params()
    assert generator_seeded["seed"] is None


def test_predicting_before_fit_is_an_error() -> None:
    with pytest.raises(ValueError, match="not fitted"):
        MLPClassifier().predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="not fitted"):
        MLPRegressor().save(io.BytesIO())


def test_prediction_overflow_is_an_error_not_nan() -> None:
    model, _, _ = _fitted("multi-int")
    with pytest.raises(ValueError, match="overflowed"):
        model.predict_proba(np.array([[1e308, -1e308]]))


def test_decision_grid_accepts_the_estimators() -> None:
    model, _, _ = _fitted("binary-int")
    xs, ys, probs = decision_grid(model, resolution=20)
    assert xs.shape == (20,) and ys.shape == (20,) and probs.shape == (20, 20)
    assert np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
    point = np.array([[xs[3], ys[5]]])
    assert probs[5, 3] == pytest.approx(model.predict_proba(point)[0, 1])
