"""``MLPClassifier`` and ``MLPRegressor``: fit, predict, score, save; and ``load``.

The estimators turn user data into the network's terms (label encoding, standardisation, dtype,
train/validation split), run the epochs (``mlp_engine.network``), report progress through
``on_epoch``, check for divergence, and save/load through ``mlp_engine.persistence``.
"""

from __future__ import annotations

import itertools
import logging
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO, ClassVar, NamedTuple, Self

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import ACTIVATIONS, FloatArray
from mlp_engine.config import DTYPES, MLPConfig, Seed
from mlp_engine.errors import DivergedError, ModelFormatError
from mlp_engine.losses import OUTPUTS, Output
from mlp_engine.network import (
    GradientTransform,
    Network,
    Workspace,
    batch_epoch,
    sample_epoch,
    with_ones,
)
from mlp_engine.optimizers import SGD, make_optimizer
from mlp_engine.persistence import load_model_file, save_model_file

__all__ = ["MLPClassifier", "MLPRegressor", "load"]

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], object]
PathOrFile = str | os.PathLike[str] | BinaryIO

_PARAM_DOC = """
    Args:
        hidden_layers: units per hidden layer, e.g. ``(16, 16)``; ``()`` means no hidden layer.
        activation: hidden activation, a key of ``ACTIVATIONS``: ``relu`` (default),
            ``leaky_relu``, ``tanh``, ``sigmoid``, ``identity``.
        optimizer: ``adam`` (default; betas 0.9/0.999, eps 1e-8), ``sgd`` or ``notebook``.
            ``sgd`` always steps along the true gradient. ``notebook`` reproduces the teaching
            notebook's ``backwardn`` exactly: per-sample SGD without momentum in which each
            layer, from the output down, is updated as soon as its delta is computed and the
            delta of the layer below is propagated through the already-updated weights (so the
            lower layers' steps are not the true gradient's). It needs ``batch_size=1``,
            ``l2=0`` and no ``clip_norm`` (``ValueError`` otherwise) and ignores ``momentum``.
        learning_rate: step size, > 0 (default 0.01).
        momentum: sgd momentum in [0, 1) (default 0.9; 0 gives plain SGD); ignored by adam and
            notebook.
        nesterov: Nesterov momentum for sgd (default False).
        batch_size: samples per update, >= 1, capped at the training-set size (default 32);
            1 is the notebook's per-sample SGD (with ``sgd``, on the true gradient).
        epochs: passes over the training data, >= 1 (default 200).
        l2: L2 penalty; ``l2 * W`` is added to every weight gradient, biases excluded
            (default 0).
        clip_norm: if set, gradients are rescaled so their global L2 norm is at most this.
        init: ``he`` (default; normal(0, sqrt(2 / fan_in)), zero biases), ``glorot`` (uniform,
            zero biases) or ``notebook`` (weights and biases normal(0, 0.1), drawn W1, b1, W2,
            b2, ... as the notebook's ``init_model``).
        shuffle: reshuffle the training rows every epoch (default True).
        validation_fraction: share of rows held out (seeded, not stratified) for val_loss /
            val_accuracy, in [0, 1) (default 0: no validation).
        early_stopping: stop when val_loss has not improved for ``patience`` epochs and restore
            the best weights; needs ``validation_fraction > 0`` (default False).
        patience: epochs without val_loss improvement before early stopping (default 10).
        standardize: scale every input feature to zero mean and unit variance using training-split
            statistics, which are stored in the model (default True; constant features keep
            scale 1).
        dtype: ``float64`` (default) or ``float32`` for the weights and all training compute.
        seed: int (default 0) or ``np.random.Generator``: the same seed, data and settings give
            bit-for-bit identical weights; None draws fresh entropy. Draw order: initial
            weights, then the validation split, then one permutation per epoch.

    All settings are validated on construction (``ValueError`` naming the parameter).
"""

