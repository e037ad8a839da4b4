"""The per-sample training epoch (``batch_size=1``, the notebook's loop): the measured hot path.

At this size (the notebook's (2, 5, 3, 1) network) a step is some fifteen NumPy calls of
about half a microsecond each, almost all of it call overhead, so the step is written to make
each call cheaper without changing any arithmetic (every product is the same BLAS call on
operands of the same shapes and layouts, every ufunc the same one, so the weights are
bit-identical to the plain loop's; ``tests/engine/test_sample_step.py`` keeps that loop and
checks it):

- products write into preallocated buffers through ``ndarray.dot``'s positional ``out``
  (cheaper than a fresh result; the ``out=`` keyword and ``np.dot`` cost more);
- each hidden layer's activation is applied in place (ReLU against a kept row of zeros: NumPy's
  ``maximum`` with the scalar 0 takes a slow broadcasting loop);
- the hidden activations sit one after the other, with their ones, in one row, so the
  activation derivative of every hidden layer is one call per sample instead of one per layer
  (it depends on the activations only, not on the weights, so the notebook's order allows it).

Measured and *not* kept: a block-diagonal parameter matrix whose gradients and update are one
outer product and one add for all layers. The products on its strided blocks take NumPy's
copying path (the matrix-vector product needs a one-segment matrix): +0.4 us per product, more
than the two calls saved.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlp_engine.activations import FloatArray

if TYPE_CHECKING:
    from mlp_engine.network import Workspace

__all__ = ["sample_epoch"]

StepFn = Callable[[FloatArray, FloatArray], None]

DERIVATIVE_UFUNCS: dict[str, np.ufunc] = {"relu": np.sign}
"""Hidden activations whose derivative (as a function of the activation) is one ufunc, which
can then write into a kept buffer; each must equal ``ACTIVATIONS[name].derivative`` bit for bit
(a test checks it). Other activations write ``derivative(a)`` into the buffer."""


def _write_derivative(
    derivative: Callable[[FloatArray], FloatArray], a: FloatArray, out: FloatArray
) -> None:
    """``out[...] = derivative(a)``."""
    out[...] = derivative(a)


def _nothing() -> None:
    """The derivative step of a network without hidden layers."""


class _Buffers:
    """One sample's workspace for ``ws.net``, with hidden sizes ``n_1 .. n_H``.

    ``row: (1, sum(n_j + 1))`` holds ``[h_1, 1, h_2, 1, ..., h_H, 1]``; ``rows[j]: (1, n_j + 1)``
    and ``cols[j]: (n_j + 1, 1)`` are hidden layer j's activation with its one (the input of
    layer j + 1) as a row and as a column, ``hidden[j]: (1, n_j)`` the activation alone.
    ``slopes[j]: (1, n_j)`` receive its derivative, ``deltas[j]: (1, n_j)`` its delta;
    ``logits: (1, layers[-1])``.
    """

    def __init__(self, ws: Workspace) -> None:
        net = ws.net
        sizes, dtype = net.layers[1:-1], net.dtype
        self.row = np.ones((1, sum(n + 1 for n in sizes)), dtype=dtype)
        starts = list(itertools.accumulate((n + 1 for n in sizes), initial=0))
        self.rows = [self.row[:, s : s + n + 1] for s, n in zip(starts, sizes, strict=False)]
        self.cols = [r.reshape(-1, 1) for r in self.rows]
        self.hidden = [r[:, :-1] for r in self.rows]
        slopes = np.empty((1, max(self.row.shape[1] - 1, 0)), dtype=dtype)
        self.slopes = [slopes[:, s : s + n] for s, n in zip(starts, sizes, strict=False)]
        self.deltas = [np.empty((1, n), dtype=dtype) for n in sizes]
        self.logits = np.empty((1, net.layers[-1]), dtype=dtype)
        self.derive: Callable[[], object] = _nothing
        if sizes:
            activations = self.row[:, :-1]  # the ones in between get a slope nobody reads
            ufunc = DERIVATIVE_UFUNCS.get(net.activation.name)
            if ufunc is not None:
                self.derive = functools.partial(ufunc, activations, slopes)
            else:
                derivative = net.activation.derivative
                self.derive = functools.partial(_write_derivative, derivative, activations, slopes)

    def activations(self, ws: Workspace) -> list[Callable[[], object]]:
        """Per hidden layer, a call applying the activation to ``hidden[j]`` in place."""
        if ws.net.activation.name == "relu":
            return [functools.partial(np.maximum, h, np.zeros_like(h), out=h) for h in self.hidden]
        write = ws.write_activation
        return [functools.partial(write, h, h) for h in self.hidden]


def sample_epoch(
    ws: Workspace,
    X1: FloatArray,
    Y: FloatArray,
    step: StepFn,
    scale: float = 1.0,
    layerwise: bool = False,
    weights: FloatArray | None = None,
) -> None:
    """One epoch of per-sample training (batch_size=1, the notebook's loop): the hot path.

    Same contract as ``batch_epoch`` with ``ws.rows == 1``, and the same arithmetic as
    ``Workspace.forward_backward`` with one row, written out flat (see the module docstring);
    a single output unit is handled with Python floats. ``X1: (n, layers[0] + 1)`` inputs with
    a trailing ones column, ``Y: (n, layers[-1])``, ``weights: (n,)`` or None.

    ``layerwise=True`` is the notebook's ``backwardn`` order: ``step(block, grad_block)`` runs on
    each layer, from the output down, as soon as its gradient is computed, and the delta of the
    layer below is then propagated through the updated weights (``weights[i].T`` are live
    views of ``params``). Otherwise ``step(params, grads)`` runs once per sample after the whole
    backward pass (the true gradient). ``weights: (n,)`` multiplies each sample's step.
    """
    net, buf = ws.net, _Buffers(ws)
    blocks, gblocks = net.blocks, ws.grad_blocks
    forward = list(zip(blocks[:-1], buf.hidden, buf.rows, buf.activations(ws), strict=True))
    backward = [
        (blocks[i], gblocks[i], buf.cols[i - 1], net.weights[i].T, buf.deltas[i - 1])
        for i in range(len(blocks) - 1, 0, -1)
    ]
    slopes = buf.slopes[::-1]
    last, first_block, first_grad = blocks[-1], blocks[0], gblocks[0]
    params, grads = net.params, ws.grads
    scalar_fn = net.output.scalar_fn if net.layers[-1] == 1 else None
    out_fn, logits, derive, multiply = net.output.fn, buf.logits, buf.derive, np.multiply
    delta1 = np.zeros((1, 1), dtype=net.dtype)
    targets: Sequence[Any] = Y[:, 0].tolist() if scalar_fn is not None else list(Y[:, None, :])
    scales = itertools.repeat(scale) if weights is None else (scale * weights).tolist()
    for x, x_col, y, s in zip(X1[:, None, :], X1[:, :, None], targets, scales, strict=False):
        a = x
        for block, h, row, activate in forward:
            a.dot(block, h)
            activate()
            a = row
        a.dot(last, logits)
        if scalar_fn is not None:
            delta1[0, 0] = (scalar_fn(logits.item()) - y) * s
            delta = delta1
        else:
            delta = out_fn(logits) - y
            delta *= s
        derive()
        for (block, grad, a_col, w_t, d), slope in zip(backward, slopes, strict=True):
            a_col.dot(delta, grad)
            if layerwise:
                step(block, grad)  # before the next line reads w_t: the notebook's order
            delta.dot(w_t, d)
            multiply(d, slope, d)
            delta = d
        x_col.dot(delta, first_grad)
        if layerwise:
            step(first_block, first_grad)
        else:
            step(params, grads)
