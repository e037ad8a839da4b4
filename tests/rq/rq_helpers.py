"""Helpers of the RQ back-end tests (the fixtures are in ``conftest.py``)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.jobs.base import JobSpec
from app.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TERMINAL = ("succeeded", "failed", "cancelled")
# Worker options that make failure detection fast enough for tests (production: 2 / 15 / 10).
FAST_WORKER: dict[str, Any] = {
    "job_monitoring_interval": 1,
    "abandon_after": 3,
    "maintenance_interval": 1,
}
# A job that does not end on its own within a test (~5 ms per epoch).
FOREVER: dict[str, Any] = {"epochs": 1_000_000, "batch_size": 1}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def make_data(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An XOR-like two-class problem: X (n, 2), y (n,)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    return X, y


def make_spec(
    dataset_id: str, model_id: str = "model_1", hidden: tuple[int, ...] = (8,), **training: Any
) -> JobSpec:
    """A classification job on ``dataset_id``; ``training`` overrides the defaults."""
    return JobSpec(
        dataset_id=dataset_id,
        task="classification",
        architecture={"hidden_layers": list(hidden), "activation": "relu"},
        training={"epochs": 5, "learning_rate": 0.05, "seed": 0, **training},
        model_id=model_id,
        name="rq test model",
    )


def settings_for(data_dir: Path, redis_url: str, **overrides: Any) -> Settings:
    """Settings of the RQ back-end on ``data_dir`` and ``redis_url``."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "job_backend": "rq",
        "redis_url": redis_url,
        "max_concurrent_jobs": 2,
        "max_queued_jobs": 10,
        "progress_interval_seconds": 0.05,
        "job_cancel_grace_seconds": 3.0,
        "snapshot_every_epochs": 5,
        "log_json": False,
        **overrides,
    }
    return Settings(**values)


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
    """``python -m app.worker`` with the fast test options, overridden by ``options``."""
    command = [sys.executable, "-m", "app.worker"]
    for key, value in {**FAST_WORKER, **options}.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            command.append(flag)
        elif value is not False and value is not None:
            command += [flag, str(value)]
    return command


class WorkerProcess:
    """One ``python -m app.worker`` process (its own session, so its job processes too)."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    @classmethod
    def start(cls, data_dir: Path, redis_url: str, log_path: Path, **options: Any) -> WorkerProcess:
        """Start a worker with its output in ``log_path``."""
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                worker_command(**options),
                cwd=log_path.parent,
                env=worker_env(data_dir, redis_url),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

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

    def __init__(self, binary: str, directory: Path) -> None:
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


class ApiServer:
    """``python -m app serve`` (uvicorn) on a free loopback port with the given environment."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        import httpx

        self.port = free_port()
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve"],
                cwd=log_path.parent,  # no stray .env file is read
                env={**env, "MLP_HOST": "127.0.0.1", "MLP_PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.log()}")
            try:
                return httpx.get(f"{self.base_url}/ready", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_for(ready, 30.0, "the API server to be ready")
        except AssertionError:
            self.stop()
            raise

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """What the server logged so far (the last 20,000 characters)."""
        return self.log_path.read_text(errors="replace")[-20_000:]

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL whatever is left of its process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
