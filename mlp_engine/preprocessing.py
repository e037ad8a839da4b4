"""Preprocessing learnt from a table's training split, kept as data.

Each column kind is one small object with ``fit(column) -> state`` and ``transform(column,
state) -> block (n, k)``; a state is a dict of plain NumPy arrays (floats, bools, unicode),
stored in the model's ``.npz`` as they are. A table's ``Plan`` is a list of ``Step(column, kind,
state)`` applied in order, the blocks side by side: the same data an ONNX exporter reads.

- ``numeric`` (``Numeric``): missing values (NaN) become the training median (0 when the
  training split has no value at all); then ``(x - mean) / scale`` with the imputed column's
  mean and standard deviation (a std of 0 becomes 1; mean 0 and scale 1 without
  standardisation). Block: the scaled value, plus a 0/1 missing-indicator column when the
  training split had gaps. State: ``median``, ``mean``, ``scale`` (float64, shape ``()``) and
  ``indicator`` (bool, shape ``()``).
- ``categorical`` (``OneHot``): one column per kept category, in code-point order. With more
  than ``max_categories`` distinct values, the ``max_categories - 1`` most frequent are kept and
  the rest share one "other" column (so ``max_categories`` counts the "other" level, as
  scikit-learn's ``OneHotEncoder(max_categories=...)``; equal counts keep the later value in
  code-point order, as scikit-learn does). Missing (``""``) is its own last column whenever the
  training split had missing values; it never counts against ``max_categories``. At predict
  time a value never seen in training (and a missing value when training had none) is all
  zeros. State: ``categories`` and ``other`` (unicode, shape ``(k,)``, sorted), ``missing``
  (bool, shape ``()``) and ``mode`` (unicode, shape ``(1,)``: the most frequent value, the first
  in code-point order on ties; ``(0,)`` when the training split had no value). ``mode`` does not
  change the encoding: it is the column's typical value (e.g. for a decision boundary's fixed
  columns), as ``median`` is for a numeric column.

A plan may end with feature crosses (``Plan.crosses``, ``mlp_engine.crosses``): computed from
the numeric columns after median imputation and before scaling, scaled with their own training
statistics, appended after every column's block. Their state is JSON in the model's config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import FloatArray
from mlp_engine.crosses import Crosses, check_width, cross
from mlp_engine.errors import ModelFormatError
from mlp_engine.tables import MAX_TEXT_CHARS, TextArray

__all__ = [
    "FIELDS",
    "KINDS",
    "Numeric",
    "OneHot",
    "Plan",
    "State",
    "Step",
    "fit_crosses",
    "fit_plan",
    "standardization",
]

State = dict[str, npt.NDArray[Any]]


class Kind(Protocol):
    """What a column kind provides (``Numeric`` and ``OneHot``)."""

    name: ClassVar[str]
    fields: ClassVar[Mapping[str, str]]

    def fit(self, column: Any) -> State: ...

    def transform(self, column: Any, state: Mapping[str, npt.NDArray[Any]]) -> FloatArray: ...


def fit_crosses(V: FloatArray, kinds: Sequence[str], standardize: bool) -> Crosses:
    """Crosses ``kinds`` fitted on the training split's raw numeric inputs ``V: (n, d)``
    (imputed): each crossed column's mean and scale (0 and 1 without ``standardize``).
    ``ConfigError`` (``feature_crosses``) for too many or no crossed columns, ``ValueError``
    when a crossed column overflows float64."""
    width = check_width(V.shape[1], kinds)
    with np.errstate(over="ignore", invalid="ignore"):
        crossed = cross(np.asarray(V, dtype=np.float64), kinds)
    if not np.isfinite(crossed).all():
        raise ValueError(
            "feature_crosses overflow: some inputs are too large to square or multiply in float64"
        )
    if standardize:
        mean, scale = standardization(crossed)
    else:
        mean, scale = np.zeros(width), np.ones(width)
    return Crosses(tuple(kinds), int(V.shape[1]), mean, scale)


def standardization(X: FloatArray) -> tuple[FloatArray, FloatArray]:
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


@dataclass(frozen=True)
class Numeric:
    """Median imputation (+ missing indicator) and standardisation of a float64 column."""

    standardize: bool = True
    name: ClassVar[str] = "numeric"
    fields: ClassVar[Mapping[str, str]] = {
        "median": "f",
        "mean": "f",
        "scale": "f",
        "indicator": "b",
    }

    def fit(self, column: FloatArray) -> State:
        """State from a training column ``(n,)`` (NaN = missing)."""
        gaps = np.isnan(column)
        present = column[~gaps]
        median = float(np.median(present)) if present.size else 0.0
        mean, scale = 0.0, 1.0
        if self.standardize:
            filled = np.where(gaps, median, column)[:, None]
            mean_arr, scale_arr = standardization(filled)
            mean, scale = float(mean_arr[0]), float(scale_arr[0])
        return {
            "median": np.array(median),
            "mean": np.array(mean),
            "scale": np.array(scale),
            "indicator": np.array(bool(gaps.any())),
        }

    def transform(self, column: FloatArray, state: Mapping[str, npt.NDArray[Any]]) -> FloatArray:
        """Block ``(n, 1)``, or ``(n, 2)`` with the missing indicator, for ``column: (n,)``."""
        gaps = np.isnan(column)
        value = (np.where(gaps, state["median"], column) - state["mean"]) / state["scale"]
        if bool(state["indicator"]):
            return np.column_stack([value, gaps.astype(np.float64)])
        block: FloatArray = value[:, None]
        return block


@dataclass(frozen=True)
class OneHot:
    """One-hot encoding with an "other" level for rare values and a missing level."""

    max_categories: int = 20
    name: ClassVar[str] = "categorical"
    fields: ClassVar[Mapping[str, str]] = {
        "categories": "U",
        "other": "U",
        "missing": "b",
        "mode": "U",
    }

    def fit(self, column: TextArray) -> State:
        """State from a training column ``(n,)`` of text (``""`` = missing)."""
        gaps = column == ""
        values, counts = np.unique(column[~gaps], return_counts=True)
        longest = max((len(v) for v in values.tolist()), default=0)
        if longest > MAX_TEXT_CHARS:
            raise ValueError(f"categories may have at most {MAX_TEXT_CHARS} characters")
        keep = np.arange(values.size)
        if values.size > self.max_categories:
            n_keep = self.max_categories - 1
            by_count = np.argsort(counts, kind="stable")  # ties: the later value ranks higher
            keep = np.sort(by_count[by_count.size - n_keep :]) if n_keep else keep[:0]
        rest = np.setdiff1d(np.arange(values.size), keep)
        return {
            "categories": _text_array(values[keep]),
            "other": _text_array(values[rest]),
            "missing": np.array(bool(gaps.any())),
            "mode": _text_array(
                values[np.argmax(counts, keepdims=True)] if values.size else values
            ),
        }

    def transform(self, column: TextArray, state: Mapping[str, npt.NDArray[Any]]) -> FloatArray:
        """Block ``(n, k [+ 1 other] [+ 1 missing])`` of 0/1 for ``column: (n,)`` of text."""
        categories, other = state["categories"], state["other"]
        has_other, has_missing = other.size > 0, bool(state["missing"])
        n, k = column.shape[0], categories.size
        block = np.zeros((n, k + has_other + has_missing))
        if k:
            index = np.minimum(np.searchsorted(categories, column), k - 1)
            hit = categories[index] == column
            block[np.flatnonzero(hit), index[hit]] = 1.0
        if has_other:
            block[:, k] = np.isin(column, other)
        if has_missing:
            block[:, -1] = column == ""
        return block


def _text_array(values: npt.NDArray[Any]) -> TextArray:
    """``values`` as a unicode array of at least one character per item (so never ``U0``)."""
    width = max((len(v) for v in values.tolist()), default=1)
    return np.asarray(values, dtype=f"<U{max(width, 1)}")


KINDS: dict[str, Kind] = {"numeric": Numeric(), "categorical": OneHot()}
"""Column kinds by name; a kind's ``transform`` needs only its state."""

