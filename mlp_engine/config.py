"""Validated training settings shared by ``MLPClassifier`` and ``MLPRegressor``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from mlp_engine.activations import ACTIVATIONS
from mlp_engine.crosses import CROSSES
from mlp_engine.errors import ConfigError
from mlp_engine.network import INITS
from mlp_engine.optimizers import OPTIMIZERS

__all__ = ["DTYPES", "ConfigError", "MLPConfig"]

DTYPES = ("float64", "float32")
"""Supported parameter and compute dtypes."""

Seed = int | np.random.Generator | None
ClassWeight = str | Mapping[Any, float] | None


@dataclass(frozen=True)
class MLPConfig:
    """Every constructor setting of the estimators, checked on construction.

    Invalid values raise ``ValueError`` naming the parameter, e.g.
    ``learning_rate must be > 0, got -1``. See ``MLPClassifier`` for what each setting does.
    """

    hidden_layers: Sequence[int] = (16, 16)  # stored as a tuple
    activation: str = "relu"
    optimizer: str = "adam"
    learning_rate: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    batch_size: int = 32
    epochs: int = 200
    l2: float = 0.0
    clip_norm: float | None = None
    init: str = "he"
    shuffle: bool = True
    validation_fraction: float = 0.0
    early_stopping: bool = False
    patience: int = 10
    standardize: bool = True
    dtype: str = "float64"
    seed: Seed = 0
    max_categories: int = 20
    test_fraction: float = 0.0
    class_weight: ClassWeight = None
    l1: float = 0.0
    feature_crosses: Sequence[str] = ()  # stored as a tuple in ``CROSSES`` order

    def __post_init__(self) -> None:
        normalised = {
            "hidden_layers": _layers(self.hidden_layers),
            "activation": _choice("activation", self.activation, ACTIVATIONS),
            "optimizer": _choice("optimizer", self.optimizer, OPTIMIZERS),
            "learning_rate": _real("learning_rate", self.learning_rate, low=0.0),
            "momentum": _real("momentum", self.momentum, low=0.0, closed=True, high=1.0),
            "nesterov": _flag("nesterov", self.nesterov),
            "batch_size": _integer("batch_size", self.batch_size, 1),
            "epochs": _integer("epochs", self.epochs, 1),
            "l2": _real("l2", self.l2, low=0.0, closed=True),
            "clip_norm": None
            if self.clip_norm is None
            else _real("clip_norm", self.clip_norm, 0.0),
            "init": _choice("init", self.init, INITS),
            "shuffle": _flag("shuffle", self.shuffle),
            "validation_fraction": _real(
                "validation_fraction", self.validation_fraction, low=0.0, closed=True, high=1.0
            ),
            "early_stopping": _flag("early_stopping", self.early_stopping),
            "patience": _integer("patience", self.patience, 1),
            "standardize": _flag("standardize", self.standardize),
            "dtype": _choice("dtype", self.dtype, DTYPES),
            "seed": _seed(self.seed),
            "max_categories": _integer("max_categories", self.max_categories, 1),
            "test_fraction": _real(
                "test_fraction", self.test_fraction, low=0.0, closed=True, high=1.0
            ),
            "class_weight": _class_weight(self.class_weight),
            "l1": _real("l1", self.l1, low=0.0, closed=True),
            "feature_crosses": _crosses(self.feature_crosses),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        if self.early_stopping and self.validation_fraction == 0.0:
            raise ConfigError(
                "early_stopping", "early_stopping requires validation_fraction > 0, got 0"
            )
        if OPTIMIZERS[self.optimizer].layerwise:
            self._check_layerwise()

    def _check_layerwise(self) -> None:
        """Settings a layerwise optimizer (``notebook``) cannot honour.

        It updates each layer during one sample's backward pass, so it needs per-sample batches
        and nothing that transforms the whole gradient first.
        """
        name = f"optimizer={self.optimizer!r}"
        if self.batch_size != 1:
            raise ConfigError(
                "batch_size",
                f"batch_size must be 1 with {name}, got {self.batch_size}: it updates the "
                "weights after every sample, as the notebook's backwardn",
            )
        if self.l2 != 0.0:
            raise ConfigError(
                "l2", f"l2 must be 0 with {name}, got {self.l2}: the notebook has no penalty"
            )
        if self.l1 != 0.0:
            raise ConfigError(
                "l1", f"l1 must be 0 with {name}, got {self.l1}: the notebook has no penalty"
            )
        if self.clip_norm is not None:
            raise ConfigError(
                "clip_norm",
                f"clip_norm must be None with {name}, got {self.clip_norm}: clipping needs the "
                "whole gradient before any layer is updated",
            )

    def to_params(self) -> dict[str, Any]:
        """JSON-able settings; a ``np.random.Generator`` seed is recorded as None."""
        params = {f.name: getattr(self, f.name) for f in fields(self)}
        params["hidden_layers"] = list(self.hidden_layers)
        params["feature_crosses"] = list(self.feature_crosses)
        if isinstance(self.class_weight, Mapping):
            params["class_weight"] = dict(self.class_weight)
        if not isinstance(self.seed, int):
            params["seed"] = None
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MLPConfig:
        """Build from a ``to_params`` dict; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown parameters: {unknown}")
        return cls(**params)


