"""Training jobs: the runner interface and its back-ends."""

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
