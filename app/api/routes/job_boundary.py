"""``GET /v1/jobs/{id}/boundary``: the decision boundary of a job's network as it trains.

A running job writes a snapshot of its weights every ``MLP_SNAPSHOT_EVERY_EPOCHS`` epochs (an
engine model file, see :meth:`app.jobs.base.JobRunner.snapshot`); this route evaluates the latest
one on a grid, with exactly the query and the response of ``GET /v1/models/{id}/boundary``. Once
the job has succeeded, the snapshot is gone and the job's model answers instead, so a client can
poll one URL from the first snapshot to the final picture.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Response

import mlp_engine
from app.api.deps import DatasetStoreDep, JobsDep, ModelStoreDep, SettingsDep

# The models router's grid helpers (sizes and caps, query parsing, evaluation, JSON body), so
# both boundary routes follow one set of rules. They are private to that module for now: the
# plan is to move them, with BoundaryQuery below, into one module both routers import.
from app.api.routes.models import _evaluate_grid, _grid_json, _grid_sides
from app.errors import Conflict, NotFound
from app.jobs.base import JobRecord
from app.numeric import ORJSONResponse
from app.render import render_boundary_png
from app.schemas.common import JobId, error_responses
from app.schemas.models import BoundaryPublic
from app.settings import Settings
from app.storage.datasets import DatasetStore
from app.storage.models import Estimator
from mlp_engine import ModelFormatError

__all__ = ["BoundaryQuery", "boundary_query", "boundary_response", "router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_BINARY_SCHEMA = {"type": "string", "format": "binary"}

FiniteQuery = Annotated[float | None, Query(allow_inf_nan=False)]


@dataclass(frozen=True)
class BoundaryQuery:
    """The query of both boundary routes (``/v1/models/{id}`` and ``/v1/jobs/{id}``)."""

    x_min: float | None
    x_max: float | None
    y_min: float | None
    y_max: float | None
    resolution: int | None
    nx: int | None
    ny: int | None
    features: str | None
    fixed: str | None
    format: Literal["json", "png"]


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
    points: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> Response:
    """Evaluate ``model`` on the query's grid: the JSON grid or the PNG picture.

    ``points`` are the training rows ``(X (n, n_features), y (n,))`` drawn on the PNG, if known.
    """
    sides = _grid_sides(model, settings.max_grid_resolution, query.resolution, query.nx, query.ny)
    grid = _evaluate_grid(
        model,
        sides,
        query.features,
        query.fixed,
        (query.x_min, query.x_max),
        (query.y_min, query.y_max),
    )
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


def _dataset_points(
    datasets: DatasetStore, dataset_id: str, n_features: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The job's training rows (all features) for the PNG, if the dataset still exists."""
    if not datasets.exists(dataset_id):
        return None, None
    try:
        X, y, _ = datasets.load(dataset_id)
    except (NotFound, Conflict):
        return None, None
    if X.ndim != 2 or X.shape[1] != n_features:
        return None, None
    return X, y


def _snapshot_model(job_id: str, data: bytes) -> Estimator:
    try:
        return mlp_engine.load(io.BytesIO(data))
    except ModelFormatError:  # written atomically, so only a foreign or future file gets here
        raise Conflict(f"job {job_id!r}: its weights snapshot cannot be read; retry") from None


def _no_snapshot(record: JobRecord) -> Conflict:
    job = f"job {record.id!r}"
    if record.status == "queued":
        return Conflict(f"{job} is queued: it has no weights snapshot yet; retry once it runs")
    if record.status == "running":
        return Conflict(f"{job} has not written a weights snapshot yet; retry in a moment")
    return Conflict(f"{job} ended as {record.status}: it has no snapshot and no model")


@router.get(
    "/{job_id}/boundary",
    response_model=BoundaryPublic,
    response_class=ORJSONResponse,
    responses={
        200: {
            "description": "The grid as JSON, or with `format=png` the rendered picture.",
            "content": {"image/png": {"schema": _BINARY_SCHEMA}},
        },
        **error_responses(404, 409, 422),
    },
    description=(
        "The decision boundary of the job's network as it trains: the latest weights snapshot "
        "(written every `MLP_SNAPSHOT_EVERY_EPOCHS` epochs) evaluated on a grid. Same query and "
        "response as `GET /v1/models/{id}/boundary`; once the job has succeeded its model "
        "answers. 409 while the job is queued or before its first snapshot (retry), and for a "
        "failed or cancelled job; 404 for an unknown job (or a succeeded job whose model was "
        "deleted)."
    ),
)
def job_boundary(
    job_id: JobId,
    query: BoundaryQueryDep,
    jobs: JobsDep,
    models: ModelStoreDep,
    datasets: DatasetStoreDep,
    settings: SettingsDep,
) -> Response:
    """Evaluate the job's latest weights snapshot (or its final model) on a grid."""
    record = jobs.get(job_id)  # 404 for an unknown job
    data = jobs.snapshot(job_id)
    if data is not None:
        model = _snapshot_model(job_id, data)
    else:
        record = jobs.get(job_id)  # the job may have ended since: its snapshot is then gone
        if record.status != "succeeded" or record.model_id is None:
            raise _no_snapshot(record)
        model = models.load(record.model_id)
    points: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
    if query.format == "png":
        points = _dataset_points(datasets, record.spec.dataset_id, model.n_features_in_)
    return boundary_response(model, query, settings, points)
