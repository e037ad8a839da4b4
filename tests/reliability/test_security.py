"""Items 6, 10 and 12: hostile IDs never leave the data dir, errors never leak internals, keys.

Item 6 is proved with an audit hook (``sys.addaudithook``), not by reading the code: every
``open``, ``os.listdir``, ``os.scandir``, ``os.remove``, ``os.rename``, ``os.mkdir`` ... event
raised by any thread of the process while hostile requests are served is recorded, and every
recorded path must lie inside the data directory. The requests go straight into the ASGI app
with the scope a server builds (``path`` = the percent-decoded request target, no dot-segment
removal), because HTTP clients normalise ``../`` away before sending.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from helpers.inprocess import files_under, generate, make_settings, serve, wait_for_job
from helpers.specs import FOREVER, LONG_JOB_LIMITS

import mlp_engine
from app import middleware
from app.logging import JsonFormatter
from app.main import create_app
from app.storage.models import ModelStore

pytestmark = pytest.mark.anyio

# ------------------------------------------------------------------------------ audit hook

_FILE_EVENTS = frozenset(
    {
        "open",
        "os.listdir",
        "os.scandir",
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.link",
        "os.symlink",
        "os.utime",
        "shutil.rmtree",
        "shutil.copyfile",
        "shutil.move",
    }
)


class FileAccessSpy:
    """Records the path of every file-system audit event while :attr:`recording` is on.

    ``sys.addaudithook`` cannot be undone, so one hook is installed per process and only
    records inside ``with spy.recording():`` (events from every thread count: route handlers
    run in worker threads).
    """

    def __init__(self) -> None:
        self.active = False
        self.events: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or event not in _FILE_EVENTS or not args:
            return
        target = args[0]
        if isinstance(target, int):  # a file descriptor: already opened, nothing new
            return
        if isinstance(target, bytes):
            target = target.decode("utf-8", "surrogateescape")
        if isinstance(target, os.PathLike):
            target = os.fspath(target)
        if target is None:  # os.listdir() of the current directory
            target = os.getcwd()
        if isinstance(target, str):
            with self._lock:
                self.events.append((event, target))

    def recording(self) -> _Recording:
        return _Recording(self)


class _Recording:
    def __init__(self, spy: FileAccessSpy) -> None:
        self.spy = spy

    def __enter__(self) -> list[tuple[str, str]]:
        self.spy.events = []
        self.spy.active = True
        return self.spy.events

    def __exit__(self, *exc: object) -> None:
        self.spy.active = False


_SPY: FileAccessSpy | None = None


@pytest.fixture(scope="module")
def spy() -> FileAccessSpy:
    global _SPY
    if _SPY is None:
        _SPY = FileAccessSpy()
    return _SPY


def outside(events: list[tuple[str, str]], root: Path) -> list[tuple[str, str]]:
    """Events whose path (made absolute, ``..`` resolved) is not inside ``root``."""
    base = os.path.realpath(root)
    bad = []
    for event, path in events:
        resolved = os.path.realpath(os.path.join(os.getcwd(), path.replace("\0", "")))
        if os.path.commonpath([base, resolved]) != base:
            bad.append((event, path))
    return bad


# --------------------------------------------------------------------------- raw ASGI calls


async def raw_call(
    app: FastAPI, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """Call the ASGI app as uvicorn would for the request line ``METHOD target``.

    ``scope["path"]`` is the percent-decoded target with its dot segments kept, as servers pass
    it on; ``raw_path`` is the target's bytes.
    """
    raw_path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1", "backslashreplace"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "state": {},
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


HOSTILE_IDS = [
    "../../etc/passwd",
    "../../outside",
    "..",
    ".",
    "%2e%2e%2f%2e%2e%2foutside",
    "%2e%2e",
    "..%2f..%2foutside",
    "..%5c..%5coutside",
    "..\\..\\outside",
    "a%00b",
    "mdl_x%00.npz",
    "%00",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "~root",
    "a" * 10_000,
    "%c0%ae%c0%ae%2foutside",
    "\u2025%2foutside",
]


def id_operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) of the schema with a path parameter."""
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if "{" in path
        for method in operations
    )


