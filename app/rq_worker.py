"""``python -m app.rq_worker`` (also ``python -m app.worker`` and ``mlp-service worker``): RQ
workers for the RQ job back-end (``MLP_JOB_BACKEND=rq``).

Each worker is an :class:`~app.jobs.rq_worker_side.RQTrainingWorker` (RQ's forking worker) on
the queue ``--queue`` of the Redis at ``MLP_REDIS_URL``; it trains one job at a time, in a work
horse forked from it, and writes models to ``MLP_DATA_DIR``, which must be the same storage the API
sees (a shared volume, or a network file system across hosts). BLAS libraries are limited to
one thread before NumPy is imported, so N workers on a host use N cores.

``--count N`` runs N workers as child processes of this one and restarts any that dies (except
with ``--burst``); SIGTERM/SIGINT are passed on (each worker stops its job after the epoch and
re-queues it). In containers prefer one worker per container and ``--scale worker=N``.

``--check`` only pings Redis (exit status 0 or 1), for container health checks.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from app.settings import Settings

if TYPE_CHECKING:
    import redis

__all__ = ["BLAS_ENVIRONMENT", "main"]

logger = logging.getLogger("app.rq_worker")

# One BLAS/OpenMP thread per job process (the embedded runner's JOB_ENVIRONMENT, repeated
# here because importing app.jobs would import NumPy before these are set).
BLAS_ENVIRONMENT = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}
_RESTART_DELAY = 1.0
_REDIS_WAIT_MAX = 10.0


def _limit_blas_threads() -> None:
    """Set the BLAS thread variables (before NumPy loads; warn if it already has)."""
    os.environ.update(BLAS_ENVIRONMENT)
    if "numpy" in sys.modules:
        logger.warning("NumPy was imported before the BLAS thread limit was set")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.rq_worker",
        description="Run RQ workers that train the service's jobs (MLP_JOB_BACKEND=rq).",
        epilog="MLP_REDIS_URL, MLP_DATA_DIR, MLP_LOG_LEVEL and MLP_LOG_JSON apply as for the API.",
    )
    parser.add_argument("--url", help="Redis URL (default: MLP_REDIS_URL)")
    parser.add_argument("--queue", help="RQ queue name (default mlp-jobs)")
    parser.add_argument("--count", type=int, default=1, help="worker processes to run (default 1)")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    parser.add_argument("--name", help="worker name (default: host.pid.random)")
    parser.add_argument(
        "--job-monitoring-interval",
        type=int,
        default=2,
        metavar="S",
        help="how often a busy worker heartbeats its job, in whole seconds (default 2)",
    )
    parser.add_argument(
        "--abandon-after",
        type=float,
        default=15.0,
        metavar="S",
        help="seconds without a heartbeat before a job counts as abandoned (default 15)",
    )
    parser.add_argument(
        "--maintenance-interval",
        type=int,
        default=10,
        metavar="S",
        help="how often a worker cleans RQ's registries, in seconds (default 10)",
    )
    parser.add_argument("--check", action="store_true", help="ping Redis and exit (0 = ok)")
    return parser


def _validate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.count < 1:
        parser.error("--count must be at least 1")
    if args.job_monitoring_interval < 1:
        parser.error("--job-monitoring-interval must be at least 1")
    if args.abandon_after < args.job_monitoring_interval + 1:
        parser.error("--abandon-after must exceed --job-monitoring-interval by at least 1 s")
    if args.maintenance_interval < 1:
        parser.error("--maintenance-interval must be at least 1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m app.rq_worker`` (``python -m app.worker``, ``mlp-service
    worker``)."""
    _limit_blas_threads()
    parser = _parser()
    args = parser.parse_args(argv)
    _validate(parser, args)

    from app.logging import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    url = args.url or settings.redis_url
    if args.check:
        return _check(url)
    if args.count > 1:
        return _supervise(args, url)
    return _run_worker(args, url, settings)


def _redacted(url: str) -> str:
    """The Redis URL without its password, for logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _check(url: str) -> int:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0).ping()
    except redis.RedisError as exc:
        logger.error("Redis at %s does not answer: %s", _redacted(url), exc)
        return 1
    return 0


def _run_worker(args: argparse.Namespace, url: str, settings: Settings) -> int:
    """One RQ worker in this process (the engine is imported first, so horses fork ready)."""
    import redis
    from rq.serializers import JSONSerializer

    import mlp_engine  # noqa: F401 - preloaded: every work horse is forked with it
    from app.jobs.rq_worker_side import RQTrainingWorker

    queue = args.queue or settings.rq_queue
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    connection = redis.Redis.from_url(url)
    _wait_for_redis(connection, url)
    name = args.name or f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    worker = RQTrainingWorker(
        [queue],
        connection=connection,
        serializer=JSONSerializer,
        name=name,
        job_monitoring_interval=args.job_monitoring_interval,
        maintenance_interval=args.maintenance_interval,
        data_dir=data_dir,
        abandon_after=args.abandon_after,
        log_level=settings.log_level,
        log_json=settings.log_json,
    )
    logger.info(
        "worker %s on queue %s (data dir %s, abandoned after %g s)",
        name,
        queue,
        data_dir,
        args.abandon_after,
    )
    worker.work(burst=args.burst, logging_level=settings.log_level.upper(), with_scheduler=False)
    return 0


def _wait_for_redis(connection: redis.Redis, url: str) -> None:
    """Block until Redis answers (it may start after the workers), logging while it does not."""
    import redis

    delay = 0.5
    while True:
        try:
            connection.ping()
            return
        except redis.RedisError as exc:
            logger.warning("waiting for Redis at %s: %s", _redacted(url), exc)
            time.sleep(delay)
            delay = min(2 * delay, _REDIS_WAIT_MAX)


def _child_command(args: argparse.Namespace, url: str, index: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "app.rq_worker",
        "--url",
        url,
        "--job-monitoring-interval",
        str(args.job_monitoring_interval),
        "--abandon-after",
        str(args.abandon_after),
        "--maintenance-interval",
        str(args.maintenance_interval),
    ]
    if args.queue:
        command += ["--queue", args.queue]
    if args.burst:
        command.append("--burst")
    if args.name:
        command += ["--name", f"{args.name}-{index}"]
    return command


def _supervise(args: argparse.Namespace, url: str) -> int:
    """Run ``--count`` workers as child processes; restart dead ones; pass signals on."""
    children: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def start(index: int) -> None:
        children[index] = subprocess.Popen(_child_command(args, url, index))
        logger.info("worker %d started (pid %d)", index, children[index].pid)

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for index in range(args.count):
        start(index)
    while children:
        for index, child in list(children.items()):
            code = child.poll()
            if code is None:
                continue
            del children[index]
            if not stopping and not args.burst:
                logger.warning(
                    "worker %d (pid %d) exited with %s; restarting", index, child.pid, code
                )
                time.sleep(_RESTART_DELAY)
                if not stopping:  # a SIGTERM during the delay reached the others only
                    start(index)
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
