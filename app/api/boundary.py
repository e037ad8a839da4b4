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
from app.owners import Owner
from app.schemas.common import BINARY_SCHEMA
from app.services.boundary import BoundaryQuery, evaluate_grid, grid_json, render_grid_png
from app.settings import Settings
from app.storage.datasets import DatasetStore
from app.storage.models import Estimator

__all__ = [
    "BOUNDARY_RESPONSES",
    "BoundaryQueryDep",
    "boundary_query",
    "boundary_response",
]


# The 200 response of both routes: the JSON grid (``response_model``) or the PNG picture.
BOUNDARY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The grid as JSON, or with `format=png` the rendered picture.",
        "content": {"image/png": {"schema": BINARY_SCHEMA}},
    }
}

FiniteQuery = Annotated[float | None, Query(allow_inf_nan=False)]
# uvicorn refuses a request whose line and headers exceed 64 KiB (httptools; h11: 16 KiB) with a
# bare 400 the app never sees. A query character is at most 12 bytes percent-encoded, so
# `features` (2100) plus `fixed` stay under 64 KiB in any script and under 16 KiB in ASCII:
# longer values are outside the schema and the app's 422, never the server's 400.
MAX_FIXED_CHARS = 2000


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
            max_length=2100,
            description="The two numeric columns on the axes, by name or index: `a,b` or "
            "`i,j` (default: the model's first two numeric columns).",
            examples=["bill_length_mm,bill_depth_mm", "0,1"],
        ),
    ] = None,
    fixed: Annotated[
        str | None,
        Query(
            max_length=MAX_FIXED_CHARS,
            description="Values of the other columns: `name:value,name:value` (a category "
            "as its text; columns left out keep their default), or every other column's value "
            "in column order, comma-separated. Default: the training median / most frequent "
            "category of a table model's columns, the midpoint of the training range for "
            "`X`/`y` models.",
            examples=["island:Dream,body_mass_g:4200"],
        ),
    ] = None,
    format: Annotated[
        Literal["json", "png"], Query(description="`json` (default) or `png`.")
    ] = "json",
    epoch: Annotated[
        int | None,
        Query(
            ge=1,
            description="Replay: the weights after this recorded epoch (one of `GET .../frames`; "
            "404 otherwise) instead of the latest ones.",
        ),
    ] = None,
    layer: Annotated[
        int | None,
        Query(
            ge=0,
            description="Neuron preview, with `unit`: an index into the model's `layers` (0 the "
            "network's input after preprocessing, 1 the first hidden layer, the last the "
            "output); `values` is then that unit's activation over the grid.",
        ),
    ] = None,
    unit: Annotated[
        int | None, Query(ge=0, description="Neuron preview: the unit of `layer`, from 0.")
    ] = None,
) -> BoundaryQuery:
    """Collect the boundary query (a dependency, so both routes declare the same parameters)."""
    return BoundaryQuery(
        x_min, x_max, y_min, y_max, resolution, nx, ny, features, fixed, format, epoch, layer, unit
    )


BoundaryQueryDep = Annotated[BoundaryQuery, Depends(boundary_query)]


def boundary_response(
    model: Estimator,
    query: BoundaryQuery,
    settings: Settings,
    datasets: DatasetStore,
    dataset_id: Any,
    owner: Owner,
) -> Response:
    """Evaluate ``model`` on the query's grid: the JSON grid or, for ``format=png``, the picture
    with the rows of ``dataset_id`` on it (if that dataset still exists, ``owner`` may see it
    and it fits the model)."""
    grid = evaluate_grid(model, query, settings.max_grid_resolution)
    if query.format == "png":
        png = render_grid_png(model, grid, datasets, dataset_id, owner, epoch=query.epoch)
        return Response(png, media_type="image/png")
    content = grid_json(model, grid)
    if query.epoch is not None:
        content["epoch"] = query.epoch
    return ORJSONResponse(content)
