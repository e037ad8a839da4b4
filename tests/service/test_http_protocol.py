"""``app.http_protocol.OneWriteHttpToolsProtocol``: a response's head and first body part go out in
one ``write()``, and the bytes on the wire are exactly uvicorn's own protocol's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.cli import uvicorn_options
from app.http_protocol import HTTP_PROTOCOL, OneWriteHttpToolsProtocol
from app.settings import Settings

pytestmark = pytest.mark.anyio

App = Callable[[Any, Any, Any], Awaitable[None]]
POST = b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
GET = b"GET /g HTTP/1.1\r\nHost: t\r\n\r\n"


class FakeTransport(asyncio.Transport):
    """Records every ``write()`` call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


async def json_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _protocol(cls: type[HttpToolsProtocol], app: App) -> tuple[HttpToolsProtocol, FakeTransport]:
    config = Config(app=app, http=cls, lifespan="off", access_log=False, date_header=False)
    state = ServerState()
    protocol = cls(config=config, server_state=state, app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def _exchange(cls: type[HttpToolsProtocol], app: App, data: bytes) -> list[bytes]:
    """Feed ``data`` to a new connection; the writes once every response is complete."""
    protocol, transport = _protocol(cls, app)
    protocol.data_received(data)
    for _ in range(100):  # a few loop iterations; a hang would fail the assertion below
        await asyncio.sleep(0)
        if not protocol.tasks and not protocol.pipeline:
            break
    assert not protocol.tasks, "the response did not complete"
    protocol.connection_lost(None)
    return transport.writes


@pytest.mark.parametrize("request_bytes", [POST, GET, POST + GET, GET.replace(b"GET", b"HEAD")])
async def test_each_response_is_one_write_with_uvicorns_bytes(request_bytes: bytes) -> None:
    ours = await _exchange(OneWriteHttpToolsProtocol, json_app, request_bytes)
    theirs = await _exchange(HttpToolsProtocol, json_app, request_bytes)
    n_responses = request_bytes.count(b"HTTP/1.1\r\n")
    assert len(ours) == n_responses  # uvicorn's own: two per response but HEAD's empty body
    assert b"".join(ours) == b"".join(theirs)
    assert all(w.startswith(b"HTTP/1.1 200 OK\r\n") for w in ours)


async def test_a_head_whose_body_comes_later_is_written_at_once() -> None:
    """A streamed response (e.g. server-sent events): the head does not wait for the body."""
    release = asyncio.Event()

    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    protocol, transport = _protocol(OneWriteHttpToolsProtocol, streaming)
    protocol.data_received(GET)
    for _ in range(100):
        await asyncio.sleep(0)
        if transport.writes:
            break
    assert len(transport.writes) == 1
    head = transport.writes[0]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    release.set()
    for _ in range(100):
        await asyncio.sleep(0)
        if not protocol.tasks:
            break
    assert transport.writes[1:] == [b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"]


async def test_an_app_error_before_the_response_is_uvicorns_500_in_one_write() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    ours = await _exchange(OneWriteHttpToolsProtocol, failing, GET)
    theirs = await _exchange(HttpToolsProtocol, failing, GET)
    assert len(ours) == 1 and ours[0].startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert ours[0] == b"".join(theirs)


def test_the_service_and_its_benchmark_ceiling_run_this_protocol() -> None:
    options = uvicorn_options(Settings(_env_file=None))  # type: ignore[call-arg]
    assert options["http"] == HTTP_PROTOCOL  # httptools is a dependency
    config = Config(app=json_app, http=options["http"])
    config.load()
    assert config.http_protocol_class is OneWriteHttpToolsProtocol


def test_idle_connections_outlive_the_clients_idle_expiry() -> None:
    """Both sides at 5 s (uvicorn's default, httpx's) made a race: a client reusing a connection
    just as the server closed it got a reset (seen once as a flaky test under load)."""
    import httpx

    options = uvicorn_options(Settings(_env_file=None))  # type: ignore[call-arg]
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    assert options["timeout_keep_alive"] >= 2 * client_expiry
