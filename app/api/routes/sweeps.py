"""``/v1/sweeps``: start, list, inspect, follow (SSE) and cancel hyper-parameter sweeps.

Sweep calls are synchronous (the store, the runner): handlers are plain ``def`` (run in the
thread pool); the SSE stream reads in threads too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.deps import OwnerDep
from app.api.json_route import StrictJSONRoute
from app.errors import NotReady
from app.schemas.common import ID_PATTERN, error_responses
from app.schemas.sweeps import SweepCreate, SweepPublic, SweepsPublic
from app.services.sweeps import SweepService

__all__ = ["router"]

router = APIRouter(prefix="/v1/sweeps", tags=["sweeps"], route_class=StrictJSONRoute)

SweepId = Annotated[
    str, Path(pattern=ID_PATTERN, max_length=64, description="A sweep ID, e.g. `swp_...`.")
]


async def get_sweeps(request: Request) -> SweepService:
    """The sweep service built in the lifespan."""
    service = getattr(request.app.state, "sweeps", None)
    if service is None:
        raise NotReady("the service is starting or stopping (sweeps are not available yet)")
    return cast(SweepService, service)


SweepsDep = Annotated[SweepService, Depends(get_sweeps)]


@router.post(
    "",
    status_code=202,
    response_model=SweepPublic,
    responses={
        202: {
            "description": "Accepted; `Location` is the sweep's URL.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **error_responses(404, 413, 422, 507),
    },
)
def create_sweep(
    body: SweepCreate, response: Response, sweeps: SweepsDep, owner: OwnerDep
) -> SweepPublic:
    """Start a hyper-parameter sweep (its trials are training jobs)."""
    doc = sweeps.create(body, owner)
    response.headers["Location"] = f"{router.prefix}/{doc['id']}"
    return SweepPublic.model_validate(doc)


@router.get("", response_model=SweepsPublic, responses=error_responses(422))
def list_sweeps(
    sweeps: SweepsDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many sweeps.")] = 100,
) -> SweepsPublic:
    """List sweeps, newest first."""
    docs = sweeps.list(limit, owner)
    return SweepsPublic(data=[SweepPublic.model_validate(d) for d in docs], count=len(docs))


@router.get("/{sweep_id}", response_model=SweepPublic, responses=error_responses(404, 422))
def get_sweep(sweep_id: SweepId, sweeps: SweepsDep, owner: OwnerDep) -> SweepPublic:
    """Show a sweep: its trials, leaderboard and best trial."""
    return SweepPublic.model_validate(sweeps.get(sweep_id, owner))


def existing_sweep(sweep_id: SweepId, sweeps: SweepsDep, owner: OwnerDep) -> str:
    """The sweep's ID, or a 404 before any byte of a stream is sent (in the thread pool)."""
    sweeps.check_owner(sweep_id, owner)
    return sweep_id


@router.get(
    "/{sweep_id}/events",
    response_class=EventSourceResponse,
    responses={
        200: {"description": "`trial` events, then one `status` event; then the end."},
        **error_responses(404, 422),
    },
    description=(
        "Server-Sent Events: one `trial` event as each trial ends (data: the trial, as in "
        "`trials`; from the first, in the order they ended), then one `status` event (data: "
        "the whole sweep); the stream then ends."
    ),
)
async def sweep_events(
    sweeps: SweepsDep, sweep_id: Annotated[str, Depends(existing_sweep)]
) -> AsyncIterator[ServerSentEvent]:
    """Stream a sweep's trials as Server-Sent Events until it ends."""
    async for event in sweeps.events(sweep_id):
        yield ServerSentEvent(event=event.event, data=event.data)


@router.post(
    "/{sweep_id}/cancel",
    status_code=202,
    response_model=SweepPublic,
    responses=error_responses(404, 409, 422),
)
def cancel_sweep(sweep_id: SweepId, sweeps: SweepsDep, owner: OwnerDep) -> SweepPublic:
    """Cancel a sweep: every job of it is cancelled (409 once the sweep has ended)."""
    return SweepPublic.model_validate(sweeps.cancel(sweep_id, owner))
