"""Backward pass vs central finite differences (RELIABILITY item 14).

Every hidden activation is paired with every output/loss pair on a tiny random net (float64).
ReLU and leaky ReLU have a kink at 0, so each case checks that no hidden pre-activation is within
``KINK_MARGIN`` of it: a finite difference of step ``H`` (:mod:`helpers.gradients`) then never
crosses the kink.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers.gradients import min_abs_preactivation, numeric_gradient, relative_error

from mlp_engine.activations import ACTIVATIONS
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network, Workspace, batch_epoch, sample_epoch, with_ones

KINK_MARGIN = 1e-3
TOLERANCE = 1e-6
N_OUTPUTS = {"sigmoid": 1, "softmax": 3, "identity": 2}


def _case(activation: str, output: str, seed: int) -> tuple[Network, np.ndarray, np.ndarray]:
    """A (3, 4, 5, k) net with data whose hidden pre-activations avoid 0 by KINK_MARGIN."""
    k = N_OUTPUTS[output]
    rng = np.random.default_rng(seed)
    for _ in range(100):
        net = Network.initialized(
            (3, 4, 5, k), ACTIVATIONS[activation], OUTPUTS[output], "glorot", rng, "float64"
        )
        for b in net.biases:
            b[...] = rng.normal(0.0, 0.5, size=b.shape)
        X = rng.normal(size=(6, 3))
        if min_abs_preactivation(net, X) > KINK_MARGIN:
            break
    else:  # pragma: no cover - a seed that never avoids the kink is a test bug
        raise AssertionError("could not draw a kink-free case")
    if output == "sigmoid":
        Y = rng.integers(0, 2, size=(6, 1)).astype(float)
    elif output == "softmax":
        Y = np.eye(k)[rng.integers(0, k, size=6)]
    else:
        Y = rng.normal(size=(6, k))
    return net, X, Y


@pytest.mark.parametrize(
    ("activation", "output"), list(itertools.product(sorted(ACTIVATIONS), sorted(OUTPUTS)))
)
def test_backward_matches_finite_differences(activation: str, output: str) -> None:
    net, X, Y = _case(activation, output, seed=len(activation) * 7 + len(output))
    _, grads = net.loss_and_gradient(X, Y)
    assert relative_error(grads, numeric_gradient(net, X, Y, 0.0)) < TOLERANCE


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_l2_term_matches_finite_differences(output: str) -> None:
    net, X, Y = _case("tanh", output, seed=3)
    _, grads = net.loss_and_gradient(X, Y, l2=0.3)
    assert relative_error(grads, numeric_gradient(net, X, Y, 0.3)) < TOLERANCE
    _, plain = net.loss_and_gradient(X, Y)
    for g, p, w in zip(net.block_views(grads), net.block_views(plain), net.weights, strict=True):
        np.testing.assert_allclose(g[:-1] - p[:-1], 0.3 * w, atol=1e-12)  # weights only
        np.testing.assert_array_equal(g[-1], p[-1])  # biases are not penalised


def _away_from_zero(net: Network, margin: float = 1e-3) -> None:
    """Push every weight at least ``margin`` from 0, the kink of ``|W|``."""
    for w in net.weights:
        w[np.abs(w) < margin] = np.copysign(margin, w[np.abs(w) < margin])


@pytest.mark.parametrize("output", sorted(OUTPUTS))
@pytest.mark.parametrize(("l1", "l2"), [(0.2, 0.0), (0.2, 0.3)])
def test_l1_term_matches_finite_differences(output: str, l1: float, l2: float) -> None:
    net, X, Y = _case("tanh", output, seed=4)
    _away_from_zero(net)
    loss, grads = net.loss_and_gradient(X, Y, l2=l2, l1=l1)
    assert relative_error(grads, numeric_gradient(net, X, Y, l2, l1=l1)) < TOLERANCE
    plain_loss, plain = net.loss_and_gradient(X, Y, l2=l2)
    assert loss - plain_loss == pytest.approx(l1 * sum(np.abs(w).sum() for w in net.weights))
    for g, p, w in zip(net.block_views(grads), net.block_views(plain), net.weights, strict=True):
        np.testing.assert_allclose(g[:-1] - p[:-1], l1 * np.sign(w), atol=1e-12)  # weights
        np.testing.assert_array_equal(g[-1], p[-1])  # biases are not penalised


def test_l1_is_a_subgradient_at_zero_weights() -> None:
    net, X, Y = _case("tanh", "sigmoid", seed=4)
    net.weights[0][0, 0] = 0.0
    _, grads = net.loss_and_gradient(X, Y, l1=0.5)
    _, plain = net.loss_and_gradient(X, Y)
    assert grads[0] == plain[0]  # sign(0) = 0: a zero weight gets no push
    assert grads[1] == pytest.approx(plain[1] + 0.5 * np.sign(net.weights[0][0, 1]))


def test_zero_hidden_layers_is_logistic_regression() -> None:
    rng = np.random.default_rng(5)
    net = Network.initialized(
        (3, 1), ACTIVATIONS["relu"], OUTPUTS["sigmoid"], "glorot", rng, "float64"
    )
    X, Y = rng.normal(size=(8, 3)), rng.integers(0, 2, size=(8, 1)).astype(float)
    _, grads = net.loss_and_gradient(X, Y)
    p = 1 / (1 + np.exp(-(X @ net.weights[0] + net.biases[0])))
    np.testing.assert_allclose(grads[:3], X.T @ (p - Y)[:, 0] / 8, rtol=1e-12)
    assert relative_error(grads, numeric_gradient(net, X, Y, 0.0)) < TOLERANCE


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_training_paths_take_the_same_steps(output: str) -> None:
    """The per-sample loop, a partial batch and full batches all apply -lr * gradient."""
    net, X, Y = _case("leaky_relu", output, seed=11)
    X1, lr = with_ones(X, np.float64), 0.05

    def sgd(params: np.ndarray, grads: np.ndarray) -> None:
        params -= lr * grads

    expected = net.params.copy()
    for i in range(X.shape[0]):  # reference: one full gradient per sample, from loss_and_gradient
        reference = Network(net.layers, net.activation, net.output, "float64")
        reference.params[...] = expected
        expected -= lr * reference.loss_and_gradient(X[i : i + 1], Y[i : i + 1])[1]
    start = net.params.copy()
    sample_epoch(Workspace(net, 1), X1, Y, sgd)
    np.testing.assert_allclose(net.params, expected, rtol=1e-12, atol=1e-14)

    net.params[...] = start
    batch_epoch(Workspace(net, 4), X1, Y, sgd)  # a batch of 4, then a partial batch of 2
    reference = Network(net.layers, net.activation, net.output, "float64")
    reference.params[...] = start
    reference.params -= lr * reference.loss_and_gradient(X[:4], Y[:4])[1]
    reference.params -= lr * reference.loss_and_gradient(X[4:], Y[4:])[1]
    np.testing.assert_allclose(net.params, reference.params, rtol=1e-12, atol=1e-14)

    def add(params: np.ndarray, grads: np.ndarray) -> None:
        params += grads

    for ws, want in ((Workspace(net, 1), expected), (Workspace(net, 4), reference.params)):
        net.params[...] = start  # the plain-SGD fast route: -lr folded into the output delta
        (sample_epoch if ws.rows == 1 else batch_epoch)(ws, X1, Y, add, -lr)
        np.testing.assert_allclose(net.params, want, rtol=1e-12, atol=1e-14)


def test_workspace_logits_match_the_lean_forward_pass() -> None:
    net, X, Y = _case("sigmoid", "softmax", seed=2)
    ws = Workspace(net, 6)
    np.testing.assert_allclose(ws.forward_backward(with_ones(X, np.float64), Y), net.logits(X))
    full = ws.grads.copy()
    partial = ws.forward_backward(with_ones(X[:4], np.float64), Y[:4])  # a shorter last batch
    np.testing.assert_allclose(partial, net.logits(X[:4]))
    np.testing.assert_allclose(ws.grads, net.loss_and_gradient(X[:4], Y[:4])[1])
    assert not np.allclose(ws.grads, full)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_lean_forward_pass_in_chunks_matches_the_layer_formula(dtype: str, order: str) -> None:
    """Several chunks and a partial last one, any input memory order, either dtype."""
    rng = np.random.default_rng(5)
    net = Network.initialized(
        (3, 600, 2), ACTIVATIONS["tanh"], OUTPUTS["softmax"], "glorot", rng, dtype
    )
    X = np.asarray(rng.normal(size=(3 * 256 + 5, 3)), dtype=dtype, order=order)
    a = X
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        a = np.tanh(a @ w + b)
    expected = a @ net.weights[-1] + net.biases[-1]
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-13}
    logits = net.logits(X)  # 600 units: 256-row chunks
    assert logits.dtype == dtype and logits.shape == (773, 2) and logits.flags.c_contiguous
    np.testing.assert_allclose(logits, expected, **tol)
    np.testing.assert_allclose(net.logits(X[:7]), expected[:7], **tol)
