"""The engine reproduces the teaching notebook (``../shared/seed/notebook.txt``).

The notebook's functions are copied below as written (dicts of layers, column-vector biases,
``dJ_dy * dsig_dz`` at the output), with two changes made explicit: ``eps`` (1e-8 in the notebook)
is a parameter, and the initial weights come from a seeded ``np.random.Generator`` in the
notebook's order (W1, b1, W2, b2, ...) instead of the global ``np.random`` state.

Two ways to train with the notebook's setup (``NOTEBOOK_SETUP``: layers (2, 5, 3, 1), relu,
sigmoid output, init ``notebook``, per-sample updates, alpha 0.001, no shuffling, no
standardisation):

- ``optimizer="notebook"`` reproduces ``backwardn`` exactly. ``backwardn`` updates ``w[l]`` in
  place *before* computing ``delta[l-1]`` from ``w[l]``, so every layer below the output is
  updated with a delta computed from the already updated weights above it; this optimizer does
  the same. The one difference a logits-based implementation shows is ``eps = 1e-8`` inside
  ``J`` and ``dJ_dy``: the engine's output delta is ``sigmoid(z) - y``, the exact derivative of
  the binary cross-entropy, so it matches the notebook to rounding when eps is set to 0, and to
  ~1e-6 relative with eps = 1e-8.
- ``optimizer="sgd"`` (momentum 0) takes the true gradient step: the notebook's own derivation
  (delta_l = w_{l+1} delta_{l+1} * ReLU'(z_l)) with the current weights. It matches
  ``backwardn`` exactly at the output layer and, for the layers below, ``backwardn_deltas_first``
  (the same code with the updates moved after the delta loop). The difference is second order in
  the learning rate: after an epoch of 1000 steps at alpha = 0.001 the weights still agree to
  ~1e-5 relative.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlp_engine import MLPClassifier, datasets
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network, Workspace, sample_epoch, with_ones
from mlp_engine.optimizers import SGD, NotebookSGD

NOTEBOOK_SETUP: dict[str, Any] = {
    "hidden_layers": (5, 3),
    "activation": "relu",
    "optimizer": "sgd",
    "momentum": 0.0,
    "learning_rate": 0.001,
    "batch_size": 1,
    "epochs": 200,
    "init": "notebook",
    "shuffle": False,
    "standardize": False,
}
NOTEBOOK_EXACT: dict[str, Any] = {**NOTEBOOK_SETUP, "optimizer": "notebook"}
SHAPE = (2, 5, 3, 1)
ALPHA = 0.001
Params = tuple[dict[int, Any], dict[int, Any]]

# ---------------------------------------------------------------- the notebook, as written


def sig(z: Any) -> Any:
    return 1 / (1 + np.exp(-z))


def dsig_dz(z: Any) -> Any:
    return sig(z) * (1 - sig(z))


def J(y: Any, yhat: Any, eps: float = 1e-8) -> Any:
    return -(yhat * np.log(y + eps) + (1 - yhat) * np.log(1 - y + eps))


def dJ_dy(y: Any, yhat: Any, eps: float = 1e-8) -> Any:
    return (1 - yhat) / (1 - y + eps) - yhat / (y + eps)


def relu(z: Any) -> Any:
    return np.where(z > 0, z, 0)


def drelu_dz(z: Any) -> Any:
    return np.where(z > 0, 1, 0)


def init_model(shape: tuple[int, ...], rng: np.random.Generator) -> tuple[dict[int, Any], ...]:
    w = {}
    b = {}
    for layer in range(1, len(shape)):  # no weights for input layer
        w[layer] = rng.normal(0, 0.1, size=(shape[layer - 1], shape[layer]))
        b[layer] = rng.normal(0, 0.1, size=(shape[layer], 1))
    return w, b


def forwardn(x0: Any, w: dict[int, Any], b: dict[int, Any]) -> Any:
    n_layers = len(w)
    x_prev = x0
    for l in range(1, n_layers):  # noqa: E741 - the notebook's name
        x_l = relu(np.dot(x_prev, w[l]) + b[l].T)  # output of a hidden layer
        x_prev = x_l
    return sig(np.dot(x_prev, w[n_layers]) + b[n_layers].T)  # output of output layer


def backwardn(
    x0: Any, w: dict[int, Any], b: dict[int, Any], y: Any, yhat: Any, alpha: float, eps: float
) -> tuple[dict[int, Any], dict[int, Any]]:
    n_layers = len(w)
    z = {}
    x = {0: x0}
    for l in range(1, n_layers + 1):  # noqa: E741
        z[l] = np.dot(x[l - 1], w[l]) + b[l].T
        x[l] = relu(z[l])
    delta = {}
    for l in range(n_layers, 0, -1):  # noqa: E741
        if l == n_layers:  # base case
            delta[l] = dJ_dy(y, yhat, eps) * dsig_dz(z[n_layers])
        else:  # recursive case
            delta[l] = np.dot(w[l + 1], delta[l + 1]) * drelu_dz(z[l]).T
        # update weights and biases
        w[l] -= alpha * np.multiply(delta[l], x[l - 1]).T
        b[l] -= alpha * delta[l]
    return w, b


def backwardn_deltas_first(
    x0: Any, w: dict[int, Any], b: dict[int, Any], y: Any, yhat: Any, alpha: float, eps: float
) -> tuple[dict[int, Any], dict[int, Any]]:
    """``backwardn`` with its two update lines moved into a second loop, after all deltas."""
    n_layers = len(w)
    z = {}
    x = {0: x0}
    for l in range(1, n_layers + 1):  # noqa: E741
        z[l] = np.dot(x[l - 1], w[l]) + b[l].T
        x[l] = relu(z[l])
    delta = {}
    for l in range(n_layers, 0, -1):  # noqa: E741
        if l == n_layers:
            delta[l] = dJ_dy(y, yhat, eps) * dsig_dz(z[n_layers])
        else:
            delta[l] = np.dot(w[l + 1], delta[l + 1]) * drelu_dz(z[l]).T
    for l in range(n_layers, 0, -1):  # noqa: E741 - the only change: update after the deltas
        w[l] -= alpha * np.multiply(delta[l], x[l - 1]).T
        b[l] -= alpha * delta[l]
    return w, b


# ---------------------------------------------------------------- helpers


def _copy(params: Params) -> Params:
    w, b = params
    return {k: v.copy() for k, v in w.items()}, {k: v.copy() for k, v in b.items()}


def _engine_step(x0: np.ndarray, label: float, seed: int, optimizer: str) -> Network:
    """One engine step (the per-sample path) on one sample from the notebook's init."""
    net = Network.initialized(
        SHAPE,
        ACTIVATIONS["relu"],
        OUTPUTS["sigmoid"],
        "notebook",
        np.random.default_rng(seed),
        "float64",
    )
    X1, Y = with_ones(x0[None, :], np.float64), np.array([[label]])
    if optimizer == "notebook":
        sample_epoch(Workspace(net, 1), X1, Y, NotebookSGD(ALPHA).step, layerwise=True)
    else:
        sample_epoch(Workspace(net, 1), X1, Y, SGD(ALPHA).step)
    return net


