"""The ``mlp-service`` command line (also ``python -m app``)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
from collections.abc import Sequence

from app.logging import configure_logging, log_config
from app.settings import get_settings

__all__ = ["main"]

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
    serve.add_argument("--workers", type=int, help="uvicorn worker processes (MLP_WORKERS)")
    return parser


def serve(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Run uvicorn on the settings' host, port and workers (uvloop/httptools when installed)."""
    import uvicorn  # imported here so `mlp-service --help` stays fast

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    has_uvloop = importlib.util.find_spec("uvloop") is not None
    has_httptools = importlib.util.find_spec("httptools") is not None
    logger.info(
        "starting mlp-service",
        extra={
            "host": host or settings.host,
            "port": port or settings.port,
            "workers": workers or settings.workers,
            "data_dir": str(settings.data_dir),
        },
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        loop="uvloop" if has_uvloop else "asyncio",
        http="httptools" if has_httptools else "h11",
        log_config=log_config(settings.log_level, settings.log_json),
        log_level=settings.log_level,
        access_log=False,  # the app writes one JSON access line per request, with its ID
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_SECONDS,
        server_header=False,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``mlp-service`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
