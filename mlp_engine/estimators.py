"""``MLPClassifier`` and ``MLPRegressor``: fit, predict, score, save; and ``load``.

The estimators encode their targets (class labels or regression values) and decode the network's
outputs; everything else they share lives in ``mlp_engine.base``. ``load`` / ``from_config``
rebuild a fitted estimator from a model file without training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import FloatArray
from mlp_engine.base import EpochCallback, PathOrFile, _BaseMLP
from mlp_engine.config import MLPConfig
from mlp_engine.errors import ModelFormatError
from mlp_engine.losses import OUTPUTS, Output
from mlp_engine.metrics import classification_report, regression_report
from mlp_engine.persistence import load_model_file
from mlp_engine.restore import network_from_config
from mlp_engine.training import class_weights
from mlp_engine.validation import check_labels, check_targets

__all__ = ["EpochCallback", "MLPClassifier", "MLPRegressor", "from_config", "load"]


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
            scale 1). For a table, this is the numeric columns' standardisation after median
            imputation (``mlp_engine.preprocessing``).
        dtype: ``float64`` (default) or ``float32`` for the weights and all training compute.
        seed: int (default 0) or ``np.random.Generator``: the same seed, data and settings give
            bit-for-bit identical weights; None draws fresh entropy. Draw order: the test split
            (only if ``test_fraction > 0``), then for an array initial weights and the
            validation split, for a table the validation split and initial weights (their shape
            depends on the preprocessing learnt on the training split), then one permutation per
            epoch.
        max_categories: categorical table columns keep their ``max_categories - 1`` most
            frequent values and group the rest as "other" once they have more than this many
            distinct values, >= 1 (default 20).
        test_fraction: share of rows held out before anything else, in [0, 1) (default 0):
            stratified by class for classifiers, never seen by training, preprocessing or early
            stopping; reported as ``evaluation_["test"]``.
        class_weight: None (default), ``"balanced"`` (``n / (k * count)`` per class on the
            training split) or ``{label: weight}`` (others weigh 1); classifiers only. Each
            sample's loss and gradient are multiplied by its class's weight (the reported
            losses stay unweighted).
        l1: L1 penalty, >= 0: ``l1 * sum(|W|)`` is added to the objective and ``l1 * sign(W)``
            to every weight gradient, biases excluded (default 0; 0 with ``notebook``).
        feature_crosses: distinct names among ``square`` (``x_i^2``), ``product`` (``x_i *
            x_j``, ``i < j``) and ``sin`` (``sin x_i``), computed inside the model from the raw
            numeric inputs (a table's numeric columns after median imputation; categorical
            columns are not crossed) and appended to the network's input, each standardised
            on the training split: see ``mlp_engine.crosses`` for their fixed order (squares,
            products, sines). ``predict`` still takes the raw columns. Default ``()``; more than
            ``MAX_CROSSED_COLUMNS`` (1000) crossed columns is a ``ConfigError``.

    All settings are validated on construction (``ValueError`` naming the parameter).
"""

