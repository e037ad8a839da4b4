"""Decision boundaries: a model's output on a grid over two of its input features.

:func:`evaluate_grid` checks the query (grid sides against the cap, the two axes by column
name or index, the values of the other columns, axis ranges) and runs
``mlp_engine.decision_grid``; :func:`grid_json` is the JSON body (``BoundaryPublic``), its arrays
left to orjson. Axes must be numeric columns (default: the model's first two numeric columns).
The other columns sit at their training median / most frequent category (table models) or the
midpoint of their training range (``X``/``y`` models) unless ``fixed`` says otherwise, as
``name:value`` pairs or, the older form, every other column's value in column order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

import mlp_engine
from app.errors import Conflict, InvalidInput
from app.owners import Owner
from app.render import render_boundary_png
from app.services.model_input import input_kinds
from app.services.models import dataset_points
from app.storage.datasets import DatasetStore
from app.storage.models import Estimator
from mlp_engine import MLPClassifier
from mlp_engine.units import unit_grid

__all__ = ["BoundaryQuery", "Fixed", "Grid", "evaluate_grid", "grid_json", "render_grid_png"]

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
    epoch: int | None = None  # a recorded frame instead of the latest weights (replay)
    layer: int | None = None  # with unit: that unit's activation instead of the output
    unit: int | None = None


Fixed = dict[int, float | str]  # the other columns' values by column index


@dataclass(frozen=True)
class Grid:
    """A model's output on a grid: ``values[j][i]`` is at ``(xs[i], ys[j])``."""

    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    values: np.ndarray  # (ny, nx) or (ny, nx, n_classes)
    axes: tuple[int, int]
    names: tuple[str, str]  # the axes' column names
    fixed: Fixed  # the other columns (numbers, or text for a categorical column)
    columns: list[str]  # every column of the model, in order
    classes: list[Any] | None
    unit: tuple[int, int] | None = None  # (layer, unit) when values are one unit's activation

    @property
    def fixed_values(self) -> list[float | str] | None:
        """The other columns' values in column order; None for a two-column model."""
        return [self.fixed[i] for i in sorted(self.fixed)] or None


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
    kinds = input_kinds(model)
    columns = list(kinds)
    if len(columns) < 2:
        raise Conflict("the model has one input feature; a boundary needs two")
    axes = _parse_features(query.features, kinds)
    others = _parse_fixed(query.fixed, model, kinds, axes)
    x_range, y_range = _ranges(
        model, axes, others, (query.x_min, query.x_max), (query.y_min, query.y_max)
    )
    unit = _unit(model, query)
    grid_args: dict[str, Any] = {"nx": sides[0], "ny": sides[1], "features": axes, "fixed": others}
    try:
        if unit is None:
            xs, ys, values = mlp_engine.decision_grid(model, x_range, y_range, **grid_args)
        else:
            xs, ys, values = unit_grid(model, *unit, x_range, y_range, **grid_args)
    except ValueError as exc:  # the arguments were checked above; the model may still refuse
        raise InvalidInput(("query",), str(exc)) from None
    classes = None
    if isinstance(model, MLPClassifier) and unit is None:
        classes = model.classes_.tolist()
    names = (columns[axes[0]], columns[axes[1]])
    return Grid(xs, ys, values, axes, names, others, columns, classes, unit)


def _unit(model: Estimator, query: BoundaryQuery) -> tuple[int, int] | None:
    """``(layer, unit)`` of a neuron preview, checked against the model's ``layers``; 422
    naming ``layer`` or ``unit`` when one is missing or out of range."""
    if query.layer is None and query.unit is None:
        return None
    layers = [int(n) for n in model.layers_]
    if query.layer is None or not 0 <= query.layer < len(layers):
        raise InvalidInput(
            ("query", "layer"),
            f"layer must be in 0..{len(layers) - 1} (an index into the model's layers "
            f"{layers}; 1 is the first hidden layer) together with unit, got {query.layer}",
        )
    width = layers[query.layer]
    if query.unit is None or not 0 <= query.unit < width:
        raise InvalidInput(
            ("query", "unit"),
            f"unit must be in 0..{width - 1} (layer {query.layer} has {width} units) "
            f"together with layer, got {query.unit}",
        )
    return query.layer, query.unit


