"""The network: parameters in one flat vector, forward and backward passes, training epochs.

Layout. Layer ``i`` (``i = 0 .. L-1``) maps ``layers[i]`` units to ``layers[i+1]`` units and owns
one *block* ``(layers[i] + 1, layers[i+1])`` of the flat vector ``params: (n_parameters,)``: its
first ``layers[i]`` rows are the weights ``W[i]`` and its last row is the bias ``b[i]``, so

    z = a @ W[i] + b[i] = [a, 1] @ block[i]

``weights`` / ``biases`` / ``blocks`` are views into ``params``: an optimizer updates every layer
with a few vectorised operations on ``params``, and the views always show the live values. The
training passes keep each layer's input with a trailing column of ones (``[a, 1]``), so a layer's
forward is one matrix product and its weight-and-bias gradient is another (``[a, 1].T @ delta``).

Two passes: a lean one for prediction (``Network.logits``, in bounded-memory chunks) and a caching
one for training (``Workspace.forward_backward``, which keeps each layer's activations for the
backward pass). ``batch_size=1`` (the notebook's per-sample SGD) has its own loop,
``sample_epoch`` (in ``mlp_engine.sample_step``, re-exported here); it and ``batch_epoch``
preallocate their buffers and work in place because they are the measured hot paths.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlp_engine.activations import Activation, FloatArray
from mlp_engine.losses import Output
from mlp_engine.one_row import OneRow
from mlp_engine.sample_step import sample_epoch

__all__ = [
    "INITS",
    "GradientTransform",
    "Network",
    "Workspace",
    "batch_epoch",
    "sample_epoch",
]

Initializer = Callable[[np.random.Generator, int, int], tuple[FloatArray, FloatArray]]
"""``(rng, fan_in, fan_out) -> (W: (fan_in, fan_out), b: (fan_out,))``, float64 draws."""
StepFn = Callable[[FloatArray, FloatArray], None]
Prepare = Callable[[FloatArray], FloatArray]
"""Maps a block of input rows ``(m, d)`` to the network's input ``(m, layers[0])`` in its dtype."""

_CHUNK_ELEMENTS = 1 << 15
"""Rows per chunk in the lean forward pass are chosen so one layer's output has about this many
elements (256 KiB in float64), at least ``_MIN_CHUNK_ROWS``: memory stays bounded whatever the
number of rows, and the buffers stay small enough to be cheap to allocate and cache-resident."""
_MIN_CHUNK_ROWS = 256
"""Fewer rows per chunk would make the matrix products of wide layers inefficient."""


def init_notebook(
    rng: np.random.Generator, fan_in: int, fan_out: int
) -> tuple[FloatArray, FloatArray]:
    """The notebook's ``init_model``: W then b, both normal(0, 0.1); W: (fan_in, fan_out)."""
    weights = rng.normal(0.0, 0.1, size=(fan_in, fan_out))
    bias = rng.normal(0.0, 0.1, size=fan_out)
    return weights, bias


def init_he(rng: np.random.Generator, fan_in: int, fan_out: int) -> tuple[FloatArray, FloatArray]:
    """He normal: W ~ normal(0, sqrt(2 / fan_in)), zero biases."""
    weights = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
    return weights, np.zeros(fan_out)


