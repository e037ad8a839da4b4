"""/health, /ready, /metrics and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.settings import Settings

pytestmark = pytest.mark.anyio


async def test_health_reports_ok_and_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["version"], str) and body["version"]


async def test_ready_after_startup(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"runner": True, "storage": True}


class StubRunner:
    """Only ``ready()`` matters here: the one test that needs a runner that is not up."""

    def __init__(self) -> None:
        self.is_ready = False

    def ready(self) -> bool:
        return self.is_ready

    def counts(self) -> dict[str, int]:
        return {}


async def test_ready_is_503_until_the_runner_is_ready(settings: Settings) -> None:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        # No lifespan yet: no runner, no data directory.
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["status"] == "not ready"
        assert (await client.get("/health")).status_code == 200

        settings.data_dir.mkdir(parents=True)
        stub = StubRunner()
        app.state.jobs = stub
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"] == {"runner": False, "storage": True}
        assert "runner" in response.json()["detail"]

        stub.is_ready = True
        response = await client.get("/ready")
        assert response.status_code == 200, response.text


async def test_ready_is_503_when_the_data_dir_is_not_writable(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    settings.data_dir = tmp_path / "gone"  # the directory does not exist (nor can be written)
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] is False


async def test_metrics_exposes_requests_jobs_and_models(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    await client.get("/v1/datasets/nope")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'mlp_http_requests_total{method="GET",route="/health",status="200"} 1.0' in text
    # Route templates, not raw paths, keep the label set bounded.
    assert 'route="/v1/datasets/{dataset_id}",status="404"' in text
    assert "mlp_http_request_duration_seconds_bucket" in text
    for state in ("queued", "running", "succeeded", "failed", "cancelled"):
        assert f'mlp_jobs{{state="{state}"}} 0.0' in text
    assert "mlp_models_stored 0.0" in text


async def test_each_app_has_its_own_registry(settings: Settings) -> None:
    first, second = create_app(settings), create_app(settings)
    assert first.state.metrics.registry is not second.state.metrics.registry


async def test_docs_and_openapi_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "mlp-service"


def _operation(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    operation: dict[str, Any] = schema["paths"][path][method]
    return operation


async def test_openapi_declares_every_status(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    expected = {
        ("/v1/datasets", "post"): {"201", "401", "413", "415", "422"},
        ("/v1/datasets/generate", "post"): {"201", "401", "413", "422"},
        ("/v1/datasets", "get"): {"200", "401"},
        ("/v1/datasets/{dataset_id}", "get"): {"200", "401", "404", "422"},
        ("/v1/datasets/{dataset_id}/data", "get"): {"200", "401", "404", "422"},
        ("/v1/datasets/{dataset_id}", "delete"): {"204", "401", "404", "422"},
        ("/v1/jobs", "post"): {"202", "401", "413", "422", "429"},
        ("/v1/jobs", "get"): {"200", "401", "422"},
        ("/v1/jobs/{job_id}", "get"): {"200", "401", "404", "422"},
        ("/v1/jobs/{job_id}/events", "get"): {"200", "401", "404", "422"},
        ("/v1/jobs/{job_id}/cancel", "post"): {"202", "401", "404", "409", "422"},
        ("/ready", "get"): {"200", "503"},
        ("/health", "get"): {"200"},
        ("/metrics", "get"): {"200"},
    }
    for (path, method), statuses in expected.items():
        declared = set(_operation(schema, path, method)["responses"])
        assert statuses <= declared, (path, method, statuses - declared)
    responses = _operation(schema, "/v1/jobs", "post")["responses"]
    assert "Retry-After" in responses["429"]["headers"]
    assert "Location" in responses["202"]["headers"]
    events = _operation(schema, "/v1/jobs/{job_id}/events", "get")["responses"]["200"]
    assert "text/event-stream" in events["content"]
    upload = _operation(schema, "/v1/datasets", "post")["requestBody"]["content"]
    assert {"application/json", "text/csv"} <= set(upload)
    assert "text/plain" in _operation(schema, "/metrics", "get")["responses"]["200"]["content"]


async def test_openapi_documents_the_job_fields_with_defaults(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    training = schemas["Training"]["properties"]
    for name, field in training.items():
        assert field.get("description"), f"training.{name} has no description"
        nullable = {"type": "null"} in field.get("anyOf", [])  # FastAPI omits `default: null`
        assert "default" in field or nullable, f"training.{name} has no documented default"
    assert "dataset" in schemas["JobCreate"]["description"].lower()
