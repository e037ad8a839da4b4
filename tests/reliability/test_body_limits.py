"""Issue 18 finding 3 against a real server: large JSON bodies of the data routes.

A 61 MB ``{"X": [[0], ...16M rows]}`` was parsed whole before the row cap refused it (+1.6 GB,
9 s, ``/health`` stalled). Now its arrays are counted as the body streams in: the 422 naming
``MLP_MAX_ROWS`` arrives while the client is still sending (read from a raw socket after only
part of the body was sent, so a server that waited for the whole body would never answer),
``/health`` answers meanwhile, and the server's peak memory (``VmHWM``) barely moves. A body
over the limit derived from the row and feature caps is a 413 naming it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.server import Server

pytestmark = pytest.mark.integration

ROWS = 16_000_000  # [0], 4 bytes each: a 61 MiB body, under the default 64 MiB body limit
SENT_BEFORE_READING = 4 * 2**20  # what the client sends before it waits for the answer
MEMORY_BOUND = 64 * 2**20


def rows_body() -> tuple[bytes, int]:
    """The first ``SENT_BEFORE_READING`` bytes of ``{"X": [[0],...], "y": [...]}`` and the
    whole body's length (the rest is never built)."""
    head = b'{"X": [' + b"[0]," * (SENT_BEFORE_READING // 4)
    tail = b'[0]], "y": [0]}'
    return head, len(b'{"X": [') + 4 * ROWS - 1 + len(tail) - 3


def post_head(server: Server, path: str, head: bytes, length: int) -> socket.socket:
    """A connection that has sent the request line, headers and ``head`` of a body declared
    ``length`` bytes long (the rest is not sent)."""
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    conn.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
        + head
    )
    return conn


def read_response(conn: socket.socket) -> tuple[int, bytes]:
    """Status and body of the response on ``conn``; a server that waits for the rest of the
    request body hits the socket's 60 s timeout instead."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        assert chunk, body
        body += chunk
    return int(head.split(b" ")[1]), body


@pytest.fixture
def server(start_server: Any) -> Iterator[Server]:
    yield start_server()  # the default caps: 100,000 rows, 64 MiB bodies


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/datasets"])
def test_16m_one_value_rows_are_refused_while_the_upload_is_in_flight(
    server: Server, path: str
) -> None:
    with server.client() as client:
        assert client.get("/health").status_code == 200
        peak_before = server.peak_rss_bytes()
        head, length = rows_body()
        with post_head(server, path, head, length) as conn:
            assert client.get("/health").status_code == 200  # the upload is in flight
            status, body = read_response(conn)  # the rest of the 61 MiB was never sent
        assert status == 422, body[:500]
        assert b"MLP_MAX_ROWS" in body and b"100,000" in body
        assert client.get("/health").status_code == 200
        assert server.peak_rss_bytes() - peak_before < MEMORY_BOUND
        assert client.get("/v1/datasets").json()["count"] == 0


def test_a_body_just_over_the_derived_limit_is_413_naming_it(start_server: Any) -> None:
    server = start_server(mlp_max_rows="1000", mlp_max_features="4")
    limit = 1000 * (4 + 1) * 32 + 64 * 1024  # MLP_BODY_BYTES_PER_VALUE's default 32
    with server.client() as client:
        peak_before = server.peak_rss_bytes()
        prefix = b'{"X": [[0.5]], "y": [0], "name": "'
        body = prefix + b"a" * (limit + 1 - len(prefix) - 2) + b'"}'
        assert len(body) == limit + 1
        response = client.post("/v1/datasets", content=body, headers=_JSON)
        assert response.status_code == 413, response.text
        detail = response.json()["detail"]
        assert f"{limit:,} bytes" in detail and "MLP_BODY_BYTES_PER_VALUE" in detail
        jobs = client.post("/v1/jobs", content=body, headers=_JSON)
        assert jobs.status_code == 413, jobs.text
        at_limit = client.post("/v1/datasets", content=body[:-3] + b'"}', headers=_JSON)
        assert at_limit.status_code == 422  # read: a name of 225 KB is too long, not too large
        assert server.peak_rss_bytes() - peak_before < MEMORY_BOUND


_JSON = {"Content-Type": "application/json"}
