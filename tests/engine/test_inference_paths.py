"""The lean forward pass's special paths give the values of the general computation.

``REFERENCE`` is the chunked computation as it was before the paths were added (transposed
chunks, one buffer per layer, ``+= bias``, the chunk writer, the output activation on the rows):
the one-row path, the output activation applied per chunk (softmax on columns), the per-chunk
standardisation and the float32 input path must reproduce it bit for bit; the float32 network
must agree with the same weights in float64 to float32 precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlp_engine import MLPClassifier, MLPRegressor
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.losses import OUTPUTS, softmax
from mlp_engine.network import Network, softmax_columns


def chunk_rows(net: Network) -> int:
    """The lean pass's rows per chunk."""
    return max(256, (1 << 15) // max(net.layers))


def reference_logits(net: Network, X: Any, rows: int | None = None) -> np.ndarray:
    """The chunked lean pass as first written, chunks of ``rows`` rows (default: its own)."""
    X = np.asarray(X, dtype=net.dtype)
    n = X.shape[0]
    rows = min(n, chunk_rows(net) if rows is None else rows)
    layers = [
        (w.T, b[:, None], np.empty((w.shape[1], rows), dtype=net.dtype))
        for w, b in zip(net.weights, net.biases, strict=True)
    ]
    write = net.activation.chunk_writer()
    result = np.empty((n, net.layers[-1]), dtype=net.dtype)
    for start in range(0, n, rows):
        a = X[start : start + rows].T
        full = a.shape[1] == rows
        for i, (w_t, b_col, buffer) in enumerate(layers):
            z = np.dot(w_t, a, out=buffer) if full else w_t.dot(a)
            z += b_col
            if i < len(layers) - 1:
                write(z, z)
            a = z
        result[start : start + rows] = a.T
    return result


def network(layers: tuple[int, ...], activation: str, output: str, dtype: str) -> Network:
    return Network.initialized(
        layers, ACTIVATIONS[activation], OUTPUTS[output], "he", np.random.default_rng(3), dtype
    )


CASES = [
    ((2, 5, 3, 1), "relu", "sigmoid"),
    ((4, 16, 3), "tanh", "softmax"),
    ((6, 8, 8, 10), "relu", "softmax"),
    ((3, 7, 2), "leaky_relu", "identity"),
    ((5, 300, 4), "sigmoid", "softmax"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("layers", "activation", "output"), CASES)
def test_one_row_and_chunks_equal_the_reference_exactly(
    layers: tuple[int, ...], activation: str, output: str, dtype: str
) -> None:
    net = network(layers, activation, output, dtype)
    X = np.random.default_rng(0).standard_normal((700, layers[0])) * 3
    rows = chunk_rows(net)
    expected = reference_logits(net, X, rows)
    np.testing.assert_array_equal(net.logits(X), expected)
    np.testing.assert_array_equal(net.predict(X), net.output.fn(expected))
    for i in (0, 1, 699):
        one = X[i : i + 1]
        assert net.predict(one).shape == (1, layers[-1])
        np.testing.assert_array_equal(net.logits(one), reference_logits(net, one, rows))
        np.testing.assert_array_equal(
            net.predict(one), net.output.fn(reference_logits(net, one, rows))
        )


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_softmax_columns_is_softmax_bit_for_bit_below_8_classes(k: int) -> None:
    z = np.random.default_rng(k).standard_normal((500, k)) * 30
    for dtype in (np.float64, np.float32):
        rows = z.astype(dtype)
        np.testing.assert_array_equal(softmax_columns(rows.T.copy()).T, softmax(rows))


def fitted(dtype: str, estimator: type = MLPClassifier, **kw: Any) -> Any:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 3)) * [1.0, 50.0, 0.01] + [0.0, 7.0, -3.0]
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 7) if estimator is MLPClassifier else X[:, 0]
    return estimator(hidden_layers=(8, 4), epochs=3, dtype=dtype, seed=0, **kw).fit(X, y)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("estimator", [MLPClassifier, MLPRegressor])
def test_standardised_predictions_equal_prepare_then_predict(dtype: str, estimator: type) -> None:
    model = fitted(dtype, estimator)
    X = np.random.default_rng(2).standard_normal((1000, 3)) * 10
    net = model._network()
    expected = net.output.fn(reference_logits(net, model._prepare(X)))
    out = model.predict_proba(X) if estimator is MLPClassifier else model.predict(X)
    if estimator is MLPClassifier:
        np.testing.assert_array_equal(out, expected)
        one = net.output.fn(reference_logits(net, model._prepare(X[3:4])))
        np.testing.assert_array_equal(model.predict_proba(X[3:4]), one)
    else:
        np.testing.assert_array_equal(out, expected[:, 0])


def test_float32_input_takes_the_float32_path_with_the_same_values() -> None:
    model = fitted("float32")
    X32 = np.random.default_rng(4).standard_normal((900, 3)).astype(np.float32) * 5
    out = model.predict_proba(X32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, model.predict_proba(X32.astype(np.float64)))
    np.testing.assert_array_equal(
        model.predict_proba(X32[:1]), model.predict_proba(X32[:1].astype(np.float64))
    )


def test_float32_network_agrees_with_float64_to_float32_precision() -> None:
    model = fitted("float32")
    net32 = model._network()
    net64 = Network(net32.layers, net32.activation, net32.output, "float64")
    net64.params[...] = net32.params
    X = np.random.default_rng(5).standard_normal((2000, 3))
    prepared = model._prepare(X).astype(np.float64)
    np.testing.assert_allclose(
        model.predict_proba(X), net64.predict(prepared), rtol=2e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        model.predict_proba(X[:1]), net64.predict(prepared[:1]), rtol=2e-5, atol=1e-6
    )


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([[1.0, np.nan, 2.0]], dtype=np.float32), "NaN or infinity"),
        (np.ones((2, 4), dtype=np.float32), "expects 3"),
        (np.ones((0, 3), dtype=np.float32), "non-empty"),
        (np.ones(3, dtype=np.float32), "2-D"),
    ],
)
def test_bad_float32_input_is_refused_as_before(X: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fitted("float32").predict_proba(X)
