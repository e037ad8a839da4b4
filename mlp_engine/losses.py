"""Output activations paired with their losses, so the output delta is ``y_pred - y``.

Three pairs, as in scikit-learn: sigmoid + binary cross-entropy (two classes, one output unit),
softmax + cross-entropy (three or more classes, one unit per class) and identity + squared error
(regression). Each loss is the per-sample sum over output units, averaged over samples, and is
computed from the logits ``z`` so it stays finite for any finite ``z`` (|z| = 1000 included):

- binary cross-entropy: ``mean(logaddexp(0, z) - y * z)``
- cross-entropy: ``mean(logsumexp(z) - sum(y * z))`` with the row maximum subtracted first
- squared error: ``mean(0.5 * sum((z - y) ** 2))`` (scikit-learn's ``squared_loss`` for one output)

With these definitions ``d loss / d z = (fn(z) - y) / n_samples`` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mlp_engine.activations import FloatArray, sigmoid

__all__ = ["LOSSES", "OUTPUTS", "Output"]


@dataclass(frozen=True)
class Output:
    """An output activation together with the loss it is paired with.

    Attributes:
        name: output activation name (``sigmoid``, ``softmax``, ``identity``).
        loss_name: name of the paired loss.
        fn: logits ``z: (n_samples, n_outputs)`` -> predictions of the same shape.
        loss: ``(z, y) -> float``: mean loss from logits and targets, both
            ``(n_samples, n_outputs)``.
        scalar_fn: ``fn`` for a single logit as a Python float, or None; lets the per-sample
            training path skip array overhead when there is one output unit.
    """

    name: str
    loss_name: str
    fn: Callable[[FloatArray], FloatArray]
    loss: Callable[[FloatArray, FloatArray], float]
    scalar_fn: Callable[[float], float] | None = None


def softmax(z: FloatArray) -> FloatArray:
    """Row-wise softmax of ``z: (n_samples, n_classes)``, after subtracting the row maximum."""
    e: FloatArray = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def identity(z: FloatArray) -> FloatArray:
    """Predictions equal the logits (regression)."""
    return z


def binary_cross_entropy(z: FloatArray, y: FloatArray) -> float:
    """Mean binary cross-entropy from logits ``z: (n, 1)`` and targets ``y: (n, 1)`` in {0, 1}."""
    return float(np.sum(np.logaddexp(0.0, z) - y * z) / z.shape[0])


def cross_entropy(z: FloatArray, y: FloatArray) -> float:
    """Mean cross-entropy from logits ``z: (n, k)`` and one-hot targets ``y: (n, k)``."""
    m = z.max(axis=1, keepdims=True)
    log_sum_exp = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    return float(np.sum(log_sum_exp - (y * z).sum(axis=1)) / z.shape[0])


def squared_error(z: FloatArray, y: FloatArray) -> float:
    """Half the squared error summed over outputs, averaged over samples; ``z, y: (n, k)``."""
    diff = z - y
    return float(0.5 * np.sum(diff * diff) / z.shape[0])


def scalar_sigmoid(z: float) -> float:
    """Overflow-free logistic function of one float."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def scalar_identity(z: float) -> float:
    """Identity on one float."""
    return z


OUTPUTS: dict[str, Output] = {
    out.name: out
    for out in (
        Output("sigmoid", "binary_cross_entropy", sigmoid, binary_cross_entropy, scalar_sigmoid),
        Output("softmax", "cross_entropy", softmax, cross_entropy),
        Output("identity", "squared_error", identity, squared_error, scalar_identity),
    )
}
"""Output/loss pairs by output activation name."""

LOSSES: dict[str, Output] = {out.loss_name: out for out in OUTPUTS.values()}
"""The same pairs by loss name."""
