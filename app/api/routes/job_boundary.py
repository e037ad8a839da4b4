"""``GET /v1/jobs/{id}/boundary``: the decision boundary of a job's network as it trains.

A running job writes a snapshot of its weights every ``MLP_SNAPSHOT_EVERY_EPOCHS`` epochs (an
engine model file, see :meth:`app.jobs.base.JobRunner.snapshot`); this route evaluates the latest
one on a grid, with exactly the query and the response of ``GET /v1/models/{id}/boundary``. Once
the job has succeeded, the snapshot is gone and the job's model answers instead, so a client can
poll one URL from the first snapshot to the final picture.
"""

from __future__ import annotations

import io

from fastapi import APIRouter, Response

import mlp_engine
from app.api.boundary import (
    BOUNDARY_RESPONSES,
    BoundaryQueryDep,
    Points,
    boundary_response,
    dataset_points,
)
from app.api.deps import DatasetStoreDep, JobsDep, ModelStoreDep, SettingsDep
from app.errors import Conflict
from app.jobs.base import JobRecord
from app.numeric import ORJSONResponse
from app.schemas.common import JobId, error_responses
from app.schemas.models import BoundaryPublic
from app.storage.models import Estimator
from mlp_engine import ModelFormatError

__all__ = ["router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


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
    responses={**BOUNDARY_RESPONSES, **error_responses(404, 409, 422)},
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
    points: Points = (None, None)
    if query.format == "png":
        points = dataset_points(datasets, record.spec.dataset_id, model.n_features_in_)
    return boundary_response(model, query, settings, points)
