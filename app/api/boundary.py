"""The decision-boundary query, grid evaluation and response, shared by both boundary routes.

``GET /v1/models/{id}/boundary`` and ``GET /v1/jobs/{id}/boundary`` declare their query once,
through the :func:`boundary_query` dependency (so their OpenAPI parameters are identical), and
answer through :func:`boundary_response`: the JSON grid (``BoundaryPublic``, NumPy arrays
serialised by orjson) or the notebook's PNG picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, Query, Response

import mlp_engine
from app.errors import Conflict, InvalidInput, NotFound
from app.numeric import ORJSONResponse
from app.render import render_boundary_png
from app.settings import Settings
from app.storage.datasets import DatasetStore
from app.storage.models import Estimator
from mlp_engine import MLPClassifier

__all__ = [
    "BOUNDARY_RESPONSES",
    "BoundaryQuery",
    "BoundaryQueryDep",
    "Points",
    "boundary_query",
    "boundary_response",
    "dataset_points",
]

DEFAULT_RESOLUTION = 100  # grid points per axis
# A boundary holds at most this many values per cell of the largest allowed (cap x cap) grid:
# a binary or regression grid is always allowed at the cap, a 10-class grid too.
_GRID_VALUES_PER_CELL_CAP = 10
_BINARY_SCHEMA = {"type": "string", "format": "binary"}

# The 200 response of both routes: the JSON grid (``response_model``) or the PNG picture.
BOUNDARY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The grid as JSON, or with `format=png` the rendered picture.",
        "content": {"image/png": {"schema": _BINARY_SCHEMA}},
    }
}

# Training rows drawn on the PNG: ``(X (n, n_features), y (n,))``, or ``(None, None)``.
Points = tuple[np.ndarray | None, np.ndarray | None]

FiniteQuery = Annotated[float | None, Query(allow_inf_nan=False)]


# ----------------------------------------------------------------------------- the query


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


def boundary_query(
    x_min: FiniteQuery = None,
    x_max: FiniteQuery = None,
    y_min: FiniteQuery = None,
    y_max: FiniteQuery = None,
    resolution: Annotated[
        int | None,
        Query(
            ge=2,
            description="Points per axis, at most `MLP_MAX_GRID_RESOLUTION` "
            "(default 100, or the cap if lower).",
        ),
    ] = None,
    nx: Annotated[
        int | None, Query(ge=2, description="Points along x (overrides resolution).")
    ] = None,
    ny: Annotated[
        int | None, Query(ge=2, description="Points along y (overrides resolution).")
    ] = None,
    features: Annotated[
        str | None,
        Query(
            max_length=40,
            description="The two input features on the axes, `i,j` (default `0,1`).",
            examples=["0,1"],
        ),
    ] = None,
    fixed: Annotated[
        str | None,
        Query(
            max_length=100_000,
            description="Comma-separated values of the other input features, in feature order "
            "(default: the midpoint of each feature's training range).",
        ),
    ] = None,
    format: Annotated[
        Literal["json", "png"], Query(description="`json` (default) or `png`.")
    ] = "json",
) -> BoundaryQuery:
    """Collect the boundary query (a dependency, so both routes declare the same parameters)."""
    return BoundaryQuery(x_min, x_max, y_min, y_max, resolution, nx, ny, features, fixed, format)


BoundaryQueryDep = Annotated[BoundaryQuery, Depends(boundary_query)]


# -------------------------------------------------------------------------- the response


def boundary_response(
    model: Estimator, query: BoundaryQuery, settings: Settings, points: Points = (None, None)
) -> Response:
    """Evaluate ``model`` on the query's grid: the JSON grid or, for ``format=png``, the picture
    with ``points`` (training rows, all features; the two plotted ones are picked here)."""
    sides = _grid_sides(model, settings.max_grid_resolution, query)
    grid = _evaluate_grid(model, sides, query)
    if query.format == "png":
        X, y = points
        png = render_boundary_png(
            grid.xs,
            grid.ys,
            grid.values,
            None if X is None else X[:, list(grid.axes)],
            y,
            classes=grid.classes,
            axis_labels=(f"x{grid.axes[0]}", f"x{grid.axes[1]}"),
        )
        return Response(png, media_type="image/png")
    return ORJSONResponse(_grid_json(model, grid))


def dataset_points(datasets: DatasetStore, dataset_id: Any, n_features: int) -> Points:
    """The training rows of ``dataset_id`` (all features) for the PNG, if it still exists and
    fits the model; ``(None, None)`` otherwise."""
    if not isinstance(dataset_id, str) or not datasets.exists(dataset_id):
        return None, None
    try:
        X, y, _ = datasets.load(dataset_id)
    except (NotFound, Conflict):
        return None, None
    if X.ndim != 2 or X.shape[1] != n_features:
        return None, None
    return X, y


# ------------------------------------------------------------------------------ the grid


@dataclass(frozen=True)
class _Grid:
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
    side = query.resolution if query.resolution is not None else min(DEFAULT_RESOLUTION, cap)
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


def _evaluate_grid(model: Estimator, sides: tuple[int, int], query: BoundaryQuery) -> _Grid:
    """Parse the axes, the fixed values and the ranges, then run ``mlp_engine.decision_grid``."""
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
    return _Grid(xs, ys, values, axes, others, classes)


def _grid_json(model: Estimator, grid: _Grid) -> dict[str, Any]:
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