FIELDS: dict[str, Mapping[str, str]] = {name: kind.fields for name, kind in KINDS.items()}
"""Each kind's state arrays: ``f`` float64 scalar, ``b`` bool scalar, ``U`` 1-D unicode."""


@dataclass(frozen=True)
class Step:
    """One column's preprocessing: its name, its kind (a key of ``KINDS``) and its state."""

    column: str
    kind: str
    state: Mapping[str, npt.NDArray[Any]]

    def transform(self, column: Any) -> FloatArray:
        """The column's block ``(n, width)``."""
        return KINDS[self.kind].transform(column, self.state)

    @property
    def typical(self) -> float | str:
        """The column's typical training value: the median, or the most frequent category
        (``""``, i.e. missing, when training had no value)."""
        if self.kind == "numeric":
            return float(self.state["median"])
        mode = self.state["mode"]
        return str(mode[0]) if mode.size else ""

    @property
    def width(self) -> int:
        """Number of block columns."""
        if self.kind == "numeric":
            return 1 + bool(self.state["indicator"])
        other, missing = self.state["other"].size > 0, bool(self.state["missing"])
        return int(self.state["categories"].size) + other + missing


@dataclass(frozen=True)
class Plan:
    """A table's preprocessing: ``steps`` applied in order, their blocks side by side, then
    the ``crosses`` of the imputed numeric columns (if any)."""

    steps: tuple[Step, ...]
    crosses: Crosses | None = None

    @property
    def kinds(self) -> dict[str, str]:
        """``{column: kind}`` in step order."""
        return {step.column: step.kind for step in self.steps}

    @property
    def numeric_steps(self) -> list[Step]:
        """The numeric columns' steps, in step order (what the crosses cross)."""
        return [step for step in self.steps if step.kind == "numeric"]

    @property
    def width(self) -> int:
        """Columns of the transformed matrix (the network's input width)."""
        crossed = 0 if self.crosses is None else self.crosses.width
        return sum(step.width for step in self.steps) + crossed

    def transform(self, columns: Mapping[str, Any]) -> FloatArray:
        """Normalised columns (see ``tables.read_columns``) -> ``(n, width)`` float64."""
        blocks = [step.transform(columns[step.column]) for step in self.steps]
        if self.crosses is not None:
            blocks.append(self.crosses.transform(self.imputed(columns)))
        return np.hstack(blocks)

    def imputed(self, columns: Mapping[str, Any]) -> FloatArray:
        """The numeric columns ``(n, d_numeric)`` with NaN replaced by each one's median."""
        filled = []
        for step in self.numeric_steps:
            column = columns[step.column]
            filled.append(np.where(np.isnan(column), step.state["median"], column))
        return np.column_stack(filled)

    def with_crosses(self, crosses: Crosses | None) -> Plan:
        """This plan with ``crosses`` (checked against its numeric columns)."""
        if crosses is not None and crosses.n_inputs != len(self.numeric_steps):
            raise ModelFormatError(
                f"config 'crosses' crosses {crosses.n_inputs} inputs but the plan has "
                f"{len(self.numeric_steps)} numeric columns"
            )
        return Plan(self.steps, crosses)

    def to_config(self) -> list[dict[str, str]]:
        """The JSON part of the steps: ``[{"column", "kind"}]``; the states go in the ``.npz``
        (the crosses are stored by the model as its config's ``"crosses"``)."""
        return [{"column": step.column, "kind": step.kind} for step in self.steps]

    @classmethod
    def from_config(cls, steps: object) -> Plan:
        """Rebuild from the loader's ``[{"column", "kind", "state": {field: array}}]``."""
        if not isinstance(steps, list) or not steps:
            raise ModelFormatError("config 'preprocessing' must be a non-empty list")
        built = []
        for i, step in enumerate(steps):
            if not isinstance(step, Mapping) or not isinstance(step.get("column"), str):
                raise ModelFormatError(f"config 'preprocessing'[{i}] needs a 'column' name")
            state = step.get("state")
            if step.get("kind") not in KINDS or not isinstance(state, Mapping):
                raise ModelFormatError(f"config 'preprocessing'[{i}] has no valid kind/state")
            _check_state(step["kind"], state, i)
            built.append(Step(step["column"], step["kind"], dict(state)))
        if len({step.column for step in built}) != len(built):
            raise ModelFormatError("config 'preprocessing' names a column twice")
        return cls(tuple(built))


