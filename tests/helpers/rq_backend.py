"""Real processes of the RQ job back-end for tests: a ``redis-server`` on a free loopback port
and ``python -m app.rq_worker`` processes (no fakeredis, no burst mode).

Used by the RQ tests (``tests/rq``, through ``rq_helpers``) and by the integration suite's
``rq`` parametrisation (``tests/integration/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helpers.server import REPO, free_port
from helpers.waiting import wait_for

__all__ = [
    "FAST_WORKER",
    "RedisServer",
    "WorkerProcess",
    "wait_for",
    "worker_command",
    "worker_env",
]

# Worker options that make failure detection fast enough for tests (production: 2 / 15 / 10).
FAST_WORKER: dict[str, Any] = {
    "job_monitoring_interval": 1,
    "abandon_after": 3,
    "maintenance_interval": 1,
}


def worker_env(data_dir: Path, redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a worker process (no MLP_ variable of the caller leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLP_")}
    env.update(
        {
            "MLP_DATA_DIR": str(data_dir),
            "MLP_REDIS_URL": redis_url,
            "MLP_LOG_LEVEL": "info",
            "MLP_LOG_JSON": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
            **extra,
        }
    )
    return env


def worker_command(**options: Any) -> list[str]:
    """``python -m app.rq_worker`` with the fast test options, overridden by ``options``."""
    command = [sys.executable, "-m", "app.rq_worker"]
    for key, value in {**FAST_WORKER, **options}.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            command.append(flag)
        elif value is not False and value is not None:
            command += [flag, str(value)]
    return command


class WorkerProcess:
    """One ``python -m app.rq_worker`` process (its own session, so its job processes too)."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @classmethod
    def start(
        cls,
        data_dir: Path,
        redis_url: str,
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> WorkerProcess:
        """Start a worker with its output in ``log_path``; ``env`` adds (or overrides)
        ``MLP_`` variables, ``options`` are command-line options (``count=2``)."""
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                worker_command(**options),
                cwd=log_path.parent,
                env=worker_env(data_dir, redis_url, **(env or {})),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        """What the worker logged so far (the last 20,000 characters)."""
        return self.log_path.read_text(errors="replace")[-20_000:]

    def kill9(self) -> None:
        """SIGKILL the worker process only (its job process must notice and die)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM (warm shutdown) and wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL whatever is left of its process group."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.terminate(10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


class RedisServer:
    """A ``redis-server`` without persistence on a free loopback port."""

    def __init__(self, binary: str, directory: Path, databases: int = 16) -> None:
        self.port = free_port()
        with open(directory / "redis.log", "wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--databases",
                    str(databases),
                    "--dir",
                    str(directory),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Block until it answers PING."""
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1.0)

        def pings() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"redis-server exited with {self.process.returncode}")
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_for(pings, timeout, "redis-server to answer")
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
