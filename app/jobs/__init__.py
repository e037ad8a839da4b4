"""Training jobs: the runner interface and its back-ends.

The names below are imported on first use (PEP 562), so ``import app.jobs.base`` (or
``app.jobs.core``) loads neither NumPy nor a store nor a runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.jobs.base import (
        TERMINAL_STATUSES,
        JobError,
        JobEvent,
        JobNotFound,
        JobRecord,
        JobRunner,
        JobSpec,
        JobStateError,
        JobStatus,
        QueueFull,
    )
    from app.jobs.embedded import EmbeddedRunner
    from app.jobs.sqlite_store import SQLiteJobStore

_HOMES = {
    "TERMINAL_STATUSES": "app.jobs.base",
    "JobError": "app.jobs.base",
    "JobEvent": "app.jobs.base",
    "JobNotFound": "app.jobs.base",
    "JobRecord": "app.jobs.base",
    "JobRunner": "app.jobs.base",
    "JobSpec": "app.jobs.base",
    "JobStateError": "app.jobs.base",
    "JobStatus": "app.jobs.base",
    "QueueFull": "app.jobs.base",
    "EmbeddedRunner": "app.jobs.embedded",
    "SQLiteJobStore": "app.jobs.sqlite_store",
}

__all__ = [
    "TERMINAL_STATUSES",
    "EmbeddedRunner",
    "JobError",
    "JobEvent",
    "JobNotFound",
    "JobRecord",
    "JobRunner",
    "JobSpec",
    "JobStateError",
    "JobStatus",
    "QueueFull",
    "SQLiteJobStore",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
