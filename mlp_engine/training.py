"""The training loop's parts: data splits, the epoch runner, early-stopping bookkeeping.

Pure helpers of ``_BaseMLP.fit`` (``mlp_engine.base``), kept apart so each stays short.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import FloatArray
from mlp_engine.config import MLPConfig
from mlp_engine.errors import ConfigError
from mlp_engine.network import GradientTransform, Network, Workspace, batch_epoch, sample_epoch
from mlp_engine.optimizers import SGD, make_optimizer

__all__ = [
    "BestTracker",
    "EpochRunner",
    "TrainingData",
    "class_weights",
    "epoch_runner",
    "holdout",
    "split",
]

EpochRunner = Callable[[FloatArray, FloatArray, FloatArray | None], None]
"""``(X1, Y, weights | None)``: one epoch over the rows in the order given."""


class TrainingData(NamedTuple):
    """Standardised, dtype-cast training and validation arrays (validation may be empty).

    ``W_train: (n_train,)`` per-sample loss weights (``class_weight``), or None.
    """

    X_train: FloatArray
    Y_train: FloatArray
    X_val: FloatArray
    Y_val: FloatArray
    W_train: FloatArray | None = None


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


def epoch_runner(net: Network, cfg: MLPConfig, n_train: int) -> EpochRunner:
    """A function running one epoch over ``(X1, Y, weights)`` with the configured optimizer.

    Plain SGD (no momentum, L1, L2 or clipping; ``notebook`` included) takes the fast route: the
    learning rate is folded into the output delta (``scale = -learning_rate``), so an update is
    one ``params += grads`` (for ``notebook``, one ``block += grad`` per layer).
    """
    optimizer = make_optimizer(cfg.optimizer, cfg.learning_rate, cfg.momentum, cfg.nesterov)
    transform = GradientTransform(net, cfg.l2, cfg.clip_norm, cfg.l1)
    step, scale = optimizer.step, 1.0
    if transform.active:

        def step(params: FloatArray, grads: FloatArray) -> None:
            transform(grads)
            optimizer.step(params, grads)

    elif isinstance(optimizer, SGD) and optimizer.momentum == 0.0:
        step, scale = _add, -optimizer.lr
    ws = Workspace(net, min(cfg.batch_size, n_train))
    if optimizer.layerwise:  # the notebook's order; MLPConfig ensures batch_size == 1
        return lambda X1, Y, W: sample_epoch(ws, X1, Y, step, scale, True, W)
    if ws.rows == 1:
        return lambda X1, Y, W: sample_epoch(ws, X1, Y, step, scale, False, W)
    return lambda X1, Y, W: batch_epoch(ws, X1, Y, step, scale, W)


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


def holdout(
    n: int, fraction: float, strata: npt.NDArray[np.intp] | None, rng: np.random.Generator
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Kept and held-out (test) row indices, sorted; no draw at all when ``fraction == 0``.

    ``strata: (n,)`` (class indices) makes the split stratified: each class gives
    ``round(fraction * count)`` rows, but always leaves at least one of its rows in the kept
    part. Classes are drawn in index order, one permutation each, from ``rng``.
    """
    if fraction == 0.0:
        return np.arange(n), np.arange(0)
    groups = np.zeros(n, dtype=np.intp) if strata is None else strata
    test: list[npt.NDArray[np.intp]] = []
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        k = min(round(fraction * rows.size), rows.size - 1)
        test.append(rng.permutation(rows)[:k])
    held = np.sort(np.concatenate(test))
    if held.size == 0:
        raise ValueError(
            f"test_fraction={fraction} holds out no row of {n}; use more data or a larger fraction"
        )
    return np.setdiff1d(np.arange(n), held), held


def class_weights(
    index: npt.NDArray[np.intp], classes: npt.NDArray[Any], setting: object
) -> FloatArray | None:
    """Per-sample weights ``(n,)`` for class indices ``index: (n,)`` of the training split.

    ``setting``: None (no weights), ``"balanced"`` (``n / (k * count[c])`` over the k classes
    present) or ``{label: weight}`` (labels matched by their text; others weigh 1).
    """
    if setting is None:
        return None
    counts = np.bincount(index, minlength=classes.size)
    if setting == "balanced":
        present = counts > 0
        per_class = np.where(present, index.size / (present.sum() * np.maximum(counts, 1)), 1.0)
        return np.asarray(per_class[index], dtype=np.float64)
    if not isinstance(setting, Mapping):
        raise TypeError(f"class_weight must be None, 'balanced' or a mapping, got {setting!r}")
    by_text = {str(label): float(weight) for label, weight in setting.items()}
    known = {str(label) for label in classes.tolist()}
    unknown = sorted(set(by_text) - known)
    if unknown:
        raise ConfigError(
            "class_weight", f"class_weight names {unknown[0]!r}, which is not a class of y"
        )
    per_class = np.array([by_text.get(str(label), 1.0) for label in classes.tolist()])
    return np.asarray(per_class[index], dtype=np.float64)
