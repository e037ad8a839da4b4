"""The training loop's parts: data splits, the epoch runner, early-stopping bookkeeping.

Pure helpers of ``_BaseMLP.fit`` (``mlp_engine.base``), kept apart so each stays short.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import FloatArray
from mlp_engine.config import MLPConfig
from mlp_engine.network import GradientTransform, Network, Workspace, batch_epoch, sample_epoch
from mlp_engine.optimizers import SGD, make_optimizer

__all__ = ["BestTracker", "TrainingData", "epoch_runner", "split", "standardization"]


class TrainingData(NamedTuple):
    """Standardised, dtype-cast training and validation arrays (validation may be empty)."""

    X_train: FloatArray
    Y_train: FloatArray
    X_val: FloatArray
    Y_val: FloatArray


class BestTracker:
    """Remembers the epoch with the lowest monitored loss and, for early stopping, its weights."""

    def __init__(self, net: Network, keep_weights: bool, patience: int) -> None:
        self.net, self.keep_weights, self.patience = net, keep_weights, patience
        self.best_loss, self.best_epoch = math.inf, 0
        self.best_params: FloatArray | None = None

    def update(self, epoch: int, loss: float) -> None:
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            if self.keep_weights:
                self.best_params = self.net.params.copy()

    def exhausted(self, epoch: int) -> bool:
        """Whether early stopping should end training now."""
        return self.keep_weights and epoch - self.best_epoch >= self.patience

    def restore(self) -> int | None:
        """Put the best weights back (in place: views stay live); return their epoch."""
        if self.best_params is None:
            return None
        self.net.params[...] = self.best_params
        return self.best_epoch


def epoch_runner(
    net: Network, cfg: MLPConfig, n_train: int
) -> Callable[[FloatArray, FloatArray], None]:
    """A function running one epoch over ``(X1, Y)`` with the configured optimizer.

    Plain SGD (no momentum, L2 or clipping; ``notebook`` included) takes the fast route: the
    learning rate is folded into the output delta (``scale = -learning_rate``), so an update is
    one ``params += grads`` (for ``notebook``, one ``block += grad`` per layer).
    """
    optimizer = make_optimizer(cfg.optimizer, cfg.learning_rate, cfg.momentum, cfg.nesterov)
    transform = GradientTransform(net, cfg.l2, cfg.clip_norm)
    step, scale = optimizer.step, 1.0
    if transform.active:

        def step(params: FloatArray, grads: FloatArray) -> None:
            transform(grads)
            optimizer.step(params, grads)

    elif isinstance(optimizer, SGD) and optimizer.momentum == 0.0:
        step, scale = _add, -optimizer.lr
    ws = Workspace(net, min(cfg.batch_size, n_train))
    if optimizer.layerwise:  # the notebook's order; MLPConfig ensures batch_size == 1
        return lambda X1, Y: sample_epoch(ws, X1, Y, step, scale, layerwise=True)
    epoch = sample_epoch if ws.rows == 1 else batch_epoch
    return lambda X1, Y: epoch(ws, X1, Y, step, scale)


def _add(params: FloatArray, grads: FloatArray) -> None:
    """The plain-SGD step once the gradient is already scaled by ``-learning_rate``."""
    params += grads


def split(n: int, fraction: float, rng: np.random.Generator) -> tuple[npt.NDArray[np.intp], ...]:
    """Train and validation row indices (seeded); all rows train when ``fraction == 0``."""
    if fraction == 0.0:
        return np.arange(n), np.arange(0)
    n_val = round(fraction * n)
    if not 1 <= n_val <= n - 1:
        raise ValueError(
            f"validation_fraction={fraction} leaves {n_val} of {n} samples for validation; "
            "need at least one row in each split"
        )
    order = rng.permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def standardization(X: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per-feature mean and scale (std, 0 -> 1) of ``X: (n, d)``, safe from overflow.

    Columns are divided by their largest magnitude first, so squares cannot overflow even for
    values near the float64 limit.
    """
    magnitude = np.abs(X).max(axis=0)
    magnitude[magnitude == 0] = 1.0
    unit = X / magnitude
    mean, scale = unit.mean(axis=0) * magnitude, unit.std(axis=0) * magnitude
    scale[scale == 0] = 1.0
    return mean, scale
