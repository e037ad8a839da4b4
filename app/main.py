"""The application factory: ``create_app(settings)`` and its lifespan.

Importing this module builds nothing: the stores and the job runner are created in the lifespan
(``uvicorn app.main:create_app --factory`` or ``mlp-service serve``).
"""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI

from app.api.deps import check_query_parameters
from app.api.errors import register_exception_handlers
from app.api.openapi_bounds import apply_settings_bounds
from app.api.openapi_links import add_links
from app.api.predict_fast import PredictFastPath
from app.api.routes import datasets, health, jobs, models, playground, sweeps
from app.api.v2 import routes as v2
from app.api.v2.fast_path import InferFastPath
from app.host_guard import HostGuardMiddleware, declare_responses
from app.jobs.base import JobRunner
from app.metrics import Metrics, StateCollector, StorageCollector
from app.middleware import (
    ApiKeyMiddleware,
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    requires_key,
)
from app.schemas.common import error_responses
from app.services.health import service_version
from app.services.sweeps import start_sweeps
from app.settings import Settings, get_settings
from app.storage.datasets import DatasetStore
from app.storage.models import ModelStore
from app.storage.quota import attach_quota

__all__ = ["build_runner", "create_app"]

logger = logging.getLogger("app")

_DESCRIPTION = """
Train multi-layer perceptrons (a pure NumPy engine) as background jobs and serve them.

1. `POST /v1/datasets/generate {"kind": "notebook"}` (or upload JSON / CSV to `/v1/datasets`);
2. `POST /v1/jobs` with the dataset's ID, an `architecture` and `training` settings;
3. follow `GET /v1/jobs/{id}/events` (Server-Sent Events) until the job ends;
4. `POST /v1/models/{model_id}/predict`, `GET /v1/models/{model_id}/boundary?format=png`.

Errors are JSON with a `detail` naming the offending field or resource. With `MLP_API_KEYS`
set, every `/v1` route needs `Authorization: Bearer <key>`, and each key sees only the datasets,
jobs and models it created (`MLP_ADMIN_KEYS` see all).
"""

_TAGS = [
    {"name": "datasets", "description": "Training data: upload, generate, inspect, delete."},
    {"name": "jobs", "description": "Training jobs: run in child processes, durable, FIFO."},
    {"name": "models", "description": "Trained networks: predict, decision boundary, files."},
    {"name": "sweeps", "description": "Hyper-parameter sweeps: trials run as training jobs."},
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
]

# Running jobs get this long to stop after their epoch at shutdown (uvicorn already waited up to
# 5 s for open requests; together they stay inside a 10 s container stop grace period).
_STOP_TIMEOUT_SECONDS = 3.0


# FastAPI versions with native OpenTelemetry look for configured providers on every request, a
# visible share of a one-row predict (docs/benchmarks.md, HTTP). The service exports its own
# Prometheus metrics (/metrics) and ships no OpenTelemetry set-up, so those hooks are off.
_FRAMEWORK_TELEMETRY_OFF: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def build_runner(settings: Settings) -> JobRunner:
    """The job back-end named by ``MLP_JOB_BACKEND``."""
    if settings.job_backend == "embedded":
        from app.jobs.embedded import EmbeddedRunner  # imported late: spawns processes

        return EmbeddedRunner(settings)
    if settings.job_backend == "rq":
        from app.jobs.rq_runner import RQRunner  # imported late: needs redis and rq

        return RQRunner(settings)
    raise RuntimeError(
        f"MLP_JOB_BACKEND={settings.job_backend!r} is unknown; use 'embedded' (the default) or 'rq'"
    )


