"""Structured (JSON) logging with the current request's ID on every line."""

from __future__ import annotations

import logging
import logging.config
import re
import time
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import orjson

__all__ = [
    "JsonFormatter",
    "RequestIdFilter",
    "configure_logging",
    "log_access",
    "log_config",
    "request_id_var",
]

# The ID of the request being handled (set by the request-context middleware).
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is logged too.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "request_id", "color_message"}


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` from the context (``None`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """``text`` with every C0/C1 control character (newlines and ESC included) as an escape."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal (``MLP_LOG_JSON=false``)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        # A message carries user text (a decoded path, a name): its control characters are
        # written as escapes, so "%0a" or an ANSI sequence cannot forge or colour a line. The
        # traceback, if any, is appended below as it is.
        saved = record.msg, record.args
        record.msg, record.args = escape_controls(record.getMessage()), None
        try:
            line = super().format(record)
        finally:
            record.msg, record.args = saved
        extras = {
            k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and k[:1] != "_"
        }
        return f"{line} {extras}" if extras else line


@lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """``2024-05-01T12:00:00`` (cached: every log line of one second shares it)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def _iso_time(created: float) -> str:
    return f"{_utc_second(int(created))}.{int(created % 1 * 1000):03d}Z"


def log_access(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """Log one access line at INFO: ``message`` and ``fields`` (``request_id`` first).

    The same line as ``logger.info(message, extra=fields)`` with the ``JsonFormatter``, for a
    fraction of the cost when the record would reach exactly one plain ``StreamHandler`` with
    that formatter (as :func:`log_config` sets up): the JSON line is written straight to its
    stream, without a ``LogRecord``, the caller lookup or the formatter's attribute scan (the
    access log was about a tenth of a one-row predict's server time; docs/benchmarks.md, HTTP).
    Any other set-up (other handlers, filters, the text format, pytest's ``caplog``) gets the
    ordinary ``logger.info``.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = _json_stream_handler(logger)
    if handler is None:
        logger.info(message, extra=fields)
        return
    created = time.time()
    entry = {
        "time": _iso_time(created),
        "level": "info",
        "logger": logger.name,
        "message": message,
        **fields,
    }
    line = orjson.dumps(entry, default=str).decode() + handler.terminator
    try:
        with handler.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            handler.stream.write(line)
            handler.flush()
    except Exception:  # as StreamHandler.emit: report through handleError, never raise
        handler.handleError(logger.makeRecord(logger.name, logging.INFO, "", 0, message, (), None))


def _json_stream_handler(logger: logging.Logger) -> logging.StreamHandler[Any] | None:
    """The one handler an INFO record of ``logger`` reaches, if it is a plain ``StreamHandler``
    with the ``JsonFormatter`` and no filter but :class:`RequestIdFilter`; else ``None``."""
    if logger.filters or logger.disabled:
        return None
    found: logging.StreamHandler[Any] | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if (
                found is not None
                or type(handler) is not logging.StreamHandler
                or type(handler.formatter) is not JsonFormatter
                or handler.level > logging.INFO
                or any(type(f) is not RequestIdFilter for f in handler.filters)
            ):
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found


def log_config(level: str = "info", json: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` mapping for the app and uvicorn (also passed to uvicorn).

    uvicorn's own access log is silenced: the request-context middleware writes one access line
    per request, with its request ID, route, status and duration.
    """
    formatter = "json" if json else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {"()": JsonFormatter},
            "text": {"()": TextFormatter},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": formatter,
                "filters": ["request_id"],
            }
        },
        "loggers": {
            "app": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "mlp_engine": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "uvicorn": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "uvicorn.error": {"level": level.upper(), "handlers": ["stderr"], "propagate": False},
            "uvicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
    }


def configure_logging(level: str = "info", json: bool = True) -> None:
    """Install :func:`log_config` (idempotent; the CLI calls it before starting uvicorn)."""
    logging.config.dictConfig(log_config(level, json))
    logging.captureWarnings(True)
