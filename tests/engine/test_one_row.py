"""The one-row pass (``mlp_engine.one_row``) gives the bits of the lean pass on one row.

Every hidden activation with every output, both dtypes, with and without standardisation, float64
and float32 rows: ``OneRow`` on each row must equal ``Network.predict`` of that row (the lean
pass, itself checked against the chunked reference in ``test_inference_paths``) exactly, and the
estimators must answer one row through it as their general path does. The binary
sigmoid, computed there from one logit in Python floats, is also swept over logits from -200 to
200 (the clamp at ``exp_limit`` included).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mlp_engine import MLPClassifier, MLPRegressor
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network
from mlp_engine.one_row import OneRow

SHAPES = {"sigmoid": (3, 6, 4, 1), "softmax": (3, 6, 4, 3), "identity": (3, 6, 4, 2)}


def network(activation: str, output: str, dtype: str, layers: tuple[int, ...]) -> Network:
    return Network.initialized(
        layers, ACTIVATIONS[activation], OUTPUTS[output], "he", np.random.default_rng(7), dtype
    )


def chunked(net: Network, X: np.ndarray, mean: np.ndarray | None, scale: np.ndarray | None):
    """``Network.predict`` of ``X``, standardised as the estimators do."""
    if mean is None or scale is None:
        return net.predict(X)

    def prepare(block: np.ndarray) -> np.ndarray:
        shifted = np.subtract(block, mean)
        shifted /= scale
        return shifted.astype(net.dtype, copy=False)

    return net.predict(X, prepare)


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("output", sorted(SHAPES))
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_one_row_equals_the_chunked_pass_exactly(
    activation: str, output: str, dtype: str, standardize: bool
) -> None:
    layers = SHAPES[output]
    net = network(activation, output, dtype, layers)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, layers[0])) * rng.choice([0.1, 1.0, 30.0], size=(300, 1))
    mean = rng.standard_normal(layers[0]) if standardize else None
    scale = rng.uniform(0.2, 3.0, layers[0]) if standardize else None
    row = OneRow(net, mean, scale)
    for rows in (X, X.astype(np.float32)) if dtype == "float32" else (X,):
        for i in range(rows.shape[0]):
            got = row.outputs(rows[i : i + 1])
            assert got is not None
            assert got.dtype == net.dtype and got.shape == (1, layers[-1])
            np.testing.assert_array_equal(got, chunked(net, rows[i : i + 1], mean, scale))
            if output == "sigmoid":
                proba = row.probabilities(rows[i : i + 1])
                assert proba is not None
                np.testing.assert_array_equal(proba, np.hstack([1.0 - got, got]))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_binary_sigmoid_of_one_logit_is_the_array_sigmoid(dtype: str) -> None:
    net = network("relu", "sigmoid", dtype, (1, 1))
    net.set_parameters([np.ones((1, 1))], [np.zeros(1)])  # the logit is the input
    logits = np.concatenate(
        [np.linspace(-200, 200, 40_001), np.geomspace(1e-30, 1e3, 2_000)]
    ).astype(dtype)
    logits = np.concatenate([logits, -logits])[:, None]
    row = OneRow(net, None, None)
    got = np.empty((logits.shape[0], 2), dtype=dtype)
    expected = np.empty((logits.shape[0], 1), dtype=dtype)
    for i in range(logits.shape[0]):  # one row at a time on both sides; compared at the end
        probabilities = row.probabilities(logits[i : i + 1])
        assert probabilities is not None
        got[i] = probabilities[0]
        expected[i] = net.predict(logits[i : i + 1])[0]
    np.testing.assert_array_equal(got[:, 1:], expected)
    np.testing.assert_array_equal(got[:, :1], 1.0 - expected)


def test_anything_but_a_finite_row_of_the_right_width_goes_the_general_way() -> None:
    net = network("relu", "sigmoid", "float32", (3, 4, 1))
    row = OneRow(net, None, None)
    good = np.ones((1, 3))
    assert row.outputs(good) is not None
    assert row.outputs(good.astype(np.float32)) is not None
    for bad in (
        [[1.0, 2.0, 3.0]],
        np.ones((2, 3)),
        np.ones((1, 4)),
        np.ones(3),
        np.ones((1, 3), dtype=np.float16),
        np.ones((1, 3), dtype=">f8"),
        np.array([[1.0, np.nan, 0.0]]),
        np.array([[1.0, -np.inf, 0.0]]),
        np.array([[1e300, 0.0, 0.0]]),  # its square overflows: the general path decides
    ):
        assert row.outputs(bad) is None


def test_an_overflowing_row_raises_the_general_error_without_warnings() -> None:
    X, y = np.random.default_rng(0).standard_normal((40, 2)), np.arange(40) % 3
    for model in (
        MLPClassifier(hidden_layers=(4,), epochs=2, dtype="float32").fit(X, y % 2),
        MLPClassifier(hidden_layers=(4,), epochs=2, dtype="float32").fit(X, y),
        MLPRegressor(hidden_layers=(4,), epochs=2, dtype="float32").fit(X, X[:, 0]),
    ):
        model._network().params[:] = 1e30  # 1e40 - 1e40 overflows to inf - inf = NaN
        huge = np.array([[1e10, -1e10]], dtype=np.float32)  # its square is finite
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match="overflowed"):
                model.predict(huge)
            if isinstance(model, MLPClassifier):
                with pytest.raises(ValueError, match="overflowed"):
                    model.predict_proba(huge)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_estimators_answer_one_row_as_their_general_path(dtype: str) -> None:
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((120, 4)), np.arange(120) % 3
    models = [
        MLPClassifier(hidden_layers=(8,), epochs=3, dtype=dtype).fit(X, y % 2),
        MLPClassifier(hidden_layers=(8, 5), epochs=3, dtype=dtype, activation="tanh").fit(X, y),
        MLPRegressor(hidden_layers=(8,), epochs=3, dtype=dtype, standardize=False).fit(X, X[:, :2]),
    ]
    for model in models:
        for i in range(0, 120, 7):
            one = X[i : i + 1]
            general = model._lean_forward(one)
            if isinstance(model, MLPClassifier):
                binary = general.shape[1] == 1
                proba = np.hstack([1.0 - general, general]) if binary else general
                np.testing.assert_array_equal(model.predict_proba(one), proba)
                np.testing.assert_array_equal(model.predict(one), model.classes_[proba.argmax(1)])
            else:
                np.testing.assert_array_equal(model.predict(one), general)
