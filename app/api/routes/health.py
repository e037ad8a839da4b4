"""Operations: liveness (``/health``), readiness (``/ready``) and Prometheus ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.api.json_route import StrictJSONRoute
from app.metrics import CONTENT_TYPE, Metrics
from app.schemas.health import HealthPublic, ReadyPublic
from app.services.health import readiness, service_version

__all__ = ["router"]

router = APIRouter(tags=["operations"], route_class=StrictJSONRoute)


@router.get("/health", response_model=HealthPublic)
def health() -> HealthPublic:
    """Liveness: 200 while the process serves requests."""
    return HealthPublic(version=service_version())


@router.get(
    "/ready",
    response_model=ReadyPublic,
    responses={503: {"model": ReadyPublic, "description": "Not ready (yet)."}},
)
def ready(request: Request) -> Any:
    """Readiness: 200 once start-up recovery has run and the data directory is writable."""
    state = request.app.state
    checks = readiness(getattr(state, "settings", None), getattr(state, "jobs", None))
    if all(checks.values()):
        return ReadyPublic(status="ready", checks=checks)
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    body = ReadyPublic(status="not ready", checks=checks, detail=f"not ready: {failing}")
    return JSONResponse(body.model_dump(), status_code=503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format.",
        },
    },
)
def metrics(request: Request) -> Response:
    """Prometheus metrics: request counts and latency, jobs by state, models stored."""
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
