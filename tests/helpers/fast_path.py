"""One model served twice in process: through the pure-ASGI fast path and through the FastAPI
route (any dependency override makes the fast path step aside), to compare the two answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.api.deps import get_app_settings
from app.main import create_app
from app.settings import Settings
from app.storage.datasets import DatasetStore
from app.storage.models import ModelStore

__all__ = ["fast_and_route_clients"]


def _app(tmp_path: Path, model: Any, model_id: str, max_rows: int, *, route_only: bool) -> FastAPI:
    settings = Settings(_env_file=None, data_dir=tmp_path, max_rows=max_rows, api_keys=[])  # type: ignore[call-arg]
    app = create_app(settings)
    app.state.dataset_store = DatasetStore(tmp_path)
    app.state.model_store = store = ModelStore(tmp_path)
    store.save(model, model_id=model_id, name=model_id, job_id=None, dataset_id=None)
    if route_only:
        app.dependency_overrides[get_app_settings] = lambda: settings
    return app


@asynccontextmanager
async def fast_and_route_clients(
    tmp_path: Path, model: Any, model_id: str, max_rows: int
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """``(fast, route)`` clients of two apps holding ``model`` under ``model_id``."""
    fast = _app(tmp_path / "fast", model, model_id, max_rows, route_only=False)
    route = _app(tmp_path / "route", model, model_id, max_rows, route_only=True)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://t") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=route), base_url="http://t") as b,
    ):
        yield a, b
