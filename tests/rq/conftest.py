"""Fixtures for the RQ back-end: a real ``redis-server`` on a free loopback port and real
``python -m app.rq_worker`` processes on a temporary data dir (no fakeredis, no burst mode).

* ``redis_server`` (session): one redis-server without persistence; ``redis_url`` empties it
  before each test.
* ``start_worker(**options)``: a worker process in its own session; every one is stopped at
  teardown (SIGTERM, then SIGKILL of its process group).
* ``make_runner(**settings)``: a started :class:`~app.jobs.rq_runner.RQRunner` with short
  maintenance intervals; stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from helpers.redis_process import running_redis
from helpers.rq_backend import WorkerProcess
from helpers.specs import settings_for, stored_dataset

from app.jobs.rq_runner import RQRunner


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rq: needs redis-server and starts RQ worker processes")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server on a free loopback port for the whole session: its base URL."""
    with running_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """Database 0 of the session's redis-server, emptied for this test."""
    url = f"{redis_server}/0"
    with redis.Redis.from_url(url) as client:
        client.flushall()
    return url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def dataset_id(data_dir: Path) -> str:
    """A stored 200-row two-class dataset."""
    return stored_dataset(data_dir)


@pytest.fixture
def make_runner(data_dir: Path, redis_url: str) -> Iterator[Callable[..., RQRunner]]:
    """``make_runner(**settings)`` -> a started RQRunner (fast maintenance)."""
    runners: list[RQRunner] = []

    def factory(**overrides: Any) -> RQRunner:
        runner = RQRunner(
            settings_for(data_dir, redis_url, **overrides),
            maintenance_interval=0.1,
            cleanup_interval=0.5,
            reconcile_interval=2.0,
        )
        runner.start()
        runners.append(runner)
        return runner

    yield factory
    for runner in runners:
        runner.stop()


@pytest.fixture
def start_worker(
    data_dir: Path, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker(**options)`` -> a running worker process; all are stopped at teardown."""
    workers: list[WorkerProcess] = []

    def factory(**options: Any) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        worker = WorkerProcess.start(data_dir, redis_url, log_path, **options)
        workers.append(worker)
        return worker

    yield factory
    for worker in workers:
        worker.stop()
