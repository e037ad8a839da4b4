"""``_BaseMLP``: what ``MLPClassifier`` and ``MLPRegressor`` share.

It turns user data into the network's terms (standardisation, dtype, train/validation split),
runs the epochs (``mlp_engine.training``, ``mlp_engine.network``), reports progress through
``on_epoch``, checks for divergence, and saves through ``mlp_engine.persistence``. The
subclasses (``mlp_engine.estimators``) encode and decode the targets.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO, ClassVar, Self

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import ACTIVATIONS, FloatArray
from mlp_engine.config import MLPConfig, Seed
from mlp_engine.errors import DivergedError, ModelFormatError
from mlp_engine.losses import Output
from mlp_engine.network import Network, with_ones
from mlp_engine.persistence import save_model_file
from mlp_engine.restore import float_list
from mlp_engine.training import BestTracker, TrainingData, epoch_runner, split, standardization
from mlp_engine.validation import check_X

__all__ = ["EpochCallback", "PathOrFile"]

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, float]], object]
PathOrFile = str | os.PathLike[str] | BinaryIO


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
        X_raw = check_X(X)
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
        train, val = split(X_raw.shape[0], cfg.validation_fraction, rng)
        self._start(net, X_raw, train)
        X_all = self._prepare(X_raw)
        data = TrainingData(X_all[train], Y[train].astype(dtype), X_all[val], Y[val].astype(dtype))
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
            self.mean_, self.scale_ = standardization(X[train])
        self.history_: list[dict[str, float]] = []
        self.metrics_: dict[str, float] = {}
        self.best_epoch_ = 0
        self.stopped_early_ = False
        self.stop_reason_ = "running"

    def _train(
        self,
        net: Network,
        data: TrainingData,
        rng: np.random.Generator,
        on_epoch: EpochCallback | None,
    ) -> None:
        """The epoch loop: train, evaluate, check, report, stop."""
        cfg = self.config
        run_epoch = epoch_runner(net, cfg, data.X_train.shape[0])
        X1, n = with_ones(data.X_train, net.dtype), data.X_train.shape[0]
        tracker = BestTracker(net, cfg.early_stopping, cfg.patience)
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

    def _epoch_metrics(self, net: Network, data: TrainingData) -> dict[str, float]:
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

    def _finish(self, tracker: BestTracker) -> None:
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
        X_checked = check_X(X, net.layers[0])
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
        self.mean_ = None if std is None else float_list(std, "mean", n_in)
        self.scale_ = None if std is None else float_list(std, "scale", n_in, positive=True)
        self.data_min_ = float_list(config, "data_min", n_in)
        self.data_max_ = float_list(config, "data_max", n_in)
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
