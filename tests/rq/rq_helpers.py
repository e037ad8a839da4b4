"""Helpers of the RQ back-end tests (the fixtures are in ``conftest.py``).

The process helpers (``RedisServer``, ``WorkerProcess``, ...) live in :mod:`helpers.rq_backend`,
shared with the integration suite, and are re-exported here."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from helpers.rq_backend import (
    FAST_WORKER,
    RedisServer,
    WorkerProcess,
    wait_for,
    worker_command,
    worker_env,
)
from helpers.server import free_port

from app.jobs.base import JobSpec
from app.jobs.core import process_alive
from app.settings import Settings

__all__ = [
    "FAST_WORKER",
    "FOREVER",
    "TERMINAL",
    "ApiServer",
    "RedisServer",
    "WorkerProcess",
    "free_port",
    "make_data",
    "make_spec",
    "pid_gone",
    "settings_for",
    "wait_for",
    "worker_command",
    "worker_env",
]

TERMINAL = ("succeeded", "failed", "cancelled")
# A job that does not end on its own within a test (~5 ms per epoch).
FOREVER: dict[str, Any] = {"epochs": 1_000_000, "batch_size": 1}


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie counts as gone)."""
    return not process_alive(pid)


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
