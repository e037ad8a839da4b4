"""Weight frames (thinning, files, a model at a frame) and one unit's activation."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from mlp_engine import MLPClassifier, MLPRegressor, ModelFormatError, datasets, decision_grid
from mlp_engine.frames import (
    MAX_FRAMES,
    FrameRecorder,
    Frames,
    at_frame,
    load_frames,
    parameters,
    save_frames,
)
from mlp_engine.units import unit_activations, unit_grid


def _record(n_epochs: int, limit: int = MAX_FRAMES) -> FrameRecorder:
    recorder = FrameRecorder(limit)
    for epoch in range(1, n_epochs + 1):
        recorder.add(epoch, np.full(3, float(epoch)))
    return recorder


@pytest.mark.parametrize("n_epochs", [1, 2, 5, 99, 100, 101, 150, 200, 257, 1000, 5000])
def test_thinning_keeps_first_and_last_at_most_100_ascending(n_epochs: int) -> None:
    frames = _record(n_epochs).frames()
    epochs = frames.epochs.tolist()
    assert len(epochs) == min(n_epochs, MAX_FRAMES)
    assert epochs[0] == 1 and epochs[-1] == n_epochs
    assert epochs == sorted(set(epochs))
    # every kept row holds the parameters of its own epoch
    np.testing.assert_array_equal(frames.params[:, 0], frames.epochs.astype(float))


def test_thinning_spreads_the_frames_over_the_run() -> None:
    epochs = _record(1000).frames().epochs
    gaps = np.diff(epochs)
    assert gaps.max() <= 2 * int(np.ceil(999 / (MAX_FRAMES - 1)))


def test_thinning_at_every_moment_of_a_run() -> None:
    recorder = FrameRecorder(10)
    for epoch in range(1, 60):
        recorder.add(epoch, np.zeros(1))
        assert len(recorder) == min(epoch, 10)
        assert recorder.epochs[0] == 1 and recorder.epochs[-1] == epoch


def test_recorder_refuses_bad_limits_and_decreasing_epochs() -> None:
    with pytest.raises(ValueError, match="limit"):
        FrameRecorder(1)
    recorder = FrameRecorder()
    recorder.add(3, np.zeros(2))
    with pytest.raises(ValueError, match="increase"):
        recorder.add(3, np.zeros(2))


def test_frames_file_round_trip_and_checks() -> None:
    frames = _record(150).frames()
    buffer = io.BytesIO()
    save_frames(buffer, frames)
    loaded = load_frames(io.BytesIO(buffer.getvalue()), n_parameters=3, max_bytes=1 << 20)
    np.testing.assert_array_equal(loaded.epochs, frames.epochs)
    np.testing.assert_array_equal(loaded.params, frames.params)
    assert loaded.index(150) == len(frames.epochs) - 1 and loaded.index(2) is None
    with pytest.raises(ModelFormatError, match="params"):
        load_frames(io.BytesIO(buffer.getvalue()), n_parameters=4, max_bytes=1 << 20)
    with pytest.raises(ModelFormatError, match="limit"):
        load_frames(io.BytesIO(buffer.getvalue()), n_parameters=3, max_bytes=100)
    with pytest.raises(ModelFormatError):
        load_frames(io.BytesIO(b"not a zip file at all, no"), n_parameters=3, max_bytes=1 << 20)


def test_frames_file_refuses_unordered_epochs() -> None:
    with pytest.raises(ModelFormatError, match="ascending"):
        save_frames(io.BytesIO(), Frames(np.array([2, 1]), np.zeros((2, 3))))


def _fitted(**kwargs: Any) -> tuple[MLPClassifier, np.ndarray]:
    X, y = datasets.make("moons", n_samples=80, seed=0)
    model = MLPClassifier(hidden_layers=(5, 3), epochs=5, seed=0, **kwargs).fit(X, y)
    return model, X


def test_at_frame_uses_the_frames_parameters_and_leaves_the_model_alone() -> None:
    model, X = _fitted()
    before = model.predict_proba(X)
    params = parameters(model)
    frame = at_frame(model, np.zeros_like(params))
    np.testing.assert_allclose(frame.predict_proba(X), 0.5)  # zero weights: sigmoid(0)
    np.testing.assert_array_equal(model.predict_proba(X), before)
    same = at_frame(model, params.copy())
    np.testing.assert_array_equal(same.predict_proba(X), before)


def _manual_forward(model: Any, X: np.ndarray, layer: int) -> np.ndarray:
    """The network's layers by hand: standardise, then tanh/relu layers, then the output."""
    a = (X - model.mean_) / model.scale_
    for i in range(layer):
        z = a @ model.weights_[i] + model.biases_[i]
        last = i == len(model.weights_) - 1
        if last and model.task == "classification":
            a = 1.0 / (1.0 + np.exp(-z))
        elif not last:
            a = np.tanh(z) if model.get_params()["activation"] == "tanh" else np.maximum(z, 0)
        else:
            a = z
    return np.asarray(a)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize(("layer", "unit"), [(0, 1), (1, 0), (1, 4), (2, 2), (3, 0)])
