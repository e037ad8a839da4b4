"""One ``redis-server`` for a test session, shared by the RQ tests and the integration suite's
``rq`` parametrisation (the process itself is :class:`helpers.rq_backend.RedisServer`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.processes import require_executable
from helpers.rq_backend import RedisServer

__all__ = ["running_redis"]


@contextmanager
def running_redis(directory: Path, databases: int = 16) -> Iterator[RedisServer]:
    """Start ``redis-server`` (no persistence, a free loopback port, ``directory`` its working
    directory), wait until it answers, yield it, stop it. Skips the test if redis-server is not
    installed (fails on CI)."""
    binary = require_executable("redis-server", "apt-get install redis-server")
    server = RedisServer(binary, directory, databases=databases)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
