"""The V2 infer fast path (``app.api.v2.fast_path.InferFastPath``) answers exactly as the routes.

Each request goes to two apps over the same store: one as built (the fast path serves it) and one
with a dependency override (the fast path declines, so FastAPI's route serves it). A counting
wrapper around the routes' ``serve_infer`` shows which one answered.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from fastapi import FastAPI

from app.api.deps import get_app_settings
from app.api.v2 import routes as v2_routes
from app.main import create_app
from app.owners import key_identity
from app.settings import Settings
from app.storage import DatasetStore, ModelStore
from mlp_engine import MLPClassifier

pytestmark = pytest.mark.anyio

HEADER = "Inference-Header-Content-Length"
MAX_BODY = 4096
ROWS = [[0.5, -1.0], [-2.0, 0.25], [1.5, 1.5]]


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    colours = np.array(["red", "green", "blue"])[np.argmax(np.c_[X, -X.sum(axis=1)], axis=1)]
    table = {"size": rng.normal(size=60), "colour": rng.choice(["a", "b", "c"], 60)}
    return {
        "multiclass": MLPClassifier(hidden_layers=(6,), epochs=20, seed=0).fit(X, colours),
        "table": MLPClassifier(hidden_layers=(4,), epochs=10, seed=0).fit(
            table, (table["colour"] == "a").astype(int)
        ),
    }


class RouteCalls:
    """How many requests FastAPI's V2 infer routes served."""

    count = 0


@pytest.fixture
def route_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[RouteCalls]:
    calls = RouteCalls()
    real = v2_routes.serve_infer

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.count += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(v2_routes, "serve_infer", counted)
    yield calls


def _save(tmp_path: Path, models: dict[str, Any], owner: str | None) -> None:
    store = ModelStore(tmp_path, max_model_bytes=1 << 20)
    for name, model in models.items():
        store.save(
            model, model_id=f"mdl_{name}", name=name, job_id=None, dataset_id=None, owner=owner
        )


def _app(tmp_path: Path, *, route: bool, keys: list[str]) -> FastAPI:
    settings = Settings(
        _env_file=None, data_dir=tmp_path, max_rows=50, max_body_bytes=MAX_BODY, api_keys=keys
    )
    application = create_app(settings)
    application.state.dataset_store = DatasetStore(tmp_path)
    application.state.model_store = ModelStore(tmp_path, max_model_bytes=1 << 20)
    if route:  # any override makes the fast path step aside
        application.dependency_overrides[get_app_settings] = lambda: settings
    return application


class Pair:
    """The fast-path app and the route app, each behind its own client."""

    def __init__(self, fast: httpx.AsyncClient, route: httpx.AsyncClient, calls: RouteCalls):
        self.fast, self.route, self.calls = fast, route, calls

    async def same(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST to both; assert equal status, headers and bytes; the fast app's response."""
        headers = {"X-Request-ID": "req-1", **kwargs.pop("headers", {})}
        before = self.calls.count
        fast = await self.fast.post(path, headers=headers, **kwargs)
        assert self.calls.count == before, "the fast path let FastAPI's route serve this"
        route = await self.route.post(path, headers=headers, **kwargs)
        assert (fast.status_code, fast.content) == (route.status_code, route.content)
        assert fast.headers.multi_items() == route.headers.multi_items()
        return fast


@pytest.fixture(params=[[], ["k1"]], ids=["open", "keys"])
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, models: dict[str, Any], route_calls: RouteCalls
) -> AsyncIterator[Pair]:
    keys: list[str] = request.param
    auth = {"Authorization": "Bearer k1"} if keys else {}
    _save(tmp_path, models, key_identity("k1") if keys else None)  # with keys: k1's models
    apps = [_app(tmp_path, route=route, keys=keys) for route in (False, True)]
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
            base_url="http://testserver",
            headers=auth,
        )
        for app in apps
    ]
    async with clients[0] as fast, clients[1] as route:
        yield Pair(fast, route, route_calls)


def _infer_json(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    return {
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [len(rows), 2], "data": rows}],
        **extra,
    }


async def test_json_infer_is_identical(pair: Pair) -> None:
    for path in ("/v2/models/mdl_multiclass/infer", "/v2/models/mdl_multiclass/versions/1/infer"):
        response = await pair.same(path, json=_infer_json(ROWS, id="a"))
        assert response.status_code == 200, response.text
        assert [o["name"] for o in response.json()["outputs"]] == ["predictions", "probabilities"]
    assert pair.calls.count == 2  # the route app served its two