def fill(template: str, value: str) -> str:
    """Put ``value`` (already in request-target form) into every ``{param}`` of ``template``."""
    parts = template.split("/")
    return "/".join(value if part.startswith("{") else part for part in parts)


@pytest.fixture
async def trained_app(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Path]]:
    """A running app with a dataset, a succeeded job and its model; a valid model file and a
    sentinel file wait *outside* the data dir where a traversal would find them."""
    data_dir = tmp_path / "data"
    app = create_app(make_settings(data_dir))
    outside_model = mlp_engine.MLPClassifier(hidden_layers=(3,), epochs=1).fit(
        np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]), np.array([0, 1, 1, 0])
    )
    outside_model.save(tmp_path / "outside.npz")
    (tmp_path / "outside").write_text("secret")
    async with serve(app.state.settings, app) as client:
        yield app, client, data_dir


async def test_hostile_ids_never_touch_a_file_outside_the_data_dir(
    trained_app: tuple[FastAPI, httpx.AsyncClient, Path], spy: FileAccessSpy
) -> None:
    app, client, data_dir = trained_app
    dataset = await generate(client, "xor", n_samples=100)
    job = (await client.post("/v1/jobs", json={"dataset_id": dataset["id"]})).json()
    done = await wait_for_job(client, job["id"])
    assert done["status"] == "succeeded"
    operations = id_operations(app)
    assert len(operations) >= 10
    body = json.dumps({"X": [[0.0, 0.0]]}).encode()
    json_headers = {"content-type": "application/json"}

    # Warm-up with real IDs: lazy imports and caches happen here, outside the recording.
    real = {"dataset_id": dataset["id"], "job_id": job["id"], "model_id": done["model_id"]}
    for method, path in operations:
        if method == "DELETE":
            continue
        target = path
        for name, value in real.items():
            target = target.replace("{" + name + "}", value)
        await raw_call(app, method, target, body, json_headers)

    statuses: dict[int, int] = {}
    with spy.recording() as events:
        for method, path in operations:
            for hostile in HOSTILE_IDS:
                for target in {fill(path, hostile), fill(path, quote(hostile, safe=""))}:
                    status, response = await raw_call(app, method, target, body, json_headers)
                    statuses[status] = statuses.get(status, 0) + 1
                    assert status in (404, 405, 422), (method, target[:100], status, response)
                    assert b"secret" not in response
        # Control inside the same window: a legitimate read is seen, from the handler's thread.
        status, _ = await raw_call(app, "GET", f"/v1/datasets/{dataset['id']}/data")
        assert status == 200
        dataset_file = str(data_dir / "datasets" / f"{dataset['id']}.npz")
        assert any(path == dataset_file for _, path in events), events[-5:]
    escaped = outside(events, data_dir)
    assert not escaped, escaped[:10]
    assert set(statuses) <= {404, 405, 422} and statuses.get(404) and statuses.get(422)
    # The files a traversal would have reached are untouched, and nothing new was written.
    assert (data_dir.parent / "outside").read_text() == "secret"
    assert all(str(p).startswith(str(data_dir)) for p in files_under(data_dir))


def test_the_spy_sees_a_traversal(tmp_path: Path, spy: FileAccessSpy) -> None:
    """Control: a store asked for a path outside the data dir is caught by the same spy."""
    root = tmp_path / "data"
    store = ModelStore(root)
    with spy.recording() as events, contextlib.suppress(OSError):
        mlp_engine.load(store.root / ".." / ".." / "outside.npz")
    assert outside(events, root), events


# ------------------------------------------------------------------------ item 10: no leaks

