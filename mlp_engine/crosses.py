"""Feature crosses: extra input columns computed inside the model from its numeric inputs.

TensorFlow Playground's ``x1^2``, ``x1*x2``, ``sin x1``: the training option
``feature_crosses`` names any of ``square`` (``x_i ** 2``), ``product`` (``x_i * x_j``, ``i <
j``) and ``sin`` (``sin x_i``), each over the ``d`` raw numeric inputs (for a table: its numeric
columns after median imputation, before scaling; categorical columns are never crossed). The
crossed columns are appended after every other input column, always in this order, whatever the
order of the names: the ``d`` squares (``i = 0 .. d-1``), then the ``d (d - 1) / 2`` products in
lexicographic ``(i, j)`` order, then the ``d`` sines. Each crossed column is then standardised
with its own training-split mean and scale (0 and 1 without ``standardize``).

A model's input signature (``features``) stays the raw columns; only ``layers_[0]``, the
network's input width, grows by ``crossed_width(d, kinds)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlp_engine.activations import FloatArray
from mlp_engine.errors import ConfigError, ModelFormatError

__all__ = [
    "CROSSES",
    "MAX_CROSSED_COLUMNS",
    "Crosses",
    "check_width",
    "cross",
    "cross_names",
    "crossed_width",
    "product_pairs",
]

CROSSES = ("square", "product", "sin")
"""The cross kinds, in the order their columns are appended."""

MAX_CROSSED_COLUMNS = 1000
"""At most this many crossed columns (``product`` grows as ``d^2 / 2``): more is a
``ConfigError`` naming ``feature_crosses``."""


def product_pairs(d: int) -> tuple[list[int], list[int]]:
    """Left and right column indices of the products, ``i < j`` in lexicographic order."""
    left, right = np.triu_indices(d, k=1)
    return left.tolist(), right.tolist()


def crossed_width(d: int, kinds: Sequence[str]) -> int:
    """Number of crossed columns for ``d`` numeric inputs."""
    per_kind = {"square": d, "product": d * (d - 1) // 2, "sin": d}
    return sum(per_kind[kind] for kind in kinds)


def check_width(d: int, kinds: Sequence[str]) -> int:
    """``crossed_width(d, kinds)``; ``ConfigError`` (``feature_crosses``) if it is 0 while
    ``kinds`` asks for crosses, or above ``MAX_CROSSED_COLUMNS``."""
    width = crossed_width(d, kinds)
    if kinds and width == 0:
        raise ConfigError(
            "feature_crosses",
            f"feature_crosses={list(kinds)} adds no column: the data has {d} numeric "
            "column(s) to cross",
        )
    if width > MAX_CROSSED_COLUMNS:
        raise ConfigError(
            "feature_crosses",
            f"feature_crosses={list(kinds)} would add {width:,} columns for {d:,} numeric "
            f"inputs; at most {MAX_CROSSED_COLUMNS:,} are allowed",
        )
    return width


def cross(V: FloatArray, kinds: Sequence[str]) -> FloatArray:
    """The crossed columns ``(n, crossed_width(d, kinds))`` of ``V: (n, d)``, in the fixed
    order (squares, products, sines)."""
    blocks = []
    if "square" in kinds:
        blocks.append(V * V)
    if "product" in kinds:
        left, right = product_pairs(V.shape[1])
        blocks.append(V[:, left] * V[:, right])
    if "sin" in kinds:
        blocks.append(np.sin(V))
    if not blocks:
        return np.empty((V.shape[0], 0), dtype=V.dtype)
    return np.hstack(blocks)


def cross_names(names: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """Readable names of the crossed columns of inputs ``names``: ``x0^2``, ``x0*x1``,
    ``sin(x0)``, in column order."""
    out = []
    if "square" in kinds:
        out += [f"{name}^2" for name in names]
    if "product" in kinds:
        left, right = product_pairs(len(names))
        out += [f"{names[i]}*{names[j]}" for i, j in zip(left, right, strict=True)]
    if "sin" in kinds:
        out += [f"sin({name})" for name in names]
    return out


@dataclass(frozen=True)
class Crosses:
    """Fitted crosses: ``kinds`` (in ``CROSSES`` order) over ``n_inputs`` raw numeric inputs,
    each crossed column then ``(c - mean) / scale``; ``mean``, ``scale``: ``(width,)``."""

    kinds: tuple[str, ...]
    n_inputs: int
    mean: FloatArray
    scale: FloatArray

    @property
    def width(self) -> int:
        """Number of crossed columns."""
        return int(self.mean.size)

    def transform(self, V: FloatArray) -> FloatArray:
        """``V: (n, n_inputs)`` raw numeric inputs -> ``(n, width)`` scaled crossed columns."""
        with np.errstate(over="ignore", invalid="ignore"):  # huge inputs surface as inf later
            return (cross(V, self.kinds) - self.mean) / self.scale

    def to_config(self) -> dict[str, Any]:
        """The JSON form stored in the model file's config (``"crosses"``)."""
        return {
            "kinds": list(self.kinds),
            "n_inputs": self.n_inputs,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
        }

    @classmethod
    def from_config(cls, value: object) -> Crosses | None:
        """Inverse of ``to_config`` (None stays None); raises ``ModelFormatError``."""
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise ModelFormatError("config 'crosses' must be null or an object")
        kinds, n_inputs = value.get("kinds"), value.get("n_inputs")
        if (
            not isinstance(kinds, list)
            or not kinds
            or kinds != [kind for kind in CROSSES if kind in kinds]
            or type(n_inputs) is not int
            or not 0 < n_inputs <= 2 * MAX_CROSSED_COLUMNS
        ):
            raise ModelFormatError("config 'crosses' needs 'kinds' (in order) and 'n_inputs'")
        width = crossed_width(n_inputs, kinds)
        stats = [value.get(key) for key in ("mean", "scale")]
        lists = [v for v in stats if isinstance(v, list) and len(v) == width]
        if len(lists) != 2:
            raise ModelFormatError(f"config 'crosses' needs {width} means and scales")
        mean, scale = _floats(lists[0]), _floats(lists[1])
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise ModelFormatError("config 'crosses' needs finite means and positive scales")
        return cls(tuple(kinds), n_inputs, mean, scale)


def _floats(values: list[Any]) -> FloatArray:
    """JSON numbers (no bools) as float64; NaN for anything else (refused by the caller)."""
    return np.array(
        [
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan
            for v in values
        ],
        dtype=np.float64,
    )
