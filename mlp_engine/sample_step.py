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
from collections.abc import Callable, Iterator, Sequence
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


class _Plan:
    """One sample's step for ``ws.net``: kept buffers, and the step as lists of prepared calls.

    With hidden sizes ``n_1 .. n_H``: ``row: (1, sum(n_j + 1))`` holds ``[h_1, 1, ..., h_H, 1]``,
    so hidden layer j's activation with its one (layer j + 1's input) is a contiguous row
    ``rows[j]: (1, n_j + 1)``, and a column ``cols[j]: (n_j + 1, 1)`` for its gradient product;
    ``hidden[j]: (1, n_j)`` is the activation alone. ``slopes[j]: (1, n_j)`` are views of one
    buffer that receives the derivative of all hidden layers at once (``derive()``);
    ``deltas[i]: (1, layers[i + 1])`` is layer i's delta (the last one the output delta),
    ``logits: (1, layers[-1])``. ``forward`` and ``backward`` are the step's calls that do not
    involve the sample's own row ``x`` (which stay in the loop: the first product, into
    ``outs[0]``, and the first gradient), for any depth.
    """

    def __init__(self, ws: Workspace, step: StepFn, layerwise: bool) -> None:
        net, self.step, self.layerwise = ws.net, step, layerwise
        sizes, dtype = net.layers[1:-1], net.dtype
        self.relu = net.activation.name == "relu"
        row = np.ones((1, sum(n + 1 for n in sizes)), dtype=dtype)
        starts = list(itertools.accumulate((n + 1 for n in sizes), initial=0))
        self.rows = [row[:, s : s + n + 1] for s, n in zip(starts, sizes, strict=False)]
        self.cols = [r.T for r in self.rows]
        self.hidden = [r[:, :-1] for r in self.rows]
        self.zeros = [np.zeros_like(h) for h in self.hidden]  # ReLU's kept row of zeros
        slopes = np.empty((1, max(row.shape[1] - 1, 0)), dtype=dtype)
        self.slopes = [slopes[:, s : s + n] for s, n in zip(starts, sizes, strict=False)]
        self.deltas = [np.empty((1, n), dtype=dtype) for n in net.layers[1:]]
        self.logits = np.empty((1, net.layers[-1]), dtype=dtype)
        self.outs = [*self.hidden, self.logits]  # each layer's output
        self.derive = self._derive(ws, row[:, :-1], slopes)
        self.forward: list[Callable[[], object]] = []
        for i, activate in enumerate(self.activations(ws)):
            product = functools.partial(self.rows[i].dot, net.blocks[i + 1], self.outs[i + 1])
            self.forward += [activate, product]
        self.backward: list[Callable[[], object]] = []
        for i in range(len(net.blocks) - 1, 0, -1):
            delta, below, grad = self.deltas[i], self.deltas[i - 1], ws.grad_blocks[i]
            self.backward.append(functools.partial(self.cols[i - 1].dot, delta, grad))
            if layerwise:  # before the delta below reads weights[i]: the notebook's order
                self.backward.append(functools.partial(step, net.blocks[i], grad))
            self.backward += [
                functools.partial(delta.dot, net.weights[i].T, below),
                functools.partial(np.multiply, below, self.slopes[i - 1], below),
            ]

    def activations(self, ws: Workspace) -> list[Callable[[], object]]:
        """Per hidden layer, a call applying the activation to ``hidden[j]`` in place."""
        if self.relu:
            return [
                functools.partial(np.maximum, h, zero, out=h)
                for h, zero in zip(self.hidden, self.zeros, strict=True)
            ]
        return [functools.partial(ws.write_activation, h, h) for h in self.hidden]

    @staticmethod
    def _derive(ws: Workspace, activations: FloatArray, out: FloatArray) -> Callable[[], object]:
        """A call writing the derivative of ``activations`` into ``out`` (the ones between the
        layers get a slope nobody reads)."""
        if activations.size == 0:
            return _nothing
        ufunc = DERIVATIVE_UFUNCS.get(ws.net.activation.name)
        if ufunc is not None:
            return functools.partial(ufunc, activations, out)
        return functools.partial(_write_derivative, ws.net.activation.derivative, activations, out)