def _relative(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def _updates(before: Params, after: Params) -> list[Any]:
    """Per-layer (dW, db) of a notebook step, biases as flat vectors."""
    (w0, b0), (w1, b1) = before, after
    return [(w1[k] - w0[k], (b1[k] - b0[k])[:, 0]) for k in sorted(w0)]


def _engine_updates(weights: list[Any], biases: list[Any], before: Params) -> list[Any]:
    w0, b0 = before
    return [(weights[k - 1] - w0[k], biases[k - 1] - b0[k][:, 0]) for k in sorted(w0)]


def _notebook_step(step: Any, start: Params, x0: Any, label: float, eps: float) -> list[Any]:
    """Updates of one notebook step (``backwardn`` or a variant) from ``start``."""
    w, b = _copy(start)
    prediction = forwardn(x0, w, b)
    return _updates(start, step(x0, w, b, prediction, np.array([label]), ALPHA, eps))


def _assert_close(got: list[Any], want: list[Any], rtol: float) -> None:
    """Every layer's weight and bias updates agree to ``rtol`` relative."""
    for k, ((dw, db), (ew, eb)) in enumerate(zip(want, got, strict=True), start=1):
        assert _relative(ew, dw) < rtol, f"w[{k}]"
        assert _relative(eb, db) < rtol, f"b[{k}]"


CASES = [(0, 1), (999, 1), (10, 3), (600, 0), (750, 4)]
"""(row, seed): samples of both classes, each with a seed whose init keeps every layer live."""


# ---------------------------------------------------------------- one step, optimizer="notebook"


@pytest.mark.parametrize(("row", "seed"), CASES)
def test_one_notebook_step_matches_backwardn(row: int, seed: int) -> None:
    """Compares *updates* (new - old): comparing weights would hide errors by 1/alpha.

    eps inside ``J`` and ``dJ_dy`` is the only difference a logits-based implementation shows:
    with eps = 0 every weight and bias agrees to rounding, with the notebook's 1e-8 to ~1e-6.
    """
    X, y = datasets.make("notebook", n_samples=1000, seed=seed)
    label = float(y[row])
    start = init_model(SHAPE, np.random.default_rng(seed))
    net = _engine_step(X[row], label, seed, "notebook")
    engine = _engine_updates(net.weights, net.biases, start)
    exact = _notebook_step(backwardn, start, X[row], label, eps=0.0)
    assert all(np.abs(dw).max() > 0 and np.abs(db).max() > 0 for dw, db in exact)  # no dead layer
    _assert_close(engine, exact, 1e-9)
    _assert_close(engine, _notebook_step(backwardn, start, X[row], label, eps=1e-8), 1e-6)
    # ... and the update order matters: the true gradient differs below the output layer.
    true_gradient = _notebook_step(backwardn_deltas_first, start, X[row], label, eps=0.0)
    assert _relative(engine[0][0], true_gradient[0][0]) > 1e-6


def test_two_notebook_steps_through_the_public_api() -> None:
    """``fit`` with ``optimizer="notebook"`` on two samples = two ``backwardn`` steps."""
    X, y = datasets.make("notebook", n_samples=1000, seed=1)
    X2, y2 = X[[0, 999]], y[[0, 999]]
    clf = MLPClassifier(**{**NOTEBOOK_EXACT, "epochs": 1}, seed=1).fit(X2, y2)
    start = init_model(SHAPE, np.random.default_rng(1))
    w, b = _copy(start)
    for i in range(2):
        prediction = forwardn(X2[i], w, b)
        w, b = backwardn(X2[i], w, b, prediction, y2[i : i + 1], ALPHA, 0.0)
    _assert_close(_engine_updates(clf.weights_, clf.biases_, start), _updates(start, (w, b)), 1e-9)


# ---------------------------------------------------------------- one step, optimizer="sgd"


@pytest.mark.parametrize(("row", "seed"), CASES)
def test_one_sgd_step_is_the_true_gradient_step(row: int, seed: int) -> None:
    """``sgd``: the output layer as ``backwardn``, every layer as ``backwardn_deltas_first``."""
    X, y = datasets.make("notebook", n_samples=1000, seed=seed)
    label = float(y[row])
    start = init_model(SHAPE, np.random.default_rng(seed))
    net = _engine_step(X[row], label, seed, "sgd")
    engine = _engine_updates(net.weights, net.biases, start)
    exact = _notebook_step(backwardn_deltas_first, start, X[row], label, eps=0.0)
    assert all(np.abs(dw).max() > 0 and np.abs(db).max() > 0 for dw, db in exact)  # no dead layer
    _assert_close(engine, exact, 1e-9)
    as_written = _notebook_step(backwardn, start, X[row], label, eps=0.0)
    _assert_close(engine[-1:], as_written[-1:], 1e-9)  # output layer: identical code
    _assert_close(engine[:-1], as_written[:-1], 2e-3)  # the order effect, O(alpha)
    with_eps = _notebook_step(backwardn_deltas_first, start, X[row], label, eps=1e-8)
    _assert_close(engine, with_eps, 1e-6)


def test_two_sgd_steps_through_the_public_api() -> None:
    """``fit`` with ``sgd`` on two samples = two notebook steps (deltas first)."""
    X, y = datasets.make("notebook", n_samples=1000, seed=1)
    X2, y2 = X[[0, 999]], y[[0, 999]]
    clf = MLPClassifier(**{**NOTEBOOK_SETUP, "epochs": 1}, seed=1).fit(X2, y2)
    start = init_model(SHAPE, np.random.default_rng(1))
    w, b = _copy(start)
    for i in range(2):
        prediction = forwardn(X2[i], w, b)
        w, b = backwardn_deltas_first(X2[i], w, b, prediction, y2[i : i + 1], ALPHA, 0.0)
    _assert_close(_engine_updates(clf.weights_, clf.biases_, start), _updates(start, (w, b)), 1e-9)


# ---------------------------------------------------------------- whole runs


def _notebook_epochs(X: np.ndarray, y: np.ndarray, seed: int, epochs: int, eps: float) -> Params:
    """The notebook's ``trainn`` loop as written (its update order) from ``default_rng(seed)``."""
    w, b = init_model(SHAPE, np.random.default_rng(seed))
    yhat = y.reshape(-1, 1).astype(float)
    for _ in range(epochs):
        for i in range(X.shape[0]):
            x0 = X[i, :]
            yh = yhat[i]
            prediction = forwardn(x0, w, b)
            w, b = backwardn(x0, w, b, prediction, yh, ALPHA, eps)
    return w, b


def test_notebook_optimizer_follows_the_notebook_loop() -> None:
    """Three epochs (3000 steps) of ``trainn``'s loop: the same weights to ~1e-9 (eps = 0)."""
    X, y = datasets.make("notebook", n_samples=1000, seed=0)
    w, b = _notebook_epochs(X, y, seed=3, epochs=3, eps=0.0)
    clf = MLPClassifier(**{**NOTEBOOK_EXACT, "epochs": 3}, seed=3).fit(X, y)
    for l in range(1, 4):  # noqa: E741
        assert _relative(clf.weights_[l - 1], w[l]) < 1e-9, l
        assert _relative(clf.biases_[l - 1], b[l][:, 0]) < 1e-9, l
    predictions = forwardn(X, w, b)
    assert clf.history_[-1]["loss"] == pytest.approx(float(np.mean(J(predictions, y[:, None], 0))))
    assert clf.history_[-1]["accuracy"] == np.mean(predictions.round() == y[:, None])


def test_sgd_stays_close_to_the_notebook_loop() -> None:
    """``sgd`` after one epoch: within ~1e-4 of the notebook's weights (the order effect)."""
    X, y = datasets.make("notebook", n_samples=1000, seed=0)
    w, b = _notebook_epochs(X, y, seed=0, epochs=1, eps=1e-8)
    clf = MLPClassifier(**{**NOTEBOOK_SETUP, "epochs": 1}, seed=0).fit(X, y)
    for l in range(1, 4):  # noqa: E741
        assert 0 < _relative(clf.weights_[l - 1], w[l]) < 1e-4
        assert _relative(clf.biases_[l - 1], b[l][:, 0]) < 1e-4
    predictions = forwardn(X, w, b)
    assert clf.history_[0]["loss"] == pytest.approx(float(np.mean(J(predictions, y[:, None]))))


# The notebook's own code (``_notebook_epochs`` with eps = 1e-8, i.e. ``trainn`` as written) for
# 200 epochs on datasets.make("notebook", 1000, seed=0), initial weights from default_rng(s):
# (best, final) training accuracy over the epochs, ``np.mean(forwardn(X, w, b).round() == yhat)``
# after each. ~20 s per seed with the notebook's loop, so recorded here rather than recomputed;
# ``test_notebook_optimizer_follows_the_notebook_loop`` checks the loop itself.
NOTEBOOK_RUNS = {
    0: (0.992, 0.989), 1: (0.992, 0.992), 2: (0.990, 0.988), 3: (0.992, 0.991),
    4: (0.991, 0.989), 5: (0.991, 0.991), 6: (0.992, 0.990), 7: (0.5, 0.5),
    8: (0.992, 0.989), 9: (0.991, 0.990),
}  # fmt: skip


def _notebook_setup_runs(optimizer: str) -> dict[int, tuple[float, float]]:
    """(best, final) training accuracy of the notebook's setup on dataset seed 0, seeds 0-9."""
    X, y = datasets.make("notebook", n_samples=1000, seed=0)
    runs = {}
    for seed in range(10):
        accuracies: list[float] = []

        def record(_epoch: int, metrics: dict[str, float], seen: list[float] = accuracies) -> None:
            seen.append(metrics["accuracy"])

        MLPClassifier(**{**NOTEBOOK_SETUP, "optimizer": optimizer}, seed=seed).fit(
            X, y, on_epoch=record
        )
        runs[seed] = (max(accuracies), accuracies[-1])
    return runs


def _assert_accuracy_acceptance(runs: dict[int, tuple[float, float]]) -> None:
    """The acceptance: >= 0.99 during training for at least 8 of 10 seeds, ending >= 0.985.

    "Reaches" is the best per-epoch accuracy: after it, the accuracy drifts by +-0.002 around
    0.99, which is about the Bayes-optimal accuracy of the notebook's distribution (0.991, a
    10^6-sample estimate). Seed 7 stays on the initial 50 % plateau for all 200 epochs, in the
    notebook's own code as well (its printed run sat there for 90 epochs).
    """
    reached = [seed for seed, (best, _) in runs.items() if best >= 0.99]
    assert len(reached) >= 8, runs
    assert all(runs[seed][1] >= 0.985 for seed in reached), runs


@pytest.mark.slow
def test_notebook_optimizer_reaches_99_percent_as_the_notebook_does() -> None:
    """``notebook``: the acceptance, and seed for seed the notebook's own accuracies."""
    runs = _notebook_setup_runs("notebook")
    _assert_accuracy_acceptance(runs)
    for seed, (best, final) in runs.items():
        assert best == pytest.approx(NOTEBOOK_RUNS[seed][0], abs=1e-3), seed
        assert final == pytest.approx(NOTEBOOK_RUNS[seed][1], abs=1e-3), seed


@pytest.mark.slow
def test_sgd_reaches_99_percent() -> None:
    """``sgd`` (the true gradient) passes the same acceptance."""
    _assert_accuracy_acceptance(_notebook_setup_runs("sgd"))
