"""The ASGI app in process (helpers in :mod:`helpers.inprocess`): one app and data dir per test.

Each test gets its own data directory and app (real stores, real embedded job runner). Limits
are small so cap tests are cheap; tests that need other settings call :func:`serve`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.inprocess import generate, make_settings, serve, wait_for_job

from app.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings) as client:
        yield client


@pytest.fixture
def app_client(data_dir: Path) -> Any:
    """``async with app_client(**settings_overrides) as client``: an app with other settings."""

    def factory(**overrides: Any) -> Any:
        return serve(make_settings(data_dir, **overrides))

    return factory


@pytest.fixture
def wait_job() -> Any:
    """``await wait_job(client, job_id)``: poll until the job is terminal."""
    return wait_for_job


@pytest.fixture
def gen() -> Any:
    """``await gen(client, kind, **fields)``: generate a dataset, return its metadata."""
    return generate


@pytest.fixture
def serve_app() -> Any:
    """``async with serve_app(settings, app=None) as client``: run a given app's lifespan."""
    return serve


@pytest.fixture
def settings_for() -> Any:
    """``settings_for(data_dir, **overrides)``: the app's test settings (those of ``settings``,
    :func:`helpers.inprocess.make_settings`) for another data directory; not
    :func:`helpers.specs.settings_for`, whose settings are a bare job runner's."""
    return make_settings
