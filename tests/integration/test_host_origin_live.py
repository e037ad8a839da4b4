"""Issue 18 finding 8 against a real uvicorn: a DNS-rebinding ``Host`` is refused, the server's
own address is served, and a cross-origin form post imports nothing.

The in-process tests (``tests/service/test_host_origin.py``) cover the rules; these show that
the real server hands the guard what it relies on: the raw ``Host`` header and the address the
connection arrived on (``scope["server"]``).
"""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from helpers.server import Server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend() -> str:
    """The guard is in front of every route; no job runs here: one back-end is enough."""
    return "embedded"


def raw_request(port: int, head: bytes, address: str = "127.0.0.1") -> bytes:
    """Send ``head`` (a request without a body) on a new connection; everything the server
    answers until it closes (``Connection: close`` or HTTP/1.0)."""
    with socket.create_connection((address, port), timeout=30) as sock:
        sock.sendall(head)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_dns_rebinding_host_is_refused_and_the_own_address_served(
    shared_server: Server,
) -> None:
    port = shared_server.port
    with shared_server.client() as client:
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.nip.io:{port}"):
            refused = client.get("/v1/datasets", headers={"Host": host})
            assert refused.status_code == 400, host
            assert refused.json()["code"] == "host_not_allowed"
            assert "MLP_ALLOWED_HOSTS" in refused.json()["detail"]
            assert "evil" not in refused.text and refused.headers["x-request-id"]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert client.get("/v1/datasets", headers={"Host": host}).status_code == 200, host


def test_missing_host(shared_server: Server) -> None:
    port = shared_server.port
    old = raw_request(port, b"GET /health HTTP/1.0\r\n\r\n")
    assert status_of(old) == 200, old[:200]
    new = raw_request(port, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert status_of(new) == 400, new[:200]
    twice = raw_request(
        port,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert status_of(twice) == 400, twice[:200]


def test_cross_origin_form_post_imports_nothing(shared_server: Server) -> None:
    port = shared_server.port
    files = {"file": ("model.npz", b"PK\x03\x04 not really", "application/octet-stream")}
    with shared_server.client() as client:
        before = client.get("/v1/models").json()["data"]
        refused = client.post(
            "/v1/models/import", files=files, headers={"Origin": "https://evil.example"}
        )
        assert refused.status_code == 403 and refused.json()["code"] == "cross_origin"
        assert client.get("/v1/models").json()["data"] == before
        # the playground's own origin is served (the file is no model: the route's own 422)
        own = client.post(
            "/v1/models/import", files=files, headers={"Origin": f"http://127.0.0.1:{port}"}
        )
        assert own.status_code == 422, own.text


def test_the_address_a_connection_arrived_on(start_server: Any) -> None:
    """Bound to every interface, the server accepts the address each connection was made to:
    127.0.0.2 is this machine's too (all of 127/8 is loopback), named in no setting."""
    server: Server = start_server(mlp_host="0.0.0.0")
    port = server.port
    with httpx.Client(base_url=f"http://127.0.0.2:{port}", timeout=30) as client:
        assert client.get("/health").status_code == 200  # Host: 127.0.0.2:PORT
        assert client.get("/health", headers={"Host": f"127.0.0.3:{port}"}).status_code == 400
        assert client.get("/health", headers={"Host": f"evil.example:{port}"}).status_code == 400