def _base(name: str) -> str:
    """The parameter a checked name belongs to: ``hidden_layers[2]`` -> ``hidden_layers``."""
    return name.split("[", 1)[0]


def _real(
    name: str, value: Any, low: float, closed: bool = False, high: float | None = None
) -> float:
    """``value`` as a float in ``(low, high)`` (``[low, high)`` if ``closed``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(_base(name), f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(_base(name), f"{name} must be finite, got {value!r}")
    if value < low or (value == low and not closed):
        raise ConfigError(
            _base(name), f"{name} must be {'>=' if closed else '>'} {low:g}, got {value!r}"
        )
    if high is not None and value >= high:
        raise ConfigError(_base(name), f"{name} must be < {high:g}, got {value!r}")
    return float(value)


def _integer(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(_base(name), f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(_base(name), f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _flag(name: str, value: Any) -> bool:
    """``value`` as a bool (Python or NumPy bool only)."""
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(_base(name), f"{name} must be true or false, got {value!r}")
    return bool(value)


def _choice(name: str, value: Any, choices: Sequence[str] | Mapping[str, Any]) -> str:
    """``value`` if it is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(_base(name), f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _layers(value: Any) -> tuple[int, ...]:
    """Hidden layer sizes as a tuple of ints >= 1 (empty: no hidden layer)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise ConfigError(
            "hidden_layers", f"hidden_layers must be a sequence of integers, got {value!r}"
        )
    return tuple(_integer(f"hidden_layers[{i}]", n, 1) for i, n in enumerate(value))


def _crosses(value: Any) -> tuple[str, ...]:
    """Distinct names of ``CROSSES``, returned in ``CROSSES`` order (the columns' order)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise ConfigError(
            "feature_crosses", f"feature_crosses must be a list of names, got {value!r}"
        )
    names = list(value)
    for name in names:
        if not isinstance(name, str) or name not in CROSSES:
            raise ConfigError(
                "feature_crosses",
                f"feature_crosses items must be one of {list(CROSSES)}, got {name!r}",
            )
    if len(set(names)) != len(names):
        raise ConfigError("feature_crosses", f"feature_crosses names a cross twice: {names}")
    return tuple(kind for kind in CROSSES if kind in names)


def _seed(value: Any) -> Seed:
    """None, an int >= 0 or a ``np.random.Generator``."""
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(
            "seed", f"seed must be None, a non-negative integer or a numpy Generator, got {value!r}"
        )
    return int(value)


def _class_weight(value: Any) -> ClassWeight:
    """None, ``"balanced"`` or ``{label: weight}`` (int or str labels, finite weights > 0)."""
    if value is None:
        return None
    if isinstance(value, str) and value == "balanced":
        return "balanced"
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            "class_weight",
            "class_weight must be null, 'balanced' or a non-empty {label: weight} mapping, "
            f"got {value!r}",
        )
    weights: dict[Any, float] = {}
    for label, weight in value.items():
        if isinstance(label, bool) or not isinstance(label, str | numbers.Integral):
            raise ConfigError(
                "class_weight", f"class_weight labels must be ints or strings, got {label!r}"
            )
        key = int(label) if isinstance(label, numbers.Integral) else label
        weights[key] = _real(f"class_weight[{label!r}]", weight, low=0.0)
    if len({str(label) for label in weights}) != len(weights):
        raise ConfigError("class_weight", "class_weight names a label twice (as int and text)")
    return weights