Samples = Iterator[tuple[FloatArray, FloatArray, Any, float]]
"""Per sample: its row ``(1, layers[0] + 1)``, the same as a column, its target (a float for
one output unit, else a ``(1, layers[-1])`` row) and its step's scale."""


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

    Two hidden layers (the notebook's network, and the default) run a loop written out for
    them: the loop over prepared calls costs 1.5 us of the 12 per step (measured).
    """
    plan = ws.sample_plan
    if not isinstance(plan, _Plan) or plan.step != step or plan.layerwise != layerwise:
        plan = ws.sample_plan = _Plan(ws, step, layerwise)
    scalar = ws.net.output.scalar_fn is not None and ws.net.layers[-1] == 1
    targets: Sequence[Any] = Y[:, 0].tolist() if scalar else list(Y[:, None, :])
    scales = itertools.repeat(scale) if weights is None else (scale * weights).tolist()
    samples = zip(X1[:, None, :], X1[:, :, None], targets, scales, strict=False)
    if len(plan.hidden) == 2:
        _two_hidden(ws, plan, samples, step, layerwise)
    else:
        _any_depth(ws, plan, samples, step, layerwise)


def _output_delta(ws: Workspace, plan: _Plan) -> Callable[[Any, float], None]:
    """``(y, s) -> None``: writes ``s * (output(logits) - y)`` into the output delta (used
    for several output units; one unit is done in line with Python floats)."""
    out_fn, logits, delta = ws.net.output.fn, plan.logits, plan.deltas[-1]

    def write(y: Any, s: float) -> None:
        np.subtract(out_fn(logits), y, delta)
        np.multiply(delta, s, delta)

    return write


def _any_depth(ws: Workspace, plan: _Plan, samples: Samples, step: StepFn, layerwise: bool) -> None:
    """``sample_epoch``'s loop over the plan's prepared calls, for any depth."""
    net = ws.net
    forward, backward, derive, logits = plan.forward, plan.backward, plan.derive, plan.logits
    first, first_out, first_grad = net.blocks[0], plan.outs[0], ws.grad_blocks[0]
    params, grads, delta, first_delta = net.params, ws.grads, plan.deltas[-1], plan.deltas[0]
    scalar_fn = net.output.scalar_fn if net.layers[-1] == 1 else None
    output_delta = _output_delta(ws, plan)
    for x, x_col, y, s in samples:
        x.dot(first, first_out)
        for call in forward:
            call()
        if scalar_fn is not None:
            delta[0, 0] = (scalar_fn(logits.item()) - y) * s
        else:
            output_delta(y, s)
        derive()
        for call in backward:
            call()
        x_col.dot(first_delta, first_grad)
        if layerwise:
            step(first, first_grad)
        else:
            step(params, grads)


def _two_hidden(
    ws: Workspace, plan: _Plan, samples: Samples, step: StepFn, layerwise: bool
) -> None:
    """``sample_epoch``'s loop for two hidden layers, the same calls as ``_any_depth`` made
    in line."""
    net = ws.net
    (b0, b1, b2), (g0, g1, g2) = net.blocks, ws.grad_blocks
    (h0, h1), (z0, z1), (r0, r1), (c0, c1) = plan.hidden, plan.zeros, plan.rows, plan.cols
    (s0, s1), (d0, d1, delta) = plan.slopes, plan.deltas
    w1t, w2t, logits, derive = net.weights[1].T, net.weights[2].T, plan.logits, plan.derive
    params, grads, relu, write = net.params, ws.grads, plan.relu, ws.write_activation
    maximum, multiply = np.maximum, np.multiply
    scalar_fn = net.output.scalar_fn if net.layers[-1] == 1 else None
    output_delta = _output_delta(ws, plan)
    for x, x_col, y, s in samples:
        x.dot(b0, h0)
        if relu:
            maximum(h0, z0, out=h0)
            r0.dot(b1, h1)
            maximum(h1, z1, out=h1)
        else:
            write(h0, h0)
            r0.dot(b1, h1)
            write(h1, h1)
        r1.dot(b2, logits)
        if scalar_fn is not None:
            delta[0, 0] = (scalar_fn(logits.item()) - y) * s
        else:
            output_delta(y, s)
        derive()
        c1.dot(delta, g2)
        if layerwise:
            step(b2, g2)  # before the next line reads w2t: the notebook's order
        delta.dot(w2t, d1)
        multiply(d1, s1, d1)
        c0.dot(d1, g1)
        if layerwise:
            step(b1, g1)
        d1.dot(w1t, d0)
        multiply(d0, s0, d0)
        x_col.dot(d0, g0)
        if layerwise:
            step(b0, g0)
        else:
            step(params, grads)
