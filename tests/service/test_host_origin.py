"""Issue 18 finding 8: a ``Host`` allow-list (DNS rebinding) and no cross-origin writes.

In process: the app's clients send ``Host: test`` and httpx puts ``test`` into the scope's
``server`` (the address a connection arrived on), so ordinary requests are accepted as they
always were; these tests send other ``Host`` and ``Origin`` headers. A live server's check is
``tests/integration/test_host_origin_live.py``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from pydantic import ValidationError

from app.host_guard import HostGuardMiddleware, host_name, split_host
from app.main import create_app
from app.settings import Settings
from mlp_engine import MLPClassifier

pytestmark = pytest.mark.anyio

EVIL = "evil.example:8000"
FOREIGN = "https://evil.example"
GEN = {"kind": "xor", "n_samples": 50}  # a small generated dataset


def assert_refused(response: httpx.Response, status: int, code: str, setting: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert setting in body["detail"]
    assert "evil" not in response.text  # nothing from the refused header comes back
    assert response.headers["x-request-id"]


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    """A valid model file, as an attacker's page would upload it."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    model = MLPClassifier(hidden_layers=(3,), epochs=2, seed=0).fit(X, (X[:, 0] > 0).astype(int))
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


def stored(data_dir: Path, kind: str) -> list[str]:
    folder = data_dir / kind
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ----------------------------------------------------------------------------------- Host


@pytest.mark.parametrize("path", ["/health", "/v1/datasets", "/", "/docs"])
async def test_foreign_host_is_400_naming_the_setting(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"host": EVIL})
    assert_refused(response, 400, "host_not_allowed", "MLP_ALLOWED_HOSTS")


async def test_v2_refusal_has_the_v2_error_body(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/health/live", headers={"host": EVIL})
    assert response.status_code == 400
    assert set(response.json()) == {"error"} and "MLP_ALLOWED_HOSTS" in response.json()["error"]


async def test_a_hostile_host_header_is_not_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"host": "evil<script>alert(1)</script>"})
    assert response.status_code == 400
    assert "<script>" not in response.text and "alert" not in response.text


@pytest.mark.parametrize(
    "host",
    ["test", "localhost", "localhost:8000", "LOCALHOST:1", "127.0.0.1", "127.0.0.1:9", "[::1]:80"],
)
async def test_localhost_names_and_the_arrival_name_are_accepted(
    client: httpx.AsyncClient, host: str
) -> None:
    response = await client.get("/health", headers={"host": host})
    assert response.status_code == 200, response.text


async def test_allowed_hosts_setting_adds_names(app_client: Any) -> None:
    async with app_client(allowed_hosts=["API.example:443", "10.1.2.3", "[fd00::1]"]) as client:
        for host in ("api.example", "Api.Example:8443", "10.1.2.3:8000", "[fd00::1]:8000"):
            r = await client.get("/health", headers={"host": host})
            assert r.status_code == 200, (host, r.text)
        assert (await client.get("/health", headers={"host": "localhost:8000"})).status_code == 200
        for host in (EVIL, "api.example.evil.example", "[fd00::2]:8000", "fd00::1", "10.1.2.4"):
            response = await client.get("/health", headers={"host": host})
            assert response.status_code == 400, host


async def test_star_allows_any_host(app_client: Any) -> None:
    async with app_client(allowed_hosts=["*"]) as client:
        assert (await client.get("/health", headers={"host": EVIL})).status_code == 200


