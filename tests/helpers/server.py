"""A real server: ``python -m app serve`` (uvicorn) as a subprocess on a free loopback port.

:class:`Server` starts it with a temporary ``MLP_DATA_DIR``, waits for ``/ready``, and can be
killed with SIGKILL or restarted on the same data directory. Every server a test starts is
stopped at teardown, together with any process it started (its own process group).

With an :class:`RQBackend` the server runs ``MLP_JOB_BACKEND=rq`` on its own Redis database and
queue, and :class:`Server` also starts that many ``python -m app.worker`` processes on the same
data directory and Redis (:mod:`helpers.rq_backend`); they are stopped with the server, but
:meth:`Server.kill9` kills the API process only, so the workers keep running their jobs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from helpers.waiting import TERMINAL, wait_for

if TYPE_CHECKING:
    from helpers.rq_backend import WorkerProcess

REPO = Path(__file__).resolve().parents[2]  # the repository root
START_TIMEOUT = 60.0  # generous: CI machines with 2 busy cores
PORT_ATTEMPTS = 3  # a port free when chosen may be taken (any process's socket) before the bind


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of process ``pid`` in bytes: ``VmRSS`` (now) or ``VmHWM`` (the peak
    since the process started), from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for process {pid}")


@dataclass(frozen=True)
class RQBackend:
    """The RQ back-end of one :class:`Server`: its Redis database (a URL ending in ``/<db>``),
    its queue name and how many worker processes to run (``None``: one per
    ``MLP_MAX_CONCURRENT_JOBS``, since with RQ the concurrency is the number of workers)."""

    redis_url: str
    queue: str = "mlp-jobs"
    workers: int | None = None


class _PortTaken(RuntimeError):
    """The server could not bind the port :func:`free_port` chose: something took it since."""


class Server:
    """One ``mlp-service`` process (plus its job processes) on a temporary data directory;
    with ``rq``, plus its RQ worker processes."""

    def __init__(
        self, data_dir: Path, log_dir: Path, env: dict[str, str], rq: RQBackend | None = None
    ) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.extra_env = env
        self.rq = rq
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self.groups: list[int] = []  # process groups this object started (one per start)
        self.workers: list[WorkerProcess] = []  # RQ workers (their own sessions)
        self.worker_starts = 0

    @property
    def backend(self) -> str:
        """``"embedded"`` or ``"rq"``."""
        return "embedded" if self.rq is None else "rq"

    @property
    def pid(self) -> int:
        """The server process's PID (the uvicorn process itself)."""
        if self.process is None:
            raise RuntimeError("the server is not running")
        return self.process.pid

    def rss_bytes(self) -> int:
        """The server process's resident memory now (``VmRSS`` of ``/proc/<pid>/status``)."""
        return rss_bytes(self.pid)

    def peak_rss_bytes(self) -> int:
        """The server process's peak resident memory so far (``VmHWM``)."""
        return rss_bytes(self.pid, "VmHWM")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLP_")}
        env.update(
            {
                "MLP_DATA_DIR": str(self.data_dir),
                "MLP_HOST": "127.0.0.1",
                "MLP_PORT": str(self.port),
                "MLP_WORKERS": "1",
                "MLP_LOG_LEVEL": "info",
                "MLP_MAX_CONCURRENT_JOBS": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            }
        )
        if self.rq is not None:
            env.update(
                {
                    "MLP_JOB_BACKEND": "rq",
                    "MLP_REDIS_URL": self.rq.redis_url,
                    "MLP_RQ_QUEUE": self.rq.queue,
                }
            )
        env.update(self.extra_env)
        return env

    def _start_workers(self) -> None:
        """Start RQ workers until ``rq.workers`` of them run (live ones are kept: after
        :meth:`kill9` the workers that outlived the API process go on)."""
        if self.rq is None:
            return
        from helpers.rq_backend import WorkerProcess

        env = self._env()
        wanted = self.rq.workers or int(env["MLP_MAX_CONCURRENT_JOBS"])
        self.workers = [worker for worker in self.workers if worker.alive()]
        worker_env = {
            k: v
            for k, v in env.items()
            if k.startswith("MLP_") and k not in ("MLP_HOST", "MLP_PORT", "MLP_WORKERS")
        }
        while len(self.workers) < wanted:
            self.worker_starts += 1
            log_path = self.log_dir / f"worker-{self.worker_starts}.log"
            self.workers.append(
                WorkerProcess.start(self.data_dir, self.rq.redis_url, log_path, env=worker_env)
            )

    def stop_workers(self) -> None:
        """SIGTERM every RQ worker at once (warm shutdown), then stop each (SIGKILL of its
        process group if it lingers)."""
        for worker in self.workers:
            if worker.alive():
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def worker_log(self) -> str:
        """Everything the RQ workers have logged so far."""
        parts = [p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log"))]
        return "\n".join(parts)[-20_000:]

    def start(self) -> None:
        """Start the server and wait until ``/ready`` answers 200 (again on a new port if the
        one chosen was taken before the server could bind it)."""
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start_on(free_port())
                return
            except _PortTaken:
                if attempt == PORT_ATTEMPTS:
                    raise

    def _start_on(self, port: int) -> None:
        self.port = port
        self.starts += 1
        self._start_workers()  # they start while the server does
        log_path = self.log_dir / f"server-{self.starts}.log"
        log = open(log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve"],
            cwd=self.log_dir,  # no stray .env file is read
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown can stop everything
        )
        log.close()
        self.groups.append(self.process.pid)
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                taken = "address already in use" in log_path.read_text(errors="replace").lower()
                error = _PortTaken if taken else RuntimeError
                raise error(f"server exited with {process.returncode}:\n{self.log()}")
            for worker in self.workers:
                if not worker.alive():
                    raise RuntimeError(f"an RQ worker exited:\n{self.worker_log()}")
            try:
                return httpx.get(f"{self.base_url}/ready", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(ready, START_TIMEOUT, "the server to be ready", interval=0.1)
        except AssertionError as exc:
            raise RuntimeError(f"{exc}:\n{self.log()}") from None

    def log(self) -> str:
        """Everything the server has logged so far (all starts)."""
        parts = [p.read_text(errors="replace") for p in sorted(self.log_dir.glob("server-*.log"))]
        return "\n".join(parts)[-20_000:]

    def kill9(self) -> None:
        """SIGKILL the server process only (its job processes must notice and exit; RQ
        workers are not the server's and keep running)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL whatever is left of the groups this object started."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)  # stragglers: job processes, the fork server
        self.groups.clear()
        self.process = None
        self.stop_workers()

    def restart(self, kill: bool = False) -> None:
        """Stop (or SIGKILL) and start again on the same data directory (a new port). With
        ``kill`` the RQ workers are left running (only the API process dies)."""
        if kill:
            self.kill9()
        else:
            self.stop()
        self.start()


def wait_for_job(
    client: httpx.Client, job_id: str, timeout: float = 90.0, until: set[str] | None = None
) -> dict[str, Any]:
    """Poll ``GET /v1/jobs/{id}`` until the job reaches one of ``until`` (default: a terminal
    state) and return it."""
    wanted = until or TERMINAL
    last: dict[str, Any] = {}

    def reached() -> dict[str, Any] | None:
        last.update(client.get(f"/v1/jobs/{job_id}").raise_for_status().json())
        return dict(last) if last["status"] in wanted else None

    try:
        return wait_for(reached, timeout, f"job {job_id} to reach {sorted(wanted)}", 0.1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; it is {last.get('status')}") from None


def wait_for_epoch(
    client: httpx.Client, job_id: str, epoch: int, timeout: float = 60.0
) -> dict[str, Any]:
    """Poll until the job runs and has reported ``epoch`` epochs; fail at once if it ends."""

    def reached() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in TERMINAL:
            raise AssertionError(f"job {job_id} ended {job['status']}: {job['error']}")
        done = (job["progress"] or {}).get("epoch", 0)
        return job if job["status"] == "running" and done >= epoch else None

    record: dict[str, Any] = wait_for(reached, timeout, f"job {job_id} to train {epoch} epochs")
    return record


def cancel_unfinished(base_url: str) -> None:
    """Cancel every sweep and job of the server at ``base_url`` that has not ended: the
    teardown of a test on a shared server, so that an endless job a failed test left behind
    cannot hold the slot the module's next tests need."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        sweeps = client.get("/v1/sweeps", params={"limit": 1000}).raise_for_status().json()
        for sweep in sweeps["data"]:
            if sweep["status"] not in TERMINAL:
                client.post(f"/v1/sweeps/{sweep['id']}/cancel")
        jobs = client.get("/v1/jobs", params={"limit": 1000}).raise_for_status().json()
        for job in jobs["data"]:
            if job["status"] not in TERMINAL:
                client.post(f"/v1/jobs/{job['id']}/cancel")


class ServerFactory:
    """``factory(data_dir=None, *, workers=None, **env)`` -> a started :class:`Server`; ``env``
    keys are upper-cased (``mlp_max_rows="10"``). With ``rq`` (a callable returning a fresh
    :class:`RQBackend` for ``workers``), every server runs on the RQ back-end."""

    def __init__(self, tmp_path: Path, rq: Callable[[int | None], RQBackend] | None = None) -> None:
        self.tmp_path = tmp_path
        self.rq = rq
        self.servers: list[Server] = []

    def __call__(
        self, data_dir: Path | None = None, *, workers: int | None = None, **env: str
    ) -> Server:
        n = len(self.servers)
        log_dir = self.tmp_path / f"server{n}"
        log_dir.mkdir()
        upper = {k.upper(): v for k, v in env.items()}
        rq = None if self.rq is None else self.rq(workers)
        server = Server(data_dir or self.tmp_path / f"data{n}", log_dir, upper, rq)
        self.servers.append(server)
        server.start()
        return server

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """``start_server(data_dir=None, **env)`` -> a started :class:`Server` (embedded back-end);
    all are stopped at teardown. ``env`` keys are upper-cased (``mlp_max_rows="10"``)."""
    factory = ServerFactory(tmp_path)
    yield factory
    factory.stop_all()