def grid_json(model: Estimator, grid: Grid) -> dict[str, Any]:
    """The JSON body (``BoundaryPublic``); arrays stay NumPy for orjson."""
    content: dict[str, Any] = {
        "task": model.task,
        "x": grid.xs,
        "y": grid.ys,
        "features": list(grid.axes),
        "feature_names": list(grid.names),
        "fixed": grid.fixed_values,
        "fixed_columns": {grid.columns[i]: grid.fixed[i] for i in sorted(grid.fixed)} or None,
        "classes": grid.classes,
    }
    if grid.unit is not None:
        content["layer"], content["unit"] = grid.unit
    if grid.classes is None:
        content["values"] = grid.values
    elif grid.values.ndim == 3:
        content["probabilities"] = grid.values
        content["predicted"] = grid.values.argmax(axis=2)
        content["confidence"] = grid.values.max(axis=2)
    else:
        content["probabilities"] = grid.values
    return content


def _parse_features(text: str | None, kinds: Mapping[str, str]) -> tuple[int, int]:
    """The two axes, by column name or index; default: the first two numeric columns."""
    columns = list(kinds)
    numeric = [i for i, kind in enumerate(kinds.values()) if kind == "numeric"]
    if text is None:
        if len(numeric) < 2:
            raise Conflict(f"the model has {len(numeric)} numeric column(s); a boundary needs two")
        return numeric[0], numeric[1]
    parts = [p.strip() for p in text.split(",")]
    message = (
        "must be two distinct columns of the model, by name or index "
        f"(0..{len(columns) - 1}), as `a,b`"
    )
    if len(parts) != 2:
        raise InvalidInput(("query", "features"), f"{message}, got {text[:40]!r}")
    axes = tuple(_column_index(part, columns, "features") for part in parts)
    if axes[0] == axes[1]:
        raise InvalidInput(("query", "features"), f"{message}, got {text[:40]!r}")
    for axis in axes:
        if kinds[columns[axis]] != "numeric":
            raise InvalidInput(
                ("query", "features"),
                f"features: column {columns[axis]!r} is categorical; a boundary's axes must be "
                "numeric columns",
            )
    return axes[0], axes[1]


def _column_index(part: str, columns: list[str], knob: str) -> int:
    """A column by name, else by index; a 422 naming ``knob`` otherwise."""
    if part in columns:
        return columns.index(part)
    if part.isdigit() and len(part) <= 6 and int(part) < len(columns):
        return int(part)
    shown = ", ".join(map(repr, columns[:10])) + (", ..." if len(columns) > 10 else "")
    raise InvalidInput(
        ("query", knob),
        f"{knob}: {part[:40]!r} is not a column of the model (by name or index 0.."
        f"{len(columns) - 1}; its columns: {shown})",
    )


def _parse_fixed(
    text: str | None, model: Estimator, kinds: Mapping[str, str], axes: tuple[int, int]
) -> Fixed:
    """Values of the columns not on the axes: ``name:value,...`` (the others at their typical
    value) or every other column's value in column order (the old positional form)."""
    others = [i for i in range(len(kinds)) if i not in axes]
    if not others:
        if text:
            raise InvalidInput(("query", "fixed"), "the model has only two input features")
        return {}
    values = _typical_values(model, others)
    if text is None:
        return values
    columns = list(kinds)
    parts = text.split(",")
    if any(_named(part, columns) for part in parts):
        for part in parts:
            name, value = _name_value(part, columns)
            index = _column_index(name, columns, "fixed")
            if index in axes:
                raise InvalidInput(
                    ("query", "fixed"), f"fixed: column {name!r} is on an axis (features)"
                )
            values[index] = _fixed_value(value, columns[index], kinds, model)
        return values
    if len(parts) != len(others):
        raise InvalidInput(
            ("query", "fixed"),
            f"needs {len(others)} values (the features other than {axes[0]} and {axes[1]}, in "
            f"feature order) or `name:value` pairs, got {len(parts)}",
        )
    for index, part in zip(others, parts, strict=True):
        values[index] = _fixed_value(part, columns[index], kinds, model)
    return values


