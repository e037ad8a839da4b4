"""Stateful optimizers that update a flat parameter vector in place.

The network keeps every weight and bias in one flat vector ``params: (n_parameters,)`` and
computes the gradient into a vector of the same shape, so an optimizer step is a handful of
vectorised operations whatever the depth. ``step`` runs once per mini-batch (once per sample with
``batch_size=1``), so it updates ``params`` and its own state in place and may overwrite
``grads`` (a measured hot path: fresh arrays per step cost more than the arithmetic for small
networks).

An optimizer with ``layerwise = True`` (only ``notebook``) is instead stepped once per *layer*,
from the output down, on that layer's block of ``params`` as soon as its gradient is known, and
the backward pass then propagates through the updated weights: the teaching notebook's
``backwardn`` order. That needs per-sample updates (``batch_size=1``).
"""

from __future__ import annotations

import math
from typing import ClassVar, Protocol

import numpy as np

from mlp_engine.activations import FloatArray

__all__ = ["OPTIMIZERS", "SGD", "Adam", "NotebookSGD", "Optimizer", "make_optimizer"]


class Optimizer(Protocol):
    """What the training loop needs from an optimizer."""

    name: ClassVar[str]
    layerwise: ClassVar[bool]

    def step(self, params: FloatArray, grads: FloatArray) -> None:
        """Update ``params: (P,)`` in place from ``grads: (P,)`` (which may be overwritten)."""
        ...


class SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum.

    With ``v`` the velocity (zero at the start)::

        v <- momentum * v - lr * g
        params <- params + v                          (classical momentum)
        params <- params + momentum * v - lr * g      (Nesterov, as in scikit-learn)

    With ``momentum=0`` this is ``params <- params - lr * g``, the notebook's update.
    """

    name: ClassVar[str] = "sgd"
    layerwise: ClassVar[bool] = False

    def __init__(self, lr: float, momentum: float = 0.0, nesterov: bool = False) -> None:
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.velocity: FloatArray | None = None

    @classmethod
    def from_settings(cls, learning_rate: float, momentum: float, nesterov: bool) -> SGD:
        """Build from the estimator's ``learning_rate``, ``momentum`` and ``nesterov``."""
        return cls(learning_rate, momentum=momentum, nesterov=nesterov)

    def step(self, params: FloatArray, grads: FloatArray) -> None:
        """Update ``params: (P,)`` in place; ``grads: (P,)`` is overwritten."""
        grads *= -self.lr  # in place: hot path
        if self.momentum == 0.0:
            params += grads
            return
        if self.velocity is None:
            self.velocity = np.zeros_like(params)
        v = self.velocity
        v *= self.momentum
        v += grads
        if self.nesterov:
            params += grads
            np.multiply(v, self.momentum, out=grads)
            params += grads
        else:
            params += v


class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1)::

    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g**2
    params <- params - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)
    """

    name: ClassVar[str] = "adam"
    layerwise: ClassVar[bool] = False

    def __init__(
        self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.t = 0
        self.m: FloatArray | None = None
        self.v: FloatArray | None = None
        self._tmp: FloatArray | None = None

    @classmethod
    def from_settings(cls, learning_rate: float, momentum: float, nesterov: bool) -> Adam:
        """Build from the estimator's settings; ``momentum`` and ``nesterov`` are sgd-only."""
        return cls(learning_rate)

    def step(self, params: FloatArray, grads: FloatArray) -> None:
        """Update ``params: (P,)`` in place; ``grads: (P,)`` is overwritten."""
        if self.m is None or self.v is None or self._tmp is None:
            self.m, self.v, self._tmp = (np.zeros_like(params) for _ in range(3))
        m, v, tmp = self.m, self.v, self._tmp
        self.t += 1
        # In place, 12 passes over P: this runs once per batch and is memory-bound for big nets.
        np.subtract(grads, m, out=tmp)  # m <- m + (1 - beta1) (g - m)
        tmp *= 1.0 - self.beta1
        m += tmp
        grads *= grads  # v <- v + (1 - beta2) (g^2 - v)
        grads -= v
        grads *= 1.0 - self.beta2
        v += grads
        # m_hat / (sqrt(v_hat) + eps) = (sqrt(c2) / c1) * m / (sqrt(v) + eps * sqrt(c2)),
        # with c1 = 1 - beta1^t and c2 = 1 - beta2^t: the bias corrections become two scalars.
        root_c2 = math.sqrt(1.0 - self.beta2**self.t)
        np.sqrt(v, out=tmp)
        tmp += self.eps * root_c2
        np.divide(m, tmp, out=tmp)
        tmp *= -self.lr * root_c2 / (1.0 - self.beta1**self.t)
        params += tmp


class NotebookSGD(SGD):
    """The teaching notebook's ``backwardn``, reproduced exactly: per-sample SGD, no momentum.

    For each sample, each layer from the output down is updated (``W <- W - lr * dW``,
    ``b <- b - lr * db``) as soon as its delta is computed, and the delta of the layer below is
    propagated through the *updated* weights. So only the output layer takes a true gradient
    step; the layers below take a step whose error is of order ``lr`` relative to it. ``sgd``
    with ``momentum=0`` and ``batch_size=1`` is the true-gradient version of the same loop.

    ``layerwise``: the training loop calls ``step`` on each layer's block in turn; valid only
    with ``batch_size=1``, without ``l2`` or ``clip_norm``; ``momentum`` and ``nesterov`` are
    ignored.
    """

    name: ClassVar[str] = "notebook"
    layerwise: ClassVar[bool] = True

    def __init__(self, lr: float) -> None:
        super().__init__(lr)

    @classmethod
    def from_settings(cls, learning_rate: float, momentum: float, nesterov: bool) -> NotebookSGD:
        """Build from the estimator's ``learning_rate`` (``momentum``, ``nesterov``: ignored)."""
        return cls(learning_rate)


OPTIMIZERS: dict[str, type[SGD] | type[Adam]] = {cls.name: cls for cls in (SGD, Adam, NotebookSGD)}
"""Optimizer classes by public name: ``sgd``, ``adam`` and ``notebook`` (``NotebookSGD``)."""


def make_optimizer(
    name: str, learning_rate: float, momentum: float = 0.0, nesterov: bool = False
) -> SGD | Adam:
    """A fresh optimizer from the estimator's settings (``momentum``, ``nesterov``: sgd only).

    ``notebook`` gives a ``NotebookSGD`` (an ``SGD`` with ``layerwise = True``).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    return OPTIMIZERS[name].from_settings(learning_rate, momentum, nesterov)
