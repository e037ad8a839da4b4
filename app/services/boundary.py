"""Decision boundaries: a model's output on a grid over two of its input features.

:func:`evaluate_grid` checks the query (grid sides against the cap, feature indices, the values
of the other features, axis ranges) and runs ``mlp_engine.decision_grid``; :func:`grid_json` is
the JSON body (``BoundaryPublic``), its arrays left to orjson.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

import mlp_engine
from app.errors import Conflict, InvalidInput
from app.storage.models import Estimator
from mlp_engine import MLPClassifier

__all__ = ["BoundaryQuery", "Grid", "evaluate_grid", "grid_json"]

_DEFAULT_RESOLUTION = 100  # grid points per axis
# A boundary holds at most this many values per cell of the largest allowed (cap x cap) grid:
# a binary or regression grid is always allowed at the cap, a 10-class grid too.
_GRID_VALUES_PER_CELL_CAP = 10


@dataclass(frozen=True)
class BoundaryQuery:
    """The query of both boundary routes."""

    x_min: float | None = None
    x_max: float | None = None
    y_min: float | None = None
    y_max: float | None = None
    resolution: int | None = None
    nx: int | None = None
    ny: int | None = None
    features: str | None = None
    fixed: str | None = None
    format: Literal["json", "png"] = "json"


@dataclass(frozen=True)
class Grid:
    """A model's output on a grid: ``values[j][i]`` is at ``(xs[i], ys[j])``."""

    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    values: np.ndarray  # (ny, nx) or (ny, nx, n_classes)
    axes: tuple[int, int]
    fixed: list[float] | None
    classes: list[Any] | None


def _grid_sides(model: Estimator, cap: int, query: BoundaryQuery) -> tuple[int, int]:
    """Points along x and y, each at most ``cap``; a multiclass grid (one value per class and
    cell) holds at most ``_GRID_VALUES_PER_CELL_CAP * cap**2`` values."""
    for name, value in (("resolution", query.resolution), ("nx", query.nx), ("ny", query.ny)):
        if value is not None and value > cap:
            raise InvalidInput(("query", name), f"must be at most {cap}, got {value}")
    side = query.resolution if query.resolution is not None else min(_DEFAULT_RESOLUTION, cap)
    sides = (query.nx or side, query.ny or side)
    n_classes = len(model.classes_) if isinstance(model, MLPClassifier) else 1
    per_cell = n_classes if n_classes > 2 else 1
    budget = _GRID_VALUES_PER_CELL_CAP * cap * cap
    if sides[0] * sides[1] * per_cell > budget:
        raise InvalidInput(
            ("query", "resolution"),
            f"a {sides[0]}x{sides[1]} grid of {n_classes} class probabilities holds "
            f"{sides[0] * sides[1] * per_cell} values; at most {budget} are allowed "
            "(lower the resolution)",
        )
    return sides


def evaluate_grid(model: Estimator, query: BoundaryQuery, cap: int) -> Grid:
    """Check the query (each side at most ``cap``), parse the axes, the fixed values and the
    ranges, then run ``mlp_engine.decision_grid``."""
    sides = _grid_sides(model, cap, query)
    n_features = model.n_features_in_
    if n_features < 2:
        raise Conflict("the model has one input feature; a boundary needs two")
    axes = _parse_features(query.features, n_features)
    others = _parse_fixed(query.fixed, n_features, axes, model)
    x_range, y_range = _ranges(
        model, axes, others, (query.x_min, query.x_max), (query.y_min, query.y_max)
    )
    try:
        xs, ys, values = mlp_engine.decision_grid(
            model, x_range, y_range, nx=sides[0], ny=sides[1], features=axes, fixed=others
        )
    except ValueError as exc:  # the arguments were checked above; the model may still refuse
        raise InvalidInput(("query",), str(exc)) from None
    classes = model.classes_.tolist() if isinstance(model, MLPClassifier) else None
    return Grid(xs, ys, values, axes, others, classes)


