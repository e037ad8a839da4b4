"""Fixtures of the integration tests: real servers (see :mod:`helpers.server`), on both job
back-ends.

``backend`` (module scope) is parametrised over ``embedded`` and ``rq`` (the ``rq`` parameter
carries the ``rq`` marker), so every test that uses ``shared_server`` or ``start_server`` runs
once per back-end and its ID says which (``test_x[rq]``). For ``rq`` the suite starts one real
``redis-server`` for the session (free loopback port, its own temporary directory, stopped at
the end); every server gets a fresh, emptied Redis database and its own queue name
(``MLP_RQ_QUEUE``), so no test sees another's jobs, and as many ``python -m app.worker``
processes as its ``MLP_MAX_CONCURRENT_JOBS`` (with RQ, concurrency is the number of workers),
started and stopped with it. A module whose tests mean nothing on RQ overrides ``backend``.

Every server a test starts is stopped at teardown, together with any process it started (its
own process group, and its workers).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from helpers.redis_process import running_redis
from helpers.server import (
    REPO,
    START_TIMEOUT,
    TERMINAL,
    RQBackend,
    Server,
    ServerFactory,
    free_port,
    wait_for_job,
)

__all__ = [
    "REPO",
    "START_TIMEOUT",
    "TERMINAL",
    "Server",
    "free_port",
    "wait_for_job",
]

BACKENDS = [
    pytest.param("embedded", id="embedded"),
    pytest.param("rq", id="rq", marks=pytest.mark.rq),
]
REDIS_DATABASES = 64  # one per server of the session


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The job back-end of this module's servers: ``"embedded"`` or ``"rq"``."""
    value: str = request.param
    return value


@pytest.fixture(scope="session")
def redis_databases(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[int | None], RQBackend]]:
    """A redis-server for the session; ``allocate(workers)`` -> an :class:`RQBackend` on the
    next (emptied) database with its own queue name."""
    counter = itertools.count()
    with running_redis(tmp_path_factory.mktemp("redis"), REDIS_DATABASES) as server:

        def allocate(workers: int | None = None) -> RQBackend:
            db = next(counter)
            if db >= REDIS_DATABASES:
                raise RuntimeError(f"more than {REDIS_DATABASES} RQ servers in one session")
            url = f"{server.url}/{db}"
            with redis.Redis.from_url(url) as client:
                client.flushdb()
            return RQBackend(url, queue=f"mlp-test-{db}", workers=workers)

        yield allocate


def _rq_allocator(
    request: pytest.FixtureRequest, backend: str
) -> Callable[[int | None], RQBackend] | None:
    """The Redis allocator when ``backend`` is ``rq`` (redis-server starts on first use)."""
    if backend != "rq":
        return None
    allocate: Callable[[int | None], RQBackend] = request.getfixturevalue("redis_databases")
    return allocate


@pytest.fixture(scope="module")
def shared_server(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server (per back-end) for the tests of a module that do not need their own
    settings."""
    root = tmp_path_factory.mktemp(f"shared-{backend}")
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
    allocate = _rq_allocator(request, backend)
    server = Server(root / "data", log_dir, env, None if allocate is None else allocate(None))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_server(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> Iterator[ServerFactory]:
    """``start_server(data_dir=None, *, workers=None, **env)`` -> a started :class:`Server` on
    this module's back-end; all are stopped at teardown. ``workers`` (RQ only) overrides the
    number of worker processes."""
    factory = ServerFactory(tmp_path, _rq_allocator(request, backend))
    yield factory
    factory.stop_all()


@pytest.fixture
def wait_job() -> Any:
    """``wait_job(client, job_id, timeout=90, until=None)``."""
    return wait_for_job
