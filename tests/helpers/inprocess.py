"""The ASGI app in process: ``httpx.AsyncClient`` over ``ASGITransport`` with the lifespan run.

Real stores and the real embedded job runner on a temporary data directory; limits are small
so cap tests are cheap (:data:`LIMITS`, overridable per test through :func:`make_settings`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from helpers.waiting import TERMINAL, wait_for_async

__all__ = [
    "LIMITS",
    "TERMINAL",
    "files_under",
    "generate",
    "make_settings",
    "serve",
    "wait_for_job",
]

# Limits used by most service tests (each inclusive: at the cap accepted, cap + 1 rejected).
LIMITS: dict[str, Any] = {
    "max_rows": 300,
    "max_features": 6,
    "max_hidden_layers": 3,
    "max_units": 16,
    "max_epochs": 400,
    "max_batch_size": 64,
    "max_classes": 5,
    "max_body_bytes": 256 * 1024,
    "compute_budget": 5e8,
    "max_concurrent_jobs": 1,
    "max_queued_jobs": 20,
    "progress_interval_seconds": 0.0,
}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Test settings: no ``.env`` file, the limits above, ``overrides`` last."""
    values = {**LIMITS, **overrides}
    return Settings(_env_file=None, data_dir=data_dir, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def serve(settings: Settings, app: FastAPI | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and yield a client talking to it in process."""
    app = app or create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def wait_for_job(
    client: httpx.AsyncClient, job_id: str, timeout: float = 60.0, until: set[str] | None = None
) -> dict[str, Any]:
    """Poll ``GET /v1/jobs/{id}`` until the job reaches one of ``until`` (default: terminal)."""
    wanted = until or TERMINAL

    async def reached() -> dict[str, Any] | None:
        response = await client.get(f"/v1/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job if job["status"] in wanted else None

    record: dict[str, Any] = await wait_for_async(
        reached, timeout, f"job {job_id} to reach {sorted(wanted)}", 0.05
    )
    return record


async def generate(client: httpx.AsyncClient, kind: str = "xor", **fields: Any) -> dict[str, Any]:
    """Create a generated dataset and return its metadata."""
    response = await client.post("/v1/datasets/generate", json={"kind": kind, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def files_under(directory: Path) -> list[Path]:
    """Every regular file below ``directory`` (for 'nothing was written' checks)."""
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []
