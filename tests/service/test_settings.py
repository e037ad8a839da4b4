"""Settings from MLP_* variables, the app factory, the get_settings override and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from app.api import deps
from app.cli import _parser
from app.main import build_runner, create_app
from app.settings import Settings

pytestmark = pytest.mark.anyio


def test_settings_come_from_mlp_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLP_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("MLP_MAX_ROWS", "123")
    monkeypatch.setenv("MLP_API_KEYS", " alpha, beta,,")
    monkeypatch.setenv("MLP_MAX_CONCURRENT_JOBS", "2")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.data_dir == tmp_path / "d"
    assert settings.max_rows == 123
    assert settings.api_keys == ["alpha", "beta"]
    assert settings.max_concurrent_jobs == 2


def test_defaults_are_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MLP_DATA_DIR", "MLP_API_KEYS", "MLP_HOST", "MLP_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.data_dir == Path("./data")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.api_keys == []
    assert settings.max_concurrent_jobs >= 1
    assert settings.job_backend == "embedded"


@pytest.mark.parametrize("variable", ["MLP_HTTP_WORKERS", "MLP_WORKERS"])
def test_http_workers_under_its_name_and_its_former_one(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.delenv("MLP_HTTP_WORKERS", raising=False)
    monkeypatch.delenv("MLP_WORKERS", raising=False)
    assert Settings(_env_file=None).http_workers == 1  # type: ignore[call-arg]
    monkeypatch.setenv(variable, "3")
    assert Settings(_env_file=None).http_workers == 3  # type: ignore[call-arg]
    assert Settings(_env_file=None, http_workers=2).http_workers == 2  # type: ignore[call-arg]


def test_invalid_settings_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLP_PORT", "0")
    with pytest.raises(ValidationError, match="port"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_create_app_builds_nothing_heavy(tmp_path: Path, settings_for: Any) -> None:
    data_dir = tmp_path / "not-yet"
    app = create_app(settings_for(data_dir))
    assert app.state.settings.data_dir == data_dir
    assert app.state.jobs is None and app.state.dataset_store is None
    assert not data_dir.exists()  # the lifespan creates it, not the factory


def test_importing_the_app_has_no_side_effects(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code = (
        "import threading, app.main; "
        "assert threading.active_count() == 1, 'a thread was started at import time'"
    )
    env = {**os.environ, "MLP_DATA_DIR": str(data_dir)}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, env=env, cwd=tmp_path)
    assert not data_dir.exists()


async def test_lifespan_creates_the_data_dir_and_runner(
    tmp_path: Path, settings_for: Any, serve_app: Any
) -> None:
    settings = settings_for(tmp_path / "a" / "b")
    app = create_app(settings)
    async with serve_app(settings, app) as client:
        assert settings.data_dir.is_dir()
        assert app.state.jobs is not None and app.state.jobs.ready()
        assert (await client.get("/ready")).status_code == 200
    assert app.state.jobs is None  # stopped at shutdown


def test_job_backend_setting_picks_the_runner(tmp_path: Path, settings_for: Any) -> None:
    from app.jobs.embedded import EmbeddedRunner
    from app.jobs.rq_runner import RQRunner

    assert isinstance(build_runner(settings_for(tmp_path)), EmbeddedRunner)
    # The RQ runner connects lazily: building it needs no Redis.
    rq_settings = settings_for(tmp_path, job_backend="rq", redis_url="redis://127.0.0.1:1/0")
    assert isinstance(build_runner(rq_settings), RQRunner)


def test_unknown_job_backend_is_rejected_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="job_backend"):
        Settings(data_dir=tmp_path, job_backend="celery")  # type: ignore[arg-type]


async def test_settings_dependency_can_be_overridden(
    tmp_path: Path, settings_for: Any, serve_app: Any
) -> None:
    settings = settings_for(tmp_path / "data")
    app = create_app(settings)
    strict = settings_for(tmp_path / "data", max_rows=1)
    app.dependency_overrides[deps.get_app_settings] = lambda: strict
    async with serve_app(settings, app) as client:
        response = await client.post("/v1/datasets", json={"X": [[0.0], [1.0]], "y": [0, 1]})
        assert response.status_code == 422
        assert "at most 1" in response.text


def test_cli_has_serve_and_python_dash_m_app_runs_it() -> None:
    args = _parser().parse_args(["serve", "--port", "9001"])
    assert (args.command, args.port) == ("serve", 9001)
    result = subprocess.run(
        [sys.executable, "-m", "app", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "serve" in result.stdout


async def test_http_client_sees_json_errors_for_unknown_routes(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["detail"]


async def test_an_unreachable_redis_is_503_with_retry_after_not_500(
    tmp_path: Path, settings_for: Any, serve_app: Any
) -> None:
    """With the RQ back-end and Redis down, job routes say so (503 + Retry-After), without a
    traceback, and /ready is 503; the rest of the API keeps working."""
    settings = settings_for(tmp_path, job_backend="rq", redis_url="redis://127.0.0.1:1/0")
    async with serve_app(settings) as client:
        assert (await client.get("/ready")).status_code == 503
        for method, path in (("GET", "/v1/jobs"), ("GET", "/v1/jobs/job_abc")):
            response = await client.request(method, path)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["Retry-After"] == "5"
            assert response.json()["code"] == "unavailable"
            assert "Traceback" not in response.text and "127.0.0.1" not in response.text
        assert (await client.get("/v1/datasets")).status_code == 200


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "app.rq_worker", "--help"],
        ["-m", "app.worker", "--help"],  # the former module name still works
        ["-m", "app", "worker", "--help"],  # mlp-service worker
    ],
)
def test_the_rq_worker_command_under_each_of_its_names(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, *command], capture_output=True, text=True, check=True, timeout=60
    )
    assert "python -m app.rq_worker" in result.stdout and "--count" in result.stdout
