"""decision_grid with small stub models: orientation, feature selection, chunking, validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from mlp_engine.grid import MAX_GRID_SIDE, decision_grid

Points = np.ndarray


def sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return out


class StubClassifier:
    """``predict_proba`` = [1 - p, p] with ``p = sigmoid(score(X))``; records every call."""

    task = "classification"

    def __init__(
        self,
        score: Callable[[Points], np.ndarray] = lambda X: X[:, 0],
        n_features: int = 2,
        data_min: Any = None,
        data_max: Any = None,
    ) -> None:
        self.score = score
        self.n_features_in_ = n_features
        self.data_min_ = np.full(n_features, -1.0) if data_min is None else np.asarray(data_min)
        self.data_max_ = np.full(n_features, 1.0) if data_max is None else np.asarray(data_max)
        self.classes_ = np.array(["neg", "pos"])
        self.calls: list[Points] = []

    def predict_proba(self, X: Points) -> np.ndarray:
        assert X.ndim == 2 and X.shape[1] == self.n_features_in_ and X.dtype == np.float64
        self.calls.append(X.copy())
        p = sigmoid(self.score(X))
        return np.column_stack([1.0 - p, p]).astype(np.float32)


class StubMulticlass:
    """Softmax over three linear scores; has ``layers_`` but no ``n_features_in_``."""

    def __init__(self) -> None:
        self.layers_ = (2, 4, 3)
        self.data_min_ = np.array([0.0, 0.0])
        self.data_max_ = np.array([1.0, 2.0])
        self.classes_ = np.array([0, 1, 2])

    def predict_proba(self, X: Points) -> np.ndarray:
        z = X @ np.array([[1.0, -1.0, 0.0], [0.0, 2.0, -2.0]])
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out


class StubRegressor:
    task = "regression"

    def __init__(self, outputs: int = 1) -> None:
        self.outputs = outputs
        self.n_features_in_ = 2
        self.data_min_ = np.array([0.0, 0.0])
        self.data_max_ = np.array([1.0, 1.0])

    def predict(self, X: Points) -> np.ndarray:
        y = X[:, 0] + 10 * X[:, 1]
        return y if self.outputs == 1 else np.column_stack([y, -y])

    def predict_proba(self, X: Points) -> np.ndarray:  # pragma: no cover - must not be used
        raise AssertionError("a regressor is evaluated with predict")


# -------------------------------------------------------------------------------- orientation


def test_values_vary_along_axis_1_for_a_model_of_x() -> None:
    model = StubClassifier(lambda X: X[:, 0])
    xs, ys, values = decision_grid(model, x_range=(-8, 8), y_range=(-10, 10), resolution=50)
    assert values.shape == (50, 50) and values.dtype == np.float64
    np.testing.assert_array_equal(xs, np.linspace(-8, 8, 50))
    np.testing.assert_array_equal(ys, np.linspace(-10, 10, 50))
    assert (np.diff(xs) > 0).all() and (np.diff(ys) > 0).all()
    assert (np.ptp(values, axis=0) == 0).all()  # constant down each column
    assert (np.diff(values, axis=1) > 0).all()  # increasing along x
    expected = sigmoid(xs).astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(values, np.broadcast_to(expected, (50, 50)))


def test_values_j_i_is_the_model_at_xs_i_ys_j() -> None:
    model = StubClassifier(lambda X: 0.3 * X[:, 0] - 0.7 * X[:, 1])
    xs, ys, values = decision_grid(model, x_range=(-2, 3), y_range=(1, 5), nx=7, ny=4)
    assert xs.shape == (7,) and ys.shape == (4,) and values.shape == (4, 7)
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            p = model.predict_proba(np.array([[x, y]]))[0, 1]
            assert values[j, i] == p


def test_a_model_of_y_varies_along_axis_0() -> None:
    _, _, values = decision_grid(StubClassifier(lambda X: X[:, 1]), resolution=20)
    assert (np.ptp(values, axis=1) == 0).all()
    assert (np.diff(values, axis=0) > 0).all()


# ----------------------------------------------------------------------------- default ranges


def test_default_ranges_are_data_bounds_plus_ten_percent() -> None:
    model = StubClassifier(data_min=[-2.0, 10.0], data_max=[2.0, 30.0])
    xs, ys, _ = decision_grid(model, resolution=11)
    assert (xs[0], xs[-1]) == pytest.approx((-2.4, 2.4))
    assert (ys[0], ys[-1]) == pytest.approx((8.0, 32.0))


def test_zero_width_feature_gets_a_usable_range() -> None:
    model = StubClassifier(data_min=[3.0, 100.0], data_max=[3.0, 100.0])
    xs, ys, values = decision_grid(model, resolution=5)
    assert (xs[0], xs[-1]) == pytest.approx((2.5, 3.5))
    assert (ys[0], ys[-1]) == pytest.approx((90.0, 110.0))
    assert np.isfinite(values).all()


def test_explicit_ranges_override_defaults_per_axis() -> None:
    model = StubClassifier(data_min=[-2.0, 10.0], data_max=[2.0, 30.0])
    xs, ys, _ = decision_grid(model, x_range=(0, 1), resolution=3)
    assert xs.tolist() == [0.0, 0.5, 1.0]
    assert (ys[0], ys[-1]) == pytest.approx((8.0, 32.0))


# ------------------------------------------------------------------------ features and fixed


def wide_model() -> StubClassifier:
    return StubClassifier(
        lambda X: X @ np.array([1.0, 2.0, 3.0, 4.0]),
        n_features=4,
        data_min=[0.0, 10.0, 20.0, 30.0],
        data_max=[2.0, 12.0, 22.0, 34.0],
    )


def test_features_pick_the_plotted_inputs_and_midpoints_fill_the_rest() -> None:
    model = wide_model()
    xs, ys, values = decision_grid(model, features=(2, 0), resolution=4)
    X = np.vstack(model.calls)
    assert X.shape == (16, 4)
    np.testing.assert_array_equal(X[:, 2], np.tile(xs, 4))  # x fastest, as values[j, i]
    np.testing.assert_array_equal(X[:, 0], np.repeat(ys, 4))
    assert (X[:, 1] == 11.0).all() and (X[:, 3] == 32.0).all()
    assert (xs[0], xs[-1]) == pytest.approx((19.8, 22.2))
    assert (ys[0], ys[-1]) == pytest.approx((-0.2, 2.2))
    assert values.shape == (4, 4)


@pytest.mark.parametrize(
    "fixed",
    [
        {1: 5.0, 3: -1.0},
        [5.0, -1.0],  # the other features, in index order
        [99.0, 5.0, 99.0, -1.0],  # a full row; entries at `features` are ignored
        np.array([5.0, -1.0]),
    ],
)
def test_fixed_values_for_the_other_features(fixed: Any) -> None:
    model = wide_model()
    decision_grid(model, features=(0, 2), fixed=fixed, resolution=3)
    X = np.vstack(model.calls)
    assert (X[:, 1] == 5.0).all() and (X[:, 3] == -1.0).all()


def test_partial_fixed_mapping_uses_midpoints_for_the_rest() -> None:
    model = wide_model()
    decision_grid(model, fixed={3: 7.0}, resolution=3)
    X = np.vstack(model.calls)
    assert (X[:, 2] == 21.0).all() and (X[:, 3] == 7.0).all()


def test_model_without_data_bounds_needs_ranges_and_fixed() -> None:
    model = wide_model()
    del model.data_min_, model.data_max_
    with pytest.raises(ValueError, match="x_range"):
        decision_grid(model, resolution=3)
    with pytest.raises(ValueError, match="fixed must give a value for feature 3"):
        decision_grid(model, x_range=(0, 1), y_range=(0, 1), fixed={2: 0.0}, resolution=3)
    _, _, values = decision_grid(
        model, x_range=(0, 1), y_range=(0, 1), fixed=[1.0, 2.0], resolution=3
    )
    assert values.shape == (3, 3)


# ---------------------------------------------------------------------------------- chunking


@pytest.mark.parametrize("chunk_rows", [1, 7, 50, 99, 100, 101, 65536])
def test_chunking_gives_identical_results(chunk_rows: int) -> None:
    model = StubClassifier(lambda X: np.sin(3 * X[:, 0]) * X[:, 1])
    reference = decision_grid(model, nx=11, ny=9, chunk_rows=10**6)[2]
    model.calls.clear()
    values = decision_grid(model, nx=11, ny=9, chunk_rows=chunk_rows)[2]
    np.testing.assert_array_equal(values, reference)
    assert max(len(c) for c in model.calls) <= chunk_rows
    assert sum(len(c) for c in model.calls) == 99


def test_a_million_point_grid_never_passes_more_than_a_chunk() -> None:
    model = StubClassifier(lambda X: X[:, 0] - X[:, 1])
    xs, ys, values = decision_grid(model, resolution=1000)
    assert values.shape == (1000, 1000)
    assert max(len(c) for c in model.calls) <= 16384  # the default chunk_rows
    assert len(model.calls) == -(-(10**6) // 16384)
    np.testing.assert_allclose(values[0, 0], sigmoid(xs[0] - ys[0]), rtol=1e-6)


# ------------------------------------------------------------------ multiclass and regression


def test_multiclass_gives_one_probability_per_class() -> None:
    model = StubMulticlass()
    xs, ys, values = decision_grid(model, nx=6, ny=5)
    assert values.shape == (5, 6, 3) and values.dtype == np.float64
    np.testing.assert_allclose(values.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(values[2, 4], model.predict_proba(np.array([[xs[4], ys[2]]]))[0])


@pytest.mark.parametrize("outputs", [1, 2])
def test_regressor_gives_predictions_of_the_first_output(outputs: int) -> None:
    xs, ys, values = decision_grid(StubRegressor(outputs), x_range=(0, 1), y_range=(0, 2), nx=3)
    assert values.shape == (100, 3)
    np.testing.assert_allclose(values, xs[None, :] + 10 * ys[:, None])


def test_a_single_probability_column_is_taken_as_is() -> None:
    class OneColumn(StubClassifier):
        def predict_proba(self, X: Points) -> np.ndarray:
            return sigmoid(X[:, :1])

    _, _, values = decision_grid(OneColumn(), resolution=3)
    assert values.shape == (3, 3)


# -------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"resolution": 1}, "resolution"),
        ({"resolution": 0}, "resolution"),
        ({"resolution": MAX_GRID_SIDE + 1}, "resolution"),
        ({"resolution": 2.5}, "resolution"),
        ({"resolution": True}, "resolution"),
        ({"nx": 1}, "nx"),
        ({"ny": "10"}, "ny"),
        ({"chunk_rows": 0}, "chunk_rows"),
        ({"x_range": (1, 1)}, "x_range"),
        ({"x_range": (2, 1)}, "x_range"),
        ({"x_range": (float("nan"), 1)}, "x_range"),
        ({"y_range": (0, float("inf"))}, "y_range"),
        ({"y_range": (0, 1, 2)}, "y_range"),
        ({"y_range": "ab"}, "y_range"),
        ({"x_range": ("a", 1)}, "x_range"),
        ({"features": (0, 0)}, "features"),
        ({"features": (0, 4)}, "features"),
        ({"features": (-1, 1)}, "features"),
        ({"features": (0,)}, "features"),
        ({"features": "01"}, "features"),
        ({"fixed": {0: 1.0}}, "fixed"),
        ({"fixed": {9: 1.0}}, "fixed"),
        ({"fixed": {2: float("nan")}}, "fixed"),
        ({"fixed": {2: "a"}}, "fixed"),
        ({"fixed": [1.0, 2.0, 3.0]}, "fixed"),
        ({"fixed": "abcd"}, "fixed"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        decision_grid(wide_model(), **kwargs)


def test_unfitted_or_broken_models_are_reported() -> None:
    with pytest.raises(ValueError, match="model must be fitted"):
        decision_grid(object(), x_range=(0, 1), y_range=(0, 1))

    class OneFeature(StubClassifier):
        n_features_in_ = 1

    with pytest.raises(ValueError, match="at least 2"):
        decision_grid(OneFeature(n_features=1), x_range=(0, 1), y_range=(0, 1))

    class WrongRows(StubClassifier):
        def predict_proba(self, X: Points) -> np.ndarray:
            return np.zeros((len(X) + 1, 2))

    with pytest.raises(ValueError, match=r"model\.predict_proba returned shape"):
        decision_grid(WrongRows(), resolution=3)

    class NoMethods:
        n_features_in_ = 2

    with pytest.raises(ValueError, match="neither predict_proba nor predict"):
        decision_grid(NoMethods(), x_range=(0, 1), y_range=(0, 1))

    bad_bounds = StubClassifier(data_min=[0.0, np.nan], data_max=[1.0, 1.0])
    with pytest.raises(ValueError, match="data_min_"):
        decision_grid(bad_bounds)