def init_glorot(
    rng: np.random.Generator, fan_in: int, fan_out: int
) -> tuple[FloatArray, FloatArray]:
    """Glorot (Xavier) uniform: W ~ U(-l, l), l = sqrt(6 / (fan_in + fan_out)), zero biases."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    weights = rng.uniform(-limit, limit, size=(fan_in, fan_out))
    return weights, np.zeros(fan_out)


INITS: dict[str, Initializer] = {
    "notebook": init_notebook,
    "he": init_he,
    "glorot": init_glorot,
}
"""Weight initialisations by public name. Draws are float64 (then cast), layer by layer."""


class Network:
    """An MLP's parameters and its lean forward pass.

    Attributes:
        layers: units per layer including input and output, e.g. ``(2, 5, 3, 1)``.
        activation: hidden-layer activation; output: output activation paired with its loss.
        params: ``(n_parameters,)`` every weight and bias.
        blocks: ``blocks[i]: (layers[i] + 1, layers[i+1])`` views of ``params``.
        weights: ``weights[i]: (layers[i], layers[i+1])`` views; biases: ``(layers[i+1],)`` views.
    """

    def __init__(
        self, layers: Sequence[int], activation: Activation, output: Output, dtype: Any
    ) -> None:
        self.layers = tuple(int(n) for n in layers)
        self.activation = activation
        self.output = output
        self.dtype = np.dtype(dtype)
        sizes = [(n_in + 1) * n_out for n_in, n_out in itertools.pairwise(self.layers)]
        self.params: FloatArray = np.zeros(sum(sizes), dtype=self.dtype)
        self.blocks = self.block_views(self.params)
        self.weights = [block[:-1] for block in self.blocks]
        self.biases = [block[-1] for block in self.blocks]
        # The lean pass's operands: live views, so they follow every update of ``params``.
        self._lean = [(w.T, b[:, None]) for w, b in zip(self.weights, self.biases, strict=True)]
        self._write = activation.writer()
        self._row: OneRow | None = None

    @classmethod
    def initialized(
        cls,
        layers: Sequence[int],
        activation: Activation,
        output: Output,
        init: str,
        rng: np.random.Generator,
        dtype: Any,
    ) -> Network:
        """A network with parameters drawn by ``INITS[init]`` from ``rng``, layer by layer."""
        net = cls(layers, activation, output, dtype)
        for block, (n_in, n_out) in zip(net.blocks, itertools.pairwise(net.layers), strict=True):
            weights, bias = INITS[init](rng, n_in, n_out)
            block[:-1] = weights
            block[-1] = bias
        return net

    @property
    def n_parameters(self) -> int:
        """Number of weights and biases."""
        return int(self.params.size)

    def block_views(self, flat: FloatArray) -> list[FloatArray]:
        """Split ``flat: (n_parameters,)`` into per-layer ``(layers[i] + 1, layers[i+1])`` views."""
        views, start = [], 0
        for n_in, n_out in itertools.pairwise(self.layers):
            stop = start + (n_in + 1) * n_out
            views.append(flat[start:stop].reshape(n_in + 1, n_out))
            start = stop
        return views

    def set_parameters(self, weights: Sequence[FloatArray], biases: Sequence[FloatArray]) -> None:
        """Copy ``weights[i]: (layers[i], layers[i+1])`` and ``biases[i]: (layers[i+1],)`` in."""
        for block, w, b in zip(self.blocks, weights, biases, strict=True):
            block[:-1] = w
            block[-1] = b

    def one_row(self, mean: FloatArray | None, scale: FloatArray | None) -> OneRow:
        """The one-row pass (``mlp_engine.one_row``) for this standardisation (``(layers[0],)``
        or None), kept while the estimator's ``mean_`` and ``scale_`` stay the same objects."""
        row = self._row
        if row is None or row.mean is not mean or row.scale is not scale:
            row = self._row = OneRow(self, mean, scale)
        return row

    def logits(self, X: FloatArray, prepare: Prepare | None = None) -> FloatArray:
        """Lean forward pass: ``X: (n_samples, layers[0])`` -> logits ``(n_samples, layers[-1])``.

        ``prepare`` maps a block of rows of ``X``, ``(m, layers[0])``, to the network's input
        for them (e.g. standardised, in ``dtype``); None casts ``X`` to ``dtype`` once.

        Works on transposed activations ``(units, rows)``, in row chunks so memory stays bounded
        whatever ``n_samples`` is, through one buffer per layer allocated once per call and
        reused by every chunk. Both are measured on the notebook's (2, 5, 3, 1) network over a
        250 x 250 grid: with rows as the long, contiguous axis a bias add or an activation is
        one long vectorised loop instead of many of ``units`` elements (2x faster), and fresh
        arrays per layer came straight from the OS, whose page faults cost another 3x.
        """
        return self._lean_pass(X, prepare, output=False)

    def predict(self, X: FloatArray, prepare: Prepare | None = None) -> FloatArray:
        """Output activations ``(n_samples, layers[-1])`` for ``X: (n_samples, layers[0])``.

        The same pass as ``logits`` (``prepare`` likewise), with the output activation applied
        chunk by chunk while the chunk is still in cache.
        """
        return self._lean_pass(X, prepare, output=True)

    def _lean_pass(self, X: FloatArray, prepare: Prepare | None, output: bool) -> FloatArray:
        """``logits`` (``output=False``) or ``predict``: the chunk loop, one row on its own."""
        X = np.asarray(X) if prepare is not None else np.asarray(X, dtype=self.dtype)
        n, k = X.shape[0], self.layers[-1]
        if n == 1:
            return self._one_row(X if prepare is None else prepare(X), output)
        rows = min(n, max(_MIN_CHUNK_ROWS, _CHUNK_ELEMENTS // max(self.layers)))
        buffers = [np.empty((units, rows), dtype=self.dtype) for units in self.layers[1:]]
        write, finish = self.activation.chunk_writer(), self._column_output(output)
        result = np.empty((n, k), dtype=self.dtype)
        for start in range(0, n, rows):
            block = X[start : start + rows]
            chunk = self._chunk_logits(
                (block if prepare is None else prepare(block)).T, buffers, write
            )
            result[start : start + rows] = chunk.T if finish is None else finish(chunk).T
        if output and finish is None:
            return self.output.fn(result)
        return result

    def _one_row(self, x: FloatArray, output: bool) -> FloatArray:
        """``_lean_pass`` of one row ``x: (1, layers[0])`` in ``dtype``: the same products and
        ufuncs as a chunk of one row, without the buffers and the chunk loop (a measured hot
        path: one-row predicts are what a service mostly answers)."""
        a, write, last = x.T, self._write, len(self._lean) - 1
        for i, (w_t, b_col) in enumerate(self._lean):
            z = w_t.dot(a)
            z += b_col
            if i < last:
                write(z, z)
            a = z
        finish = self._column_output(output)
        if finish is not None:
            a = finish(a)
        row = a.T  # (1, layers[-1]), contiguous as it is
        return self.output.fn(row) if output and finish is None else row

    def _column_output(self, output: bool) -> Callable[[FloatArray], FloatArray] | None:
        """The output activation for transposed logits ``(layers[-1], m)``, or None when it
        must run on rows (softmax over 8 or more classes, see ``softmax_columns``) or
        ``output`` is False."""
        if not output:
            return None
        if self.output.name == "softmax":
            return softmax_columns if self.layers[-1] < 8 else None
        return self.output.fn  # sigmoid and identity are elementwise

    def _chunk_logits(
        self,
        a: FloatArray,
        buffers: list[FloatArray],
        write: Callable[[FloatArray, FloatArray], object],
    ) -> FloatArray:
        """Transposed logits ``(layers[-1], m)`` of one chunk ``a: (layers[0], m)``.

        ``buffers[i]: (layers[i + 1], rows)``. A full chunk (``m == rows``) writes each layer's
        output into its buffer and returns a view of the last one; a shorter one uses fresh
        arrays.
        """
        last, full = len(self._lean) - 1, a.shape[1] == buffers[0].shape[1]
        for i, ((w_t, b_col), buffer) in enumerate(zip(self._lean, buffers, strict=True)):
            z = np.dot(w_t, a, out=buffer) if full else w_t.dot(a)
            z += b_col
            if i < last:
                write(z, z)
            a = z
        return a

    def loss_and_gradient(
        self,
        X: FloatArray,
        Y: FloatArray,
        l2: float = 0.0,
        weights: FloatArray | None = None,
        l1: float = 0.0,
    ) -> tuple[float, FloatArray]:
        """Objective and its gradient on a whole set, through the training pass.

        Objective = mean over samples of ``weights[i] * loss_i`` (weights 1 when None)
        + ``0.5 * l2 * sum(W**2)`` + ``l1 * sum(|W|)``, both over weights (not biases); the
        L1 term's gradient is ``l1 * sign(W)`` (0 at ``W == 0``, a subgradient).
        ``X: (n, layers[0])``, ``Y: (n, layers[-1])``, ``weights: (n,)`` -> ``(loss, grads:
        (n_parameters,))``.
        """
        ws = Workspace(self, X.shape[0])
        Y = np.asarray(Y, self.dtype)
        logits = ws.forward_backward(with_ones(X, self.dtype), Y, weights=weights)
        grads = ws.grads
        GradientTransform(self, l2, None, l1)(grads)
        penalty = 0.5 * l2 * sum(float(np.sum(w * w)) for w in self.weights)
        if l1:
            penalty += l1 * sum(float(np.sum(np.abs(w))) for w in self.weights)
        if weights is None:
            return self.output.loss(logits, Y) + penalty, grads
        rows = [self.output.loss(logits[i : i + 1], Y[i : i + 1]) for i in range(X.shape[0])]
        return float(np.dot(weights, rows)) / X.shape[0] + penalty, grads

    def evaluate(self, X: FloatArray, Y: FloatArray, classify: bool) -> tuple[float, float | None]:
        """Mean loss and (if ``classify``) accuracy; ``X: (n, layers[0])``, ``Y: (n, layers[-1])``.

        Targets ``Y`` are encoded as in training: one column of 0/1 for two classes, one-hot
        columns for more.
        """
        logits = self.logits(X)
        loss = self.output.loss(logits, Y)
        if not classify:
            return loss, None
        if Y.shape[1] == 1:
            hits = (logits[:, 0] > 0) == (Y[:, 0] > 0.5)
        else:
            hits = logits.argmax(axis=1) == Y.argmax(axis=1)
        return loss, float(np.mean(hits))


def softmax_columns(z: FloatArray) -> FloatArray:
    """Softmax of every column of ``z: (k, m)``, in place; returns ``z``.

    The same operations as ``mlp_engine.losses.softmax`` on ``z.T``, hence the same bits for
    ``k < 8``: NumPy sums fewer than 8 contiguous values in order, as the row-by-row sum here
    does, but 8 or more pairwise. On transposed chunks every step is one long vectorised loop
    instead of a reduction over a few elements per row (measured 5x faster for 3 classes).
    """
    z -= z.max(axis=0)
    np.exp(z, out=z)
    z /= z.sum(axis=0)
    return z


def with_ones(X: FloatArray, dtype: Any) -> FloatArray:
    """``[X, 1]``: ``X: (n, d)`` -> ``(n, d + 1)`` in ``dtype`` with a trailing column of ones."""
    out = np.ones((X.shape[0], X.shape[1] + 1), dtype=dtype)
    out[:, :-1] = X
    return out


class GradientTransform:
    """L1 and L2 penalties and global-norm clipping applied to a flat gradient, in place.

    ``l2``: adds ``l2 * W`` to every weight gradient; ``l1``: adds ``l1 * sign(W)`` (biases
    untouched by both). ``clip_norm``: if the global L2 norm of the whole gradient (penalties
    included) exceeds it, scales the gradient down to that norm.
    """

    def __init__(self, net: Network, l2: float, clip_norm: float | None, l1: float = 0.0) -> None:
        self.params = net.params
        self.l2 = l2
        self.l1 = l1
        self.clip_norm = clip_norm
        self._scaled_mask: FloatArray | None = None
        self._l1_mask: FloatArray | None = None
        self._tmp: FloatArray | None = None
        if l2:
            self._scaled_mask = self._weight_mask(net, l2)
        if l1:
            self._l1_mask = self._weight_mask(net, l1)
        if l1 or l2:
            self._tmp = np.empty_like(net.params)

    @staticmethod
    def _weight_mask(net: Network, value: float) -> FloatArray:
        """``(n_parameters,)``: ``value`` at every weight, 0 at every bias."""
        mask = np.zeros_like(net.params)
        for block in net.block_views(mask):
            block[:-1] = value
        return mask

    @property
    def active(self) -> bool:
        """Whether calling this changes anything."""
        return bool(self.l2) or bool(self.l1) or self.clip_norm is not None

    def __call__(self, grads: FloatArray) -> None:
        """Transform ``grads: (n_parameters,)`` in place."""
        if self._scaled_mask is not None and self._tmp is not None:
            np.multiply(self.params, self._scaled_mask, out=self._tmp)
            grads += self._tmp
        if self._l1_mask is not None and self._tmp is not None:
            np.sign(self.params, out=self._tmp)
            self._tmp *= self._l1_mask
            grads += self._tmp
        if self.clip_norm is not None:
            norm = math.sqrt(float(grads @ grads))
            if norm > self.clip_norm:
                grads *= self.clip_norm / norm


class Workspace:
    """Preallocated buffers for the caching training pass over batches of up to ``rows`` rows.

    Activations are kept transposed, one column per row of the batch: ``buffers[i]:
    (layers[i+1] + 1, rows)`` holds hidden layer i's activation with a last row of ones (the
    input of layer i + 1, so a layer's forward is one product ``block.T @ [a; 1]`` and its
    weight-and-bias gradient another); ``hidden[i] = buffers[i][:-1]`` is the activation part,
    contiguous (a measured hot path: on the strided views a row layout needs, activations and
    their derivatives took twice as long for small batches). The backward pass reads them, so
    they must not change between forward and backward. ``grads: (n_parameters,)`` receives the
    gradient (``grad_blocks``: its per-layer views).
    """

    def __init__(self, net: Network, rows: int) -> None:
        self.net = net
        self.rows = rows
        self.buffers = [np.ones((n + 1, rows), dtype=net.dtype) for n in net.layers[1:-1]]
        self.hidden = [buf[:-1] for buf in self.buffers]
        self.grads: FloatArray = np.zeros_like(net.params)
        self.grad_blocks = net.block_views(self.grads)
        self.transposed_blocks = [block.T for block in net.blocks]
        self.write_activation = net.activation.writer()
        self.sample_plan: object = None
        """``sample_epoch``'s buffers and prepared calls, kept from one epoch to the next."""

    def forward_backward(
        self,
        xb: FloatArray,
        yb: FloatArray,
        scale: float = 1.0,
        weights: FloatArray | None = None,
    ) -> FloatArray:
        """``scale`` times the gradient of the mean loss over one batch, into ``grads``.

        ``xb: (m, layers[0] + 1)`` with a trailing ones column, ``yb: (m, layers[-1])``,
        ``m <= rows``; ``weights: (m,)`` multiplies each sample's loss (None: all 1). Returns
        the logits ``(m, layers[-1])``.
        """
        m, write = xb.shape[0], self.write_activation
        if m == self.rows:
            inputs, hidden = [xb.T, *self.buffers], self.hidden
        else:  # the last, partial batch of an epoch
            inputs = [xb.T, *(buf[:, :m] for buf in self.buffers)]
            hidden = [h[:, :m] for h in self.hidden]
        for block_t, a, h in zip(self.transposed_blocks, inputs, hidden, strict=False):
            write(block_t.dot(a), h)
        logits: FloatArray = self.transposed_blocks[-1].dot(inputs[-1]).T
        delta = self.net.output.fn(logits) - yb
        if weights is not None:
            delta *= weights[:, None]
        delta *= scale / m
        self.backward(inputs, hidden, delta.T)
        return logits

    def backward(
        self, inputs: list[FloatArray], hidden: list[FloatArray], delta: FloatArray
    ) -> None:
        """Backpropagate the transposed output delta ``(layers[-1], m)`` into ``grads``.

        ``inputs[i]: (layers[i] + 1, m)`` is layer i's input with its row of ones, ``hidden[i]:
        (layers[i + 1], m)`` hidden layer i's activation, both transposed.
        """
        derivative, gblocks, weights = (
            self.net.activation.derivative,
            self.grad_blocks,
            self.net.weights,
        )
        for i in range(len(gblocks) - 1, 0, -1):
            np.dot(inputs[i], delta.T, out=gblocks[i])
            delta = weights[i].dot(delta)
            delta *= derivative(hidden[i - 1])
        np.dot(inputs[0], delta.T, out=gblocks[0])


def batch_epoch(
    ws: Workspace,
    X1: FloatArray,
    Y: FloatArray,
    step: StepFn,
    scale: float = 1.0,
    weights: FloatArray | None = None,
) -> None:
    """One epoch of mini-batch training (batches of ``ws.rows``) over rows in the given order.

    ``X1: (n, layers[0] + 1)`` inputs with a trailing ones column, ``Y: (n, layers[-1])``
    targets, both in ``net.dtype``; ``weights: (n,)`` per-sample loss weights or None.
    ``step(params, grads)`` applies one update in place from ``scale`` times the gradient: plain
    SGD passes ``scale = -learning_rate`` and a step that only adds, which saves a pass per
    update on the hot path.
    """
    params, grads, rows = ws.net.params, ws.grads, ws.rows
    for start in range(0, X1.shape[0], rows):
        stop = start + rows
        batch_weights = None if weights is None else weights[start:stop]
        ws.forward_backward(X1[start:stop], Y[start:stop], scale, batch_weights)
        step(params, grads)
