"""The per-sample epoch (``mlp_engine.sample_step``) trains to the very same bits as the loop
it replaced.

``reference_epoch`` below is ``sample_epoch`` as it was before the rewrite (main at ebf4b7b),
frozen: it is the specification. Both run from the same initial weights on the same rows, and
the weights after every epoch must agree byte for byte (``params.tobytes()``), for every
hidden activation, no to three hidden layers, one and several outputs of each output/loss pair,
float64 and float32, with and without per-sample weights, rows shuffled or not, and every kind
of step: plain SGD (learning rate folded into the delta), the notebook's layer-by-layer order,
momentum and Adam.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from mlp_engine import datasets
from mlp_engine.activations import ACTIVATIONS, FloatArray
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network, Workspace, sample_epoch, with_ones
from mlp_engine.optimizers import SGD, Adam
from mlp_engine.sample_step import DERIVATIVE_UFUNCS

StepFn = Callable[[FloatArray, FloatArray], None]
LR = 0.003
OUTPUT_CASES = [("sigmoid", 1), ("softmax", 3), ("identity", 1), ("identity", 2)]
HIDDEN = [(), (5,), (5, 3), (4, 6, 3)]
ROWS = 40


def reference_epoch(
    ws: Workspace,
    X1: FloatArray,
    Y: FloatArray,
    step: StepFn,
    scale: float = 1.0,
    layerwise: bool = False,
    weights: FloatArray | None = None,
) -> None:
    """``sample_epoch`` as it was (main at ebf4b7b), unchanged but for this docstring."""
    net = ws.net
    grads, gblocks = ws.grads, ws.grad_blocks
    write, derivative, blocks = ws.write_activation, net.activation.derivative, net.blocks
    rows = [buf.T for buf in ws.buffers]
    hidden = [row[:, :-1] for row in rows]
    forward = list(zip(blocks[:-1], hidden, rows, strict=True))
    backward = [
        (blocks[i], gblocks[i], ws.buffers[i - 1], net.weights[i].T, hidden[i - 1])
        for i in range(len(blocks) - 1, 0, -1)
    ]
    last, first_block, first_grad, params = blocks[-1], blocks[0], gblocks[0], net.params
    scalar_fn = net.output.scalar_fn if net.layers[-1] == 1 else None
    out_fn = net.output.fn
    delta1 = np.zeros((1, 1), dtype=net.dtype)
    targets: Sequence[Any] = Y[:, 0].tolist() if scalar_fn is not None else list(Y[:, None, :])
    scales = itertools.repeat(scale) if weights is None else (scale * weights).tolist()
    for x, x_col, y, s in zip(X1[:, None, :], X1[:, :, None], targets, scales, strict=False):
        a = x
        for block, h, buf in forward:
            write(a.dot(block), h)
            a = buf
        logits = a.dot(last)
        if scalar_fn is not None:
            delta1[0, 0] = (scalar_fn(logits.item()) - y) * s
            delta = delta1
        else:
            delta = out_fn(logits) - y
            delta *= s
        for block, grad, a_col, w_t, h in backward:
            np.dot(a_col, delta, out=grad)
            if layerwise:
                step(block, grad)
            delta = delta.dot(w_t)
            delta *= derivative(h)
        np.dot(x_col, delta, out=first_grad)
        if layerwise:
            step(first_block, first_grad)
        else:
            step(params, grads)


def _add(params: FloatArray, grads: FloatArray) -> None:
    params += grads


def _steps() -> dict[str, tuple[Callable[[], StepFn], float, bool]]:
    """Step kinds: (fresh step function, scale, layerwise)."""
    return {
        "sgd": (lambda: _add, -LR, False),
        "notebook": (lambda: _add, -LR, True),
        "momentum": (lambda: SGD(LR, momentum=0.5, nesterov=True).step, 1.0, False),
        "adam": (lambda: Adam(LR).step, 1.0, False),
    }


def _data(n_in: int, output: str, k: int, dtype: str, seed: int) -> tuple[FloatArray, FloatArray]:
    """``(X1, Y)``: ``X1: (n, n_in + 1)`` with its ones column, ``Y: (n, k)`` for ``output``."""
    rng = np.random.default_rng(seed)
    if n_in == 2:
        X, labels = datasets.make(("moons", "xor", "gaussians")[seed % 3], ROWS, seed=seed)
    else:
        X, labels = rng.normal(size=(ROWS, n_in)), rng.integers(0, 3, ROWS)
    if output == "sigmoid":
        Y = (labels % 2).astype(float)[:, None]
    elif output == "softmax":
        Y = np.eye(k)[labels % k]
    else:
        Y = rng.normal(size=(ROWS, k))
    return with_ones(X, dtype), Y.astype(dtype)


def _train(
    epoch: Callable[..., None],
    net: Network,
    data: tuple[FloatArray, FloatArray],
    kind: str,
    weights: FloatArray | None,
    shuffle: bool,
) -> list[bytes]:
    """The weights' bytes after each of three epochs run by ``epoch``."""
    make_step, scale, layerwise = _steps()[kind]
    step, ws, rng = make_step(), Workspace(net, 1), np.random.default_rng(7)
    X1, Y = data
    snapshots = []
    for _ in range(3):
        order = rng.permutation(len(X1)) if shuffle else np.arange(len(X1))
        W = None if weights is None else weights[order]
        epoch(ws, X1[order], Y[order], step, scale, layerwise, W)
        snapshots.append(net.params.tobytes())
    return snapshots


