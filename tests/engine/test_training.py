"""Training behaviour: toy problems, reproducibility, options, callbacks, stopping, divergence."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from mlp_engine import ConfigError, DivergedError, MLPClassifier, MLPRegressor, datasets
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network

# ---------------------------------------------------------------- toy problems

# Documented settings: the estimator defaults (hidden (16, 16), relu, adam, lr 0.01, batch 32,
# 200 epochs, standardize, seed 0) on each data set's default size and noise, unless listed.
TOY_SETTINGS: dict[str, dict[str, Any]] = {
    "xor": {},
    "moons": {},
    "circles": {},
    "spirals": {"hidden_layers": (32, 32), "activation": "tanh"},
    "gaussians": {},
}


@pytest.mark.parametrize("kind", sorted(TOY_SETTINGS))
def test_toy_sets_reach_95_percent(kind: str) -> None:
    X, y = datasets.make(kind, seed=0)
    clf = MLPClassifier(seed=0, **TOY_SETTINGS[kind]).fit(X, y)
    assert clf.score(X, y) >= 0.95
    assert clf.metrics_["accuracy"] == pytest.approx(clf.score(X, y))


def test_three_gaussians_use_softmax_with_three_outputs() -> None:
    X, y = datasets.make("gaussians", n_classes=3, seed=1)
    clf = MLPClassifier(hidden_layers=(8,), seed=0).fit(X, y)
    assert clf.layers_ == (2, 8, 3)
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_regression_on_sine_reaches_small_mse() -> None:
    """Documented: MLPRegressor defaults on sin(x), x in [-3, 3] (200 points): MSE < 1e-3."""
    x = np.linspace(-3, 3, 200)[:, None]
    y = np.sin(x[:, 0])
    reg = MLPRegressor(seed=0).fit(x, y)
    pred = reg.predict(x)
    assert pred.shape == (200,)
    assert float(np.mean((pred - y) ** 2)) < 1e-3
    assert reg.score(x, y) > 0.99
    assert reg.metrics_["loss"] == pytest.approx(0.5 * np.mean((pred - y) ** 2), rel=1e-9)
    assert "accuracy" not in reg.metrics_


def test_regression_with_several_targets() -> None:
    x = np.linspace(-2, 2, 100)[:, None]
    Y = np.column_stack([np.sin(x[:, 0]), np.cos(x[:, 0])])
    reg = MLPRegressor(hidden_layers=(32,), epochs=300, seed=0).fit(x, Y)
    assert reg.layers_ == (1, 32, 2)
    assert reg.predict(x).shape == (100, 2)
    assert reg.score(x, Y) > 0.98


# ---------------------------------------------------------------- reproducibility


def _weights_bytes(model: MLPClassifier | MLPRegressor) -> bytes:
    return b"".join(
        w.tobytes() + b.tobytes() for w, b in zip(model.weights_, model.biases_, strict=True)
    )


@pytest.mark.parametrize("batch_size", [1, 16])
def test_same_seed_gives_identical_weights(batch_size: int) -> None:
    X, y = datasets.make("moons", n_samples=120, seed=0)
    settings = {"batch_size": batch_size, "epochs": 5, "validation_fraction": 0.25}
    first = MLPClassifier(seed=7, **settings).fit(X, y)
    second = MLPClassifier(seed=7, **settings).fit(X, y)
    assert _weights_bytes(first) == _weights_bytes(second)
    assert first.history_ == second.history_
    generator = MLPClassifier(seed=np.random.default_rng(7), **settings).fit(X, y)
    assert _weights_bytes(generator) == _weights_bytes(first)
    other = MLPClassifier(seed=8, **settings).fit(X, y)
    assert _weights_bytes(other) != _weights_bytes(first)


def test_seed_none_draws_fresh_entropy() -> None:
    X, y = datasets.make("xor", n_samples=40, seed=0)
    a = MLPClassifier(seed=None, epochs=1).fit(X, y)
    b = MLPClassifier(seed=None, epochs=1).fit(X, y)
    assert _weights_bytes(a) != _weights_bytes(b)
    assert a.get_params()["seed"] is None


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_float32_trains_in_float32(optimizer: str) -> None:
    X, y = datasets.make("moons", seed=0)
    clf = MLPClassifier(dtype="float32", optimizer=optimizer, learning_rate=0.05, seed=0)
    clf.fit(X, y)
    assert all(w.dtype == np.float32 for w in clf.weights_ + clf.biases_)
    assert clf.predict_proba(X).dtype == np.float32
    assert clf.score(X, y) >= 0.95
    reference = MLPClassifier(optimizer=optimizer, learning_rate=0.05, seed=0).fit(X, y)
    assert clf.metrics_["loss"] == pytest.approx(reference.metrics_["loss"], abs=0.02)


def test_float32_per_sample_path() -> None:
    X, y = datasets.make("xor", n_samples=100, seed=0)
    clf = MLPClassifier(dtype="float32", batch_size=1, epochs=30, seed=0).fit(X, y)
    assert clf.weights_[0].dtype == np.float32 and clf.score(X, y) >= 0.95


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_notebook_optimizer_trains_any_network(dtype: str) -> None:
    """``notebook`` beyond the notebook: softmax output, tanh, float32; momentum is ignored."""
    X, y = datasets.make("gaussians", n_samples=90, n_classes=3, seed=0)
    kw: dict[str, Any] = {
        "hidden_layers": (8, 4),
        "activation": "tanh",
        "optimizer": "notebook",
        "batch_size": 1,
        "learning_rate": 0.05,
        "epochs": 30,
        "dtype": dtype,
        "seed": 0,
    }
    clf = MLPClassifier(**kw).fit(X, y)  # momentum 0.9 by default: ignored
    assert all(w.dtype == dtype for w in clf.weights_ + clf.biases_)
    assert clf.score(X, y) >= 0.95
    plain = MLPClassifier(**kw, momentum=0.0).fit(X, y)
    np.testing.assert_array_equal(plain.weights_[0], clf.weights_[0])
    true_gradient = MLPClassifier(**{**kw, "optimizer": "sgd"}, momentum=0.0).fit(X, y)
    assert not np.array_equal(true_gradient.weights_[0], clf.weights_[0])  # the update order


def test_notebook_optimizer_regression_and_divergence() -> None:
    x = np.linspace(-1.0, 1.0, 40)[:, None]
    kw: dict[str, Any] = {"hidden_layers": (8,), "optimizer": "notebook", "batch_size": 1}
    reg = MLPRegressor(**kw, learning_rate=0.01, epochs=40, seed=0).fit(x, np.sin(3 * x[:, 0]))
    assert reg.history_[-1]["loss"] < 0.4 * reg.history_[0]["loss"]
    X, y = datasets.make("xor", n_samples=50, seed=0)
    clf = MLPClassifier(**kw, learning_rate=10.0, standardize=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DivergedError) as info:
            clf.fit(X * 1e150, y)
    assert info.value.epoch == 1


# ---------------------------------------------------------------- one epoch vs hand arithmetic


def _hand_run(X: np.ndarray, y: np.ndarray, epochs: int, **settings: Any) -> Network:
    """Full-batch training written out: the same init draws, then the update rules by hand."""
    net = Network.initialized(
        (2, 4, 1), ACTIVATIONS["relu"], OUTPUTS["sigmoid"], "he", np.random.default_rng(0), "f8"
    )
    Y = y[:, None].astype(float)
    lr, l2, clip = settings["learning_rate"], settings.get("l2", 0.0), settings.get("clip_norm")
    l1 = settings.get("l1", 0.0)
    mu, nesterov = settings.get("momentum", 0.0), settings.get("nesterov", False)
    velocity, m, v = np.zeros_like(net.params), np.zeros_like(net.params), np.zeros_like(net.params)
    for t in range(1, epochs + 1):
        _, g = net.loss_and_gradient(X, Y, l2, l1=l1)  # + l2 * W + l1 * sign(W) (test_gradients)
        norm = math.sqrt(float(g @ g))
        if clip is not None and norm > clip:
            g = g * (clip / norm)
        if settings["optimizer"] == "adam":
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            net.params -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        elif nesterov:
            velocity = mu * velocity - lr * g
            net.params += mu * velocity - lr * g
        else:
            velocity = mu * velocity - lr * g
            net.params += velocity
    return net


@pytest.mark.parametrize(
    "settings",
    [
        {"optimizer": "sgd", "learning_rate": 0.5, "momentum": 0.0},
        {"optimizer": "sgd", "learning_rate": 0.5, "momentum": 0.9},
        {"optimizer": "sgd", "learning_rate": 0.5, "momentum": 0.9, "nesterov": True},
        {"optimizer": "adam", "learning_rate": 0.1},
        {"optimizer": "sgd", "learning_rate": 0.5, "momentum": 0.0, "l2": 0.7},
        {"optimizer": "sgd", "learning_rate": 0.5, "momentum": 0.0, "clip_norm": 0.01},
        {"optimizer": "adam", "learning_rate": 0.1, "l2": 0.2, "clip_norm": 0.05},
        {"optimizer": "sgd", "learning_rate": 0.5, "momentum": 0.0, "l1": 0.3},
        {"optimizer": "adam", "learning_rate": 0.1, "l1": 0.1, "l2": 0.2, "clip_norm": 0.05},
    ],
    ids=["sgd", "momentum", "nesterov", "adam", "l2", "clip_norm", "adam+l2+clip", "l1", "all"],
)
def test_three_full_batch_epochs_match_hand_arithmetic(settings: dict[str, Any]) -> None:
    X, y = datasets.make("moons", n_samples=40, seed=3)
    clf = MLPClassifier(
        hidden_layers=(4,),
        batch_size=40,
        epochs=3,
        shuffle=False,
        standardize=False,
        seed=0,
        **settings,
    ).fit(X, y)
    reference = _hand_run(X, y, 3, **settings)
    for got, want in zip(
        clf.weights_ + clf.biases_, reference.weights + reference.biases, strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_clip_norm_and_l2_change_training() -> None:
    X, y = datasets.make("moons", n_samples=40, seed=3)
    base = {"hidden_layers": (4,), "batch_size": 40, "epochs": 3, "shuffle": False, "seed": 0}
    plain = MLPClassifier(**base, optimizer="sgd", learning_rate=0.5).fit(X, y)
    clipped = MLPClassifier(**base, optimizer="sgd", learning_rate=0.5, clip_norm=1e-3).fit(X, y)
    shrunk = MLPClassifier(**base, optimizer="sgd", learning_rate=0.5, l2=0.5).fit(X, y)
    assert _weights_bytes(plain) != _weights_bytes(clipped)
    norm = lambda m: sum(float(np.sum(w * w)) for w in m.weights_)  # noqa: E731
    assert norm(shrunk) < norm(plain)


def test_batch_size_is_capped_at_the_training_set_size() -> None:
    X, y = datasets.make("xor", n_samples=30, seed=0)
    big = MLPClassifier(batch_size=1000, epochs=3, seed=0).fit(X, y)
    exact = MLPClassifier(batch_size=30, epochs=3, seed=0).fit(X, y)
    assert _weights_bytes(big) == _weights_bytes(exact)


# ---------------------------------------------------------------- callback and stopping


def test_on_epoch_reports_every_epoch_with_live_parameters() -> None:
    X, y = datasets.make("moons", n_samples=100, seed=0)
    seen: list[tuple[int, dict[str, float], np.ndarray, np.ndarray]] = []
    clf = MLPClassifier(hidden_layers=(5, 3), epochs=4, validation_fraction=0.2, seed=0)

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        seen.append((epoch, metrics, clf.weights_[0].copy(), clf.predict_proba(X[:3])))

    clf.fit(X, y, on_epoch=on_epoch)
    assert [s[0] for s in seen] == [1, 2, 3, 4]
    assert set(seen[0][1]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert [dict(s[1], epoch=s[0]) for s in seen] == clf.history_
    assert [w.shape for w in clf.weights_] == [(2, 5), (5, 3), (3, 1)]
    assert [b.shape for b in clf.biases_] == [(5,), (3,), (1,)]
    assert not np.array_equal(seen[0][2], seen[-1][2])  # the callback saw the weights move
    np.testing.assert_array_equal(seen[-1][2], clf.weights_[0])
    np.testing.assert_array_equal(seen[-1][3], clf.predict_proba(X[:3]))
    assert clf.stop_reason_ == "completed" and not clf.stopped_early_


def test_on_epoch_returning_false_stops_cleanly() -> None:
    X, y = datasets.make("xor", n_samples=60, seed=0)
    results: dict[int, Any] = {1: None, 2: 0, 3: False}
    clf = MLPClassifier(epochs=50, seed=0).fit(X, y, on_epoch=lambda e, m: results.get(e))
    assert len(clf.history_) == 3  # None and 0 do not stop; exactly False does
    assert clf.stopped_early_ and clf.stop_reason_ == "callback"
    assert clf.best_epoch_ == 3 and clf.metrics_ == {
        k: v for k, v in clf.history_[-1].items() if k != "epoch"
    }
    assert clf.predict(X).shape == (60,)


def test_early_stopping_restores_the_best_weights() -> None:
    X, y = datasets.make("moons", n_samples=80, noise=0.45, seed=1)
    snapshots: dict[int, np.ndarray] = {}
    clf = MLPClassifier(
        hidden_layers=(64, 64),
        learning_rate=0.03,
        epochs=300,
        validation_fraction=0.3,
        early_stopping=True,
        patience=5,
        seed=0,
    )
    clf.fit(X, y, on_epoch=lambda e, m: snapshots.__setitem__(e, clf.weights_[1].copy()))
    val_losses = [row["val_loss"] for row in clf.history_]
    best = int(np.argmin(val_losses)) + 1
    assert clf.stop_reason_ == "early_stopping" and clf.stopped_early_
    assert clf.best_epoch_ == best and len(clf.history_) == best + 5 < 300
    np.testing.assert_array_equal(clf.weights_[1], snapshots[best])
    assert not np.array_equal(clf.weights_[1], snapshots[len(clf.history_)])
    assert clf.metrics_["val_loss"] == min(val_losses)


def test_history_loss_is_the_training_loss_after_each_epoch() -> None:
    X, y = datasets.make("circles", n_samples=100, seed=0)
    clf = MLPClassifier(epochs=3, seed=0).fit(X, y)
    p = clf.predict_proba(X)[:, 1]
    log_loss = -np.mean(np.where(y == 1, np.log(p), np.log(1 - p)))
    assert clf.history_[-1]["loss"] == pytest.approx(log_loss, rel=1e-9)
    assert clf.history_[-1]["accuracy"] == clf.score(X, y)


# ---------------------------------------------------------------- divergence


def test_divergence_raises_at_epoch_one_without_warnings() -> None:
    X, y = datasets.make("moons", n_samples=200, seed=0)
    clf = MLPClassifier(optimizer="sgd", learning_rate=10.0, standardize=False, epochs=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DivergedError, match="epoch 1") as info:
            clf.fit(X * 1e150, y)
    assert info.value.epoch == 1
    assert isinstance(info.value, ArithmeticError)
    with pytest.raises(ValueError, match="not fitted"):
        clf.predict(X)


def test_divergence_is_reported_through_the_per_sample_path_too() -> None:
    X, y = datasets.make("xor", n_samples=50, seed=0)
    clf = MLPClassifier(optimizer="sgd", learning_rate=10.0, standardize=False, batch_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DivergedError) as info:
            clf.fit(X * 1e150, y)
    assert info.value.epoch == 1


# ---------------------------------------------------------------- labels and data


def test_string_labels_round_trip() -> None:
    X, y = datasets.make("gaussians", n_classes=3, seed=0)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = MLPClassifier(hidden_layers=(8,), seed=0).fit(X, names.tolist())
    assert clf.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert set(clf.predict(X).tolist()) <= set(clf.classes_.tolist())
    assert clf.score(X, names) >= 0.95


def test_binary_string_and_gapped_int_labels() -> None:
    X, y = datasets.make("moons", seed=0)
    for labels in (np.array(["no", "yes"])[y], np.array([-3, 10])[y], y.astype(float)):
        clf = MLPClassifier(seed=0).fit(X, labels)
        assert clf.layers_[-1] == 1
        np.testing.assert_array_equal(np.sort(np.unique(labels)), clf.classes_)
        assert clf.score(X, labels) >= 0.95
        proba = clf.predict_proba(X)
        assert proba.shape == (len(X), 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_array_equal(
            clf.predict(X), np.where(proba[:, 1] > 0.5, clf.classes_[1], clf.classes_[0])
        )


def test_one_class_is_rejected() -> None:
    with pytest.raises(ValueError, match="y must contain at least two classes"):
        MLPClassifier().fit(np.zeros((5, 2)), np.ones(5, dtype=int))


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        ([[0.0, np.nan], [1.0, 2.0]], [0, 1], "NaN or infinity"),
        ([[0.0, 1.0], [1.0, 2.0]], [0, 1, 1], r"y must have shape \(2,\)"),
        ([0.0, 1.0], [0, 1], "2-D"),
        ([[0.0, 1.0], [1.0, 2.0]], [0.5, 1.0], "integers or strings"),
    ],
)
def test_bad_data_is_rejected(X: Any, y: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MLPClassifier(epochs=1).fit(X, y)


def test_wrong_feature_count_at_predict() -> None:
    X, y = datasets.make("xor", n_samples=20, seed=0)
    clf = MLPClassifier(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but the model expects 2"):
        clf.predict(np.zeros((1, 3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learning_rate": -1}, "learning_rate must be > 0, got -1"),
        ({"learning_rate": float("nan")}, "learning_rate must be finite"),
        ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be an integer, got 2.5"),
        ({"epochs": True}, "epochs must be an integer, got True"),
        ({"hidden_layers": (4, 0)}, r"hidden_layers\[1\] must be >= 1, got 0"),
        ({"hidden_layers": "16"}, "hidden_layers must be a sequence"),
        ({"activation": "swish"}, "activation must be one of"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of"),
        ({"init": "zeros"}, "init must be one of"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"momentum": 1.0}, "momentum must be < 1, got 1.0"),
        ({"l2": -0.1}, "l2 must be >= 0, got -0.1"),
        ({"l1": -0.1}, "l1 must be >= 0, got -0.1"),
        ({"l1": float("inf")}, "l1 must be finite, got inf"),
        ({"l1": "0.1"}, "l1 must be a number"),
        ({"feature_crosses": "square"}, "feature_crosses must be a list of names"),
        ({"feature_crosses": ["cube"]}, "feature_crosses items must be one of"),
        ({"feature_crosses": ["sin", "sin"]}, "feature_crosses names a cross twice"),
        ({"optimizer": "notebook", "batch_size": 1, "l1": 0.1}, "l1 must be 0 with optimizer="),
        ({"clip_norm": 0}, "clip_norm must be > 0, got 0"),
        ({"validation_fraction": 1.0}, "validation_fraction must be < 1"),
        ({"early_stopping": True}, "early_stopping requires validation_fraction > 0"),
        ({"patience": 0}, "patience must be >= 1, got 0"),
        ({"shuffle": "yes"}, "shuffle must be true or false"),
        ({"seed": -1}, "seed must be None, a non-negative integer"),
        ({"optimizer": "notebook"}, "batch_size must be 1 with optimizer='notebook', got 32"),
        ({"optimizer": "notebook", "batch_size": 1, "l2": 0.1}, "l2 must be 0 with optimizer="),
        (
            {"optimizer": "notebook", "batch_size": 1, "clip_norm": 1.0},
            "clip_norm must be None with optimizer='notebook'",
        ),
    ],
)
def test_invalid_settings_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        MLPClassifier(**kwargs)
    # The field travels as data: the offending key (the one the message starts with).
    field = message.split(" ", 1)[0].split("\\", 1)[0]
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_validation_split_too_small_is_an_error() -> None:
    with pytest.raises(ValueError, match="validation_fraction"):
        MLPClassifier(validation_fraction=0.01).fit(np.eye(4), [0, 1, 0, 1])


def test_standardization_statistics_are_stored_and_used() -> None:
    X, y = datasets.make("moons", n_samples=100, seed=0)
    X = np.column_stack([X, np.full(100, 3.0)])  # a constant feature keeps scale 1
    clf = MLPClassifier(epochs=20, seed=0).fit(X, y)
    np.testing.assert_allclose(clf.mean_, X.mean(axis=0))
    np.testing.assert_allclose(clf.scale_, [*X[:, :2].std(axis=0), 1.0])
    np.testing.assert_array_equal(clf.data_min_, X.min(axis=0))
    np.testing.assert_array_equal(clf.data_max_, X.max(axis=0))
    shifted = MLPClassifier(epochs=20, seed=0).fit(X * 1000.0 + 5.0, y)
    np.testing.assert_allclose(
        shifted.predict_proba(X * 1000.0 + 5.0), clf.predict_proba(X), rtol=1e-6, atol=1e-9
    )
    raw = MLPClassifier(epochs=1, standardize=False, seed=0).fit(X, y)
    assert raw.mean_ is None and raw.scale_ is None


def test_fitted_attributes() -> None:
    X, y = datasets.make("notebook", n_samples=100, seed=0)
    clf = MLPClassifier(hidden_layers=(5, 3), epochs=2, seed=0).fit(X, y)
    assert clf.layers_ == (2, 5, 3, 1)
    assert clf.n_features_in_ == 2
    assert clf.n_parameters_ == 2 * 5 + 5 + 5 * 3 + 3 + 3 * 1 + 1
    assert clf.task == "classification" and MLPRegressor().task == "regression"
    assert clf.classes_.tolist() == [0, 1]
    assert clf.best_epoch_ == 2 and len(clf.history_) == 2
    assert clf.get_params()["hidden_layers"] == [5, 3]