def _check_state(kind: str, state: Mapping[str, Any], i: int) -> None:
    """A loaded state must hold sane values (dtypes and shapes were checked by the loader)."""
    where = f"config 'preprocessing'[{i}]"
    if set(state) != set(FIELDS[kind]):
        raise ModelFormatError(f"{where} must have the arrays {sorted(FIELDS[kind])}")
    if kind == "numeric":
        values = np.array([state["median"], state["mean"], state["scale"]], dtype=np.float64)
        if not np.isfinite(values).all() or values[2] <= 0:
            raise ModelFormatError(f"{where} needs finite statistics and a positive scale")
        return
    for field in ("categories", "other"):
        values = state[field]
        if values.ndim != 1 or (values.size and not (values[1:] > values[:-1]).all()):
            raise ModelFormatError(f"{where} '{field}' must be sorted and distinct")
        if (values == "").any():
            raise ModelFormatError(f"{where} '{field}' must not hold the empty string")
    if np.isin(state["categories"], state["other"]).any():
        raise ModelFormatError(f"{where} has a value both kept and in 'other'")
    known = np.concatenate([state["categories"], state["other"]])
    if state["mode"].size > 1 or not np.isin(state["mode"], known).all():
        raise ModelFormatError(f"{where} 'mode' must be one of its values")


def fit_plan(
    columns: Mapping[str, Any],
    kinds: Mapping[str, str],
    *,
    max_categories: int = 20,
    standardize: bool = True,
    crosses: Sequence[str] = (),
) -> Plan:
    """Fit one step per column of ``kinds`` (in that order) on the training split's columns,
    then the ``crosses`` (``mlp_engine.crosses``) of the numeric columns, if any."""
    fitters: dict[str, Kind] = {
        "numeric": Numeric(standardize),
        "categorical": OneHot(max_categories),
    }
    steps: Sequence[Step] = [
        Step(name, kind, fitters[kind].fit(columns[name])) for name, kind in kinds.items()
    ]
    plan = Plan(tuple(steps))
    if not crosses:
        return plan
    n_rows = len(next(iter(columns.values())))
    numeric = plan.imputed(columns) if plan.numeric_steps else np.empty((n_rows, 0))
    return plan.with_crosses(fit_crosses(numeric, crosses, standardize))