def _open_stores(app: FastAPI, settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.dataset_store = DatasetStore(settings.data_dir)
    app.state.model_store = ModelStore(
        settings.data_dir,
        cache_size=settings.model_cache_size,
        cache_bytes=settings.model_cache_bytes,
        max_model_bytes=settings.max_model_bytes,
    )
    app.state.storage_quota = attach_quota(settings, app.state.dataset_store, app.state.model_store)


def _freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, the app, its schemas) out of the cyclic
    collector's reach, once per process.

    Those objects live as long as the process, yet every full collection walks them. A large
    predict body makes orjson build one list per row, which triggers full collections: at
    100,000 rows parsing took 3x as long as with the start-up objects frozen
    (docs/benchmarks.md, HTTP).
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the stores, recover and start the job runner; stop it at shutdown."""
    settings: Settings = app.state.settings
    await anyio.to_thread.run_sync(partial(_open_stores, app, settings))
    runner = build_runner(settings)
    # Recovery (re-queueing interrupted jobs) touches SQLite and processes: keep it off the loop.
    await anyio.to_thread.run_sync(runner.start)
    app.state.jobs = runner
    driver = await anyio.to_thread.run_sync(partial(start_sweeps, app, settings, runner))
    _freeze_startup_objects()
    logger.info(
        "service started",
        extra={"data_dir": str(settings.data_dir), "job_backend": settings.job_backend},
    )
    try:
        yield
    finally:
        app.state.jobs = app.state.sweeps = None
        await anyio.to_thread.run_sync(driver.stop)
        await anyio.to_thread.run_sync(partial(runner.stop, _STOP_TIMEOUT_SECONDS))
        logger.info("service stopped")


def _count_models(app: FastAPI) -> int | None:
    store: ModelStore | None = getattr(app.state, "model_store", None)
    return None if store is None else store.count()


_JSON = "application/json"


def _json_error_content(operation: dict[str, Any]) -> None:
    """Document every error response (4xx/5xx) as JSON, whatever the route's success type.

    FastAPI files the ``model`` of an extra response under the route's own media type, so the
    SSE route's 404/422 appeared as ``text/event-stream``; every error body is JSON.
    """
    for status, response in operation.get("responses", {}).items():
        content = response.get("content")
        if status[:1] not in ("4", "5") or not content or _JSON in content:
            continue
        schemas = [media["schema"] for media in content.values() if "schema" in media]
        response["content"] = {_JSON: {"schema": schemas[0]}} if schemas else {_JSON: {}}


def _customise_openapi(app: FastAPI, settings: Settings) -> None:
    """JSON error bodies everywhere; with keys configured, the bearer scheme on every route the
    middleware guards (``/v1``, and ``/v2`` but its health probes)."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = base_openapi()
        if settings.keys_enabled:
            components = schema.setdefault("components", {})
            components.setdefault("securitySchemes", {})["bearerAuth"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "One of the keys in `MLP_API_KEYS` (or `MLP_ADMIN_KEYS`); "
                "a key sees only the datasets, jobs and models it created.",
            }
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                _json_error_content(operation)
                if settings.keys_enabled and requires_key(path):
                    operation["security"] = [{"bearerAuth": []}]
        declare_responses(schema)  # HostGuardMiddleware's 400 and 403, on every route
        add_links(schema)
        apply_settings_bounds(schema, settings)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the FastAPI application (nothing heavy happens until its lifespan starts)."""
    settings = settings if settings is not None else get_settings()
    app = FastAPI(
        title="mlp-service",
        version=service_version(),
        description=_DESCRIPTION,
        openapi_tags=_TAGS,
        lifespan=lifespan,
        redirect_slashes=False,
        **_FRAMEWORK_TELEMETRY_OFF,
    )
    app.state.settings = settings
    app.state.dataset_store = None
    app.state.model_store = None
    app.state.jobs = None
    app.state.sweeps = None
    app.state.metrics = metrics = Metrics(by_owner=settings.keys_enabled)
    metrics.watch(StateCollector(lambda: app.state.jobs, partial(_count_models, app)))
    metrics.watch(StorageCollector(lambda: getattr(app.state, "storage_quota", None)))

    register_exception_handlers(app)
    app.include_router(health.router)
    # Every /v1 route: 401 without a valid key (when keys are set), 422 for an unknown or
    # repeated query parameter, 503 while starting/stopping.
    v1_errors = error_responses(401, 422, 503)
    v1_checks = [Depends(check_query_parameters)]
    app.include_router(datasets.router, responses=v1_errors, dependencies=v1_checks)
    app.include_router(jobs.router, responses=v1_errors, dependencies=v1_checks)
    app.include_router(models.router, responses=v1_errors, dependencies=v1_checks)
    app.include_router(sweeps.router, responses=v1_errors, dependencies=v1_checks)
    app.include_router(playground.router)
    app.include_router(v2.router)  # /v2: the Open Inference Protocol

    # Added innermost first: RequestContext wraps HostGuard (400 for a foreign Host, 403 for a
    # cross-origin write: counted and logged like any error) wraps ApiKey wraps BodySizeLimit
    # wraps the V2 infer and predict fast paths, which wrap FastAPI's own stack and the routes.
    app.add_middleware(PredictFastPath, routes=models.router.routes)
    app.add_middleware(InferFastPath, routes=v2.router.routes)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ApiKeyMiddleware, keys=settings.api_keys, admin_keys=settings.admin_keys)
    app.add_middleware(
        HostGuardMiddleware,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.allowed_origins,
    )
    app.add_middleware(RequestContextMiddleware, metrics=metrics, access_log=settings.access_log)
    _customise_openapi(app, settings)
    return app
