"""Finite-difference gradient checks of the engine's :class:`~mlp_engine.network.Network`."""

from __future__ import annotations

import numpy as np

from mlp_engine.network import Network

__all__ = ["H", "min_abs_preactivation", "numeric_gradient", "relative_error"]

H = 1e-6  # the central-difference step


def min_abs_preactivation(net: Network, X: np.ndarray) -> float:
    """The smallest ``|z|`` of any hidden unit over ``X`` (n_samples, n_in): how far the batch
    stays from a kink (ReLU at 0), where finite differences are not the derivative."""
    a, smallest = X, np.inf
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        z = a @ w + b
        smallest = min(smallest, float(np.abs(z).min()))
        a = net.activation.fn(z)
    return smallest


def numeric_gradient(
    net: Network, X: np.ndarray, Y: np.ndarray, l2: float, h: float = H, l1: float = 0.0
) -> np.ndarray:
    """Central differences of the loss over every parameter: shape (n_params,) like
    ``net.params`` (restored afterwards); X: (n_samples, n_in), Y: (n_samples, n_out). With
    ``l1``, no weight may be within ``h`` of 0 (the kink of ``|W|``)."""
    grads = np.zeros_like(net.params)
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + h
        plus, _ = net.loss_and_gradient(X, Y, l2, l1=l1)
        net.params[i] = saved - h
        minus, _ = net.loss_and_gradient(X, Y, l2, l1=l1)
        net.params[i] = saved
        grads[i] = (plus - minus) / (2 * h)
    return grads


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``|a - b| / max(|a|, |b|)`` (Euclidean norms; 0 when both are about zero)."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-12))
