"""The decision-boundary query and response, shared by both boundary routes.

``GET /v1/models/{id}/boundary`` and ``GET /v1/jobs/{id}/boundary`` declare their query once,
through the :func:`boundary_query` dependency (so their OpenAPI parameters are identical), and
answer through :func:`boundary_response`: the JSON grid (``BoundaryPublic``, NumPy arrays
serialised by orjson) or the notebook's PNG picture. The grid itself is
:mod:`app.services.boundary`'s.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Response

from app.numeric import ORJSONResponse
from app.render import render_boundary_png
from app.schemas.common import BINARY_SCHEMA
from app.services.boundary import BoundaryQuery, evaluate_grid, grid_json
from app.services.models import dataset_points
from app.settings import Settings
from app.storage.datasets import DatasetStore
from app.storage.models import Estimator

__all__ = ["BOUNDARY_RESPONSES", "BoundaryQueryDep", "boundary_query", "boundary_response"]


# The 200 response of both routes: the JSON grid (``response_model``) or the PNG picture.
BOUNDARY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The grid as JSON, or with `format=png` the rendered picture.",
        "content": {"image/png": {"schema": BINARY_SCHEMA}},
    }
}

FiniteQuery = Annotated[float | None, Query(allow_inf_nan=False)]


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


def boundary_response(
    model: Estimator,
    query: BoundaryQuery,
    settings: Settings,
    datasets: DatasetStore,
    dataset_id: Any,
) -> Response:
    """Evaluate ``model`` on the query's grid: the JSON grid or, for ``format=png``, the picture
    with the rows of ``dataset_id`` on it (if that dataset still exists and fits the model)."""
    grid = evaluate_grid(model, query, settings.max_grid_resolution)
    if query.format == "png":
        X, y = dataset_points(datasets, dataset_id, model.n_features_in_)
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
    return ORJSONResponse(grid_json(model, grid))
