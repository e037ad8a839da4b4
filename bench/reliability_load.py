"""RELIABILITY.md items 25 and 26 as figures: predicts under load, 1,000 train/predict cycles.

    python bench/reliability_load.py [--concurrency 200 400] [--rounds 5] [--cycles 1000]

Starts the real service (``python -m app serve``, one uvicorn worker, ``MLP_MAX_CONCURRENT_JOBS=2``,
a temporary data directory; the same :class:`Server` as the integration tests) and measures:

25. bursts of N concurrent ``POST /v1/models/{id}/predict`` (10 rows each, N connections at
    once), idle and then while two training jobs run in their own processes: errors (must be 0)
    and p50/p99 latency, with the ratio busy p99 / idle p99 (rounds alternate idle and busy, so
    the shared machine's load hits both alike);
26. ``--cycles`` train/predict cycles (a 2-epoch job, wait for it, predict, boundary, delete the
    model): the server's RSS and open file descriptors after warm-up and every 100 cycles.

Prints Markdown tables and writes bench/results/reliability_load.json. Requests go to 127.0.0.1
only; every loop is bounded in count.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
REPO = _HERE.parent
# Run as a script, this folder is sys.path[0], and bench/http.py would shadow the standard
# library's ``http`` package (httpx imports it): move the folder to the end of the path.
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)
    sys.path.append(str(_HERE))
sys.path.insert(0, str(REPO / "tests"))  # the test suite's real-server helper

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

import httpx
from _common import machine, print_table, write_json
from helpers.server import Server, wait_for_job

PREDICT = {"X": [[0.1 * i, -0.05 * i] for i in range(10)]}
SLOW_JOB = {"epochs": 5000, "batch_size": 1, "optimizer": "sgd"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def burst(base_url: str, model_id: str, n: int) -> tuple[list[float], int]:
    """``n`` predicts at once over ``n`` connections: (latencies in s, errors)."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:

        async def one() -> float | None:
            start = time.perf_counter()
            try:
                response = await client.post(f"/v1/models/{model_id}/predict", json=PREDICT)
            except httpx.HTTPError:
                return None
            return time.perf_counter() - start if response.status_code == 200 else None

        results = await asyncio.gather(*(one() for _ in range(n)))
    latencies = [r for r in results if r is not None]
    return latencies, len(results) - len(latencies)


def item_25(server: Server, concurrencies: list[int], rounds: int) -> list[dict[str, Any]]:
    with server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "moons", "n_samples": 300})
        dataset_id = dataset.json()["id"]
        job = client.post("/v1/jobs", json={"dataset_id": dataset_id, "training": {"epochs": 5}})
        model_id = wait_for_job(client, job.json()["id"])["model_id"]
    rows = []
    for n in concurrencies:
        idle: list[float] = []
        busy: list[float] = []
        errors = {"idle": 0, "busy": 0}
        asyncio.run(burst(server.base_url, model_id, n))  # warm-up: connections, caches
        for _ in range(rounds):
            latencies, failed = asyncio.run(burst(server.base_url, model_id, n))
            idle += latencies
            errors["idle"] += failed
            with server.client() as client:
                jobs = [
                    client.post(
                        "/v1/jobs", json={"dataset_id": dataset_id, "training": SLOW_JOB}
                    ).json()["id"]
                    for _ in range(2)
                ]
                for job_id in jobs:
                    wait_for_job(client, job_id, until={"running"})
                latencies, failed = asyncio.run(burst(server.base_url, model_id, n))
                busy += latencies
                errors["busy"] += failed
                still = [client.get(f"/v1/jobs/{j}").json()["status"] for j in jobs]
                for job_id in jobs:
                    client.post(f"/v1/jobs/{job_id}/cancel")
                for job_id in jobs:
                    wait_for_job(client, job_id)
            if still != ["running", "running"]:
                print(f"warning: jobs ended during the busy burst: {still}", file=sys.stderr)
        rows.append(
            {
                "concurrency": n,
                "requests": rounds * n * 2,
                "errors": errors["idle"] + errors["busy"],
                "idle p50 ms": 1000 * statistics.median(idle),
                "idle p99 ms": 1000 * percentile(idle, 0.99),
                "busy p50 ms": 1000 * statistics.median(busy),
                "busy p99 ms": 1000 * percentile(busy, 0.99),
                "p99 ratio": percentile(busy, 0.99) / percentile(idle, 0.99),
            }
        )
    return rows


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def item_26(server: Server, cycles: int) -> list[dict[str, Any]]:
    rows = []
    with server.client() as client:
        dataset = client.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 100})
        body = {"dataset_id": dataset.json()["id"], "architecture": {"hidden_layers": [6]}}

        def cycle() -> None:
            job = client.post("/v1/jobs", json={**body, "training": {"epochs": 2}}).json()
            done = wait_for_job(client, job["id"])
            if done["status"] != "succeeded":
                raise RuntimeError(f"job {job['id']} ended {done['status']}: {done['error']}")
            model_id = done["model_id"]
            client.post(f"/v1/models/{model_id}/predict", json=PREDICT).raise_for_status()
            client.get(f"/v1/models/{model_id}/boundary?resolution=30").raise_for_status()
            client.delete(f"/v1/models/{model_id}").raise_for_status()

        for _ in range(20):
            cycle()
        start = time.perf_counter()
        base_rss, base_fds = server.rss_bytes(), open_fds(server.pid)
        rows.append({"cycles": 0, "RSS MiB": base_rss / 2**20, "open fds": base_fds, "s": 0.0})
        for i in range(1, cycles + 1):
            cycle()
            if i % 100 == 0 or i == cycles:
                rows.append(
                    {
                        "cycles": i,
                        "RSS MiB": server.rss_bytes() / 2**20,
                        "open fds": open_fds(server.pid),
                        "s": time.perf_counter() - start,
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[200, 400])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlp-reliability-load-") as tmp:
        root = Path(tmp)
        (root / "logs").mkdir()
        server = Server(root / "data", root / "logs", {"MLP_MAX_CONCURRENT_JOBS": "2"})
        server.start()
        try:
            load = item_25(server, args.concurrency, args.rounds)
            cycles = item_26(server, args.cycles)
        finally:
            server.stop()
    print_table(
        "Item 25: concurrent predicts, idle vs two jobs training",
        load,
        list(load[0]),
    )
    print_table("Item 26: train/predict cycles", cycles, list(cycles[0]))
    path = write_json(
        "reliability_load", {"machine": machine(), "item_25": load, "item_26": cycles}
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
