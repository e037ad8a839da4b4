"""RELIABILITY.md items 1-6 over real HTTP: bad values, limits, budget and hostile IDs.

Validation happens in the API before any runner sees a request, so most of these would pass
the same way on either back-end; the module still runs on both (``[embedded]``, ``[rq]``)
because it is cheap (about 3 s more on RQ) and two parts do reach the runner: the ``trained``
fixture's job, and the at-the-cap jobs of ``test_caps_at_the_cap_and_one_more`` (accepted,
serialised into RQ as JSON, then cancelled).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.assertions import assert_422
from helpers.server import wait_for_job

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}
LIMIT = 1 << 20  # the shared server's MLP_MAX_BODY_BYTES


def raw_request(port: int, head: str, chunks: Iterable[bytes] = ()) -> tuple[int, bytes]:
    """Send a hand-written HTTP/1.1 request (no client-side path normalisation); return
    the status code and the whole response."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(head.encode("latin-1"))
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
                if b"\r\n\r\n" in received and _complete(received):
                    break
        except ConnectionResetError:
            pass
    status = int(received.split(b" ", 2)[1])
    return status, received


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def counts(client: httpx.Client) -> tuple[int, int, int]:
    return (
        client.get("/v1/datasets").json()["count"],
        client.get("/v1/jobs").json()["count"],
        client.get("/v1/models").json()["count"],
    )


def files(data_dir: Path) -> set[Path]:
    return {p for sub in ("datasets", "models") for p in (data_dir / sub).glob("*")}


@pytest.fixture(scope="module")
def trained(shared_server: Any) -> dict[str, str]:
    """A small trained model and its dataset (for predict/boundary cases)."""
    with shared_server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "xor"}).json()
        body = {"dataset_id": dataset["id"], "training": {"epochs": 5, "seed": 0}}
        job = wait_for_job(client, client.post("/v1/jobs", json=body).json()["id"])
        assert job["status"] == "succeeded", job
        return {"dataset_id": dataset["id"], "model_id": job["model_id"]}


def test_non_finite_values_are_422_and_create_nothing(
    shared_server: Any, trained: dict[str, str]
) -> None:
    with shared_server.client() as client:
        before, before_files = counts(client), files(shared_server.data_dir)
        cases = [
            ("/v1/datasets", '{"X": [[0, 1], [1, 2], [2, 3], [3, NaN]], "y": [0, 1, 0, 1]}',
             ["body", "X", 3, 1]),
            ("/v1/datasets", '{"X": [[0, Infinity], [1, 2]], "y": [0, 1]}', ["body", "X", 0, 1]),
            ("/v1/datasets", '{"X": [[0], [1]], "y": [0.5, -Infinity], "task": "regression"}',
             ["body", "y", 1]),
            ("/v1/jobs", '{"X": [[0, 1], [1, NaN]], "y": [0, 1]}', ["body", "X", 1, 1]),
            ("/v1/jobs", '{"X": [[0], [1]], "y": [0, NaN]}', ["body", "y", 1]),
        ]  # fmt: skip
        for path, body, loc in cases:
            response = client.post(path, content=body, headers=JSON)
            assert_422(response, loc)
            assert any(str(loc[-1]) in item["msg"] for item in response.json()["detail"])
        response = client.post(
            f"/v1/models/{trained['model_id']}/predict",
            content='{"X": [[0.5, NaN]]}',
            headers=JSON,
        )
        assert response.status_code == 422
        assert counts(client) == before
        assert files(shared_server.data_dir) == before_files


def test_malformed_data_is_422_naming_the_field(
    shared_server: Any, trained: dict[str, str]
) -> None:
    with shared_server.client() as client:
        before = counts(client)
        cases: list[tuple[str, dict[str, Any], list[Any]]] = [
            ("/v1/datasets", {"X": [[0, 1], [1]], "y": [0, 1]}, ["body", "X", 1]),
            ("/v1/datasets", {"X": [[0], [1]], "y": [0]}, ["body", "y"]),
            ("/v1/datasets", {"X": [[0], [1]], "y": [1, 1]}, ["body", "y"]),
            ("/v1/jobs", {"X": [[0, 1], [1]], "y": [0, 1]}, ["body", "X", 1]),
            ("/v1/jobs", {"X": [[0], [1]], "y": [0, 1, 1]}, ["body", "y"]),
            ("/v1/jobs", {"X": [[0], [1]], "y": [0, 0]}, ["body", "y"]),
        ]
        for path, body, loc in cases:
            assert_422(client.post(path, json=body), loc)
        response = client.post(
            f"/v1/models/{trained['model_id']}/predict", json={"X": [[0.1, 0.2, 0.3]]}
        )
        assert response.status_code == 422 and "X" in response.text
        assert counts(client) == before


