"""The one-row forward pass: what a service answers most, with as few NumPy calls as possible.

At one row every array operation costs its call (~1-3 us), not its arithmetic, so ``OneRow``
does the work of ``Network.predict(X, prepare)`` on a ``(1, n_inputs)`` row in fewer calls, with
**the same bits**: the same standardisation, matrix products, bias adds and activations on the
same shapes (transposed, ``(units, 1)``), and the output activation of a single logit in Python
floats where that is exact. Measured on the (2, 5, 3, 1) float32 classifier (callgrind): 22
NumPy calls and ~167,000 instructions per ``predict_proba`` before, 14 calls and ~97,000 after
(onnxruntime's ``run``: ~77,000).

What is exact, and why:

- the finiteness of the input is proven by one dot product ``x . x`` (finite iff every element
  is finite and nothing overflows; an overflow only sends the row to the general path);
- the sigmoid of one logit ``z``: ``-z`` and ``min(-z, limit)`` are exact in Python; ``exp``
  runs as NumPy's ufunc on the same ``(1, 1)`` array in place, as the array path does; then
  ``1 + e``, ``1 / t`` and ``1 - p`` are computed in float64 and rounded to the model's dtype:
  for float64 that is the same operation, for float32 it is too, because a float64 result of
  +, - or / on float32 operands rounded to float32 is the correctly rounded float32 result
  (53 >= 2 * 24 + 2 bits: double rounding is innocuous);
- softmax over fewer than 8 classes is ``softmax_columns`` on the ``(k, 1)`` column, its
  reductions called directly (``np.maximum.reduce`` is what ``ndarray.max`` calls).

No buffers are kept between calls, so one ``OneRow`` serves every thread at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from mlp_engine.activations import FloatArray, exp_limit

if TYPE_CHECKING:
    from mlp_engine.network import Network

__all__ = ["OneRow"]

OVERFLOW = "X is too large for this model: its output overflowed"
"""The message of ``_BaseMLP._forward`` for a non-finite output."""

_F64 = np.dtype(np.float64)
_UFUNC_ACTIVATIONS = {"relu": (np.maximum, 0.0), "tanh": (np.tanh, None)}
"""Hidden activations applied by one ufunc call, with their constant operand (cast to the
model's dtype once); the others go through their ``Activation.writer``."""

Layer = tuple[FloatArray, FloatArray, Callable[..., Any] | None, Any]
"""``(W.T: (n_out, n_in), b: (n_out, 1), activation or None, its constant operand or None)``."""


class OneRow:
    """``Network.predict(X, prepare)`` for ``X: (1, layers[0])``, bit for bit, in fewer calls.

    ``mean``, ``scale``: the estimator's standardisation ``(layers[0],)`` or None (kept to
    tell whether it still applies). ``outputs(X)`` / ``probabilities(X)`` return None for
    anything but a finite 2-D float64 (or the model's dtype) array of one row of the right
    width: the caller's general path handles (and reports on) everything else.
    """

    def __init__(self, net: Network, mean: FloatArray | None, scale: FloatArray | None) -> None:
        self.mean, self.scale = mean, scale
        self.dtype = net.dtype
        self.shape = (1, net.layers[0])
        self.k = net.layers[-1]
        self.output = net.output
        self.layers = [_layer(net, w_t, b_col) for w_t, b_col in net._lean[:-1]]
        self.last = net._lean[-1]
        self.limit = exp_limit(self.dtype)
        self.round = self.dtype.type
        self.exact = self.dtype == _F64  # float64 arithmetic is the model's own
        self.binary = self.k == 1 and net.output.name == "sigmoid"

    def outputs(self, X: Any) -> FloatArray | None:
        """Output activations ``(1, layers[-1])`` of ``X: (1, layers[0])``, or None."""
        z = self._logits(X)
        if z is None:
            return None
        if self.binary:
            return np.array([[self._sigmoid(z)]], self.dtype)
        return self._finish(z)

    def probabilities(self, X: Any) -> FloatArray | None:
        """``MLPClassifier.predict_proba`` of one row: ``[1 - p, p]`` for one output unit,
        else the outputs; None as for ``outputs``."""
        z = self._logits(X)
        if z is None:
            return None
        if self.binary:
            p = self._sigmoid(z)
            return np.array([[self._rounded(1.0 - p), p]], self.dtype)
        return self._finish(z)

    @np.errstate(all="ignore")  # as the general path: overflow is reported by the caller
    def _logits(self, X: Any) -> FloatArray | None:
        """Transposed logits ``(layers[-1], 1)`` of a valid row, or None."""
        if type(X) is not np.ndarray or X.shape != self.shape:
            return None
        if (X.dtype is not self.dtype and X.dtype is not _F64) or not _finite(X.dot(X.T)):
            return None
        if self.mean is None or self.scale is None:
            a = X.astype(self.dtype, copy=False).T
        else:
            x = np.subtract(X, self.mean)
            x /= self.scale
            a = x.astype(self.dtype, copy=False).T
        for w_t, b_col, activation, operand in self.layers:
            z = w_t.dot(a)
            z += b_col
            if activation is None:  # identity
                pass
            elif operand is None:
                activation(z, out=z)
            else:
                activation(z, operand, out=z)
            a = z
        w_t, b_col = self.last
        logits: FloatArray = w_t.dot(a)
        logits += b_col
        return logits

    def _sigmoid(self, z: FloatArray) -> float:
        """``activations.sigmoid`` of the one logit in ``z: (1, 1)`` (overwritten), as a float
        of the model's dtype; raises ``ValueError`` for a NaN logit."""
        t = -z.item()
        if not t <= self.limit:
            if math.isnan(t):
                raise ValueError(OVERFLOW)
            t = self.limit
        z[0, 0] = t
        np.exp(z, out=z)
        return self._rounded(1.0 / self._rounded(1.0 + z.item()))

    def _rounded(self, value: float) -> float:
        """``value`` rounded to the model's dtype (see the module docstring)."""
        return value if self.exact else float(self.round(value))

    def _finish(self, z: FloatArray) -> FloatArray:
        """The output activation of transposed logits ``z: (k, 1)`` (in place when it can),
        as a row ``(1, k)``; raises ``ValueError`` if it is not finite."""
        name = self.output.name
        if name == "softmax" and self.k < 8:
            z -= np.maximum.reduce(z, 0)
            np.exp(z, out=z)
            z /= np.add.reduce(z, 0)
        elif name != "identity":
            return _checked(self.output.fn(z.T))
        return _checked(z.T)


def _layer(net: Network, w_t: FloatArray, b_col: FloatArray) -> Layer:
    """A hidden layer's operands and how its activation is applied in place."""
    name = net.activation.name
    if name == "identity":
        return w_t, b_col, None, None
    if name in _UFUNC_ACTIVATIONS:
        ufunc, constant = _UFUNC_ACTIVATIONS[name]
        return w_t, b_col, ufunc, None if constant is None else np.array(constant, net.dtype)
    return w_t, b_col, net.activation.writer(), None


def _finite(square: FloatArray) -> bool:
    """Whether a ``(1, 1)`` sum of squares is finite (so were its terms)."""
    return math.isfinite(square.item())


def _checked(row: FloatArray) -> FloatArray:
    """``row: (1, k)`` itself if every value is finite; raises ``ValueError`` otherwise (the
    cheap test first: a sum of squares can overflow where the values do not)."""
    if not _finite(row.dot(row.T)) and not np.isfinite(row).all():
        raise ValueError(OVERFLOW)
    return row
