"""A real server: ``python -m app serve`` (uvicorn) as a subprocess on a free loopback port.

:class:`Server` starts it with a temporary ``MLP_DATA_DIR``, waits for ``/ready``, and can be
killed with SIGKILL or restarted on the same data directory. Every server a test starts is
stopped at teardown, together with any process it started (its own process group).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]  # the repository root
START_TIMEOUT = 60.0  # generous: CI machines with 2 busy cores
TERMINAL = {"succeeded", "failed", "cancelled"}


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


class Server:
    """One ``mlp-service`` process (plus its job processes) on a temporary data directory."""

    def __init__(self, data_dir: Path, log_dir: Path, env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.extra_env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self.groups: list[int] = []  # process groups this object started (one per start)

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
                **self.extra_env,
            }
        )
        return env

    def start(self) -> None:
        """Start the server and wait until ``/ready`` answers 200."""
        self.port = free_port()
        self.starts += 1
        log = open(self.log_dir / f"server-{self.starts}.log", "wb")  # noqa: SIM115
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
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {START_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        """Everything the server has logged so far (all starts)."""
        parts = [p.read_text(errors="replace") for p in sorted(self.log_dir.glob("server-*.log"))]
        return "\n".join(parts)[-20_000:]

    def kill9(self) -> None:
        """SIGKILL the server process only (its job processes must notice and exit)."""
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

    def restart(self, kill: bool = False) -> None:
        """Stop (or SIGKILL) and start again on the same data directory (a new port)."""
        if kill:
            self.kill9()
        else:
            self.stop()
        self.start()


def wait_for_job(
    client: httpx.Client, job_id: str, timeout: float = 90.0, until: set[str] | None = None
) -> dict[str, Any]:
    """Poll until the job reaches one of ``until`` (default: a terminal state)."""
    wanted = until or TERMINAL
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        if job["status"] in wanted:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.1)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """``start_server(data_dir=None, **env)`` -> a started :class:`Server`; all are stopped at
    teardown. ``env`` keys are upper-cased (``mlp_max_rows="10"``)."""
    servers: list[Server] = []

    def factory(data_dir: Path | None = None, **env: str) -> Server:
        n = len(servers)
        log_dir = tmp_path / f"server{n}"
        log_dir.mkdir()
        upper = {k.upper(): v for k, v in env.items()}
        server = Server(data_dir or tmp_path / f"data{n}", log_dir, upper)
        servers.append(server)
        server.start()
        return server

    yield factory
    for server in servers:
        server.stop()