_LEAK_MARKERS = (
    "Traceback",
    'File "',
    "site-packages",
    "/work/",
    "/tmp/",
    "/usr/",
    "/home/",
    "Error:",
    "Exception",
    "errno",
    "INTERNAL-SENTINEL",
)


def assert_no_leak(response: httpx.Response, *paths: Path) -> None:
    text = response.text
    for marker in _LEAK_MARKERS:
        assert marker not in text, (marker, response.request.url, text[:300])
    for path in paths:
        assert str(path) not in text, (path, text[:300])


async def test_no_error_response_contains_a_traceback_or_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sweep error responses of every kind: 404/405/409/413/415/422/429 and a forced 500."""
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, max_queued_jobs=0, max_body_bytes=4096, **LONG_JOB_LIMITS)
    async with serve(settings) as client:
        dataset = await generate(client, "xor", n_samples=100)
        # Damaged files planted in the data dir (409s that must not name the file).
        (data_dir / "datasets" / "ds_damaged.npz").write_bytes(b"PK\x03\x04 broken")
        (data_dir / "models" / "mdl_damaged.npz").write_bytes(b"not a zip at all")
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", "/v1/datasets/ds_unknown", {}),
            ("GET", "/v1/datasets/ds_damaged", {}),
            ("GET", "/v1/datasets/ds_damaged/data", {}),
            ("GET", "/v1/models/mdl_damaged", {}),
            ("POST", "/v1/models/mdl_damaged/predict", {"json": {"X": [[0, 0]]}}),
            ("GET", "/v1/models/mdl_damaged/boundary", {}),
            ("GET", "/v1/jobs/job_unknown/events", {}),
            ("POST", "/v1/jobs/job_unknown/cancel", {}),
            ("PUT", "/v1/datasets", {}),
            ("GET", "/v1/nothing/here", {}),
            (
                "POST",
                "/v1/datasets",
                {"content": b"{not json", "headers": {"content-type": "application/json"}},
            ),
            (
                "POST",
                "/v1/datasets",
                {"content": b"\xff\xfe\x00", "headers": {"content-type": "application/json"}},
            ),
            (
                "POST",
                "/v1/datasets",
                {"content": b"a,b\r\n1,x\r\n", "headers": {"content-type": "text/csv"}},
            ),
            ("POST", "/v1/datasets", {"content": b"x", "headers": {"content-type": "image/gif"}}),
            ("POST", "/v1/datasets", {"content": b"[" * 5000}),
            ("POST", "/v1/datasets/generate", {"json": {"kind": "nope"}}),
            ("POST", "/v1/jobs", {"json": {"dataset_id": dataset["id"]}}),  # 429: queue full
            ("POST", "/v1/jobs", {"json": {"dataset_id": "ds_missing"}}),
            ("POST", "/v1/models/import", {"content": b"PK\x05\x06" + b"\0" * 18}),
            ("POST", "/v1/models/import", {"content": b"\x80\x04\x95 pickle"}),
            ("GET", "/v1/models/x/boundary?x_min=nan", {}),
            ("GET", "/v1/jobs?status=bogus", {}),
            ("GET", "/v1/models?resoluton=5", {}),  # an unknown parameter is named, not ignored
            ("GET", "/v1/jobs?limit=x&limit=5", {}),  # so is a repeated one
        ]
        # Capacity is one running job and no queue: this one runs until cancelled (a job that
        # merely takes a while could finish first), so the sweep's one gets 429.
        long_job = {"dataset_id": dataset["id"], "training": FOREVER}
        held = await client.post("/v1/jobs", json=long_job)
        assert held.status_code == 202, held.text
        seen: set[int] = set()
        for method, url, kwargs in requests:
            response = await client.request(method, url, **kwargs)
            assert response.status_code >= 400, (url, response.status_code)
            seen.add(response.status_code)
            assert_no_leak(response, data_dir, tmp_path)
        assert {404, 405, 409, 413, 415, 422, 429} <= seen, seen
        await client.post(f"/v1/jobs/{held.json()['id']}/cancel")
        await wait_for_job(client, held.json()["id"])

        # A forced internal error whose message holds a path and a sentinel: a bare 500.
        def explode(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError(f"INTERNAL-SENTINEL at {data_dir}/models/secret.npz")

        monkeypatch.setattr(ModelStore, "list", explode)
        monkeypatch.setattr(ModelStore, "get", explode)
        for url in ("/v1/models", "/v1/models/mdl_x"):
            response = await client.get(url)
            assert response.status_code == 500
            assert response.json()["detail"] == "internal error"
            assert response.json()["request_id"] == response.headers["x-request-id"]
            assert_no_leak(response, data_dir, tmp_path)


# -------------------------------------------------------------------------- item 12: keys

KEYS = ["first-key-0123456789", "second-key-abcdefghij", "third-key-ZYXWVUTSRQ"]


def v1_operations(app: FastAPI) -> list[tuple[str, str]]:
    """Every /v1 (method, concrete path) of the OpenAPI schema (IDs filled with a dummy)."""
    return sorted(
        (method.upper(), fill(path, "xyz"))
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    )


@pytest.fixture
async def keyed(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(make_settings(tmp_path / "data", api_keys=KEYS))
    async with serve(app.state.settings, app) as client:
        yield app, client


async def test_every_v1_route_needs_a_valid_key(
    keyed: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = keyed
    operations = v1_operations(app)
    assert len(operations) >= 15
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Bearer {KEYS[0]}x"},
        {"Authorization": f"Bearer {KEYS[0][:-1]}"},
        {"Authorization": KEYS[0]},
        {"Authorization": f"Basic {KEYS[0]}"},
        {"Authorization": "Bearer "},
        {"X-API-Key": KEYS[0]},
    ]
    for method, path in operations:
        for headers in bad_headers:
            response = await client.request(method, path, headers=headers, content=b"{}")
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] == "unauthorized"
        for key in KEYS:
            response = await client.request(
                method, path, headers={"Authorization": f"Bearer {key}"}, content=b"{}"
            )
            assert response.status_code != 401, (method, path, response.text)
    for open_path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs", "/"):
        assert (await client.get(open_path)).status_code == 200, open_path
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


async def test_keys_are_compared_in_constant_time_against_every_key(
    keyed: tuple[FastAPI, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every configured key goes through ``hmac.compare_digest``, even after a match."""
    _, client = keyed
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((bytes(a), bytes(b)))
        return real(a, b)

    monkeypatch.setattr(middleware.hmac, "compare_digest", recording)
    for offered, expected_status in ((KEYS[0], 200), ("nope", 401), (KEYS[2], 200)):
        calls.clear()
        response = await client.get("/v1/models", headers={"Authorization": f"Bearer {offered}"})
        assert response.status_code == expected_status
        assert [b for _, b in calls] == [k.encode() for k in KEYS]  # all keys, in order
        assert {a for a, _ in calls} == {offered.encode()}


async def test_keys_are_never_logged(
    keyed: tuple[FastAPI, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    """Good and bad keys, in headers, queries and bodies: no log record mentions them."""
    _, client = keyed
    bad_key = "bad-key-must-not-appear-7f3a"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("", "app", "uvicorn", "mlp_engine")]
    for logger in loggers:
        logger.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        for key in [*KEYS, bad_key]:
            headers = {"Authorization": f"Bearer {key}", "X-Request-ID": "req-1"}
            await client.get("/v1/models", headers=headers)
            await client.get("/v1/models/unknown", headers=headers)
            await client.post("/v1/datasets", headers=headers, content=b"{bad json")
            await client.get("/v1/jobs", headers={"Authorization": key})
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    text = stream.getvalue() + "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "/v1/models" in text  # the access log did run
    for key in [*KEYS, bad_key]:
        assert key not in text
