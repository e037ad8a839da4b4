"""Operations: liveness (``/health``), readiness (``/ready``) and Prometheus ``/metrics``."""

from __future__ import annotations

import logging
import os
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.jobs.base import JobRunner
from app.metrics import CONTENT_TYPE, Metrics

__all__ = ["router", "service_version"]

router = APIRouter(tags=["operations"])
logger = logging.getLogger(__name__)


@cache
def service_version() -> str:
    """The installed package's version (``0.0.0`` when running from an uninstalled tree)."""
    try:
        return metadata.version("mlp-service")
    except metadata.PackageNotFoundError:
        return "0.0.0"


class HealthPublic(BaseModel):
    """The process is up and serving requests."""

    status: Literal["ok"] = "ok"
    version: str


class ReadyPublic(BaseModel):
    """Readiness and what it was judged on."""

    status: Literal["ready", "not ready"]
    checks: dict[str, bool] = Field(
        description="`runner`: recovery has run and jobs can start; `storage`: data dir writable."
    )
    detail: str | None = None


def _storage_writable(data_dir: Path) -> bool:
    """Create and remove a small file in the data directory (catches read-only or full disks)."""
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".ready-", delete=True) as fh:
            fh.write(b"ok")
            fh.flush()
        return True
    except OSError:
        return False


def _runner_ready(runner: JobRunner | None) -> bool:
    if runner is None:
        return False
    try:
        return bool(runner.ready())
    except Exception:
        logger.exception("the job runner's readiness check failed")
        return False


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
    settings = getattr(request.app.state, "settings", None)
    runner: JobRunner | None = getattr(request.app.state, "jobs", None)
    checks = {
        "runner": _runner_ready(runner),
        "storage": settings is not None
        and os.path.isdir(settings.data_dir)
        and _storage_writable(settings.data_dir),
    }
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