def _network(layers: tuple[int, ...], activation: str, output: str, dtype: str) -> Network:
    rng = np.random.default_rng(sum(layers))
    net = Network.initialized(layers, ACTIVATIONS[activation], OUTPUTS[output], "he", rng, dtype)
    for b in net.biases:  # nonzero biases, so the bias rows matter
        b[...] = rng.normal(0.0, 0.3, size=b.shape)
    return net


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden", HIDDEN, ids=str)
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_weights_are_bit_identical_to_the_reference_loop(
    activation: str, hidden: tuple[int, ...], dtype: str
) -> None:
    n_in = 2 if len(hidden) != 1 else 3
    cases = itertools.product(OUTPUT_CASES, (False, True), _steps())
    for seed, ((output, k), weighted, kind) in enumerate(cases):
        layers = (n_in, *hidden, k)
        data = _data(n_in, output, k, dtype, seed)
        weights = np.random.default_rng(seed).uniform(0.2, 3.0, ROWS) if weighted else None
        runs = [
            _train(
                epoch,
                _network(layers, activation, output, dtype),
                data,
                kind,
                weights,
                shuffle=seed % 2 == 1,
            )
            for epoch in (reference_epoch, sample_epoch)
        ]
        assert runs[0] == runs[1], (output, k, weighted, kind)
        finite = np.isfinite(np.frombuffer(runs[1][-1], dtype=dtype))
        assert finite.all(), ("diverged: a run of NaNs proves little", output, k, weighted, kind)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(DERIVATIVE_UFUNCS))
def test_derivative_ufuncs_equal_the_activation_derivatives(name: str, dtype: str) -> None:
    z = np.random.default_rng(3).normal(0.0, 2.0, size=(1, 200)).astype(dtype)
    z[0, :4] = [0.0, -0.0, 1e-300, -1e-300]
    a = ACTIVATIONS[name].fn(z)
    out = np.empty_like(a)
    DERIVATIVE_UFUNCS[name](a, out)
    assert out.tobytes() == ACTIVATIONS[name].derivative(a).tobytes()


@pytest.mark.parametrize("hidden", [(5,), (5, 3)], ids=str)
def test_a_new_step_or_order_is_not_served_the_kept_plan(hidden: tuple[int, ...]) -> None:
    net = _network((2, *hidden, 1), "relu", "sigmoid", "float64")
    X1, Y = _data(2, "sigmoid", 1, "float64", seed=0)
    ws, calls = Workspace(net, 1), {"a": 0, "b": 0}

    def counter(name: str) -> StepFn:
        def step(params: FloatArray, grads: FloatArray) -> None:
            calls[name] += 1

        return step

    a, b = counter("a"), counter("b")
    sample_epoch(ws, X1, Y, a, layerwise=True)
    sample_epoch(ws, X1, Y, b, layerwise=True)
    layers = len(hidden) + 1
    assert calls == {"a": len(X1) * layers, "b": len(X1) * layers}
    sample_epoch(ws, X1, Y, b)
    assert calls == {"a": len(X1) * layers, "b": len(X1) * (layers + 1)}