async def test_an_ipv6_literal_with_port_via_the_arrival_address(settings: Settings) -> None:
    """httpx puts the URL's host into the scope's ``server``, as a server does the socket's."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://[fd00::5]:8000") as client:
        ok = await client.get("/v1/nothing")  # accepted: the router's own 404
        assert ok.status_code == 404 and ok.json()["code"] == "not_found"
        refused = await client.get("/v1/nothing", headers={"host": "[fd00::6]:8000"})
        assert refused.status_code == 400


# The arrival-address rule on hand-built scopes: the guard around an app that answers 204.


async def _nothing(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def call(
    guard: HostGuardMiddleware,
    headers: Sequence[tuple[bytes, bytes]],
    *,
    server: tuple[str, int] | None = ("192.168.1.5", 8000),
    method: str = "GET",
    http_version: str = "1.1",
    path: str = "/v1/datasets",
) -> tuple[int, dict[str, Any]]:
    scope = {
        "type": "http",
        "http_version": http_version,
        "method": method,
        "path": path,
        "root_path": "",
        "headers": list(headers),
        "server": server,
        "client": ("192.168.1.9", 5000),
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await guard(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in messages[1:])
    return messages[0]["status"], (orjson.loads(body) if body else {})


async def test_the_address_a_connection_arrived_on_is_accepted_wherever_bound() -> None:
    guard = HostGuardMiddleware(_nothing)
    assert (await call(guard, [(b"host", b"192.168.1.5:8000")]))[0] == 204
    assert (await call(guard, [(b"host", b"192.168.1.5")]))[0] == 204
    # DNS rebinding: evil.example now resolves to 192.168.1.5, the browser still says its name.
    status, body = await call(guard, [(b"host", EVIL.encode())])
    assert status == 400 and body["code"] == "host_not_allowed"
    # another machine's address, on a connection that arrived at 192.168.1.5
    assert (await call(guard, [(b"host", b"10.0.0.7:8000")]))[0] == 400
    # a dual-stack socket reports an IPv4 client's connection as ::ffff:192.168.1.5
    mapped = ("::ffff:192.168.1.5", 8000)
    assert (await call(guard, [(b"host", b"192.168.1.5:8000")], server=mapped))[0] == 204
    # an IPv6 arrival address, sent bracketed with a port
    v6 = ("fd00::5", 8000)
    assert (await call(guard, [(b"host", b"[FD00::5]:8000")], server=v6))[0] == 204
    # no server address (a Unix socket): loopback names and the allow-list only
    assert (await call(guard, [(b"host", b"192.168.1.5")], server=None))[0] == 400
    assert (await call(guard, [(b"host", b"localhost")], server=None))[0] == 204
    # an address accepted because a connection arrived on it is not remembered for others
    other = ("10.0.0.2", 8000)
    assert (await call(guard, [(b"host", b"192.168.1.5:8000")], server=other))[0] == 400


async def test_remembered_host_values_are_bounded() -> None:
    guard = HostGuardMiddleware(_nothing)
    for port in range(1, 200):
        assert (await call(guard, [(b"host", b"localhost:%d" % port)]))[0] == 204
    assert 0 < len(guard.seen) <= 64
    assert (await call(guard, [(b"host", EVIL.encode())]))[0] == 400


async def test_missing_or_repeated_host() -> None:
    guard = HostGuardMiddleware(_nothing)
    # HTTP/1.0 may leave Host out (no browser does: nothing for a rebinding page to use) ...
    assert (await call(guard, [], http_version="1.0"))[0] == 204
    # ... HTTP/1.1 must send it (RFC 9112 3.2: a 400), and exactly once
    status, body = await call(guard, [], http_version="1.1")
    assert status == 400 and "missing Host" in body["detail"]
    twice = [(b"host", b"localhost"), (b"host", b"evil.example")]
    status, body = await call(guard, twice)
    assert status == 400 and "more than one Host" in body["detail"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.COM:8000", ("example.com", "8000")),
        ("example.com", ("example.com", "")),
        ("[::1]:8000", ("::1", "8000")),
        ("[::1]", ("::1", "")),
        ("127.0.0.1:80", ("127.0.0.1", "80")),
        ("::1", None),  # an IPv6 literal must be bracketed
        ("example.com:http", None),
        ("example.com:80:80", None),
        ("user@example.com", None),
        ("example.com/path", None),
        ("", None),
        ("[::1", None),
        ("example.com:\u00b2", None),  # a Latin-1 superscript digit is not a port
    ],
)
def test_split_host(value: str, expected: tuple[str, str] | None) -> None:
    assert split_host(value) == expected
    assert host_name(value.encode("latin-1")) == (None if expected is None else expected[0])


# --------------------------------------------------------------------------------- Origin


async def test_foreign_origin_post_is_403_and_writes_nothing(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    body = GEN
    for origin in (FOREIGN, "http://test.evil.example", "http://test:8080", "null"):
        response = await client.post("/v1/datasets/generate", json=body, headers={"origin": origin})
        assert_refused(response, 403, "cross_origin", "MLP_ALLOWED_ORIGINS")
    assert stored(data_dir, "datasets") == []
    assert (await client.get("/v1/datasets")).json()["data"] == []
    # the same request from the service's own origin (the playground's fetch) is served
    same = await client.post("/v1/datasets/generate", json=body, headers={"origin": "http://test"})
    assert same.status_code == 201, same.text


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_other_writes_with_a_foreign_origin_are_403(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, "/v1/datasets", headers={"origin": FOREIGN})
    assert response.status_code == 403


async def test_foreign_origin_delete_is_403_and_deletes_nothing(
    client: httpx.AsyncClient, gen: Any
) -> None:
    dataset = await gen(client, "xor", n_samples=50)
    path = f"/v1/datasets/{dataset['id']}"
    assert (await client.delete(path, headers={"origin": FOREIGN})).status_code == 403
    assert (await client.delete(path, headers={"origin": "null"})).status_code == 403
    assert (await client.get(path)).status_code == 200
    assert (await client.delete(path, headers={"origin": "http://TEST:80"})).status_code == 204
    assert (await client.get(path)).status_code == 404


async def test_reads_with_a_foreign_origin_are_untouched(
    client: httpx.AsyncClient, gen: Any
) -> None:
    dataset = await gen(client, "xor", n_samples=50)
    headers = {"origin": FOREIGN, "sec-fetch-site": "cross-site"}
    path = f"/v1/datasets/{dataset['id']}"
    assert (await client.get(path, headers=headers)).status_code == 200
    for method in ("HEAD", "OPTIONS"):  # whatever they answer, the same as without the headers
        plain = await client.request(method, path)
        foreign = await client.request(method, path, headers=headers)
        assert foreign.status_code == plain.status_code != 403, method


async def test_allowed_origins_setting(app_client: Any) -> None:
    origins = ["HTTPS://App.Example:443/", "http://localhost:3000"]
    async with app_client(allowed_origins=origins) as client:
        for origin in ("https://app.example", "http://localhost:3000"):
            response = await client.post(
                "/v1/datasets/generate", json=GEN, headers={"origin": origin}
            )
            assert response.status_code == 201, (origin, response.text)
        for origin in ("http://app.example", "http://localhost:3001", FOREIGN, "null"):
            response = await client.post(
                "/v1/datasets/generate", json=GEN, headers={"origin": origin}
            )
            assert response.status_code == 403, origin


async def test_star_allows_any_origin(app_client: Any) -> None:
    async with app_client(allowed_origins=["*"]) as client:
        response = await client.post("/v1/datasets/generate", json=GEN, headers={"origin": "null"})
        assert response.status_code == 201


async def test_sec_fetch_site_without_origin(client: httpx.AsyncClient) -> None:
    for site in ("cross-site", "same-site"):
        response = await client.post(
            "/v1/datasets/generate", json=GEN, headers={"sec-fetch-site": site}
        )
        assert_refused(response, 403, "cross_origin", "MLP_ALLOWED_ORIGINS")
    for site in ("same-origin", "none"):
        response = await client.post(
            "/v1/datasets/generate", json=GEN, headers={"sec-fetch-site": site}
        )
        assert response.status_code == 201, site


async def test_cross_origin_form_posts_import_nothing(
    client: httpx.AsyncClient, data_dir: Path, model_bytes: bytes
) -> None:
    """What a page elsewhere can send without a CORS preflight: a multipart form and a
    ``text/plain`` body (a Blob or ``enctype="text/plain"``)."""
    multipart = {"files": {"file": ("model.npz", model_bytes, "application/octet-stream")}}
    plain = {"content": model_bytes, "headers": {"content-type": "text/plain"}}
    for origin in (FOREIGN, "null"):
        form = await client.post("/v1/models/import", headers={"origin": origin}, **multipart)
        assert_refused(form, 403, "cross_origin", "MLP_ALLOWED_ORIGINS")
        text = await client.post(
            "/v1/models/import",
            content=model_bytes,
            headers={"content-type": "text/plain", "origin": origin},
        )
        assert_refused(text, 403, "cross_origin", "MLP_ALLOWED_ORIGINS")
        csv = await client.post(
            "/v1/datasets",
            content=b"a,b,label\n1,2,0\n3,4,1\n",
            headers={"content-type": "text/plain", "origin": origin},
        )
        assert_refused(csv, 403, "cross_origin", "MLP_ALLOWED_ORIGINS")
    assert stored(data_dir, "models") == [] and stored(data_dir, "datasets") == []
    # the very same uploads are imported when they come from no browser (curl, the client)
    assert (await client.post("/v1/models/import", **multipart)).status_code == 201
    assert (await client.post("/v1/models/import", **plain)).status_code == 201
    assert len((await client.get("/v1/models")).json()["data"]) == 2


async def test_fast_paths_and_v2_are_guarded(client: httpx.AsyncClient) -> None:
    headers = {"origin": FOREIGN}
    predict = await client.post("/v1/models/mdl_x/predict", json={"X": [[0, 0]]}, headers=headers)
    assert_refused(predict, 403, "cross_origin", "MLP_ALLOWED_ORIGINS")
    infer = await client.post("/v2/models/mdl_x/infer", content=b"{}", headers=headers)
    assert infer.status_code == 403 and set(infer.json()) == {"error"}
    # the same requests without a foreign Origin reach their routes (unknown model: 404)
    assert (await client.post("/v1/models/mdl_x/predict", json={"X": [[0, 0]]})).status_code == 404
    assert (await client.post("/v2/models/mdl_x/infer", content=b"{}")).status_code == 404


async def test_with_keys_a_cross_origin_write_is_still_403(app_client: Any) -> None:
    async with app_client(api_keys=["alice:k-alice-0123456789"]) as client:
        auth = {"authorization": "Bearer k-alice-0123456789"}
        response = await client.post(
            "/v1/datasets/generate", json=GEN, headers={**auth, "origin": FOREIGN}
        )
        assert response.status_code == 403
        ok = await client.post("/v1/datasets/generate", json=GEN, headers=auth)
        assert ok.status_code == 201


async def test_refusals_are_counted_and_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        await client.get("/health", headers={"host": EVIL})
        await client.post("/v1/datasets/generate", json={}, headers={"origin": FOREIGN})
    statuses = [getattr(r, "status", None) for r in caplog.records if r.name == "app.access"]
    assert statuses == [400, 403]
    metrics = (await client.get("/metrics")).text
    assert 'method="GET",route="<unmatched>",status="400"' in metrics
    assert 'method="POST",route="<unmatched>",status="403"' in metrics


# ------------------------------------------------------------------------------- settings


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLP_ALLOWED_HOSTS", " API.example:8000, [fd00::1],, 10.0.0.2,FD00::2 ")
    monkeypatch.setenv("MLP_ALLOWED_ORIGINS", "HTTPS://App.Example:443/,http://localhost:3000")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.allowed_hosts == ["api.example", "fd00::1", "10.0.0.2", "fd00::2"]
    assert settings.allowed_origins == ["https://app.example", "http://localhost:3000"]


def test_defaults_are_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLP_ALLOWED_HOSTS", raising=False)
    monkeypatch.delenv("MLP_ALLOWED_ORIGINS", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.allowed_hosts, settings.allowed_origins) == ([], [])
    # what the compose files pass when .env leaves them empty
    monkeypatch.setenv("MLP_ALLOWED_HOSTS", "")
    monkeypatch.setenv("MLP_ALLOWED_ORIGINS", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.allowed_hosts, settings.allowed_origins) == ([], [])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("allowed_hosts", "http://api.example"),
        ("allowed_hosts", "api.example:http"),
        ("allowed_hosts", "[fd00::1"),
        ("allowed_origins", "null"),
        ("allowed_origins", "app.example"),
        ("allowed_origins", "https://app.example/path"),
        ("allowed_origins", "ftp://app.example"),
    ],
)
def test_malformed_entries_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(_env_file=None, **{field: value})  # type: ignore[arg-type]


# -------------------------------------------------------------------------------- OpenAPI


def test_the_schema_declares_the_refusals_on_every_operation(settings: Settings) -> None:
    """Every status the service can answer is declared: 400 (Host) everywhere, 403 (Origin) on
    every state-changing operation, with the body each gets (/v2: the V2 error)."""
    schema = create_app(settings).openapi()
    writes = 0
    for path, operations in schema["paths"].items():
        body = "V2ErrorBody" if path.startswith("/v2") else "ErrorResponse"
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "host_not_allowed" in responses["400"]["description"], (path, method)
            if method in ("post", "put", "patch", "delete"):
                writes += 1
                assert "cross_origin" in responses["403"]["description"], (path, method)
            if "host_not_allowed" in responses["400"]["description"][:20]:  # added, not merged
                ref = responses["400"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith(f"/{body}"), (path, method, ref)
    assert writes >= 10


async def test_refusal_bodies_match_their_declared_schema(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    schema = create_app(settings).openapi()
    required = {
        name: set(schema["components"]["schemas"][name].get("required", []))
        for name in ("ErrorResponse", "V2ErrorBody")
    }
    cases = [
        ("/v1/jobs", {"host": EVIL}, "ErrorResponse"),
        ("/v1/jobs", {"origin": FOREIGN}, "ErrorResponse"),
        ("/v2/models/m/infer", {"host": EVIL}, "V2ErrorBody"),
        ("/v2/models/m/infer", {"origin": FOREIGN}, "V2ErrorBody"),
    ]
    for path, headers, body in cases:
        response = await client.post(path, json={}, headers=headers)
        assert response.status_code in (400, 403)
        assert required[body] <= set(response.json()), (path, headers, response.text)