_FITTED_DOC = """
    Attributes (after ``fit``, and already inside ``on_epoch`` during ``fit``):
        layers_: units per layer including input and output, e.g. ``(2, 5, 3, 1)``.
        weights_, biases_: live lists of ``(layers_[i], layers_[i+1])`` and ``(layers_[i+1],)``
            arrays (views of the parameters being trained).
        n_features_in_, n_parameters_, data_min_, data_max_ (per-feature bounds of the raw X).
        history_: one dict per epoch: ``epoch``, ``loss`` (training-split loss after the epoch,
            as the notebook computes it, without the L2 term), ``accuracy`` (classifier),
            ``val_loss`` and ``val_accuracy`` (when validating).
        metrics_: the history row of the weights kept (without ``epoch``); best_epoch_: its
            epoch (the last one unless early stopping restored earlier weights).
        stopped_early_, stop_reason_: ``completed``, ``early_stopping`` or ``callback``.
"""


class _BaseMLP:
    """What the classifier and the regressor share; see ``MLPClassifier``."""

    task: ClassVar[str]
    _OUTPUT_KEYS: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        hidden_layers: Sequence[int] = (16, 16),
        activation: str = "relu",
        optimizer: str = "adam",
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        nesterov: bool = False,
        batch_size: int = 32,
        epochs: int = 200,
        l2: float = 0.0,
        clip_norm: float | None = None,
        init: str = "he",
        shuffle: bool = True,
        validation_fraction: float = 0.0,
        early_stopping: bool = False,
        patience: int = 10,
        standardize: bool = True,
        dtype: str = "float64",
        seed: Seed = 0,
    ) -> None:
        self.config = MLPConfig(
            hidden_layers=hidden_layers,
            activation=activation,
            optimizer=optimizer,
            learning_rate=learning_rate,
            momentum=momentum,
            nesterov=nesterov,
            batch_size=batch_size,
            epochs=epochs,
            l2=l2,
            clip_norm=clip_norm,
            init=init,
            shuffle=shuffle,
            validation_fraction=validation_fraction,
            early_stopping=early_stopping,
            patience=patience,
            standardize=standardize,
            dtype=dtype,
            seed=seed,
        )
        self._net: Network | None = None
        self.metadata_: dict[str, Any] = {}

    def __repr__(self) -> str:
        default = MLPConfig()
        changed = [
            f"{name}={getattr(self.config, name)!r}"
            for name in self.get_params()
            if getattr(self.config, name) != getattr(default, name)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    def get_params(self) -> dict[str, Any]:
        """The constructor settings as a JSON-able dict (a Generator seed appears as None)."""
        return self.config.to_params()

    # ---------------------------------------------------------------- subclass hooks

    def _encode_targets(self, y: Any, n_samples: int) -> FloatArray:
        """Record label information and return float targets ``(n_samples, n_outputs)``."""
        raise NotImplementedError

    def _output(self) -> Output:
        """The output/loss pair for the recorded targets."""
        raise NotImplementedError

    def _target_config(self) -> dict[str, Any]:
        """The target description stored in the model file."""
        raise NotImplementedError

    def _restore_targets(self, config: Mapping[str, Any], n_outputs: int) -> None:
        """Inverse of ``_target_config``; raises ``ModelFormatError``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- fitting

    def fit(
        self, X: npt.ArrayLike, y: npt.ArrayLike, on_epoch: EpochCallback | None = None
    ) -> Self:
        """Train from scratch on ``X: (n_samples, n_features)`` and ``y``; returns self.

        ``on_epoch(epoch, metrics)`` runs after every epoch (epoch counts from 1; metrics as in
        ``history_`` without ``epoch``); returning exactly ``False`` stops training cleanly.
        Raises ``DivergedError`` if the loss or a weight becomes non-finite (checked after
        every epoch), ``ValueError`` for invalid data.
        """
        cfg = self.config
        self._net = None  # until the new network exists: a failed fit leaves no stale model
        X_raw = _check_X(X)
        Y = self._encode_targets(y, X_raw.shape[0])
        rng = (
            cfg.seed
            if isinstance(cfg.seed, np.random.Generator)
            else np.random.default_rng(cfg.seed)
        )
        dtype = np.dtype(cfg.dtype)
        layers = (X_raw.shape[1], *cfg.hidden_layers, Y.shape[1])
        net = Network.initialized(
            layers, ACTIVATIONS[cfg.activation], self._output(), cfg.init, rng, dtype
        )
        train, val = _split(X_raw.shape[0], cfg.validation_fraction, rng)
        self._start(net, X_raw, train)
        X_all = self._prepare(X_raw)
        data = _Split(X_all[train], Y[train].astype(dtype), X_all[val], Y[val].astype(dtype))
        try:
            self._train(net, data, rng, on_epoch)
        except DivergedError:
            self._net = None  # its weights are not finite
            raise
        return self

    def _start(self, net: Network, X: FloatArray, train: npt.NDArray[np.intp]) -> None:
        """Set every fitted attribute before the first epoch (so ``on_epoch`` can predict)."""
        self._net = net
        self.layers_ = net.layers
        self.n_features_in_ = net.layers[0]
        self.n_parameters_ = net.n_parameters
        self.weights_, self.biases_ = net.weights, net.biases
        self.data_min_, self.data_max_ = X.min(axis=0), X.max(axis=0)
        self.mean_: FloatArray | None = None
        self.scale_: FloatArray | None = None
        if self.config.standardize:
            self.mean_, self.scale_ = _standardization(X[train])
        self.history_: list[dict[str, float]] = []
        self.metrics_: dict[str, float] = {}
        self.best_epoch_ = 0
        self.stopped_early_ = False
        self.stop_reason_ = "running"

    def _train(
        self, net: Network, data: _Split, rng: np.random.Generator, on_epoch: EpochCallback | None
    ) -> None:
        """The epoch loop: train, evaluate, check, report, stop."""
        cfg = self.config
        run_epoch = _epoch_runner(net, cfg, data.X_train.shape[0])
        X1, n = with_ones(data.X_train, net.dtype), data.X_train.shape[0]
        tracker = _BestTracker(net, cfg.early_stopping, cfg.patience)
        for epoch in range(1, cfg.epochs + 1):
            order = rng.permutation(n) if cfg.shuffle else None
            with np.errstate(all="ignore"):  # overflow shows up as a non-finite loss below
                run_epoch(
                    X1 if order is None else X1[order],
                    data.Y_train if order is None else data.Y_train[order],
                )
                metrics = self._epoch_metrics(net, data)
            if not (math.isfinite(metrics["loss"]) and np.isfinite(net.params).all()):
                raise DivergedError(epoch)
            self.history_.append({"epoch": epoch, **metrics})
            tracker.update(epoch, metrics.get("val_loss", metrics["loss"]))
            if on_epoch is not None and on_epoch(epoch, dict(metrics)) is False:
                self.stop_reason_ = "callback"
                break
            if tracker.exhausted(epoch):
                self.stop_reason_ = "early_stopping"
                break
        self._finish(tracker)

    def _epoch_metrics(self, net: Network, data: _Split) -> dict[str, float]:
        """Loss (and accuracy) on the training split, and on the validation split if any."""
        classify = self.task == "classification"
        loss, accuracy = net.evaluate(data.X_train, data.Y_train, classify)
        metrics = {"loss": loss} if accuracy is None else {"loss": loss, "accuracy": accuracy}
        if data.X_val.shape[0]:
            val_loss, val_accuracy = net.evaluate(data.X_val, data.Y_val, classify)
            metrics["val_loss"] = val_loss
            if val_accuracy is not None:
                metrics["val_accuracy"] = val_accuracy
        return metrics

    def _finish(self, tracker: _BestTracker) -> None:
        """Restore the best weights if early stopping is on, and record the final state."""
        last = self.history_[-1]["epoch"]
        self.best_epoch_ = tracker.restore() or int(last)
        self.stopped_early_ = self.stop_reason_ != "running"
        if self.stop_reason_ == "running":
            self.stop_reason_ = "completed"
        row = self.history_[self.best_epoch_ - 1]
        self.metrics_ = {k: v for k, v in row.items() if k != "epoch"}
        logger.debug("fit finished after %d epochs (%s)", last, self.stop_reason_)

    # ---------------------------------------------------------------- prediction

    def _network(self) -> Network:
        if self._net is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit or load")
        return self._net

    def _prepare(self, X: FloatArray) -> FloatArray:
        """Standardise (if configured) and cast ``X: (n, n_features)`` to the model dtype."""
        if self.mean_ is not None and self.scale_ is not None:
            X = (X - self.mean_) / self.scale_
        # Any memory order: training copies its rows anyway and the lean forward pass reads X.T.
        return np.asarray(X, dtype=self._network().dtype)

    def _forward(self, X: npt.ArrayLike) -> FloatArray:
        """Output activations ``(n, layers_[-1])`` for raw ``X: (n, n_features)``."""
        net = self._network()
        X_checked = _check_X(X, net.layers[0])
        with np.errstate(all="ignore"):
            out = net.predict(self._prepare(X_checked))
        if not np.isfinite(out).all():
            raise ValueError("X is too large for this model: its output overflowed")
        return out

    # ---------------------------------------------------------------- persistence

    def _restore_state(self, net: Network, config: Mapping[str, Any]) -> None:
        """Set the fitted attributes of a model rebuilt by ``load``; raises ``ModelFormatError``."""
        n_in = net.layers[0]
        std = config["standardize"]
        if std is not None and not isinstance(std, Mapping):
            raise ModelFormatError("config 'standardize' must be null or {mean, scale}")
        self._net = net
        self.layers_, self.n_features_in_, self.n_parameters_ = net.layers, n_in, net.n_parameters
        self.weights_, self.biases_ = net.weights, net.biases
        self.mean_ = None if std is None else _float_list(std, "mean", n_in)
        self.scale_ = None if std is None else _float_list(std, "scale", n_in, positive=True)
        self.data_min_ = _float_list(config, "data_min", n_in)
        self.data_max_ = _float_list(config, "data_max", n_in)
        history, metrics = config.get("history", []), config.get("metrics", {})
        if not isinstance(history, list) or not isinstance(metrics, Mapping):
            raise ModelFormatError("config 'history' must be a list and 'metrics' an object")
        if not all(isinstance(row, Mapping) for row in history):
            raise ModelFormatError("config 'history' must be a list of objects")
        self.history_ = [dict(row) for row in history]
        self.metrics_ = dict(metrics)
        best = config.get("best_epoch", len(self.history_))
        self.best_epoch_ = best if isinstance(best, int) else len(self.history_)
        self.stop_reason_ = str(config.get("stop_reason", "completed"))
        self.stopped_early_ = self.stop_reason_ not in ("completed", "running")
        metadata = config.get("metadata", {})
        if not isinstance(metadata, Mapping):
            raise ModelFormatError("config 'metadata' must be an object")
        self.metadata_ = dict(metadata)

    def save(self, target: PathOrFile, metadata: Mapping[str, Any] | None = None) -> None:
        """Write the model to a path (atomically) or a writable binary file object.

        ``metadata``: a JSON-able mapping stored in the file and read back as ``metadata_``
        (default: the model's current ``metadata_``, empty unless it was loaded with some).
        """
        net = self._network()
        config = self._model_config()
        config["metadata"] = dict(self.metadata_ if metadata is None else metadata)
        save_model_file(target, net.weights, net.biases, config)

    def _model_config(self) -> dict[str, Any]:
        """The JSON config stored next to the weights (without ``metadata``)."""
        net = self._network()
        standardize = None
        if self.mean_ is not None and self.scale_ is not None:
            standardize = {"mean": self.mean_.tolist(), "scale": self.scale_.tolist()}
        return {
            "layers": list(net.layers),
            "task": self.task,
            "activation": net.activation.name,
            "output": net.output.name,
            "loss": net.output.loss_name,
            **self._target_config(),
            "standardize": standardize,
            "params": self.get_params(),
            "metrics": dict(self.metrics_),
            "history": [dict(row) for row in self.history_],
            "data_min": self.data_min_.tolist(),
            "data_max": self.data_max_.tolist(),
            "dtype": net.dtype.name,
            "best_epoch": self.best_epoch_,
            "stop_reason": self.stop_reason_,
        }


class MLPClassifier(_BaseMLP):
    __doc__ = (
        """Multi-layer perceptron classifier (pure NumPy).

    Two classes use one sigmoid output unit with binary cross-entropy (layers ``(d, ..., 1)``);
    three or more use softmax with cross-entropy and one unit per class. Labels may be ints or
    strings (bools and integral floats such as the notebook's 0.0/1.0 are read as ints);
    ``predict`` returns the original labels. The teaching notebook's setup::

        MLPClassifier(hidden_layers=(5, 3), activation="relu", optimizer="sgd", momentum=0.0,
                      learning_rate=0.001, batch_size=1, epochs=200, init="notebook",
                      shuffle=False, standardize=False, seed=s)

    trains on the true gradient; ``optimizer="notebook"`` instead reproduces the notebook's
    ``backwardn`` update order exactly (to rounding, given the same initial weights).
"""
        + _PARAM_DOC
        + _FITTED_DOC
        + """        classes_: the sorted original labels.
"""
    )

    task: ClassVar[str] = "classification"

    def _encode_targets(self, y: Any, n_samples: int) -> FloatArray:
        labels, self._label_kind = _check_labels(y, n_samples)
        self.classes_, index = np.unique(labels, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError("y must contain at least two classes")
        if self.classes_.size == 2:
            targets: FloatArray = (index == 1).astype(np.float64)[:, None]
        else:
            targets = np.eye(self.classes_.size)[index]
        return targets

    def _output(self) -> Output:
        return OUTPUTS["sigmoid" if self.classes_.size == 2 else "softmax"]

    def _target_config(self) -> dict[str, Any]:
        return {"classes": self.classes_.tolist(), "label_kind": self._label_kind}

    def _restore_targets(self, config: Mapping[str, Any], n_outputs: int) -> None:
        classes, kind = config.get("classes"), config.get("label_kind")
        if kind not in ("int", "str") or not isinstance(classes, list) or len(classes) < 2:
            raise ModelFormatError("config needs 'label_kind' ('int' or 'str') and >= 2 'classes'")
        wanted = int if kind == "int" else str
        if not all(isinstance(c, wanted) and not isinstance(c, bool) for c in classes):
            raise ModelFormatError(f"config 'classes' must all be {kind} labels")
        if len(set(classes)) != len(classes) or classes != sorted(classes):
            raise ModelFormatError("config 'classes' must be sorted and distinct")
        expected = 1 if len(classes) == 2 else len(classes)
        if n_outputs != expected:
            raise ModelFormatError(
                f"{len(classes)} classes need {expected} output unit(s), "
                f"but the layers end in {n_outputs}"
            )
        self.classes_ = np.array(classes, dtype=np.int64 if kind == "int" else str)
        self._label_kind = kind

    def predict_proba(self, X: npt.ArrayLike) -> FloatArray:
        """Class probabilities ``(n_samples, n_classes)`` in ``classes_`` order; rows sum to 1.

        Binary models return two columns ``[1 - p, p]`` with ``p = P(classes_[1])``.
        """
        out = self._forward(X)
        if out.shape[1] == 1:
            return np.hstack([1.0 - out, out])
        return out

    def predict(self, X: npt.ArrayLike) -> npt.NDArray[Any]:
        """Predicted original labels ``(n_samples,)``; binary: ``classes_[1]`` iff p > 0.5."""
        out = self._forward(X)
        index = (out[:, 0] > 0.5).astype(np.intp) if out.shape[1] == 1 else out.argmax(axis=1)
        labels: npt.NDArray[Any] = self.classes_[index]
        return labels

    def score(self, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Accuracy of ``predict(X)`` against labels ``y: (n_samples,)``."""
        labels, _ = _check_labels(y, None)
        return float(np.mean(self.predict(X) == labels))


class MLPRegressor(_BaseMLP):
    __doc__ = (
        """Multi-layer perceptron regressor (pure NumPy): identity output, squared-error loss.

    ``y`` may be ``(n_samples,)`` or ``(n_samples, n_targets)``; ``predict`` returns the same
    shape. The reported ``loss`` is half the squared error summed over targets and averaged over
    samples (so its gradient is ``y_pred - y``), i.e. MSE / 2 for one target. Targets are not
    rescaled: give them a moderate range.
"""
        + _PARAM_DOC
        + _FITTED_DOC
    )

    task: ClassVar[str] = "regression"

    def _encode_targets(self, y: Any, n_samples: int) -> FloatArray:
        Y = _check_targets(y, n_samples)
        self._target_ndim = Y.ndim
        return Y.reshape(n_samples, -1)

    def _output(self) -> Output:
        return OUTPUTS["identity"]

    def _target_config(self) -> dict[str, Any]:
        return {"classes": None, "target_ndim": self._target_ndim}

    def _restore_targets(self, config: Mapping[str, Any], n_outputs: int) -> None:
        ndim = config.get("target_ndim")
        if ndim not in (1, 2) or (ndim == 1 and n_outputs != 1):
            raise ModelFormatError(
                f"config 'target_ndim' must be 1 (one output) or 2, got {ndim!r}"
            )
        self._target_ndim = int(ndim)

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Predictions ``(n_samples,)`` or ``(n_samples, n_targets)`` as ``y`` was at fit."""
        out = self._forward(X)
        return out[:, 0] if self._target_ndim == 1 else out

    def score(self, X: npt.ArrayLike, y: npt.ArrayLike) -> float:
        """Coefficient of determination R^2 (averaged over targets)."""
        Y = _check_targets(y, None)
        pred = self.predict(X).reshape(Y.shape[0], -1)
        Y = Y.reshape(Y.shape[0], -1)
        residual = ((Y - pred) ** 2).sum(axis=0)
        total = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
        r2 = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), residual == 0)
        return float(np.mean(r2))


# -------------------------------------------------------------------- loading


_REQUIRED_KEYS = ("layers", "task", "activation", "output", "params", "standardize", "dtype")
_ESTIMATORS: dict[str, type[MLPClassifier] | type[MLPRegressor]] = {
    cls.task: cls for cls in (MLPClassifier, MLPRegressor)
}


def load(source: PathOrFile) -> MLPClassifier | MLPRegressor:
    """Read a model written by ``save`` (path or binary file object); never unpickles.

    Raises ``ModelFormatError`` if the file or its config is malformed or inconsistent.
    """
    weights, biases, config = load_model_file(source)
    return from_config(weights, biases, config)


def from_config(
    weights: Sequence[FloatArray], biases: Sequence[FloatArray], config: Mapping[str, Any]
) -> MLPClassifier | MLPRegressor:
    """Rebuild a fitted estimator from arrays and the JSON config, without training."""
    missing = [key for key in _REQUIRED_KEYS if key not in config]
    if missing:
        raise ModelFormatError(f"model config lacks {missing}")
    cls = _ESTIMATORS.get(config["task"])
    if cls is None:
        raise ModelFormatError(
            f"config 'task' must be one of {sorted(_ESTIMATORS)}, got {config['task']!r}"
        )
    params = config["params"]
    if not isinstance(params, Mapping):
        raise ModelFormatError("config 'params' must be an object")
    try:
        model = cls(**MLPConfig.from_params(params).to_params())
    except (TypeError, ValueError) as exc:
        raise ModelFormatError(f"config 'params' are invalid: {exc}") from exc
    net = _network_from_config(model, weights, biases, config)
    model._restore_targets(config, net.layers[-1])
    if net.output.name != model._output().name:
        raise ModelFormatError(
            f"config 'output' {net.output.name!r} does not fit the task and classes"
        )
    model._restore_state(net, config)
    return model


def _network_from_config(
    model: _BaseMLP,
    weights: Sequence[FloatArray],
    biases: Sequence[FloatArray],
    config: Mapping[str, Any],
) -> Network:
    """The network described by ``config`` holding ``weights`` and ``biases``."""
    activation, output = config["activation"], config["output"]
    if activation not in ACTIVATIONS or activation != model.config.activation:
        raise ModelFormatError(
            f"config 'activation' {activation!r} is unknown or disagrees with 'params'"
        )
    if output not in OUTPUTS:
        raise ModelFormatError(f"config 'output' must be one of {sorted(OUTPUTS)}, got {output!r}")
    if config["dtype"] not in DTYPES:
        raise ModelFormatError(
            f"config 'dtype' must be one of {list(DTYPES)}, got {config['dtype']!r}"
        )
    layers = config["layers"]
    expected = [(w.shape, b.shape) for w, b in zip(weights, biases, strict=False)]
    if (
        not isinstance(layers, list)
        or len(layers) < 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in layers)
        or expected != [((i, o), (o,)) for i, o in itertools.pairwise(layers)]
        or tuple(layers[1:-1]) != model.config.hidden_layers
    ):
        raise ModelFormatError(
            "config 'layers' does not match the arrays or 'params.hidden_layers'"
        )
    net = Network(layers, ACTIVATIONS[activation], OUTPUTS[output], config["dtype"])
    net.set_parameters(weights, biases)
    if not np.isfinite(net.params).all():
        raise ModelFormatError("model weights contain NaN or infinity")
    return net


def _float_list(config: Mapping[str, Any], key: str, n: int, positive: bool = False) -> FloatArray:
    """``config[key]`` as a finite float64 array of shape ``(n,)``."""
    value = config.get(key)
    ok = (
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    )
    arr = np.array(value, dtype=np.float64) if ok else np.zeros(0)
    if not ok or not np.isfinite(arr).all() or (positive and not (arr > 0).all()):
        sign = " positive" if positive else ""
        raise ModelFormatError(f"config '{key}' must be a list of {n} finite{sign} numbers")
    return arr


# -------------------------------------------------------------------- helpers


class _Split(NamedTuple):
    """Standardised, dtype-cast training and validation arrays (validation may be empty)."""

    X_train: FloatArray
    Y_train: FloatArray
    X_val: FloatArray
    Y_val: FloatArray


class _BestTracker:
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


def _epoch_runner(
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


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[npt.NDArray[np.intp], ...]:
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


def _standardization(X: FloatArray) -> tuple[FloatArray, FloatArray]:
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


def _check_X(X: npt.ArrayLike, n_features: int | None = None) -> FloatArray:
    """``X`` as a finite float64 array ``(n_samples, n_features)`` with at least one row."""
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be a 2-D array of numbers: {exc}") from None
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"X must be a non-empty 2-D array (n_samples, n_features), got shape {arr.shape}"
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"X has {arr.shape[1]} features, but the model expects {n_features}")
    if not np.isfinite(arr).all():
        raise ValueError("X contains NaN or infinity")
    return arr


def _check_labels(y: Any, n_samples: int | None) -> tuple[npt.NDArray[Any], str]:
    """Class labels ``(n_samples,)`` as int64 or str, and their kind (``int`` or ``str``).

    Accepts ints, bools, integral floats (e.g. the notebook's 0.0/1.0 column) and strings;
    a ``(n, 1)`` column is flattened.
    """
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or (n_samples is not None and arr.shape[0] != n_samples):
        raise ValueError(f"y must have shape ({n_samples or 'n_samples'},), got {arr.shape}")
    if arr.dtype.kind == "O":
        if all(isinstance(v, str) for v in arr):
            arr = arr.astype(str)
        elif all(isinstance(v, numbers.Integral) for v in arr):
            arr = arr.astype(np.int64)
    if arr.dtype.kind == "U":
        return arr, "str"
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64), "int"
    if arr.dtype.kind == "f" and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64), "int"
    raise ValueError("y must hold class labels: integers or strings (not mixed, no NaN)")


def _check_targets(y: Any, n_samples: int | None) -> FloatArray:
    """Regression targets as finite float64 ``(n_samples,)`` or ``(n_samples, n_targets)``."""
    try:
        arr = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y must be numbers: {exc}") from None
    if (
        arr.ndim not in (1, 2)
        or (n_samples is not None and arr.shape[0] != n_samples)
        or arr.size == 0
    ):
        raise ValueError(
            f"y must have shape (n_samples,) or (n_samples, n_targets), got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("y contains NaN or infinity")
    return arr
