"""Evaluate a fitted model on a regular 2-D grid, for decision-boundary maps.

The grid is evaluated in vectorised chunks of at most ``chunk_rows`` points, so the model never
sees (and never builds hidden activations for) more than one chunk at a time; only the result,
``ny * nx`` (times ``n_classes`` for multiclass) float64 values, is allocated in full.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, SupportsFloat, SupportsIndex, cast

import numpy as np
from numpy.typing import NDArray

__all__ = ["MAX_GRID_SIDE", "decision_grid"]

MAX_GRID_SIDE = 10_000  # points per axis
_MARGIN = 0.1  # fraction of the data's width added on each side of the default ranges
_ZERO_WIDTH_PAD = 0.5  # half-width of a default range over a constant feature (at least)

Floats = NDArray[np.float64]


def decision_grid(
    model: Any,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    resolution: int = 100,
    *,
    nx: int | None = None,
    ny: int | None = None,
    features: tuple[int | str, int | str] = (0, 1),
    fixed: Sequence[float] | Mapping[int, float | str] | Mapping[str, float | str] | None = None,
    chunk_rows: int = 16384,
) -> tuple[Floats, Floats, Floats]:
    """Evaluate ``model`` at every point of a regular grid over two of its input features.

    Args:
        model: a fitted estimator. Classifiers need ``predict_proba(X) -> (m, n_classes)``;
            a model with ``task == "regression"`` (or without ``predict_proba``) is evaluated
            with ``predict(X) -> (m,)`` or ``(m, n_outputs)``. The number of input features is
            read from ``n_features_in_``, ``layers_[0]`` or ``len(data_min_)``; the default
            ranges and fixed values come from ``data_min_`` / ``data_max_`` (per feature).
        x_range, y_range: ``(min, max)``, finite, ``min < max``, for ``features[0]`` and
            ``features[1]``. Default: the training data's bounds plus 10% of their width on each
            side (a constant feature gets ``value +- max(0.5, 10% of |value|)``).
        resolution: points per axis (2 .. ``MAX_GRID_SIDE``), unless ``nx`` / ``ny`` are given.
        nx, ny: points along x and y, overriding ``resolution`` for that axis.
        features: the two distinct input features ``(i, j)`` plotted along x and y.
        fixed: values for the other features of a wider model: a mapping
            ``{feature index: value}``, or a sequence of either ``n_features`` values (a full
            input row; the entries at ``features`` are ignored) or ``n_features - 2`` values
            (the other features in increasing index order). A feature left out is held at the
            midpoint of its ``data_min_`` / ``data_max_``. For a table model (one with a
            ``plan_``), ``fixed`` is a mapping whose keys are column indices or names and whose
            values are numbers (numeric columns) or text (categorical columns; ``""`` or None
            for missing); a column left out sits at its training median or most frequent
            category, and ``features`` must be two numeric columns (indices or names).
        chunk_rows: the largest number of grid points passed to the model in one call
            (default 16384: larger chunks measured slower, as their arrays no longer fit in
            cache and come fresh from the OS).

    Returns:
        ``(xs, ys, values)``: ``xs`` (nx,) and ``ys`` (ny,), increasing ``linspace`` over the
        ranges; ``values[j, i]`` is the model's output at ``(xs[i], ys[j])``, float64, of shape
        ``(ny, nx)`` for a binary classifier (probability of ``classes_[1]``) and a regressor
        (first output), ``(ny, nx, n_classes)`` for a multiclass classifier (probabilities).
        Pass ``values`` to ``imshow(..., origin="lower")`` or ``contour(xs, ys, values)``.

    Raises:
        ValueError: naming the bad argument, or ``model`` when it lacks what is needed or
            returns an unexpected shape.
    """
    nx_ = _side(resolution if nx is None else nx, "resolution" if nx is None else "nx")
    ny_ = _side(resolution if ny is None else ny, "resolution" if ny is None else "ny")
    chunk = _as_int(chunk_rows, "chunk_rows")
    if chunk < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk}")
    if getattr(model, "plan_", None) is not None:
        model, features, fixed = _table_view(model, features, fixed)
    n_features = _n_features(model)
    fx, fy = _check_features(features, n_features)
    bounds = _data_bounds(model, n_features)
    x_lo, x_hi = _range(x_range, "x_range", bounds, fx)
    y_lo, y_hi = _range(y_range, "y_range", bounds, fy)
    base = _base_point(fixed, n_features, (fx, fy), bounds)
    xs = np.linspace(x_lo, x_hi, nx_)
    ys = np.linspace(y_lo, y_hi, ny_)
    values = _evaluate_in_chunks(_evaluator(model), xs, ys, base, (fx, fy), chunk)
    return xs, ys, values.reshape((ny_, nx_, *values.shape[1:]))


def _evaluate_in_chunks(
    evaluate: Callable[[Floats], Floats],
    xs: Floats,
    ys: Floats,
    base: Floats,
    features: tuple[int, int],
    chunk: int,
) -> Floats:
    """Model values at every grid point, x varying fastest: shape (ny * nx,) or (ny * nx, k).

    Point ``p`` is ``(xs[p % nx], ys[p // nx])`` placed in ``base`` (n_features,) at
    ``features``; at most ``chunk`` points are built and evaluated at a time.
    """
    nx, total = xs.size, xs.size * ys.size

    def chunk_values(start: int) -> Floats:
        stop = min(start + chunk, total)
        first, last = start // nx, (stop - 1) // nx  # the grid rows the chunk touches
        # Built feature by feature, (n_features, rows, nx), by broadcasting: a measured hot path.
        columns = np.empty((base.size, last + 1 - first, nx))
        columns[...] = base[:, None, None]
        columns[features[0]] = xs
        columns[features[1]] = ys[first : last + 1, None]
        offset = first * nx
        points = columns.reshape(base.size, -1)[:, start - offset : stop - offset].T
        return evaluate(points)  # (m, n_features), column-major

    first = chunk_values(0)
    values = np.empty((total, *first.shape[1:]), dtype=np.float64)
    values[: first.shape[0]] = first
    for start in range(chunk, total, chunk):
        out = chunk_values(start)
        if out.shape[1:] != values.shape[1:]:
            raise ValueError(
                f"model returned {values.shape[1:]} values per point, then {out.shape[1:]}"
            )
        values[start : start + out.shape[0]] = out
    return values


def _as_int(value: object, name: str) -> int:
    """``operator.index(value)``, refusing bools and non-integers with a ValueError."""
    # Not isinstance(value, SupportsIndex): a runtime Protocol check is slow next to the
    # grid's own work, and decision_grid makes several per call (docs/benchmarks.md).
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return operator.index(cast(SupportsIndex, value))


def _side(value: object, name: str) -> int:
    """Points along one axis: an int in 2 .. MAX_GRID_SIDE."""
    n = _as_int(value, name)
    if not 2 <= n <= MAX_GRID_SIDE:
        raise ValueError(f"{name} must be in 2..{MAX_GRID_SIDE}, got {n}")
    return n


def _n_features(model: Any) -> int:
    """The model's number of input features (``n_features_in_``, ``layers_[0]``, ``data_min_``)."""
    n = getattr(model, "n_features_in_", None)
    if n is None and getattr(model, "layers_", None) is not None:
        n = model.layers_[0]
    if n is None and getattr(model, "data_min_", None) is not None:
        n = len(model.data_min_)
    if n is None:
        raise ValueError("model must be fitted (no n_features_in_, layers_ or data_min_)")
    count = _as_int(n, "model's number of features")
    if count < 2:
        raise ValueError(f"model has {count} input feature(s); a grid needs at least 2")
    return count


def _check_features(features: object, n_features: int) -> tuple[int, int]:
    """``features`` must be two distinct indices in ``0 .. n_features - 1``."""
    message = f"features must be two distinct feature indices in 0..{n_features - 1}"
    if (
        not isinstance(features, Sequence | np.ndarray)
        or isinstance(features, str)
        or len(features) != 2
    ):
        raise ValueError(f"{message}, got {features!r}")
    fx, fy = (_as_int(f, "features") for f in features)
    if fx == fy or not (0 <= fx < n_features and 0 <= fy < n_features):
        raise ValueError(f"{message}, got {features!r}")
    return fx, fy


def _data_bounds(model: Any, n_features: int) -> tuple[Floats, Floats] | None:
    """``(data_min_, data_max_)`` as float64 arrays of shape (n_features,), or None if absent."""
    lo, hi = getattr(model, "data_min_", None), getattr(model, "data_max_", None)
    if lo is None or hi is None:
        return None
    lo_arr = np.asarray(lo, dtype=np.float64).reshape(-1)
    hi_arr = np.asarray(hi, dtype=np.float64).reshape(-1)
    if lo_arr.shape != (n_features,) or hi_arr.shape != (n_features,):
        raise ValueError(f"model's data_min_ / data_max_ must have shape ({n_features},)")
    if not (np.isfinite(lo_arr).all() and np.isfinite(hi_arr).all()):
        raise ValueError("model's data_min_ / data_max_ are not finite")
    return lo_arr, hi_arr


def _range(
    given: object, name: str, bounds: tuple[Floats, Floats] | None, feature: int
) -> tuple[float, float]:
    """The axis range: ``given`` validated, or the data bounds of ``feature`` plus a margin."""
    if given is None:
        if bounds is None:
            raise ValueError(f"{name} is required: the model has no data_min_ / data_max_")
        lo, hi = float(bounds[0][feature]), float(bounds[1][feature])
        width = hi - lo
        pad = _MARGIN * width if width > 0 else max(_ZERO_WIDTH_PAD, _MARGIN * abs(lo))
        return lo - pad, hi + pad
    if isinstance(given, str) or not isinstance(given, Sequence | np.ndarray) or len(given) != 2:
        raise ValueError(f"{name} must be a pair (min, max) of numbers, got {given!r}")
    lo, hi = _finite(given[0], name), _finite(given[1], name)
    if lo >= hi:
        raise ValueError(f"{name} must have min < max, got {given!r}")
    if not math.isfinite(hi - lo):
        raise ValueError(f"{name} must have a finite max - min, got {given!r}")
    return lo, hi


def _base_point(
    fixed: object,
    n_features: int,
    features: tuple[int, int],
    bounds: tuple[Floats, Floats] | None,
) -> Floats:
    """One input row (n_features,): ``fixed`` values, else data midpoints; ``features`` are 0."""
    others = [f for f in range(n_features) if f not in features]
    values: dict[int, float] = {}
    if isinstance(fixed, Mapping):
        for key, value in fixed.items():
            index = _as_int(key, "fixed keys")
            if index not in others:
                raise ValueError(
                    f"fixed keys must be feature indices in 0..{n_features - 1} other than "
                    f"features {features}, got {key!r}"
                )
            values[index] = _finite(value, f"fixed[{index}]")
    elif fixed is not None:
        try:
            row = np.asarray(fixed, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("fixed must be a mapping or a sequence of numbers") from None
        if row.shape == (n_features,):
            row = row[others]
        if row.shape != (len(others),):
            raise ValueError(
                f"fixed must hold {n_features} values (a full row) or {len(others)} "
                f"(the features other than {features}), got shape {row.shape}"
            )
        values = {f: _finite(v, f"fixed[{f}]") for f, v in zip(others, row.tolist(), strict=True)}
    base = np.zeros(n_features, dtype=np.float64)
    for f in others:
        if f in values:
            base[f] = values[f]
        elif bounds is None:
            raise ValueError(
                f"fixed must give a value for feature {f}: the model has no data_min_ / data_max_"
            )
        else:
            base[f] = 0.5 * (bounds[0][f] + bounds[1][f])
    return base


def _finite(value: object, name: str) -> float:
    """``float(value)``, which must be finite."""
    if isinstance(value, bool) or not hasattr(type(value), "__float__"):  # see _as_int
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(cast(SupportsFloat, value))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _evaluator(model: Any) -> Callable[[Floats], Floats]:
    """A function mapping points (m, n_features) to values (m,) or (m, n_classes), float64."""
    proba = getattr(model, "predict_proba", None)
    if getattr(model, "task", None) == "regression" or proba is None:
        predict = getattr(model, "predict", None)
        if predict is None:
            raise ValueError("model has neither predict_proba nor predict")

        def regression(points: Floats) -> Floats:
            out = np.asarray(predict(points), dtype=np.float64)
            if out.ndim == 2:
                out = out[:, 0]
            return _checked(out, points, "predict", out.ndim == 1)

        return regression

    def classification(points: Floats) -> Floats:
        p = np.asarray(proba(points), dtype=np.float64)
        if p.ndim == 2 and p.shape[1] <= 2:
            p = p[:, -1]  # binary: P(classes_[1]); a single column is already that
        return _checked(p, points, "predict_proba", p.ndim in (1, 2))

    return classification


def _checked(out: Floats, points: Floats, method: str, ok: bool) -> Floats:
    """Check the model returned one row per point."""
    if not ok or out.shape[0] != points.shape[0]:
        raise ValueError(f"model.{method} returned shape {out.shape} for {points.shape[0]} points")
    return out


class _TableView:
    """A table model as the grid sees an array model: one float column per table column, each
    categorical column held at one text value (its float column is ignored)."""

    def __init__(self, model: Any, texts: Mapping[str, str]) -> None:
        self.model, self.texts = model, dict(texts)
        self.task = getattr(model, "task", None)
        self.kinds: dict[str, str] = dict(model.plan_.kinds)
        self.n_features_in_ = len(self.kinds)
        self.data_min_ = np.nan_to_num(np.asarray(model.data_min_, dtype=np.float64))
        self.data_max_ = np.nan_to_num(np.asarray(model.data_max_, dtype=np.float64))
        if hasattr(model, "predict_proba"):
            self.predict_proba = lambda points: model.predict_proba(self._table(points))

    def predict(self, points: Floats) -> Any:
        """The model's predictions for grid points ``(m, n_columns)``."""
        return self.model.predict(self._table(points))

    def _table(self, points: Floats) -> dict[str, Any]:
        """Grid points ``(m, n_columns)`` as the model's table."""
        m = points.shape[0]
        return {
            name: np.full(m, self.texts[name]) if kind == "categorical" else points[:, i]
            for i, (name, kind) in enumerate(self.kinds.items())
        }


def _table_view(
    model: Any, features: object, fixed: object
) -> tuple[_TableView, tuple[int, int], dict[int, float]]:
    """The grid's view of a table model, the axes as column indices (``features`` may name
    them) and the float ``fixed`` values of its other columns."""
    steps = model.plan_.steps
    names = [step.column for step in steps]
    if isinstance(features, Sequence) and not isinstance(features, str):
        features = [names.index(f) if isinstance(f, str) and f in names else f for f in features]
    axes = _check_features(features, len(steps))
    for axis in axes:
        if steps[axis].kind != "numeric":
            raise ValueError(f"features must be numeric columns; {names[axis]!r} is categorical")
    if fixed is not None and not isinstance(fixed, Mapping):
        raise ValueError("fixed must be a mapping {column index or name: value} for a table model")
    given: dict[int, object] = {}
    for key, value in (fixed or {}).items():
        index = names.index(key) if isinstance(key, str) and key in names else key
        index = _as_int(index, "fixed keys")
        if not 0 <= index < len(steps) or index in axes:
            raise ValueError(f"fixed keys must be columns other than the features, got {key!r}")
        given[index] = value
    texts: dict[str, str] = {}
    values: dict[int, float] = {}
    for i, step in enumerate(steps):
        if i in axes:
            continue
        value = given.get(i, step.typical)
        if step.kind == "categorical":
            texts[step.column], values[i] = "" if value is None else str(value), 0.0
        else:
            values[i] = _finite(value, f"fixed[{names[i]!r}]")
    return _TableView(model, texts), axes, values
