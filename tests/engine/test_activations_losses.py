"""Activation and output/loss tables: values, derivatives, dtypes, stability at |z| = 1000."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mlp_engine.activations import ACTIVATIONS, Activation
from mlp_engine.losses import LOSSES, OUTPUTS
from mlp_engine.network import Network

BIG = 1000.0
# Overflow, 0/0 and log(0) would be bugs; underflow to 0 (exp(-1000)) is the right answer.
STRICT = {"over": "raise", "divide": "raise", "invalid": "raise", "under": "ignore"}


def test_registries_hold_the_documented_names() -> None:
    assert set(ACTIVATIONS) == {"relu", "leaky_relu", "tanh", "sigmoid", "identity"}
    assert {name: out.loss_name for name, out in OUTPUTS.items()} == {
        "sigmoid": "binary_cross_entropy",
        "softmax": "cross_entropy",
        "identity": "squared_error",
    }
    assert all(LOSSES[out.loss_name] is out for out in OUTPUTS.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ACTIVATIONS["relu"].name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_finite_differences(name: str) -> None:
    act = ACTIVATIONS[name]
    z = np.array([-3.0, -1.2, -0.3, 0.4, 0.9, 2.5])  # away from the ReLU kink
    h = 1e-6
    numeric = (act.fn(z + h) - act.fn(z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(act.fn(z)), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_keeps_shape_and_dtype(name: str, dtype: type) -> None:
    act: Activation = ACTIVATIONS[name]
    z = np.linspace(-3, 3, 12, dtype=dtype).reshape(3, 4)
    a = act.fn(z)
    assert a.shape == z.shape and a.dtype == z.dtype
    assert act.derivative(a).dtype == z.dtype


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_writer_matches_fn(name: str) -> None:
    act = ACTIVATIONS[name]
    z = np.linspace(-3, 3, 12).reshape(3, 4)
    buffer = np.ones((3, 5))
    act.writer()(z, buffer[:, :-1])  # a strided view, as in the training passes
    np.testing.assert_array_equal(buffer[:, :-1], act.fn(z))
    np.testing.assert_array_equal(buffer[:, -1], 1.0)


def test_relu_matches_the_notebook_at_zero() -> None:
    relu = ACTIVATIONS["relu"]
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(relu.fn(z), np.where(z > 0, z, 0))
    np.testing.assert_array_equal(relu.derivative(relu.fn(z)), np.where(z > 0, 1, 0))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_are_finite_at_big_inputs_without_warnings(name: str) -> None:
    z = np.array([-BIG, BIG])
    with np.errstate(**STRICT):
        a = ACTIVATIONS[name].fn(z)
        d = ACTIVATIONS[name].derivative(a)
    assert np.isfinite(a).all() and np.isfinite(d).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_accurate_everywhere_and_finite_at_the_extremes(dtype: type) -> None:
    sigmoid = ACTIVATIONS["sigmoid"].fn
    with np.errstate(**STRICT):
        p = sigmoid(np.array([-np.inf, -BIG, 0.0, BIG, np.inf], dtype=dtype))
    assert p.dtype == dtype
    assert 0.0 < p[0] == p[1] < np.finfo(dtype).tiny * 2 and p[2] == 0.5  # ~exp(-limit)
    assert p[3] == 1.0 and p[4] == 1.0
    z = np.linspace(-700, 700, 14001)  # relative accuracy, tiny probabilities included
    exact = np.where(
        z >= 0, 1 / (1 + np.exp(-np.abs(z))), np.exp(-np.abs(z)) / (1 + np.exp(-np.abs(z)))
    )
    np.testing.assert_allclose(sigmoid(z), exact, rtol=1e-14)


def _targets(name: str, z: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    n, k = z.shape
    if name == "sigmoid":
        return rng.integers(0, 2, size=(n, 1)).astype(float)
    if name == "softmax":
        return np.eye(k)[rng.integers(0, k, size=n)]
    return rng.normal(size=(n, k))


@pytest.mark.parametrize(("name", "k"), [("sigmoid", 1), ("softmax", 4), ("identity", 2)])
def test_loss_gradient_wrt_logits_is_prediction_minus_target(name: str, k: int) -> None:
    out = OUTPUTS[name]
    z = np.random.default_rng(0).normal(size=(5, k))
    y = _targets(name, z)
    h = 1e-6
    numeric = np.zeros_like(z)
    for idx in np.ndindex(*z.shape):
        step = np.zeros_like(z)
        step[idx] = h
        numeric[idx] = (out.loss(z + step, y) - out.loss(z - step, y)) / (2 * h)
    np.testing.assert_allclose((out.fn(z) - y) / z.shape[0], numeric, rtol=1e-6, atol=1e-10)


def test_loss_values_match_the_textbook_formulas() -> None:
    z = np.array([[-2.0], [0.5], [3.0]])
    y = np.array([[0.0], [1.0], [1.0]])
    p = 1 / (1 + np.exp(-z))
    bce = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert OUTPUTS["sigmoid"].loss(z, y) == pytest.approx(bce, rel=1e-12)
    z3 = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    y3 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    p3 = np.exp(z3) / np.exp(z3).sum(axis=1, keepdims=True)
    assert OUTPUTS["softmax"].loss(z3, y3) == pytest.approx(-np.mean(np.log(p3[y3 == 1])))
    assert OUTPUTS["identity"].loss(z3, y3) == pytest.approx(0.5 * np.sum((z3 - y3) ** 2) / 2)


@pytest.mark.parametrize(("name", "k"), [("sigmoid", 1), ("softmax", 3), ("identity", 1)])
def test_losses_and_deltas_are_finite_at_logits_of_1000(name: str, k: int) -> None:
    out = OUTPUTS[name]
    z = np.array([[BIG] * k, [-BIG] * k, [BIG] + [-BIG] * (k - 1)])
    for y in (np.zeros_like(z), np.ones_like(z), _targets(name, z)):
        with np.errstate(**STRICT):
            loss = out.loss(z, y)
            delta = out.fn(z) - y
        assert np.isfinite(loss) and np.isfinite(delta).all()
    if name == "sigmoid":  # confidently wrong costs |z|, confidently right costs nothing
        assert out.loss(np.array([[BIG]]), np.array([[0.0]])) == pytest.approx(BIG)
        assert out.loss(np.array([[-BIG]]), np.array([[0.0]])) == 0.0


def test_softmax_rows_sum_to_one_even_at_extreme_logits() -> None:
    z = np.array([[BIG, -BIG, 0.0], [BIG, BIG, BIG], [-BIG, -BIG, -BIG + 1]])
    with np.errstate(**STRICT):
        p = OUTPUTS["softmax"].fn(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize(("name", "k"), [("sigmoid", 1), ("softmax", 3), ("identity", 1)])
def test_network_gradients_are_finite_when_logits_reach_1000(name: str, k: int) -> None:
    net = Network.initialized(
        (2, 3, k), ACTIVATIONS["tanh"], OUTPUTS[name], "he", np.random.default_rng(0), "float64"
    )
    net.weights[-1][...] = BIG  # tanh saturates at +-1, so |logits| reach ~3000
    X = np.array([[3.0, -2.0], [-3.0, 2.0]])
    Y = np.zeros((2, k))
    Y[:, 0] = 1.0
    with np.errstate(**STRICT):
        logits = net.logits(X)
        loss, grads = net.loss_and_gradient(X, Y)
    assert np.abs(logits).max() > BIG
    assert np.isfinite(loss) and np.isfinite(grads).all()


@pytest.mark.parametrize("shape", [(3, 5), (5, 1500), (2, 1024)])
def test_chunk_writers_equal_the_activation(shape: tuple[int, int]) -> None:
    """The lean pass's writers (relu keeps a row of zeros for long rows) compute ``fn``."""
    z = np.random.default_rng(0).normal(size=shape)
    for activation in ACTIVATIONS.values():
        write = activation.chunk_writer()
        for rows in (z, z[:, : shape[1] - 1], z.astype(np.float32)):  # another length and dtype
            out = np.empty_like(rows)
            write(rows, out)
            np.testing.assert_array_equal(out, activation.fn(rows))
