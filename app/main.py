"""The application factory: ``create_app(settings)`` and its lifespan.

Importing this module builds nothing: the stores and the job runner are created in the lifespan
(``uvicorn app.main:create_app --factory`` or ``mlp-service serve``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import FastAPI

from app.api.errors import register_exception_handlers
from app.api.routes import datasets, health, job_boundary, jobs, playground
from app.api.routes.models import router as models_router
from app.jobs.base import JobRunner
from app.metrics import Metrics, StateCollector
from app.middleware import ApiKeyMiddleware, BodySizeLimitMiddleware, RequestContextMiddleware
from app.schemas.common import error_responses
from app.settings import Settings, get_settings
from app.storage.datasets import DatasetStore
from app.storage.models import ModelStore

__all__ = ["build_runner", "create_app"]

logger = logging.getLogger("app")

_DESCRIPTION = """
Train multi-layer perceptrons (a pure NumPy engine) as background jobs and serve them.

1. `POST /v1/datasets/generate {"kind": "notebook"}` (or upload JSON / CSV to `/v1/datasets`);
2. `POST /v1/jobs` with the dataset's ID, an `architecture` and `training` settings;
3. follow `GET /v1/jobs/{id}/events` (Server-Sent Events) until the job ends;
4. `POST /v1/models/{model_id}/predict`, `GET /v1/models/{model_id}/boundary?format=png`.

Errors are JSON with a `detail` naming the offending field or resource. With `MLP_API_KEYS`
set, every `/v1` route needs `Authorization: Bearer <key>`.
"""

_TAGS = [
    {"name": "datasets", "description": "Training data: upload, generate, inspect, delete."},
    {"name": "jobs", "description": "Training jobs: run in child processes, durable, FIFO."},
    {"name": "models", "description": "Trained networks: predict, decision boundary, files."},
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
]

# Running jobs get this long to stop after their epoch at shutdown (uvicorn already waited up to
# 5 s for open requests; together they stay inside a 10 s container stop grace period).
_STOP_TIMEOUT_SECONDS = 3.0


def build_runner(settings: Settings) -> JobRunner:
    """The job back-end named by ``MLP_JOB_BACKEND``."""
    if settings.job_backend == "embedded":
        from app.jobs.embedded import EmbeddedRunner  # imported late: spawns processes

        return EmbeddedRunner(settings)
    raise RuntimeError(
        f"MLP_JOB_BACKEND={settings.job_backend!r} is not available in this version; "
        "use 'embedded' (the default)"
    )


def _open_stores(app: FastAPI, settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.dataset_store = DatasetStore(settings.data_dir)
    app.state.model_store = ModelStore(settings.data_dir, max_model_bytes=settings.max_model_bytes)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the stores, recover and start the job runner; stop it at shutdown."""
    settings: Settings = app.state.settings
    await anyio.to_thread.run_sync(partial(_open_stores, app, settings))
    runner = build_runner(settings)
    # Recovery (re-queueing interrupted jobs) touches SQLite and processes: keep it off the loop.
    await anyio.to_thread.run_sync(runner.start)
    app.state.jobs = runner
    logger.info(
        "service started",
        extra={"data_dir": str(settings.data_dir), "job_backend": settings.job_backend},
    )
    try:
        yield
    finally:
        app.state.jobs = None
        await anyio.to_thread.run_sync(partial(runner.stop, _STOP_TIMEOUT_SECONDS))
        logger.info("service stopped")


def _count_models(app: FastAPI) -> int | None:
    store: ModelStore | None = getattr(app.state, "model_store", None)
    return None if store is None else store.count()


def _add_security_scheme(app: FastAPI) -> None:
    """Document the bearer key in OpenAPI when keys are configured (the middleware enforces it)."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = base_openapi()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})["bearerAuth"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "One of the keys in `MLP_API_KEYS`.",
        }
        for path, operations in schema.get("paths", {}).items():
            if path.startswith("/v1/"):
                for operation in operations.values():
                    operation["security"] = [{"bearerAuth": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application (nothing heavy happens until its lifespan starts)."""
    settings = settings if settings is not None else get_settings()
    app = FastAPI(
        title="mlp-service",
        version=health.service_version(),
        description=_DESCRIPTION,
        openapi_tags=_TAGS,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.dataset_store = None
    app.state.model_store = None
    app.state.jobs = None
    app.state.metrics = metrics = Metrics()
    metrics.watch(StateCollector(lambda: app.state.jobs, partial(_count_models, app)))

    register_exception_handlers(app)
    app.include_router(health.router)
    v1_errors = error_responses(401)
    app.include_router(datasets.router, responses=v1_errors)
    app.include_router(jobs.router, responses=v1_errors)
    app.include_router(job_boundary.router, responses=v1_errors)
    app.include_router(models_router, responses=v1_errors)
    app.include_router(playground.router)

    # Added innermost first: RequestContext wraps ApiKey wraps BodySizeLimit wraps the routes.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    if settings.api_keys:
        _add_security_scheme(app)
    return app
