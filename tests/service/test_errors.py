"""The typed error hierarchy: every service error carries its status, body and headers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from starlette.exceptions import HTTPException

from app.errors import (
    BodyTooLarge,
    Conflict,
    NotFound,
    NotReady,
    PayloadTooLarge,
    ServiceError,
    UnsupportedMediaType,
    field_name,
)
from app.jobs.base import JobError, JobNotFound, JobStateError, QueueFull
from app.storage import files


def test_job_errors_are_service_errors_with_their_status() -> None:
    assert issubclass(JobError, ServiceError)
    missing = JobNotFound("job_x")
    assert isinstance(missing, NotFound)
    assert (missing.status_code, missing.job_id) == (404, "job_x")
    assert missing.body() == {"detail": "job 'job_x' not found", "code": "not_found"}
    state = JobStateError("job 'job_x' already ended (succeeded)")
    assert isinstance(state, Conflict)
    assert (state.status_code, state.body()["code"]) == (409, "conflict")


def test_queue_full_is_429_with_retry_after_in_body_and_header() -> None:
    full = QueueFull(capacity=3, retry_after=0)
    assert full.status_code == 429
    assert full.body()["code"] == "queue_full"
    assert full.body()["retry_after"] == 0
    assert full.response_headers() == {"Retry-After": "1"}  # never ask for a 0 s wait


def test_status_codes_of_the_other_errors() -> None:
    statuses = {
        NotReady("starting"): (503, "not_ready"),
        UnsupportedMediaType("text/xml"): (415, "unsupported_media_type"),
        PayloadTooLarge("too big"): (413, "payload_too_large"),
    }
    for error, (status, code) in statuses.items():
        assert (error.status_code, error.body()["code"]) == (status, code)


def test_body_too_large_is_one_413_for_fastapi_and_for_the_handlers() -> None:
    error = BodyTooLarge(2048)
    assert isinstance(error, PayloadTooLarge)
    assert isinstance(error, HTTPException)  # FastAPI re-raises these while reading a body
    assert error.status_code == 413
    assert error.body() == {
        "detail": "request body too large: the limit is 2048 bytes",
        "code": "payload_too_large",
    }
    assert error.response_headers() == {"Connection": "close"}


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        (("body", "X", 3, 1), "X[3][1]"),
        (("body", "architecture", "hidden_layers", 0), "architecture.hidden_layers[0]"),
        (("body",), "request body"),
        (("query", "fixed"), "query parameter fixed"),
    ],
)
def test_field_name(loc: tuple[str | int, ...], name: str) -> None:
    assert field_name(loc) == name


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTSUP, errno.EBADF])
def test_fsync_dir_tolerates_file_systems_that_refuse_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refuse(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(files.os, "fsync", refuse)
    files.fsync_dir(tmp_path)


def test_fsync_dir_reports_real_io_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(files.os, "fsync", fail)
    with pytest.raises(OSError, match="Input/output"):
        files.fsync_dir(tmp_path)