async def test_binary_infer_is_identical(pair: Pair) -> None:
    sizes = np.array([0.3, -1.0], dtype=np.float32).tobytes()
    colours = b"".join(struct.pack("<I", len(s)) + s for s in (b"a", b"c"))
    doc = {
        "inputs": [
            {"name": "size", "datatype": "FP32", "shape": [2, 1]},
            {"name": "colour", "datatype": "BYTES", "shape": [2]},
        ],
        "parameters": {"binary_data_output": True},
    }
    doc["inputs"][0]["parameters"] = {"binary_data_size": len(sizes)}
    doc["inputs"][1]["parameters"] = {"binary_data_size": len(colours)}
    head = orjson.dumps(doc)
    headers = {HEADER: str(len(head)), "Content-Type": "application/octet-stream"}
    response = await pair.same(
        "/v2/models/mdl_table/infer", content=head + sizes + colours, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert int(response.headers[HEADER]) < len(response.content)


async def test_errors_are_identical(pair: Pair) -> None:
    cases: list[tuple[str, dict[str, Any], int]] = [
        ("/v2/models/mdl_nope/infer", {"json": _infer_json(ROWS)}, 404),
        ("/v2/models/mdl_multiclass/versions/7/infer", {"json": _infer_json(ROWS)}, 404),
        ("/v2/models/mdl_multiclass/infer", {"content": b"{not json"}, 400),
        ("/v2/models/mdl_multiclass/infer", {"json": {"inputs": []}}, 400),
        ("/v2/models/mdl_multiclass/infer", {"json": _infer_json([[1.0, 2.0]] * 51)}, 400),
        (
            "/v2/models/mdl_multiclass/infer",
            {"json": _infer_json(ROWS), "headers": {HEADER: "x"}},
            400,
        ),
    ]
    for path, kwargs, status in cases:
        response = await pair.same(path, **kwargs)
        assert response.status_code == status, (path, response.text)
        assert set(response.json()) == {"error"}


async def test_a_streamed_body_over_the_limit_is_identical(pair: Pair) -> None:
    """No Content-Length: the limit trips while the fast path reads the body (413)."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 512 + 2):
            yield b" " * 512

    fast = await pair.fast.post("/v2/models/mdl_multiclass/infer", content=chunks())
    route = await pair.route.post("/v2/models/mdl_multiclass/infer", content=chunks())
    assert fast.status_code == route.status_code == 413, fast.text
    assert fast.json() == route.json()
    assert pair.calls.count == 1


async def test_a_declared_body_over_the_limit_is_identical(pair: Pair) -> None:
    big = _infer_json([[0.0, 0.0]] * 1000)
    response = await pair.same("/v2/models/mdl_multiclass/infer", json=big)
    assert response.status_code == 413, response.text
    assert pair.calls.count == 0  # the middleware answered before either


async def test_without_a_key_is_401_and_identical(
    tmp_path: Path, models: dict[str, Any], route_calls: RouteCalls
) -> None:
    _save(tmp_path, models, key_identity("k1"))
    apps = [_app(tmp_path, route=route, keys=["k1"]) for route in (False, True)]
    transports = [httpx.ASGITransport(app=a, raise_app_exceptions=False) for a in apps]
    async with (
        httpx.AsyncClient(transport=transports[0], base_url="http://t") as fast,
        httpx.AsyncClient(transport=transports[1], base_url="http://t") as route,
    ):
        pair = Pair(fast, route, route_calls)
        response = await pair.same("/v2/models/mdl_multiclass/infer", json=_infer_json(ROWS))
        assert response.status_code == 401 and "API key" in response.json()["error"]
    assert route_calls.count == 0


async def test_what_the_fast_path_declines_reaches_the_route(
    tmp_path: Path, models: dict[str, Any], route_calls: RouteCalls
) -> None:
    _save(tmp_path, models, None)
    app = _app(tmp_path, route=False, keys=[])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as client:
        # A malformed model ID is left to the route (which answers 404).
        response = await client.post("/v2/models/mdl-x!/infer", json=_infer_json(ROWS))
        assert response.status_code == 404 and route_calls.count == 1
        app.state.model_store = None  # not started: the route's dependency answers 503
        response = await client.post("/v2/models/mdl_multiclass/infer", json=_infer_json(ROWS))
        assert response.status_code == 503 and route_calls.count == 1
