"""``MLP_HTTP_WORKERS=2`` (set here under its former name, ``MLP_WORKERS``): two uvicorn processes
over one data directory.

Job records, the queue and the concurrency cap live in SQLite, and model files are written
atomically, so either process may take any request: jobs submitted through both still run one
at a time under ``MLP_MAX_CONCURRENT_JOBS=1`` and all finish, and both processes serve
predictions from the same model file. Which process answered a request is read from
``/proc``: the one holding the server end of the request's TCP connection.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers.server import Server

pytestmark = pytest.mark.integration

N_JOBS = 6
N_PREDICTS = 40


def _children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (uvicorn's workers and what they started)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(kids)
        frontier.extend(kids)
    return found


def _socket_inode(server_port: int, client_port: int) -> str:
    """The inode of the server end of the loopback connection ``client_port -> server_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        # Only the live connection: an earlier one from the same client port may linger in
        # TIME_WAIT with inode 0 (no process holds it any more).
        if state != "01" or inode == "0":
            continue
        if int(local.split(":")[1], 16) == server_port and (
            int(remote.split(":")[1], 16) == client_port
        ):
            return inode
    raise AssertionError(f"no server socket for client port {client_port}")


def _owner(inode: str, pids: list[int]) -> int:
    """The process among ``pids`` that holds socket ``inode``."""
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no process holds {target}")


def _request(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any, int]:
    """One request on a fresh connection: ``(status, JSON body, PID of the process that
    answered)``. The connection stays open until its owner has been looked up."""
    payload = b"" if body is None else orjson.dumps(body)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + payload)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length")
        )
        while len(rest) < length:
            rest += sock.recv(65536)
        owner = _owner(_socket_inode(server.port, sock.getsockname()[1]), _children(server.pid))
    return int(lines[0].split()[1]), orjson.loads(rest), owner


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_two_workers_share_the_queue_the_cap_and_the_models(start_server: Any) -> None:
    # Both back-ends: on RQ both API processes enqueue into one queue of one Redis database and
    # one worker process runs the jobs (concurrency one, as MLP_MAX_CONCURRENT_JOBS=1 embedded).
    server = start_server(mlp_workers="2", mlp_max_concurrent_jobs="1", mlp_max_queued_jobs="20")
    # No waiting for the second process's start-up: its stale-temp-file sweep must leave the
    # first process's in-flight writes alone (write_atomic locks its temp files).
    status, dataset, _ = _request(
        server, "POST", "/v1/datasets/generate", {"kind": "xor", "n_samples": 200, "seed": 0}
    )
    assert status == 201, dataset
    job = {
        "dataset_id": dataset["id"],
        "architecture": {"hidden_layers": [8]},
        "training": {"epochs": 60, "batch_size": 16, "seed": 0},
    }
    submitted = [_request(server, "POST", "/v1/jobs", job) for _ in range(N_JOBS)]
    assert all(status == 202 for status, _, _ in submitted), submitted
    job_ids = [body["id"] for _, body, _ in submitted]

    deadline = time.monotonic() + 120
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        records = [_request(server, "GET", f"/v1/jobs/{job_id}")[1] for job_id in job_ids]
        if all(r["status"] in ("succeeded", "failed", "cancelled") for r in records):
            break
        time.sleep(0.2)
    assert [r["status"] for r in records] == ["succeeded"] * N_JOBS, records

    # One at a time across both processes: each job started after the previous one finished.
    spans = sorted((_time(r["started_at"]), _time(r["finished_at"])) for r in records)
    for (_, finished), (started, _) in itertools.pairwise(spans):
        assert started >= finished, spans

    # Both processes answer predictions from the same model file, identically.
    model_id = records[-1]["model_id"]
    rows = {"X": [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]}
    answers = [
        _request(server, "POST", f"/v1/models/{model_id}/predict", rows) for _ in range(N_PREDICTS)
    ]
    assert all(status == 200 for status, _, _ in answers), answers
    assert all(body == answers[0][1] for _, body, _ in answers)
    served_by = {pid for _, _, pid in answers} | {pid for _, _, pid in submitted}
    assert len(served_by) == 2, f"requests were answered by processes {served_by}"