def _named(part: str, columns: list[str]) -> bool:
    """Whether ``part`` is of the form ``name:value``."""
    return ":" in part and not _is_number(part)


def _name_value(part: str, columns: list[str]) -> tuple[str, str]:
    """``name:value``: the longest column name followed by ``:`` (names may hold ``:``)."""
    stripped = part.strip()
    matches = [name for name in columns if stripped.startswith(f"{name}:")]
    if matches:
        name = max(matches, key=len)
        return name, stripped[len(name) + 1 :]
    name, _, value = stripped.partition(":")
    return name.strip(), value


def _fixed_value(text: str, name: str, kinds: Mapping[str, str], model: Estimator) -> float | str:
    """A numeric column's finite number, or a categorical column's value (one it learnt, or
    an empty text for missing)."""
    value = text.strip()
    if kinds[name] == "categorical":
        known = next(f.get("categories", []) for f in model.features if f["name"] == name)
        if value and value not in known:
            shown = ", ".join(map(repr, known[:10])) + (", ..." if len(known) > 10 else "")
            raise InvalidInput(
                ("query", "fixed"),
                f"fixed: column {name!r} has no category {value[:40]!r} (it knows {shown})",
            )
        return value
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(
            ("query", "fixed"), f"fixed: column {name!r} needs a number, got {value[:40]!r}"
        ) from None
    if not math.isfinite(number):
        raise InvalidInput(
            ("query", "fixed"), f"fixed: column {name!r} must be finite, got {value!r}"
        )
    return number


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _typical_values(model: Estimator, others: list[int]) -> Fixed:
    """The training median / most frequent category (table models) or the midpoint of the
    training range (``X``/``y`` models) of each column in ``others``."""
    plan = model.plan_
    if plan is not None:
        return {i: plan.steps[i].typical for i in others}
    lo, hi = np.asarray(model.data_min_), np.asarray(model.data_max_)
    return {i: float(0.5 * (lo[i] + hi[i])) for i in others}


def _ranges(
    model: Estimator,
    axes: tuple[int, int],
    fixed: Fixed,
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
        name, other = ("x_min", "x_max") if axis == 0 else ("y_min", "y_max")
        if lo_value >= hi_value:
            raise InvalidInput(
                ("query", name), f"must be less than {other} ({lo_value} >= {hi_value})"
            )
        if not math.isfinite(hi_value - lo_value):
            raise InvalidInput(
                ("query", other),
                f"{other} - {name} must be a finite number, got {hi_value} - {lo_value}",
            )
        result.append((lo_value, hi_value))
    return result[0], result[1]


def _default_ranges(
    model: Estimator, axes: tuple[int, int], fixed: Fixed
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The engine's default axis ranges (a 2 x 2 grid is cheap: four model evaluations)."""
    xs, ys, _ = mlp_engine.decision_grid(model, resolution=2, features=axes, fixed=fixed)
    return (float(xs[0]), float(xs[-1])), (float(ys[0]), float(ys[-1]))


def render_grid_png(
    model: Estimator,
    grid: Grid,
    datasets: DatasetStore,
    dataset_id: Any,
    owner: Owner,
    *,
    epoch: int | None = None,
    size: tuple[float, float] | None = None,
    points: tuple[Any, Any] | None = None,
) -> bytes:
    """The picture of a grid: the boundary with the dataset's points (``points``, ``(X, y)``
    as ``dataset_points`` gives them, if already read), or a unit's activation (no points);
    the epoch in the title when given."""
    suffix = "" if epoch is None else f" (epoch {epoch})"
    if grid.unit is not None:
        layer, unit = grid.unit
        return render_boundary_png(
            grid.xs, grid.ys, grid.values, axis_labels=grid.names, size=size,
            title=f"layer {layer}, unit {unit}{suffix}", value_label="activation",
        )  # fmt: skip
    if points is None:
        points = dataset_points(datasets, dataset_id, model, grid.axes, owner)
    X, y = points
    title = ("decision boundary" if grid.classes is not None else "prediction") + suffix
    return render_boundary_png(
        grid.xs, grid.ys, grid.values, X, y, classes=grid.classes, axis_labels=grid.names,
        title=title, size=size,
    )  # fmt: skip
