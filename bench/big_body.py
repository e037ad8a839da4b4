"""Issue 18 finding 3: does a valid near-limit JSON body stall ``/health`` while it is parsed?

    python bench/big_body.py [--rows 100000] [--features 30] [--repeats 1]

Starts the real service (``python -m app serve``, one uvicorn worker, a temporary data directory;
the same :class:`Server` as the integration tests) and, from a second thread, polls ``GET
/health`` every 10 ms over one keep-alive connection. Three windows, one after the other:

- baseline: the polling alone, as long as the slowest upload took;
- ``POST /v1/datasets`` of ``{"X": rows x features, "y": ...}`` (~57 MiB at the defaults, under
  the 64 MiB body limit);
- ``POST /v1/jobs`` of the same rows inline (1 epoch, hidden [4]).

For each window it prints the longest ``/health`` latency (a request sent while the server's
only thread held the GIL waits that long), the p99, the number of polls, the upload's own time,
and the ratio of each to the baseline. The machine is shared: run it 3 times and take medians.
Writes bench/results/big_body.json.
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
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import orjson
from _common import machine, print_table, write_json
from helpers.server import Server

POLL_EVERY = 0.010  # seconds between /health requests


class Poller:
    """``GET /health`` every 10 ms from a thread until stopped: the latency of each request."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=120) as client:
            client.get("/health")  # the connection is open before the window starts
            self._ready.set()
            while not self._stop.is_set():
                start = time.perf_counter()
                response = client.get("/health")
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    raise RuntimeError(f"/health answered {response.status_code}")
                self.latencies.append(elapsed)
                time.sleep(max(0.0, POLL_EVERY - elapsed))

    def __enter__(self) -> Poller:
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def window(server: Server, action: Callable[[], None]) -> dict[str, Any]:
    """``action`` run while ``/health`` is polled: its time and the polls' latencies."""
    with Poller(server.base_url) as poller:
        time.sleep(0.2)  # a few polls before
        start = time.perf_counter()
        action()
        took = time.perf_counter() - start
        time.sleep(0.2)  # and after (a stall that outlasts the response shows too)
    ms = np.array(poller.latencies) * 1000
    return {
        "action_s": took,
        "polls": len(ms),
        "max_ms": float(ms.max()),
        "p99_ms": float(np.percentile(ms, 99)),
        "p50_ms": float(np.percentile(ms, 50)),
    }


def bodies(rows: int, features: int) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, features)).tolist()
    y = (np.arange(rows) % 2).tolist()
    training = {"epochs": 1, "batch_size": 256}
    return {
        "/v1/datasets": orjson.dumps({"X": X, "y": y}),
        "/v1/jobs": orjson.dumps(
            {"X": X, "y": y, "architecture": {"hidden_layers": [4]}, "training": training}
        ),
    }


def run(server: Server, payloads: dict[str, bytes]) -> list[dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with server.client(timeout=300) as client:

        def post(path: str) -> Callable[[], None]:
            def send() -> None:
                response = client.post(
                    path, content=payloads[path], headers={"content-type": "application/json"}
                )
                if response.status_code not in (201, 202):
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

            return send

        for path in payloads:
            results[path] = window(server, post(path))
        longest = max(r["action_s"] for r in results.values())
        results = {"baseline (no upload)": window(server, lambda: time.sleep(longest))} | results
    return [{"window": name, **r} for name, r in results.items()]


def median_table(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per window: medians over the runs, ratios to the baseline taken per run."""
    rows = []
    for i, first in enumerate(runs[0]):

        def med(key: str, i: int = i) -> float:
            return float(np.median([run[i][key] for run in runs]))

        def ratio(key: str, i: int = i) -> float:
            return float(np.median([run[i][key] / run[0][key] for run in runs]))

        rows.append(
            {
                "window": first["window"],
                "upload s": f"{med('action_s'):.2f}",
                "polls": f"{med('polls'):.0f}",
                "/health max ms": f"{med('max_ms'):.0f}",
                "p99 ms": f"{med('p99_ms'):.0f}",
                "max vs baseline": f"{ratio('max_ms'):.1f}x",
                "p99 vs baseline": f"{ratio('p99_ms'):.1f}x",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1, help="runs on one server (medians)")
    args = parser.parse_args()
    payloads = bodies(args.rows, args.features)
    sizes = {path: len(body) for path, body in payloads.items()}
    print(", ".join(f"{p}: {n / 2**20:.1f} MiB" for p, n in sizes.items()), flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="mlp-bench-big-body-") as tmp:
        root = Path(tmp)
        (root / "logs").mkdir()
        server = Server(root / "data", root / "logs", {"MLP_MAX_CONCURRENT_JOBS": "1"})
        server.start()
        try:
            for _ in range(args.repeats):
                runs.append(run(server, payloads))
        finally:
            server.stop()
    table = median_table(runs)
    columns = [
        "window",
        "upload s",
        "polls",
        "/health max ms",
        "p99 ms",
        "max vs baseline",
        "p99 vs baseline",
    ]
    print_table(f"/health while a big body is posted (median of {len(runs)})", table, columns)
    path = write_json("big_body", {"machine": machine(), "sizes": sizes, "runs": runs})
    print(f"\nwrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
