"""Hidden-layer activations: one table of (function, derivative) pairs.

Each derivative is written in terms of the activation's *output* ``a = fn(z)`` (as scikit-learn
does), so the training pass only needs to keep the activations. All five hidden activations
allow this: for ReLU and leaky ReLU ``a > 0`` exactly when ``z > 0``.

Every function is elementwise: any shape in, the same shape and dtype out.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ACTIVATIONS", "LEAKY_RELU_SLOPE", "Activation", "FloatArray", "sigmoid"]

FloatArray = npt.NDArray[np.floating[Any]]

LEAKY_RELU_SLOPE = 0.01
"""Slope of leaky ReLU for negative inputs."""


@dataclass(frozen=True)
class Activation:
    """An elementwise activation and its derivative.

    Attributes:
        name: the public name used in configs and model files.
        fn: ``a = fn(z)``; any shape, same shape and dtype out.
        derivative: ``da/dz`` as a function of ``a = fn(z)``; same shape and dtype as ``a``.
        fn_into: optional ``fn_into(z, out)`` writing ``fn(z)`` into ``out`` in one ufunc call;
            the training passes use it to save a copy per layer (a measured hot path).
        make_chunk_writer: optional factory of a faster ``fn_into`` for one lean forward pass
            over ``(units, rows)`` chunks, which may keep state between its calls.
    """

    name: str
    fn: Callable[[FloatArray], FloatArray]
    derivative: Callable[[FloatArray], FloatArray]
    fn_into: Callable[[FloatArray, FloatArray], object] | None = None
    make_chunk_writer: Callable[[], Callable[[FloatArray, FloatArray], object]] | None = None

    def chunk_writer(self) -> Callable[[FloatArray, FloatArray], object]:
        """``make_chunk_writer()`` if there is a factory, else ``writer()``; one per pass."""
        if self.make_chunk_writer is not None:
            return self.make_chunk_writer()
        return self.writer()

    def writer(self) -> Callable[[FloatArray, FloatArray], object]:
        """``fn_into`` if there is one, else a function doing ``out[...] = fn(z)``."""
        if self.fn_into is not None:
            return self.fn_into
        fn = self.fn

        def write(z: FloatArray, out: FloatArray) -> None:
            out[...] = fn(z)

        return write


def relu(z: FloatArray) -> FloatArray:
    """max(z, 0); ``relu(0) = 0`` as in the notebook."""
    return np.maximum(z, 0.0)


def relu_into(z: FloatArray, out: FloatArray) -> object:
    """``out[...] = relu(z)``."""
    return np.maximum(z, 0.0, out=out)


def relu_chunk_writer() -> Callable[[FloatArray, FloatArray], object]:
    """``relu_into`` comparing long rows with a kept row of zeros instead of the scalar 0.

    NumPy 2.4's ``maximum`` against a scalar takes a slow broadcasting loop: on the lean forward
    pass's (5, 6553) chunks a row of zeros made it 1.7x faster, a chunk's pass 1.3x and the
    notebook network's 250 x 250 decision grid 1.05x (measured). Float64 rows shorter than
    1024 keep the scalar: there allocating the row costs more than it saves. Float32 has no
    fast loop against a scalar at all: from 32 columns on the row is faster (3.5x on (64, 512)
    chunks, measured), and the (20, 64, 64, 3) network's lean pass 1.2x.
    """
    zero = np.zeros(0)

    def write(z: FloatArray, out: FloatArray) -> object:
        nonlocal zero
        if z.shape[-1] < (32 if z.dtype == np.float32 else 1024):
            return np.maximum(z, 0.0, out=out)
        if zero.shape[0] != z.shape[-1] or zero.dtype != z.dtype:
            zero = np.zeros(z.shape[-1], dtype=z.dtype)
        return np.maximum(z, zero, out=out)

    return write


def relu_derivative(a: FloatArray) -> FloatArray:
    """1 where z > 0 else 0 (the notebook's ``drelu_dz``).

    ``a >= 0``, so ``sign(a)`` is that step as a float array in a single ufunc call (this runs on
    the per-sample hot path).
    """
    return np.sign(a)


def leaky_relu(z: FloatArray) -> FloatArray:
    """z where z > 0 else ``LEAKY_RELU_SLOPE * z``."""
    return np.where(z > 0, z, z * LEAKY_RELU_SLOPE)


def leaky_relu_derivative(a: FloatArray) -> FloatArray:
    """1 where z > 0 else ``LEAKY_RELU_SLOPE`` (a has the sign of z)."""
    one, slope = a.dtype.type(1.0), a.dtype.type(LEAKY_RELU_SLOPE)
    return np.where(a > 0, one, slope)


def tanh(z: FloatArray) -> FloatArray:
    """Hyperbolic tangent."""
    return np.tanh(z)


def tanh_into(z: FloatArray, out: FloatArray) -> object:
    """``out[...] = tanh(z)``."""
    return np.tanh(z, out=out)


def tanh_derivative(a: FloatArray) -> FloatArray:
    """1 - tanh(z)^2."""
    return 1.0 - a * a


def sigmoid(z: FloatArray) -> FloatArray:
    """Logistic function ``1 / (1 + exp(-z))`` that cannot overflow; z: a float array.

    ``exp`` never sees more than ``exp_limit(dtype)`` (about 708 in float64, 87 in float32), so
    it stays finite: for z below minus that limit the result is ``1 / (1 + exp(limit))``
    (~3e-308 in float64; also for -inf) instead of an even smaller number. Elsewhere it is
    accurate to a few ulps, tiny probabilities included. Five in-place ufunc calls: this
    is the output activation of every binary classifier, on the training hot path.
    """
    t = np.negative(z)
    np.minimum(t, exp_limit(t.dtype), out=t)
    np.exp(t, out=t)
    t += 1.0
    return np.reciprocal(t, out=t)


@functools.cache
def exp_limit(dtype: np.dtype[Any]) -> float:
    """The largest whole x with ``exp(x)`` comfortably finite in ``dtype`` (708 for float64)."""
    return float(math.floor(math.log(float(np.finfo(dtype).max))) - 1)


def sigmoid_derivative(a: FloatArray) -> FloatArray:
    """sigmoid(z) * (1 - sigmoid(z))."""
    return a * (1.0 - a)


def identity(z: FloatArray) -> FloatArray:
    """z itself."""
    return z


def identity_derivative(a: FloatArray) -> FloatArray:
    """All ones."""
    return np.ones_like(a)


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        Activation("relu", relu, relu_derivative, relu_into, relu_chunk_writer),
        Activation("leaky_relu", leaky_relu, leaky_relu_derivative),
        Activation("tanh", tanh, tanh_derivative, tanh_into),
        Activation("sigmoid", sigmoid, sigmoid_derivative),
        Activation("identity", identity, identity_derivative),
    )
}
"""Hidden activations by public name; ``relu`` is the default."""
