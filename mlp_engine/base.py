"""``_BaseMLP``: what ``MLPClassifier`` and ``MLPRegressor`` share.

It turns user data (a 2-D array or a table) into the network's terms (held-out test split,
train/validation split, array standardisation or a table's preprocessing plan, dtype, class
weights), runs the epochs (``mlp_engine.training``, ``mlp_engine.network``), reports progress
through ``on_epoch``, checks for divergence, reports ``evaluation_`` on every split, and saves
through ``mlp_engine.persistence``. The subclasses (``mlp_engine.estimators``) encode and decode
the targets.
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
from mlp_engine.config import ClassWeight, MLPConfig, Seed
from mlp_engine.crosses import Crosses, check_width, cross_names
from mlp_engine.errors import ConfigError, DivergedError
from mlp_engine.inputs import FitInputs, column_bounds, encode, features, read_fit_inputs
from mlp_engine.losses import Output
from mlp_engine.network import Network, Prepare, with_ones
from mlp_engine.one_row import OneRow
from mlp_engine.persistence import save_model_file
from mlp_engine.preprocessing import Plan, fit_crosses, fit_plan, standardization
from mlp_engine.restore import restore_fitted_state
from mlp_engine.training import (
    BestTracker,
    TrainingData,
    epoch_runner,
    holdout,
    split,
)

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
        max_categories: int = 20,
        test_fraction: float = 0.0,
        class_weight: ClassWeight = None,
        l1: float = 0.0,
        feature_crosses: Sequence[str] = (),
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
            max_categories=max_categories,
            test_fraction=test_fraction,
            class_weight=class_weight,
            l1=l1,
            feature_crosses=feature_crosses,
        )
        self._net: Network | None = None
        self.metadata_: dict[str, Any] = {}
        self.evaluation_: dict[str, Any] | None = None
        self.split_: npt.NDArray[np.int8] | None = None

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

    def _class_index(self, Y: FloatArray) -> npt.NDArray[np.intp] | None:
        """Class index ``(n,)`` of encoded targets ``Y``, or None (regression)."""
        return None

    def _sample_weights(self, Y: FloatArray) -> FloatArray | None:
        """Per-sample loss weights ``(n,)`` for encoded training targets ``Y``, or None."""
        return None

    def _report(self, Y: FloatArray, out: FloatArray) -> dict[str, Any]:
        """Metrics of outputs ``out`` against encoded targets ``Y``, both ``(n, n_outputs)``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- fitting

    def fit(
        self,
        X: Any,
        y: npt.ArrayLike,
        on_epoch: EpochCallback | None = None,
        *,
        categorical: Sequence[str] | None = None,
    ) -> Self:
        """Train from scratch on ``X`` and ``y``; returns self.

        ``X`` is a 2-D array ``(n_samples, n_features)`` or a table (``mlp_engine.tables``);
        ``categorical`` forces the named table columns to be categorical. Rows are first split
        into a held-out test part (``test_fraction``), then training and validation; the
        preprocessing (or the array standardisation) is learnt on the training split only.

        ``on_epoch(epoch, metrics)`` runs after every epoch (epoch counts from 1; metrics as in
        ``history_`` without ``epoch``); returning exactly ``False`` stops training cleanly.
        Raises ``DivergedError`` if the loss or a weight becomes non-finite (checked after
        every epoch), ``ValueError`` for invalid data, ``ConfigError`` for settings that do not
        fit the data.
        """
        cfg = self.config
        self._net = None  # until the new network exists: a failed fit leaves no stale model
        if cfg.class_weight is not None and self.task != "classification":
            raise ConfigError("class_weight", "class_weight applies to classifiers only")
        inputs = read_fit_inputs(X, categorical)
        Y = self._encode_targets(y, inputs.n_rows)
        rng = (
            cfg.seed
            if isinstance(cfg.seed, np.random.Generator)
            else np.random.default_rng(cfg.seed)
        )
        kept, test = holdout(inputs.n_rows, cfg.test_fraction, self._class_index(Y), rng)
        if inputs.X is not None:
            net, train, val, X_all = self._setup_array(inputs.X, Y.shape[1], kept, rng)
        else:
            net, train, val, X_all = self._setup_table(inputs, Y.shape[1], kept, rng)
        self._start(net, inputs)
        X_all = self._prepare(X_all)
        data = self._training_data(X_all, Y, train, val)
        try:
            self._train(net, data, rng, on_epoch)
        except DivergedError:
            self._net = None  # its weights are not finite
            raise
        self.evaluation_ = self._evaluation(
            X_all, Y, {"train": train, "validation": val, "test": test}
        )
        self.split_ = split_record(inputs.n_rows, val, test)
        return self

    def _new_network(self, n_inputs: int, n_outputs: int, rng: np.random.Generator) -> Network:
        """Freshly initialised network ``(n_inputs, *hidden_layers, n_outputs)``."""
        cfg = self.config
        layers = (n_inputs, *cfg.hidden_layers, n_outputs)
        return Network.initialized(
            layers, ACTIVATIONS[cfg.activation], self._output(), cfg.init, rng, cfg.dtype
        )

    def _setup_array(
        self, X: FloatArray, n_outputs: int, kept: npt.NDArray[np.intp], rng: np.random.Generator
    ) -> tuple[Network, npt.NDArray[np.intp], npt.NDArray[np.intp], FloatArray]:
        """Array input: initial weights, then the validation split (the historic draw order);
        the crosses' width is known before they are fitted on the training split."""
        cfg = self.config
        n_crossed = check_width(X.shape[1], cfg.feature_crosses)  # ConfigError before any draw
        net = self._new_network(X.shape[1] + n_crossed, n_outputs, rng)
        train, val = (kept[rows] for rows in split(kept.size, cfg.validation_fraction, rng))
        self.plan_: Plan | None = None
        self.mean_: FloatArray | None = None
        self.scale_: FloatArray | None = None
        self.crosses_: Crosses | None = None
        if cfg.standardize:
            self.mean_, self.scale_ = standardization(X[train])
        if cfg.feature_crosses:
            self.crosses_ = fit_crosses(X[train], cfg.feature_crosses, cfg.standardize)
        return net, train, val, X

    def _setup_table(
        self,
        inputs: FitInputs,
        n_outputs: int,
        kept: npt.NDArray[np.intp],
        rng: np.random.Generator,
    ) -> tuple[Network, npt.NDArray[np.intp], npt.NDArray[np.intp], FloatArray]:
        """Table input: the validation split, the preprocessing (learnt on the training split),
        then initial weights (their shape depends on the preprocessing)."""
        cfg, columns, kinds = self.config, inputs.columns or {}, inputs.kinds or {}
        train, val = (kept[rows] for rows in split(kept.size, cfg.validation_fraction, rng))
        training_columns = {name: column[train] for name, column in columns.items()}
        plan = fit_plan(
            training_columns,
            kinds,
            max_categories=cfg.max_categories,
            standardize=cfg.standardize,
            crosses=cfg.feature_crosses,
        )
        self.plan_, self.mean_, self.scale_, self.crosses_ = plan, None, None, plan.crosses
        net = self._new_network(plan.width, n_outputs, rng)
        return net, train, val, plan.transform(columns)

    def _training_data(
        self,
        X_all: FloatArray,
        Y: FloatArray,
        train: npt.NDArray[np.intp],
        val: npt.NDArray[np.intp],
    ) -> TrainingData:
        """The dtype-cast splits, with ``class_weight`` sample weights for the training rows."""
        dtype = self._network().dtype
        weights = self._sample_weights(Y[train])
        return TrainingData(
            X_all[train],
            Y[train].astype(dtype),
            X_all[val],
            Y[val].astype(dtype),
            None if weights is None else weights.astype(dtype),
        )

    def _start(self, net: Network, inputs: FitInputs) -> None:
        """Set every fitted attribute before the first epoch (so ``on_epoch`` can predict)."""
        self._net = net
        self.layers_ = net.layers
        self.n_features_in_ = len(inputs.names)
        self.feature_names_in_ = np.array(inputs.names, dtype=str)
        self._features = features(inputs, self.plan_)
        self.n_parameters_ = net.n_parameters
        self.weights_, self.biases_ = net.weights, net.biases
        self.data_min_, self.data_max_ = column_bounds(inputs)
        self.history_: list[dict[str, float]] = []
        self.metrics_: dict[str, float] = {}
        self.evaluation_ = None
        self.split_ = None
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
                W = data.W_train
                if order is None:
                    run_epoch(X1, data.Y_train, W)
                else:
                    run_epoch(X1[order], data.Y_train[order], None if W is None else W[order])
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

    def _evaluation(
        self, X_all: FloatArray, Y: FloatArray, splits: Mapping[str, npt.NDArray[np.intp]]
    ) -> dict[str, Any]:
        """``{"train": M, "validation": M | None, "test": M | None}`` from prepared inputs."""
        net = self._network()
        result: dict[str, Any] = {}
        for name, rows in splits.items():
            if rows.size == 0:
                result[name] = None
                continue
            with np.errstate(all="ignore"):
                out = net.predict(X_all[rows])
            result[name] = self._report(Y[rows], np.asarray(out, dtype=np.float64))
        return result

    # ---------------------------------------------------------------- prediction

    def _network(self) -> Network:
        if self._net is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit or load")
        return self._net

    def _prepare(self, X: FloatArray) -> FloatArray:
        """Standardise (if configured) and cast ``X: (n, n_features)`` to the model dtype; an
        array model's crosses of the raw ``X`` are appended (a table's plan made its own)."""
        raw = X
        if self.mean_ is not None and self.scale_ is not None:
            X = (X - self.mean_) / self.scale_
        if self.crosses_ is not None and self.plan_ is None:
            X = np.hstack([X, self.crosses_.transform(raw)])
        # Any memory order: training copies its rows anyway and the lean forward pass reads X.T.
        return np.asarray(X, dtype=self._network().dtype)

    def _chunk_preparer(self) -> Prepare | None:
        """``_prepare`` for the lean pass, which applies it to one chunk of rows at a time
        (the same arithmetic, so the same values, while the chunk is in cache), or None when
        ``_prepare`` only casts (the network does that itself)."""
        if self.mean_ is None or self.scale_ is None:
            return None
        mean, scale, dtype = self.mean_, self.scale_, self._network().dtype

        def prepare(block: FloatArray) -> FloatArray:
            shifted = np.subtract(block, mean)
            shifted /= scale
            return shifted.astype(dtype, copy=False)

        return prepare

    @property
    def features(self) -> list[dict[str, Any]]:
        """The input signature: ``[{"name", "type": "numeric" | "categorical", "missing",
        "categories" (categorical only)}]`` (see ``mlp_engine.inputs.features``)."""
        self._network()
        return [dict(feature) for feature in self._features]

    def _network_input(self, X: Any) -> FloatArray:
        """The network's input ``(n, layers_[0])`` for raw ``X`` (array or table): the one
        input transform of predict (also used by ``mlp_engine.units``)."""
        self._network()
        return self._prepare(encode(X, self.plan_, self.feature_names_in_, self.n_features_in_))

    @property
    def crossed_features(self) -> list[str]:
        """Names of the crossed input columns (``x0^2``, ``x0*x1``, ``sin(x0)``, ...) in the
        order they follow the encoded columns in the network's input; ``[]`` without crosses."""
        self._network()
        if self.crosses_ is None:
            return []
        if self.plan_ is None:
            return cross_names(self.feature_names_in_.tolist(), self.crosses_.kinds)
        numeric = [step.column for step in self.plan_.numeric_steps]
        return cross_names(numeric, self.crosses_.kinds)

    def _one_row(self) -> OneRow | None:
        """The network's one-row pass (``mlp_engine.one_row``) for an array model without
        crosses, else None."""
        net = self._network()
        if self.plan_ is not None or self.crosses_ is not None:
            return None
        return net.one_row(self.mean_, self.scale_)

    def _forward(self, X: Any) -> FloatArray:
        """Output activations ``(n, layers_[-1])`` for raw ``X`` (array or table)."""
        row = self._one_row()
        out = None if row is None else row.outputs(X)
        return self._lean_forward(X) if out is None else out

    def _lean_forward(self, X: Any) -> FloatArray:
        """``_forward`` through ``Network.predict`` (any number of rows, tables, crosses)."""
        net = self._network()
        if self.crosses_ is not None and self.plan_ is None:  # crosses of the raw X: whole
            with np.errstate(all="ignore"):
                out = net.predict(self._network_input(X))
        else:
            encoded = _float32_rows(X, net) if self.plan_ is None else None
            if encoded is None:
                encoded = encode(X, self.plan_, self.feature_names_in_, self.n_features_in_)
            with np.errstate(all="ignore"):
                out = net.predict(encoded, self._chunk_preparer())
        if not np.isfinite(out).all():
            raise ValueError("X is too large for this model: its output overflowed")
        return out

    # ---------------------------------------------------------------- persistence

    def _restore_state(self, net: Network, config: Mapping[str, Any]) -> None:
        """Set the fitted attributes of a model rebuilt by ``load``; raises ``ModelFormatError``."""
        self._net = net
        self.layers_, self.n_parameters_ = net.layers, net.n_parameters
        self.weights_, self.biases_ = net.weights, net.biases
        for name, value in restore_fitted_state(net.layers[0], config).items():
            setattr(self, name, value)

    def save(self, target: PathOrFile, metadata: Mapping[str, Any] | None = None) -> None:
        """Write the model to a path (atomically) or a writable binary file object.

        ``metadata``: a JSON-able mapping stored in the file and read back as ``metadata_``
        (default: the model's current ``metadata_``, empty unless it was loaded with some).
        """
        net = self._network()
        config = self._model_config()
        config["metadata"] = dict(self.metadata_ if metadata is None else metadata)
        states = [] if self.plan_ is None else [dict(step.state) for step in self.plan_.steps]
        save_model_file(target, net.weights, net.biases, config, states, self.split_)

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
            "data_min": _nullable(self.data_min_),
            "data_max": _nullable(self.data_max_),
            "feature_names": self.feature_names_in_.tolist(),
            "features": self.features,
            "preprocessing": None if self.plan_ is None else self.plan_.to_config(),
            "crosses": None if self.crosses_ is None else self.crosses_.to_config(),
            "evaluation": self.evaluation_,
            "dtype": net.dtype.name,
            "best_epoch": self.best_epoch_,
            "stop_reason": self.stop_reason_,
        }


def _float32_rows(X: Any, net: Network) -> FloatArray | None:
    """``X`` itself when it is a valid float32 input of a float32 network, else None.

    The float32 inference path: ``check_X`` would copy the rows to float64 (exactly), only for
    the network to cast them back; a finite float32 array of the right shape goes in as it is.
    Anything else (None) takes the general path, which also reports what is wrong.
    """
    if not (isinstance(X, np.ndarray) and X.dtype == np.float32 and net.dtype == np.float32):
        return None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] != net.layers[0]:
        return None
    return X if np.isfinite(X).all() else None


def split_record(
    n_rows: int, val: npt.NDArray[np.intp], test: npt.NDArray[np.intp]
) -> npt.NDArray[np.int8]:
    """``(n_rows,)`` int8: 0 for training rows, 1 for ``val`` rows, 2 for ``test`` rows (no
    random draws)."""
    codes = np.zeros(n_rows, dtype=np.int8)
    codes[val] = 1
    codes[test] = 2
    return codes


def _nullable(values: FloatArray) -> list[float | None]:
    """``values: (d,)`` as a JSON list with null for NaN."""
    return [None if np.isnan(v) else float(v) for v in values.tolist()]
