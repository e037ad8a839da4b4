"""Fixtures of the integration tests: real servers (see :mod:`helpers.server`).

Every server a test starts is stopped at teardown, together with any process it started (its
own process group).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers.server import (
    REPO,
    START_TIMEOUT,
    TERMINAL,
    Server,
    free_port,
    start_server,
    wait_for_job,
)

__all__ = [
    "REPO",
    "START_TIMEOUT",
    "TERMINAL",
    "Server",
    "free_port",
    "start_server",
    "wait_for_job",
]


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests of a module that do not need their own settings."""
    root = tmp_path_factory.mktemp("shared")
    log_dir = root / "logs"
    log_dir.mkdir()
    env = {
        "MLP_MAX_BODY_BYTES": str(1 << 20),
        "MLP_MAX_ROWS": "2000",
        "MLP_MAX_FEATURES": "8",
        "MLP_MAX_EPOCHS": "2000",
        "MLP_MAX_HIDDEN_LAYERS": "4",
        "MLP_MAX_UNITS": "64",
        "MLP_MAX_BATCH_SIZE": "512",
        "MLP_COMPUTE_BUDGET": "5e9",
        "MLP_MAX_QUEUED_JOBS": "20",
        "MLP_MAX_GRID_RESOLUTION": "200",
    }
    server = Server(root / "data", log_dir, env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def wait_job() -> Any:
    """``wait_job(client, job_id, timeout=90, until=None)``."""
    return wait_for_job
