"""HTTP benchmark: the service end to end, against ceilings measured in the same run.

    python bench/http.py [--quick] [--only 1,7]

Starts the service (``python -m app serve``: uvicorn with uvloop + httptools, one worker, a
temporary data directory, ``MLP_MAX_CONCURRENT_JOBS=2``) and, for the ceiling, a bare FastAPI app
with one constant-JSON endpoint under the same uvicorn options (bench/_bare_app.py), both on
free loopback ports. Load comes from wrk (``apt-get install wrk``; one thread, a fixed number of
keep-alive connections, bounded in time and in requests); without wrk a small asyncio client
with the same bounds stands in (slower: its own CPU use lowers both figures). Then measures:

1. one-row predict: requests/s and p50/p99 against the bare endpoint's requests/s (>= 70%);
2. 10,000- and 100,000-row predicts: the server's time and the part spent parsing and validating
   ``X`` (from the route's ``Server-Timing`` header) against ``orjson.loads`` of the same body in
   this process (parse within 3x);
3. the 250x250 boundary as JSON and PNG, end to end, against ``mlp_engine.decision_grid`` alone
   (JSON within 5x);
4. predict p99 while two training jobs run against the idle p99 just before (<= 2x);
5. job turnaround, ``POST /v1/jobs`` to ``succeeded``, one epoch on 100 rows, p50 (<= 0.5 s);
6. the server's RSS after >= 10,000 predicts and 100 jobs against after warm-up (<= +10%);
7. V2 (Open Inference Protocol) infer of one row, JSON, against ``/v1`` predict of the same row,
   rounds back to back: requests/s ratio (>= 70%; the same model call, but V2 goes through
   FastAPI's routing while ``/v1`` predict has its own fast path);
8. a 10,000-row table predict (``instances``, and ``columns``/``data``; 3 categorical columns)
   against the same rows as the encoded numbers ``X`` to a model of the same shape: time per
   request, end to end and the server's (<= 3x; bench/_http_tables.py says how).

Prints Markdown tables (docs/benchmarks.md, HTTP) and writes bench/results/http.json. The machine
is shared and noisy: every figure is a median over rounds, and ratios compare runs made
back to back.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# Run as a script, this folder is sys.path[0] and this file would shadow the standard library's
# ``http`` package (httpx and uvicorn import it): move the folder to the end of the path.
if sys.path and Path(sys.path[0] or ".").resolve() == _HERE:
    sys.path.pop(0)
    sys.path.append(str(_HERE))

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson
from _common import machine, median_time, print_table, write_json
from _http_tables import TablePredict, target_rows

import mlp_engine

REPO = _HERE.parent
ONE_ROW = b'{"X": [[0.5, -0.25]]}'
V2_ONE_ROW = (
    b'{"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 2], "data": [0.5, -0.25]}]}'
)
TERMINAL = {"succeeded", "failed", "cancelled"}
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Plan:
    """How much of everything (``--quick`` shrinks it for a smoke run)."""

    rounds: int  # alternating bare/service load runs (and idle/busy runs)
    duration: float  # seconds per load run
    connections: int
    turnaround_jobs: int
    big_repeats: int
    boundary_repeats: int
    png_repeats: int
    big_rows: tuple[int, ...]


FULL = Plan(5, 4.0, 8, 100, 9, 9, 5, (10_000, 100_000))
QUICK = Plan(1, 2.0, 8, 10, 3, 3, 2, (10_000, 100_000))
MAX_REQUESTS_PER_RUN = 200_000  # a load run also stops after this many requests


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Proc:
    """A server subprocess in its own process group (stopped with everything it started)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        env = {**env, "MLP_PORT": str(self.port)}
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*argv, *(["--port", str(self.port)] if name == "bare" else [])],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log_path.read_text()[-4000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.request("GET", self.url + path, timeout=1.0).status_code < 500:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {START_TIMEOUT} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (``/proc/<pid>/stat``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # job processes, the fork server


def service_env(data_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLP_")}
    env.update(
        {
            "MLP_DATA_DIR": str(data_dir),
            "MLP_HOST": "127.0.0.1",
            "MLP_WORKERS": "1",
            "MLP_MAX_CONCURRENT_JOBS": "2",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            **(extra or {}),
        }
    )
    return env


# ------------------------------------------------------------------------------ load runs


_WRK_SCRIPT = r"""
local body_file = os.getenv("BENCH_BODY_FILE")
local max_requests = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
wrk.method = os.getenv("BENCH_METHOD") or "GET"
if body_file and body_file ~= "" then
  local f = assert(io.open(body_file, "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = "application/json"
end
local sent = 0
local req = nil
function request()
  if req == nil then req = wrk.format() end
  sent = sent + 1
  if max_requests > 0 and sent >= max_requests then wrk.thread:stop() end
  return req
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"errors": %d, "status_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


class Load:
    """Closed-loop load: ``connections`` keep-alive connections, each sending back to back."""

    def __init__(self, workdir: Path, connections: int) -> None:
        self.workdir = workdir
        self.connections = connections
        self.wrk = shutil.which("wrk")
        self.script = workdir / "bench.lua"
        self.script.write_text(_WRK_SCRIPT)

    @property
    def tool(self) -> str:
        return "wrk" if self.wrk else "asyncio client (wrk not installed)"

    def run(self, url: str, body: bytes | None, duration: float) -> LoadResult:
        if self.wrk is None:
            return asyncio.run(self._aio(url, body, duration))
        body_file = ""
        if body is not None:
            path = self.workdir / "body.json"
            path.write_bytes(body)
            body_file = str(path)
        env = {
            **os.environ,
            "BENCH_BODY_FILE": body_file,
            "BENCH_METHOD": "POST" if body is not None else "GET",
            "BENCH_MAX_REQUESTS": str(MAX_REQUESTS_PER_RUN),
        }
        argv = [self.wrk, "-t1", f"-c{self.connections}", f"-d{duration:g}s", "--timeout", "10s"]
        out = subprocess.run(
            [*argv, "-s", str(self.script), url],
            env=env,
            capture_output=True,
            text=True,
            timeout=duration + 30,
            check=True,
        ).stdout
        match = re.search(r"BENCH_JSON (\{.*\})", out)
        if match is None:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        data = json.loads(match.group(1))
        return LoadResult(
            requests=data["requests"],
            rps=data["requests"] / (data["duration_us"] / 1e6),
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            errors=data["errors"] + data["status_errors"],
        )

    async def _aio(self, url: str, body: bytes | None, duration: float) -> LoadResult:
        parsed = httpx.URL(url)
        method = "POST" if body is not None else "GET"
        head = f"{method} {parsed.raw_path.decode()} HTTP/1.1\r\nHost: {parsed.host}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        request = (head + "\r\n").encode() + (body or b"")
        latencies: list[float] = []
        errors = 0
        deadline = time.perf_counter() + duration

        async def connection() -> None:
            nonlocal errors
            reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
            try:
                while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS_PER_RUN:
                    start = time.perf_counter()
                    writer.write(request)
                    header = await reader.readuntil(b"\r\n\r\n")
                    length = re.search(rb"(?i)content-length: *(\d+)", header)
                    await reader.readexactly(int(length.group(1)) if length else 0)
                    latencies.append(time.perf_counter() - start)
                    if not header.startswith(b"HTTP/1.1 2"):
                        errors += 1
            finally:
                writer.close()

        started = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(self.connections)))
        elapsed = time.perf_counter() - started
        ordered = sorted(latencies)
        return LoadResult(
            requests=len(ordered),
            rps=len(ordered) / elapsed,
            p50_ms=1000 * ordered[len(ordered) // 2],
            p99_ms=1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            errors=errors,
        )


# ---------------------------------------------------------------------------- API helpers


def check(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:500]}")
    return response.json() if response.headers.get("content-type") == "application/json" else None


def generate(client: httpx.Client, n_samples: int, seed: int) -> str:
    body = {"kind": "notebook", "n_samples": n_samples, "seed": seed}
    dataset: dict[str, Any] = check(client.post("/v1/datasets/generate", json=body), 201)
    return str(dataset["id"])


def job_body(dataset_id: str, hidden: list[int], **training: Any) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "architecture": {"hidden_layers": hidden, "activation": "relu"},
        "training": {"seed": 0, **training},
    }


def submit(client: httpx.Client, body: dict[str, Any]) -> str:
    return str(check(client.post("/v1/jobs", json=body), 202)["id"])


def wait_job(
    client: httpx.Client, job_id: str, until: set[str], poll: float = 0.005, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = check(client.get(f"/v1/jobs/{job_id}"), 200)
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(poll)


def turnaround(client: httpx.Client, dataset_id: str) -> float:
    """Seconds from ``POST /v1/jobs`` to seeing ``succeeded`` (polling every 5 ms)."""
    start = time.perf_counter()
    job_id = submit(client, job_body(dataset_id, [8], epochs=1, batch_size=32))
    job = wait_job(client, job_id, TERMINAL)
    elapsed = time.perf_counter() - start
    if job["status"] != "succeeded":
        raise RuntimeError(f"turnaround job {job_id}: {job['status']} {job.get('error')}")
    return elapsed


_TIMING_RE = re.compile(r"([a-z]+);dur=([0-9.]+)")


def server_timing(response: httpx.Response) -> dict[str, float]:
    """``Server-Timing: parse;dur=1.2, ...`` -> ``{"parse": 1.2, ...}`` (milliseconds)."""
    header = response.headers.get("server-timing", "")
    return {name: float(value) for name, value in _TIMING_RE.findall(header)}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ----------------------------------------------------------------------------- the phases


class Bench:
    def __init__(self, plan: Plan, workdir: Path, settings: dict[str, str] | None = None) -> None:
        self.plan = plan
        self.settings = settings or {}  # MLP_* variables for the service (not the ceiling)
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.load = Load(workdir, plan.connections)
        self.results: dict[str, Any] = {}
        self.rows: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def servers(self) -> Iterator[None]:
        py = sys.executable
        self.service = Proc(
            "service",
            [py, "-m", "app", "serve"],
            service_env(self.data_dir, self.settings),
            self.workdir,
        )
        self.bare = Proc(
            "bare", [py, str(_HERE / "_bare_app.py")], service_env(self.data_dir), self.workdir
        )
        try:
            self.service.wait_ready("/ready")
            self.bare.wait_ready("/docs")
            self.client = httpx.Client(base_url=self.service.url, timeout=120.0)
            yield
        finally:
            self.service.stop()
            self.bare.stop()

    def target(self, figure: str, measured: str, target: str, met: bool) -> None:
        self.rows.append(
            {
                "figure": figure,
                "measured": measured,
                "target": target,
                "met": "yes" if met else "NO",
            }
        )

    def setup(self) -> None:
        client = self.client
        self.train_ds = generate(client, 400, seed=0)
        self.small_ds = generate(client, 100, seed=1)
        self.long_ds = generate(client, 1000, seed=2)
        job_id = submit(client, job_body(self.train_ds, [16, 16], epochs=100, batch_size=32))
        job = wait_job(client, job_id, TERMINAL, poll=0.05)
        if job["status"] != "succeeded":
            raise RuntimeError(f"training the benchmark model failed: {job}")
        self.model_id = job["model_id"]
        self.predict_url = f"{self.service.url}/v1/models/{self.model_id}/predict"
        self.bare_url = f"{self.bare.url}/predict"

    def warm_up(self) -> None:
        """Every kind of request once or a few times; then the baseline RSS."""
        self.load.run(self.predict_url, ONE_ROW, 1.0)
        self.load.run(self.bare_url, ONE_ROW, 1.0)
        for _ in range(3):
            turnaround(self.client, self.small_ds)
        for fmt in ("json", "png"):
            params = {"resolution": 250, "format": fmt}
            check_ok(self.client.get(f"/v1/models/{self.model_id}/boundary", params=params))
        self.client.get(f"/v1/models/{self.model_id}")
        time.sleep(0.5)
        self.rss_warm = self.service.rss_bytes()

    def predict_throughput(self) -> None:
        bare: list[LoadResult] = []
        service: list[LoadResult] = []
        cpu: dict[str, list[float]] = {"bare": [], "service": []}  # server CPU us per request
        for _ in range(self.plan.rounds):
            for name, proc, url, results in (
                ("bare", self.bare, self.bare_url, bare),
                ("service", self.service, self.predict_url, service),
            ):
                before = proc.cpu_seconds()
                result = self.load.run(url, ONE_ROW, self.plan.duration)
                cpu[name].append((proc.cpu_seconds() - before) / result.requests * 1e6)
                results.append(result)
        self.predicts_sent = sum(r.requests for r in service)
        ratios = [s.rps / b.rps for s, b in zip(service, bare, strict=True)]
        ratio = median(ratios)
        self.results["predict_one_row"] = {
            "bare": [r.__dict__ for r in bare],
            "service": [r.__dict__ for r in service],
            "ratio_per_round": ratios,
            "server_cpu_us_per_request": cpu,
        }
        rps = median([r.rps for r in service])
        bare_rps = median([r.rps for r in bare])
        p50 = median([r.p50_ms for r in service])
        p99 = median([r.p99_ms for r in service])
        self.target(
            "1. predict, 1 row: req/s vs bare FastAPI",
            f"{rps:,.0f} vs {bare_rps:,.0f} req/s = {ratio:.0%} (p50 {p50:.2f} ms, "
            f"p99 {p99:.2f} ms, {self.plan.connections} conns; server CPU per request "
            f"{median(cpu['service']):.0f} vs {median(cpu['bare']):.0f} us)",
            ">= 70%",
            ratio >= 0.70,
        )

    def v2_infer(self) -> None:
        """V2 infer of one row against /v1 predict of one row, alternating, same model."""
        url = f"{self.service.url}/v2/models/{self.model_id}/infer"
        check_ok(self.client.post(url, content=V2_ONE_ROW))
        v1: list[LoadResult] = []
        v2: list[LoadResult] = []
        for _ in range(self.plan.rounds):
            v1.append(self.load.run(self.predict_url, ONE_ROW, self.plan.duration))
            v2.append(self.load.run(url, V2_ONE_ROW, self.plan.duration))
        ratios = [b.rps / a.rps for a, b in zip(v1, v2, strict=True)]
        ratio = median(ratios)
        self.results["v2_infer_one_row"] = {
            "v1": [r.__dict__ for r in v1],
            "v2": [r.__dict__ for r in v2],
            "ratio_per_round": ratios,
        }
        rps, v1_rps = median([r.rps for r in v2]), median([r.rps for r in v1])
        print(f"  V2 infer / v1 predict, 1 row: {ratio:.2f}", flush=True)
        self.target(
            "7. V2 infer, 1 row: req/s vs /v1 predict",
            f"{rps:,.0f} vs {v1_rps:,.0f} req/s = {ratio:.0%} "
            f"(p50 {median([r.p50_ms for r in v2]):.2f} vs "
            f"{median([r.p50_ms for r in v1]):.2f} ms)",
            ">= 70%",
            ratio >= 0.70,
        )

    def table_predict(self) -> None:
        """Figure 8: 10,000 rows by column name against the same rows as numbers."""

        def train(dataset: dict[str, Any]) -> str:
            dataset_id = check(self.client.post("/v1/datasets", json=dataset), 201)["id"]
            job_id = submit(self.client, job_body(dataset_id, [16, 16], epochs=5, batch_size=64))
            job = wait_job(self.client, job_id, TERMINAL, poll=0.05)
            if job["status"] != "succeeded":
                raise RuntimeError(f"training a table benchmark model failed: {job}")
            return str(job["model_id"])

        result = TablePredict(self.client, self.data_dir, train).run(self.plan.big_repeats)
        self.results["table_predict"] = result
        self.rows.extend(target_rows(result))

    def job_turnaround(self) -> None:
        times = [turnaround(self.client, self.small_ds) for _ in range(self.plan.turnaround_jobs)]
        p50 = median(times)
        self.results["job_turnaround_s"] = times
        self.target(
            "5. job turnaround, 1 epoch on 100 rows, p50",
            f"{p50 * 1000:.0f} ms (p90 {np.percentile(times, 90) * 1000:.0f} ms, n={len(times)})",
            "<= 500 ms",
            p50 <= 0.5,
        )

    def memory(self) -> None:
        time.sleep(0.5)
        rss = self.service.rss_bytes()
        growth = rss / self.rss_warm - 1
        self.results["rss"] = {"warm": self.rss_warm, "after": rss, "predicts": self.predicts_sent}
        self.target(
            f"6. server RSS after {self.predicts_sent:,} predicts + "
            f"{self.plan.turnaround_jobs} jobs vs warm",
            f"{self.rss_warm / 2**20:.1f} -> {rss / 2**20:.1f} MiB ({growth:+.1%})",
            "<= +10%",
            growth <= 0.10,
        )

    def big_predicts(self) -> None:
        # The baseline gets the server's treatment: start-up objects frozen out of the cyclic
        # collector (app.main), else its full collections would slow orjson.loads down too.
        gc.collect()
        gc.freeze()
        rng = np.random.default_rng(0)
        for rows in self.plan.big_rows:
            body = orjson.dumps({"X": rng.normal(size=(rows, 2)).tolist()})
            loads: list[float] = []  # ms, one orjson.loads right before each request
            e2e: list[float] = []
            timings: list[dict[str, float]] = []
            for _ in range(self.plan.big_repeats + 1):
                start = time.perf_counter()
                orjson.loads(body)
                loads.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                response = self.client.post(
                    f"/v1/models/{self.model_id}/predict",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                elapsed = time.perf_counter() - start
                check_ok(response)
                e2e.append(elapsed * 1000)
                timings.append(server_timing(response))
            # The first pair warms the allocators; each later pair ran back to back, so the
            # median of their ratios is less exposed to the machine's noise than a ratio of
            # medians taken apart.
            loads, e2e, timings = loads[1:], e2e[1:], timings[1:]
            nan = float("nan")
            ratio = median([t.get("parse", nan) / lo for t, lo in zip(timings, loads, strict=True)])
            server_ratio = median(
                [t.get("total", nan) / lo for t, lo in zip(timings, loads, strict=True)]
            )
            parse = median([t.get("parse", nan) for t in timings])
            server = median([t.get("total", nan) for t in timings])
            loads_ms = median(loads)
            self.results[f"predict_{rows}_rows"] = {
                "body_bytes": len(body),
                "orjson_loads_ms": loads,
                "end_to_end_ms": e2e,
                "server_timing": timings,
            }
            parts = ", ".join(
                f"{k} {median([t.get(k, nan) for t in timings]):.1f}"
                for k in ("read", "parse", "model", "encode")
            )
            self.target(
                f"2. predict, {rows:,} rows ({len(body) / 2**20:.1f} MiB): parse+validate "
                "vs orjson.loads",
                f"{parse:.1f} vs {loads_ms:.1f} ms = {ratio:.2f}x (server {server:.1f} ms = "
                f"{server_ratio:.2f}x: {parts}; end to end {median(e2e):.1f} ms)",
                "<= 3x",
                ratio <= 3,
            )

    def boundary(self) -> None:
        model = mlp_engine.load(self.data_dir / "models" / f"{self.model_id}.npz")
        grid = median_time(lambda: mlp_engine.decision_grid(model, resolution=250), repeat=9)
        url = f"/v1/models/{self.model_id}/boundary"
        figures: dict[str, float] = {}
        for fmt, repeats in (("json", self.plan.boundary_repeats), ("png", self.plan.png_repeats)):
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                check_ok(self.client.get(url, params={"resolution": 250, "format": fmt}))
                times.append(time.perf_counter() - start)
            figures[fmt] = median(times)
        self.results["boundary_250"] = {"decision_grid_s": grid, **figures}
        ratio = figures["json"] / grid
        self.target(
            "3. boundary 250x250, JSON, p50 vs decision_grid",
            f"{figures['json'] * 1000:.1f} vs {grid * 1000:.1f} ms = {ratio:.1f}x",
            "<= 5x",
            ratio <= 5,
        )
        self.target(
            "3. boundary 250x250, PNG, p50 vs decision_grid",
            f"{figures['png'] * 1000:.0f} ms = {figures['png'] / grid:.0f}x",
            "(reported)",
            True,
        )

    def training_interference(self) -> None:
        idle: list[LoadResult] = []
        busy: list[LoadResult] = []
        for _ in range(self.plan.rounds):
            idle.append(self.load.run(self.predict_url, ONE_ROW, self.plan.duration))
            body = job_body(self.long_ds, [64, 64], epochs=4000, batch_size=32)
            jobs = [submit(self.client, body) for _ in range(2)]
            for job_id in jobs:
                wait_job(self.client, job_id, {"running"} | TERMINAL, poll=0.02)
            time.sleep(0.5)  # into their epochs
            busy.append(self.load.run(self.predict_url, ONE_ROW, self.plan.duration))
            states = [check(self.client.get(f"/v1/jobs/{j}"), 200)["status"] for j in jobs]
            for job_id in jobs:
                self.client.post(f"/v1/jobs/{job_id}/cancel")
            for job_id in jobs:
                wait_job(self.client, job_id, TERMINAL, poll=0.05)
            if states != ["running", "running"]:
                raise RuntimeError(f"the training jobs ended during the busy run: {states}")
        idle_p99 = median([r.p99_ms for r in idle])
        busy_p99 = median([r.p99_ms for r in busy])
        ratios = [b.p99_ms / i.p99_ms for b, i in zip(busy, idle, strict=True)]
        self.results["training_interference"] = {
            "idle": [r.__dict__ for r in idle],
            "busy": [r.__dict__ for r in busy],
            "p99_ratio_per_round": ratios,
        }
        ratio = median(ratios)
        busy_rps = median([r.rps for r in busy])
        idle_rps = median([r.rps for r in idle])
        self.target(
            "4. predict p99 with 2 training jobs vs idle",
            f"{busy_p99:.2f} vs {idle_p99:.2f} ms = {ratio:.2f}x "
            f"({busy_rps:,.0f} vs {idle_rps:,.0f} req/s)",
            "<= 2x",
            ratio <= 2,
        )


def check_ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:500]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke run)")
    parser.add_argument("--duration", type=float, help="seconds per load run")
    parser.add_argument("--connections", type=int, help="keep-alive connections per load run")
    parser.add_argument("--rounds", type=int, help="rounds of each load comparison")
    parser.add_argument(
        "--only", help="comma-separated figure numbers to run, e.g. 1,7 (setup always runs)"
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="MLP_X=VALUE",
        help="a setting for the service only, e.g. MLP_ACCESS_LOG=false (repeatable)",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.service_env)
    only = {part.strip() for part in args.only.split(",")} if args.only else None
    plan = QUICK if args.quick else FULL
    overrides = {
        "duration": args.duration,
        "connections": args.connections,
        "rounds": args.rounds,
    }
    plan = Plan(**{**plan.__dict__, **{k: v for k, v in overrides.items() if v is not None}})

    with tempfile.TemporaryDirectory(prefix="mlp-bench-http-") as tmp:
        bench = Bench(plan, Path(tmp), settings)
        print(f"load generator: {bench.load.tool}; plan: {plan}", flush=True)
        with bench.servers():
            steps = [
                ("setup", bench.setup),
                ("warm-up", bench.warm_up),
                ("1. predict throughput", bench.predict_throughput),
                ("7. V2 infer vs predict", bench.v2_infer),
                ("8. table predict", bench.table_predict),
                ("5. job turnaround", bench.job_turnaround),
                ("6. memory", bench.memory),
                ("2. large predicts", bench.big_predicts),
                ("3. boundary", bench.boundary),
                ("4. training interference", bench.training_interference),
            ]
            for name, step in steps:
                number = name.split(".", 1)[0]
                if only is not None and number.isdigit() and number not in only:
                    continue
                started = time.perf_counter()
                step()
                print(f"  {name}: {time.perf_counter() - started:.1f} s", flush=True)
    bench.rows.sort(key=lambda row: row["figure"])
    print_table(
        "HTTP: service vs ceilings (medians)", bench.rows, ["figure", "measured", "target", "met"]
    )
    path = write_json(
        "http" if not (args.quick or only) else "http-partial",
        {
            "machine": machine(),
            "load_generator": bench.load.tool,
            "plan": plan.__dict__,
            "service_env": settings,
            "targets": bench.rows,
            "results": bench.results,
        },
    )
    print(f"\nwrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