def test_unit_activation_equals_a_manual_forward_pass(
    activation: str, layer: int, unit: int
) -> None:
    model, X = _fitted(activation=activation)
    got = unit_activations(model, X, layer, unit)
    np.testing.assert_allclose(got, _manual_forward(model, X, layer)[:, unit], rtol=1e-12)
    if layer == 3:  # the output unit is the model's probability
        np.testing.assert_allclose(got, model.predict_proba(X)[:, 1], rtol=1e-12)


def test_unit_activation_of_a_regressor_output_is_its_prediction() -> None:
    X, y = datasets.make("moons", n_samples=60, seed=1)
    model = MLPRegressor(hidden_layers=(4,), epochs=3, seed=0).fit(X, y.astype(float))
    np.testing.assert_allclose(unit_activations(model, X, 2, 0), model.predict(X), rtol=1e-12)


def test_unit_activation_of_a_table_model_goes_through_its_plan() -> None:
    rng = np.random.default_rng(0)
    table = {"a": rng.normal(size=60), "b": rng.normal(size=60), "c": rng.choice(["x", "y"], 60)}
    y = (table["a"] > 0).astype(int)
    model = MLPClassifier(hidden_layers=(4,), epochs=3, seed=0).fit(table, y)
    encoded = model.plan_.transform(table)
    expected = np.maximum(encoded @ model.weights_[0] + model.biases_[0], 0)[:, 2]
    np.testing.assert_allclose(unit_activations(model, table, 1, 2), expected, rtol=1e-12)
    _, _, values = unit_grid(model, 1, 2, resolution=7, features=("a", "b"))
    assert values.shape == (7, 7)


@pytest.mark.parametrize(
    ("layer", "unit", "match"), [(4, 0, "layer"), (-1, 0, "layer"), (1, 5, "unit"), (2, -1, "unit")]
)
def test_unit_out_of_range_names_the_argument(layer: int, unit: int, match: str) -> None:
    model, X = _fitted()
    with pytest.raises(ValueError, match=match):
        unit_activations(model, X, layer, unit)


def test_unit_grid_is_the_unit_over_decision_grids_grid() -> None:
    model, _ = _fitted()
    xs, ys, values = unit_grid(model, 1, 3, resolution=9)
    ref_xs, ref_ys, _ = decision_grid(model, resolution=9)
    np.testing.assert_array_equal(xs, ref_xs)
    np.testing.assert_array_equal(ys, ref_ys)
    points = np.column_stack([np.tile(xs, 9), np.repeat(ys, 9)])
    expected = unit_activations(model, points, 1, 3).reshape(9, 9)
    np.testing.assert_allclose(values, expected)
