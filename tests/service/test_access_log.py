"""The access line: ``app.logging.log_access`` writes the same JSON line as ``logger.info`` with
the ``JsonFormatter``, and ``MLP_ACCESS_LOG=false`` leaves it out but keeps the request ID on the
response and on error lines."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.logging import JsonFormatter, RequestIdFilter, log_access
from app.main import create_app
from app.settings import Settings

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
FIELDS: dict[str, Any] = {
    "request_id": "rid-1",
    "method": "POST",
    "path": "/v1/models/mdl_x/predict",
    "route": "/v1/models/{model_id}/predict",
    "status": 200,
    "duration_ms": 0.25,
    "client": None,
}


@pytest.fixture
def configured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """``t_access.x`` below ``t_access``, whose one handler is a JSON stream handler (as
    ``log_config`` sets up ``app``); restored afterwards."""
    parent, child = logging.getLogger("t_access"), logging.getLogger("t_access.x")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    parent.addHandler(handler)
    parent.setLevel(logging.INFO)
    parent.propagate = False
    try:
        yield child, stream
    finally:
        parent.removeHandler(handler)
        parent.setLevel(logging.NOTSET)
        parent.propagate = True


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_direct_line_is_the_formatters_line(
    configured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = configured
    message = "POST /v1/models/mdl_x/predict 200"
    log_access(logger, message, dict(FIELDS))
    logger.info(message, extra=dict(FIELDS))  # the ordinary path, through a LogRecord
    direct, ordinary = _lines(stream)
    for line in (direct, ordinary):
        assert ISO_TIME.fullmatch(line.pop("time"))
    assert list(direct.items()) == list(ordinary.items())  # same keys, values and order
    assert direct["logger"] == "t_access.x" and direct["request_id"] == "rid-1"


def test_other_set_ups_get_an_ordinary_record(
    configured: tuple[logging.Logger, io.StringIO], caplog: pytest.LogCaptureFixture
) -> None:
    logger, stream = configured
    logging.getLogger("t_access").propagate = True  # now root's handlers (caplog's) see it too
    with caplog.at_level(logging.INFO, logger="t_access.x"):
        log_access(logger, "GET / 200", dict(FIELDS))
    records = [r for r in caplog.records if r.name == "t_access.x"]
    assert records and all(r.getMessage() == "GET / 200" for r in records)
    assert all(getattr(r, "request_id", None) == "rid-1" for r in records)
    assert _lines(stream)[0]["route"] == FIELDS["route"]  # and the stream handler had it too


def test_nothing_is_written_below_info(configured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = configured
    logging.getLogger("t_access").setLevel(logging.WARNING)
    log_access(logger, "GET / 200", dict(FIELDS))
    assert stream.getvalue() == ""


@pytest.mark.anyio
async def test_access_log_off_keeps_request_ids(
    settings: Settings, serve_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"access_log": False})
    app = create_app(settings)

    def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/v1/boom", boom)
    async with serve_app(settings, app) as client:
        client: httpx.AsyncClient  # type: ignore[no-redef]
        with caplog.at_level(logging.INFO):
            ok = await client.get("/health", headers={"X-Request-ID": "rid-ok"})
            failed = await client.get("/v1/boom", headers={"X-Request-ID": "rid-500"})
    assert ok.headers["x-request-id"] == "rid-ok" and failed.status_code == 500
    assert not [r for r in caplog.records if r.name == "app.access"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and all(
        json.loads(JsonFormatter().format(r)).get("request_id") == "rid-500" for r in errors
    )


def test_the_setting_reads_mlp_access_log(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).access_log is True  # type: ignore[call-arg]
    monkeypatch.setenv("MLP_ACCESS_LOG", "false")
    assert Settings(_env_file=None).access_log is False  # type: ignore[call-arg]


def test_text_logs_escape_control_characters_from_user_text() -> None:
    """Issue 18, finding 9: with ``MLP_LOG_JSON=false`` a path holding ``%0a`` or an ANSI
    escape was printed raw: a forged second log line, or a coloured terminal."""
    import logging

    from app.logging import TextFormatter

    path = "/v1/models/x\n2026-12-04 00:00:00 INFO    app.access [forged] GET / 200\x1b[31m"
    record = logging.LogRecord(
        "app.access", logging.INFO, __file__, 1, "GET %s %d", (path, 404), None
    )
    record.route = "<unmatched>\r"
    line = TextFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "x\\n2026-12-04" in line and "\\x1b[31m" in line
    assert record.getMessage() == f"GET {path} 404"  # the record itself is left as it was