_FITTED_DOC = """
    Attributes (after ``fit``, and already inside ``on_epoch`` during ``fit``):
        layers_: units per layer including input and output, e.g. ``(2, 5, 3, 1)``;
            ``layers_[0]`` is the network's input width: the encoded columns plus the crossed
            ones (``(2, 1)`` becomes ``(4, 1)`` with ``feature_crosses=["square"]``), while
            ``n_features_in_`` and ``features`` count the raw columns.
        weights_, biases_: live lists of ``(layers_[i], layers_[i+1])`` and ``(layers_[i+1],)``
            arrays (views of the parameters being trained).
        n_features_in_, n_parameters_, data_min_, data_max_ (per-feature bounds of the raw X).
        history_: one dict per epoch: ``epoch``, ``loss`` (training-split loss after the epoch,
            as the notebook computes it, without the L1 or L2 term), ``accuracy`` (classifier),
            ``val_loss`` and ``val_accuracy`` (when validating).
        metrics_: the history row of the weights kept (without ``epoch``); best_epoch_: its
            epoch (the last one unless early stopping restored earlier weights).
        stopped_early_, stop_reason_: ``completed``, ``early_stopping`` or ``callback``.
        feature_names_in_: column names (``x0, x1, ...`` for an array); n_features_in_: their
            number; features: the input signature (``[{"name", "type", "missing",
            "categories"?}]``); plan_: the table's ``Plan`` (None for an array); crosses_: the
            fitted ``mlp_engine.crosses.Crosses`` (None without ``feature_crosses``; a table's
            is also ``plan_.crosses``).
        evaluation_ (after ``fit``): ``{"train": M, "validation": M | None, "test": M | None}``,
            M from ``mlp_engine.metrics`` (``classification_report`` / ``regression_report``).
"""


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
        labels, self._label_kind = check_labels(y, n_samples)
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

    def _class_index(self, Y: FloatArray) -> npt.NDArray[np.intp]:
        if Y.shape[1] == 1:
            return (Y[:, 0] > 0.5).astype(np.intp)
        return np.asarray(Y.argmax(axis=1), dtype=np.intp)

    def _sample_weights(self, Y: FloatArray) -> FloatArray | None:
        return class_weights(self._class_index(Y), self.classes_, self.config.class_weight)

    def _report(self, Y: FloatArray, out: FloatArray) -> dict[str, Any]:
        proba = np.hstack([1.0 - out, out]) if out.shape[1] == 1 else out
        index = self._class_index(Y)
        return classification_report(self.classes_[index], proba, self.classes_)

    def predict_proba(self, X: Any) -> FloatArray:
        """Class probabilities ``(n_samples, n_classes)`` in ``classes_`` order; rows sum to 1.

        Binary models return two columns ``[1 - p, p]`` with ``p = P(classes_[1])``.
        """
        row = self._one_row()
        proba = None if row is None else row.probabilities(X)
        if proba is not None:
            return proba
        out = self._lean_forward(X)
        if out.shape[1] == 1:
            return np.concatenate((1.0 - out, out), axis=1)  # hstack's checks cost 30% of a row
        return out

    def predict(self, X: Any) -> npt.NDArray[Any]:
        """Predicted original labels ``(n_samples,)``; binary: ``classes_[1]`` iff p > 0.5."""
        out = self._forward(X)
        index = (out[:, 0] > 0.5).astype(np.intp) if out.shape[1] == 1 else out.argmax(axis=1)
        labels: npt.NDArray[Any] = self.classes_[index]
        return labels

    def score(self, X: Any, y: npt.ArrayLike) -> float:
        """Accuracy of ``predict(X)`` against labels ``y: (n_samples,)``."""
        labels, _ = check_labels(y, None)
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
        Y = check_targets(y, n_samples)
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

    def _report(self, Y: FloatArray, out: FloatArray) -> dict[str, Any]:
        if self._target_ndim == 1:
            return regression_report(Y[:, 0], out[:, 0])
        return regression_report(Y.ravel(), out.ravel())  # multi-target: over all values

    def predict(self, X: Any) -> FloatArray:
        """Predictions ``(n_samples,)`` or ``(n_samples, n_targets)`` as ``y`` was at fit."""
        out = self._forward(X)
        return out[:, 0] if self._target_ndim == 1 else out

    def score(self, X: Any, y: npt.ArrayLike) -> float:
        """Coefficient of determination R^2 (averaged over targets)."""
        Y = check_targets(y, None)
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
    net = network_from_config(model.config, weights, biases, config)
    model._restore_targets(config, net.layers[-1])
    if net.output.name != model._output().name:
        raise ModelFormatError(
            f"config 'output' {net.output.name!r} does not fit the task and classes"
        )
    model._restore_state(net, config)
    return model