def test_body_over_the_limit_is_413_with_content_length(shared_server: Any) -> None:
    # Only the headers are sent: the 413 comes before any of the 10 MiB body.
    head = (
        "POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10 * LIMIT}\r\n\r\n"
    )
    status, response = raw_request(shared_server.port, head)
    assert status == 413
    assert b"payload_too_large" in response


def test_body_over_the_limit_is_413_when_chunked(shared_server: Any) -> None:
    # Whitespace, not "[": a body of brackets is refused earlier, for its row count (a 422).
    piece = b" " * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * (LIMIT // len(piece) + 1)
    head = (
        "POST /v1/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    status, response = raw_request(shared_server.port, head, [*chunks, b"0\r\n\r\n"])
    assert status == 413
    assert b"payload_too_large" in response
    with shared_server.client() as client:
        assert client.get("/health").status_code == 200


def test_caps_at_the_cap_and_one_more(shared_server: Any, trained: dict[str, str]) -> None:
    with shared_server.client() as client:

        def rows(n: int, width: int = 1) -> dict[str, Any]:
            return {"X": [[float(i % 3)] * width for i in range(n)], "y": [i % 2 for i in range(n)]}

        response = client.post("/v1/datasets", json=rows(2000))
        assert response.status_code == 201, response.text
        client.delete(f"/v1/datasets/{response.json()['id']}")
        assert_422(client.post("/v1/datasets", json=rows(2001)), ["body", "X"])
        response = client.post("/v1/datasets", json=rows(3, width=8))
        assert response.status_code == 201
        client.delete(f"/v1/datasets/{response.json()['id']}")
        assert_422(client.post("/v1/datasets", json=rows(3, width=9)), ["body", "X"])

        dataset_id = trained["dataset_id"]
        settings_cases = [
            ({"architecture": {"hidden_layers": [2] * 4}, "training": {"epochs": 1}},
             {"architecture": {"hidden_layers": [2] * 5}},
             ["body", "architecture", "hidden_layers"]),
            ({"architecture": {"hidden_layers": [64]}, "training": {"epochs": 1}},
             {"architecture": {"hidden_layers": [65]}},
             ["body", "architecture", "hidden_layers", 0]),
            ({"training": {"epochs": 2000, "batch_size": 512}},
             {"training": {"epochs": 2001}}, ["body", "training", "epochs"]),
            ({"training": {"batch_size": 512, "epochs": 1}},
             {"training": {"batch_size": 513}}, ["body", "training", "batch_size"]),
        ]  # fmt: skip
        for at_cap, over, loc in settings_cases:
            response = client.post("/v1/jobs", json={"dataset_id": dataset_id, **at_cap})
            assert response.status_code == 202, response.text
            client.post(f"/v1/jobs/{response.json()['id']}/cancel")
            assert_422(client.post("/v1/jobs", json={"dataset_id": dataset_id, **over}), loc)

        boundary = f"/v1/models/{trained['model_id']}/boundary"
        assert client.get(boundary, params={"resolution": 200}).status_code == 200
        assert client.get(boundary, params={"resolution": 201}).status_code == 422


def test_compute_budget_422_states_the_budget(shared_server: Any, trained: dict[str, str]) -> None:
    with shared_server.client() as client:
        data = client.post(
            "/v1/datasets/generate", json={"kind": "moons", "n_samples": 2000}
        ).json()
        body = {
            "dataset_id": data["id"],
            "architecture": {"hidden_layers": [64, 64, 64, 64]},
            "training": {"epochs": 2000},
        }
        response = client.post("/v1/jobs", json=body)
        assert response.status_code == 422
        message = response.json()["detail"][0]["msg"]
        assert "5,000,000,000" in message  # the budget
        assert "2,000 x 12,737 x 2,000" in message  # the request's figures
        client.delete(f"/v1/datasets/{data['id']}")


@pytest.mark.parametrize(
    "target",
    [
        "/v1/datasets/../../etc/passwd",
        "/v1/datasets/..%2F..%2Fetc%2Fpasswd",
        "/v1/datasets/%2e%2e%2f",
        "/v1/models/%2e%2e%2f%2e%2e%2fjobs.sqlite3/download",
        "/v1/models/abc%00def/download",
        "/v1/jobs/" + "a" * 10_000,
        "/v1/datasets/" + "b" * 10_000 + "/data",
    ],
)
def test_hostile_ids_are_404_or_422(shared_server: Any, target: str) -> None:
    head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    status, response = raw_request(shared_server.port, head)
    assert status in (404, 422), (target[:40], status)
    assert b"root:" not in response and b"SQLite" not in response
    assert len(response) < 3000
