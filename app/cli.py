"""The ``mlp-service`` command line (also ``python -m app``)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
from collections.abc import Sequence
from typing import Any

from app.http_protocol import HTTP_PROTOCOL
from app.logging import configure_logging, log_config
from app.settings import Settings, get_settings

__all__ = ["main", "serve", "uvicorn_options"]

logger = logging.getLogger("app.cli")

_GRACEFUL_SHUTDOWN_SECONDS = 5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlp-service",
        description="Train and serve multi-layer perceptrons over HTTP.",
        epilog="Every setting is also an MLP_* environment variable (see the README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the HTTP service with uvicorn")
    serve.add_argument("--host", help="bind address (MLP_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (MLP_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="uvicorn worker processes (MLP_HTTP_WORKERS)")
    # Its options belong to app.rq_worker's own parser (`mlp-service worker --help`).
    commands.add_parser(
        "worker", help="run RQ workers that train jobs (MLP_JOB_BACKEND=rq)", add_help=False
    )
    return parser


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``uvicorn.run`` for the service (the HTTP benchmark's bare-app
    ceiling runs under the same ones): uvloop and httptools when installed (httptools through
    ``app.http_protocol``: one ``write()`` per response), uvicorn's own access log off (the app
    writes one JSON line per request, with its ID; ``MLP_ACCESS_LOG``), no ``Server`` header,
    idle connections kept ``MLP_KEEP_ALIVE_SECONDS``."""
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_httptools = importlib.util.find_spec("httptools") is not None
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.http_workers,
        "loop": "uvloop" if has_uvloop else "asyncio",
        "http": HTTP_PROTOCOL if has_httptools else "h11",
        "log_config": log_config(settings.log_level, settings.log_json),
        "log_level": settings.log_level,
        "access_log": False,
        "timeout_graceful_shutdown": _GRACEFUL_SHUTDOWN_SECONDS,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "server_header": False,
    }


def serve(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Run uvicorn on the settings' host, port and workers (uvloop/httptools when installed).

    With ``MLP_HTTP_WORKERS`` > 1, uvicorn runs that many server processes on one socket over the
    same data directory: job records, the queue and the concurrency cap live in SQLite, and model
    and dataset files are written atomically, so any worker can answer any request.
    """
    import uvicorn  # imported here so `mlp-service --help` stays fast

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    options = uvicorn_options(settings)
    options.update(
        {
            "host": host or settings.host,
            "port": port or settings.port,
            "workers": workers or settings.http_workers,
        }
    )
    logger.info(
        "starting mlp-service",
        extra={
            "host": options["host"],
            "port": options["port"],
            "workers": options["workers"],
            "loop": options["loop"],
            "http": options["http"],
            "data_dir": str(settings.data_dir),
        },
    )
    uvicorn.run("app.main:create_app", factory=True, **options)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``mlp-service`` console script."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "worker":
        from app.rq_worker import main as worker_main  # sets the BLAS thread limit first

        raise SystemExit(worker_main(rest))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "serve":
        serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
