"""``/v1/jobs``: start, list, inspect, follow (SSE) and cancel training jobs; draw the decision
boundary of a job's network as it trains (its latest weights snapshot, written every
``MLP_SNAPSHOT_EVERY_EPOCHS`` epochs; once the job has succeeded, its model).

Every runner call is synchronous (SQLite, process supervision): handlers are plain ``def`` (run in
the thread pool) and the SSE dependency looks the job up in a thread too, so the event loop never
trains or waits on the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.bodies import DataBodyRoute
from app.api.boundary import BOUNDARY_RESPONSES, BoundaryQueryDep, boundary_response
from app.api.deps import DatasetStoreDep, JobsDep, ModelStoreDep, OwnerDep, SettingsDep
from app.jobs.base import JobRecord, JobStatus
from app.numeric import ORJSONResponse
from app.owners import owner_filter
from app.schemas.common import JobId, error_responses
from app.schemas.jobs import JobCreate, JobPublic, JobsPublic
from app.schemas.models import BoundaryPublic, FramesPublic
from app.services import jobs as service
from app.services import replay

__all__ = ["router"]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=DataBodyRoute)


@router.post(
    "",
    status_code=202,
    response_model=JobPublic,
    responses={
        202: {
            "description": "Accepted; `Location` is the job's URL.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **error_responses(409, 413, 422, 429, 507),
    },
)
def create_job(
    body: JobCreate,
    response: Response,
    settings: SettingsDep,
    datasets: DatasetStoreDep,
    jobs: JobsDep,
    owner: OwnerDep,
) -> JobPublic:
    """Queue a training job on a stored dataset or on inline `X` + `y`."""
    record = service.create_job(body, settings, datasets, jobs, owner)
    response.headers["Location"] = f"{router.prefix}/{record.id}"
    return JobPublic.from_record(record)


@router.get("", response_model=JobsPublic, responses=error_responses(422))
def list_jobs(
    jobs: JobsDep,
    owner: OwnerDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many jobs.")] = 100,
) -> JobsPublic:
    """List the jobs this key may see, newest first, optionally only those in one state."""
    records = jobs.list(status=status, limit=limit, owner=owner_filter(owner))
    return JobsPublic(data=[JobPublic.from_record(r) for r in records], count=len(records))


@router.get("/{job_id}", response_model=JobPublic, responses=error_responses(404, 422))
def get_job(job_id: JobId, jobs: JobsDep, owner: OwnerDep) -> JobPublic:
    """Show a job's state, latest progress and per-epoch history."""
    return JobPublic.from_record(service.owned_job(jobs, owner, job_id))


def existing_job(job_id: JobId, jobs: JobsDep, owner: OwnerDep) -> JobRecord:
    """The job, or a 404 before any byte of a stream is sent (runs in the thread pool)."""
    return service.owned_job(jobs, owner, job_id)


@router.get(
    "/{job_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "`progress` events, then one `status` event; then the end."},
        **error_responses(404, 422),
    },
    description=(
        "Server-Sent Events: one `progress` event per reported epoch (data: a history row, "
        "from the first epoch), then one final `status` event (data: the job's terminal "
        "state); the stream then ends. Comment lines (`: ping`) keep idle connections open."
    ),
)
async def job_events(
    jobs: JobsDep, job: Annotated[JobRecord, Depends(existing_job)]
) -> AsyncIterator[ServerSentEvent]:
    """Stream a job's progress as Server-Sent Events until it ends."""
    # The path parameter is declared once, by the dependency (twice, a bad ID got two 422 items).
    events = await anyio.to_thread.run_sync(jobs.events, job.id)
    async for event in events:
        yield ServerSentEvent(event=event.event, data=event.data)


@router.post(
    "/{job_id}/cancel",
    status_code=202,
    response_model=JobPublic,
    responses=error_responses(404, 409, 422),
)
def cancel_job(
    job_id: JobId,
    jobs: JobsDep,
    owner: OwnerDep,
    keep: Annotated[
        bool,
        Query(
            description="Keep what was learnt: a running job saves its latest weights as its "
            "model (`model_id` set once it is `cancelled`). A queued job has none to keep."
        ),
    ] = False,
) -> JobPublic:
    """Cancel a queued or running job (a running one stops within an epoch)."""
    service.owned_job(jobs, owner, job_id)
    return JobPublic.from_record(jobs.cancel(job_id, keep=keep))


@router.get(
    "/{job_id}/frames",
    response_model=FramesPublic,
    responses=error_responses(404, 409, 422),
)
def job_frames(
    job_id: JobId, jobs: JobsDep, models: ModelStoreDep, settings: SettingsDep, owner: OwnerDep
) -> FramesPublic:
    """The job's recorded weight frames so far (its model's once it has one; else none)."""
    frames, _ = replay.job_frames(jobs, models, settings.data_dir, job_id, owner)
    return FramesPublic(epochs=replay.recorded_epochs(frames))


@router.get(
    "/{job_id}/boundary",
    response_model=BoundaryPublic,
    response_class=ORJSONResponse,
    responses={**BOUNDARY_RESPONSES, **error_responses(404, 409, 422)},
    description=(
        "The decision boundary of the job's network as it trains: the latest weights snapshot "
        "(written every `MLP_SNAPSHOT_EVERY_EPOCHS` epochs) evaluated on a grid, or with "
        "`epoch=K` the weights after recorded epoch K (see `GET /v1/jobs/{id}/frames`; 404 for "
        "an epoch not recorded). Same query and response as `GET /v1/models/{id}/boundary`; "
        "once the job has a model (succeeded, or cancelled with `keep=true`) its model "
        "answers. 409 while the job is queued or before its first snapshot (retry), and for a "
        "failed job or one cancelled without a model; 404 for an unknown job (or one whose "
        "model was deleted)."
    ),
)
def job_boundary(
    job_id: JobId,
    query: BoundaryQueryDep,
    jobs: JobsDep,
    models: ModelStoreDep,
    datasets: DatasetStoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> Response:
    """Evaluate the job's latest weights snapshot (or its final model) on a grid."""
    model, record = replay.job_at_epoch(jobs, models, settings.data_dir, job_id, query.epoch, owner)
    return boundary_response(model, query, settings, datasets, record.spec.dataset_id, owner)
