"""Request IDs, access logs, body-size limit (413), API keys (401) and the 500 handler."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.logging import JsonFormatter
from app.main import create_app
from app.settings import Settings

pytestmark = pytest.mark.anyio

KEYS = ["first-key-0123456789", "second-key-abcdefghij"]


# -- request ID and access log ------------------------------------------------------------------


async def test_request_id_is_echoed_when_sane(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123.def_4"})
    assert response.headers["x-request-id"] == "abc-123.def_4"


@pytest.mark.parametrize("offered", ["has space", "x" * 500, "new\\nline", "<script>", ""])
async def test_request_id_is_replaced_when_not_sane(
    client: httpx.AsyncClient, offered: str
) -> None:
    response = await client.get("/health", headers={"X-Request-ID": offered})
    echoed = response.headers["x-request-id"]
    assert echoed != offered and len(echoed) == 32 and echoed.isalnum()


async def test_request_id_is_generated_and_unique(client: httpx.AsyncClient) -> None:
    first = (await client.get("/health")).headers["x-request-id"]
    second = (await client.get("/health")).headers["x-request-id"]
    assert first != second


async def test_access_log_line_is_json_with_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        await client.get("/v1/datasets/ds_missing", headers={"X-Request-ID": "trace-42"})
    records = [r for r in caplog.records if r.name == "app.access"]
    assert records, "no access log line"
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "trace-42"
    assert line["status"] == 404
    assert line["route"] == "/v1/datasets/{dataset_id}"
    assert line["method"] == "GET" and line["duration_ms"] >= 0
    assert line["level"] == "info" and line["logger"] == "app.access"


# -- body size limit ------------------------------------------------------------------------------


async def test_content_length_over_the_limit_is_413_before_reading(
    app_client: Any, data_dir: Path
) -> None:
    consumed = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(10):
            consumed += 1
            yield b"x" * 1024

    async with app_client(max_body_bytes=4096) as client:
        response = await client.post(
            "/v1/datasets",
            content=body(),
            headers={"content-type": "application/json", "content-length": str(10 * 1024)},
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert "4096" in response.json()["detail"]
        assert consumed == 0
        assert (await client.get("/v1/datasets")).json()["count"] == 0
    assert not list((data_dir / "datasets").glob("*.npz"))


async def test_chunked_body_over_the_limit_is_413_while_streaming(app_client: Any) -> None:
    consumed = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(100):
            consumed += 1
            yield b" " * 1024  # (not "[": 300+ arrays are a 422 for too many rows, at once)

    async with app_client(max_body_bytes=4096) as client:
        response = await client.post(
            "/v1/datasets", content=body(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
        assert consumed <= 6, f"read {consumed} KiB of a body limited to 4 KiB"


async def test_chunked_json_body_over_the_limit_is_413_for_pydantic_routes(
    app_client: Any,
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"kind": "xor", "name": "'
        for _ in range(20):
            yield b"n" * 1024
        yield b'"}'

    async with app_client(max_body_bytes=4096) as client:
        response = await client.post(
            "/v1/datasets/generate", content=body(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"


async def test_body_at_the_limit_is_accepted(app_client: Any) -> None:
    payload = json.dumps({"X": [[0.0], [1.0]], "y": [0, 1]}).encode()
    limit = 1024
    padded = payload[:-1] + b" " * (limit - len(payload)) + b"}"
    assert len(padded) == limit
    async with app_client(max_body_bytes=limit) as client:
        response = await client.post(
            "/v1/datasets", content=padded, headers={"content-type": "application/json"}
        )
        assert response.status_code == 201, response.text
        response = await client.post(
            "/v1/datasets", content=padded + b" ", headers={"content-type": "application/json"}
        )
        assert response.status_code == 413


# -- API keys -------------------------------------------------------------------------------------


def _v1_operations(settings: Settings) -> list[tuple[str, str]]:
    """Every /v1 operation in the OpenAPI document, with path parameters filled in."""
    schema = create_app(settings).openapi()
    operations = []
    for path, methods in schema["paths"].items():
        if path.startswith("/v1"):
            concrete = path.replace("{", "").replace("}", "")  # {job_id} -> job_id
            operations.extend((method.upper(), concrete) for method in methods)
    return operations


async def test_every_v1_route_needs_a_key(app_client: Any, settings: Settings) -> None:
    operations = _v1_operations(settings)
    assert len(operations) >= 15
    async with app_client(api_keys=KEYS) as client:
        for method, path in operations:
            response = await client.request(method, path)
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "missing API key" in response.json()["detail"]
            response = await client.request(
                method, path, headers={"Authorization": "Bearer wrong-key"}
            )
            assert response.status_code == 401, (method, path)
            assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "header", ["first-key-0123456789", "Basic Zmlyc3Qta2V5", "Bearer", "Bearer  ", "bearer x"]
)
async def test_malformed_authorization_is_401(app_client: Any, header: str) -> None:
    async with app_client(api_keys=KEYS) as client:
        response = await client.get("/v1/datasets", headers={"Authorization": header})
        assert response.status_code == 401


async def test_each_configured_key_works(app_client: Any) -> None:
    async with app_client(api_keys=KEYS) as client:
        for key in KEYS:
            response = await client.get("/v1/datasets", headers={"Authorization": f"Bearer {key}"})
            assert response.status_code == 200
        response = await client.get("/v1/datasets", headers={"Authorization": f"bearer {KEYS[0]}"})
        assert response.status_code == 200  # the scheme is case-insensitive


@pytest.mark.parametrize("path", ["/health", "/ready", "/metrics", "/openapi.json", "/docs"])
async def test_operations_stay_open_with_keys(app_client: Any, path: str) -> None:
    async with app_client(api_keys=KEYS) as client:
        assert (await client.get(path)).status_code == 200


async def test_keys_are_documented_and_never_logged(
    app_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with app_client(api_keys=KEYS) as client:
        with caplog.at_level(logging.DEBUG):
            await client.get("/v1/datasets", headers={"Authorization": f"Bearer {KEYS[0]}"})
            await client.get("/v1/datasets", headers={"Authorization": "Bearer not-a-key-xyz"})
        schema = (await client.get("/openapi.json")).json()
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert KEYS[0] not in logged and "not-a-key-xyz" not in logged
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert schema["paths"]["/v1/datasets"]["get"]["security"] == [{"bearerAuth": []}]
    # The schema marks exactly what the middleware guards: /v2 but its health probes.
    paths = schema["paths"]
    assert paths["/v2/models/{model_id}/infer"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/v2"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/v2/health/live"]["get"]
    assert "security" not in paths["/health"]["get"]


async def test_no_keys_means_open_api(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/datasets")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert "security" not in schema["paths"]["/v1/datasets"]["get"]


# -- unexpected errors ----------------------------------------------------------------------------


async def test_unexpected_error_is_a_bare_500_with_request_id(
    settings: Settings, serve_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings)

    def boom() -> None:
        raise RuntimeError(f"secret detail in {settings.data_dir}/internal.py")

    app.add_api_route("/v1/boom", boom)
    async with serve_app(settings, app) as client:
        with caplog.at_level(logging.ERROR, logger="app.errors"):
            response = await client.get("/v1/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    body = response.json()
    assert body == {"detail": "internal error", "code": "internal", "request_id": "req-500"}
    assert response.headers["x-request-id"] == "req-500"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)  # logged, not returned


async def test_error_responses_carry_one_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/jobs/job_missing", headers={"X-Request-ID": "one-id"})
    assert response.status_code == 404
    assert response.headers.get_list("x-request-id") == ["one-id"]