def grid_json(model: Estimator, grid: Grid) -> dict[str, Any]:
    """The JSON body (``BoundaryPublic``); arrays stay NumPy for orjson."""
    content: dict[str, Any] = {
        "task": model.task,
        "x": grid.xs,
        "y": grid.ys,
        "features": list(grid.axes),
        "fixed": grid.fixed,
        "classes": grid.classes,
    }
    if grid.classes is None:
        content["values"] = grid.values
    elif grid.values.ndim == 3:
        content["probabilities"] = grid.values
        content["predicted"] = grid.values.argmax(axis=2)
        content["confidence"] = grid.values.max(axis=2)
    else:
        content["probabilities"] = grid.values
    return content


def _parse_features(text: str | None, n_features: int) -> tuple[int, int]:
    if text is None:
        return (0, 1)
    parts = [p.strip() for p in text.split(",")]
    message = f"must be two distinct feature indices in 0..{n_features - 1} as `i,j`"
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 6 for p in parts):
        raise InvalidInput(("query", "features"), f"{message}, got {text[:40]!r}")
    i, j = int(parts[0]), int(parts[1])
    if i == j or i >= n_features or j >= n_features:
        raise InvalidInput(("query", "features"), f"{message}, got {text[:40]!r}")
    return (i, j)


def _parse_fixed(
    text: str | None, n_features: int, axes: tuple[int, int], model: Estimator
) -> list[float] | None:
    """Values of the features not on the axes (feature order); None for a 2-feature model."""
    n_others = n_features - 2
    if n_others == 0:
        if text:
            raise InvalidInput(("query", "fixed"), "the model has only two input features")
        return None
    if text is None:
        lo, hi = np.asarray(model.data_min_), np.asarray(model.data_max_)
        return [float(0.5 * (lo[f] + hi[f])) for f in range(n_features) if f not in axes]
    values: list[float] = []
    for k, part in enumerate(text.split(",")):
        try:
            number = float(part)
        except ValueError:
            raise InvalidInput(
                ("query", "fixed"), f"value {k} must be a number, got {part.strip()[:40]!r}"
            ) from None
        if not math.isfinite(number):
            raise InvalidInput(
                ("query", "fixed"), f"value {k} must be finite, got {part.strip()!r}"
            )
        values.append(number)
    if len(values) != n_others:
        raise InvalidInput(
            ("query", "fixed"),
            f"needs {n_others} values (the features other than {axes[0]} and {axes[1]}, in "
            f"feature order), got {len(values)}",
        )
    return values


def _ranges(
    model: Estimator,
    axes: tuple[int, int],
    fixed: list[float] | None,
    x: tuple[float | None, float | None],
    y: tuple[float | None, float | None],
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """Axis ranges from the query; a missing end comes from the default (data bounds + margin)."""
    pairs = (x, y)
    partial = any((lo is None) != (hi is None) for lo, hi in pairs)
    defaults = _default_ranges(model, axes, fixed) if partial else ((0.0, 0.0), (0.0, 0.0))
    result: list[tuple[float, float] | None] = []
    for axis, (lo, hi) in enumerate(pairs):
        if lo is None and hi is None:
            result.append(None)  # the engine's default
            continue
        lo_value = defaults[axis][0] if lo is None else lo
        hi_value = defaults[axis][1] if hi is None else hi
        if lo_value >= hi_value:
            name, other = ("x_min", "x_max") if axis == 0 else ("y_min", "y_max")
            raise InvalidInput(
                ("query", name), f"must be less than {other} ({lo_value} >= {hi_value})"
            )
        result.append((lo_value, hi_value))
    return result[0], result[1]


def _default_ranges(
    model: Estimator, axes: tuple[int, int], fixed: list[float] | None
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The engine's default axis ranges (a 2 x 2 grid is cheap: four model evaluations)."""
    xs, ys, _ = mlp_engine.decision_grid(model, resolution=2, features=axes, fixed=fixed)
    return (float(xs[0]), float(xs[-1])), (float(ys[0]), float(ys[-1]))
