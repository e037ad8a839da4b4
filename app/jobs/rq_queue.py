"""What the RQ back-end's API side and worker side share: the queue's constants and
:func:`enqueue_job` (the one place that decides how a service job is put on RQ)."""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping
from typing import Any

from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RQJobStatus

__all__ = [
    "DEFAULT_QUEUE",
    "FAILURE_CALLBACK",
    "FAILURE_TTL",
    "JOB_FUNCTION",
    "LIVE_RQ_STATUSES",
    "RESULT_TTL",
    "STALE_AFTER",
    "enqueue_job",
    "requeue_ended",
]

logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "mlp-jobs"
# The RQ job function and failure callback, by import path (RQ stores these strings).
JOB_FUNCTION = "app.jobs.rq_worker_side.run_rq_job"
FAILURE_CALLBACK = "app.jobs.rq_worker_side.on_rq_failure"
# RQ's copy of a finished / failed job (for `rq info` and debugging); the service's record,
# which the API shows, has no expiry.
RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
# Another delivery of a job may take over a run whose heartbeat is older than this (seconds).
STALE_AFTER = 10.0
# RQ statuses in which the RQ job will still be (or is being) delivered to a worker.
LIVE_RQ_STATUSES = frozenset(
    {RQJobStatus.QUEUED, RQJobStatus.STARTED, RQJobStatus.SCHEDULED, RQJobStatus.DEFERRED}
)


def enqueue_job(
    queue: Queue,
    job_id: str,
    *,
    timeout: float,
    kwargs: Mapping[str, Any],
    replace: bool = False,
) -> Job:
    """Put the service's job ``job_id`` on RQ: JSON serializer (the queue's), RQ job ID = the
    service's job ID, a hard timeout, one retry after a worker death, :func:`on_rq_failure`
    for abandoned runs, and no TTL while queued. ``replace`` first deletes an RQ job of that ID
    that ended (its record was put back in the queue)."""
    if replace:
        with contextlib.suppress(NoSuchJobError):
            Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).delete()
    return queue.enqueue_call(
        JOB_FUNCTION,
        args=(job_id,),
        kwargs=dict(kwargs),
        timeout=max(1, math.ceil(timeout)),
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        ttl=None,
        job_id=job_id,
        retry=Retry(max=1),
        on_failure=Callback(FAILURE_CALLBACK),
        description=f"train {job_id}",
        unique=True,
    )


def requeue_ended(queue: Queue, job: Job) -> None:
    """Enqueue again an RQ job that ended while its record went back to ``queued``."""
    enqueue_job(queue, job.id, timeout=float(job.timeout or 1), kwargs=job.kwargs, replace=True)
    logger.info("job %s: back in RQ queue %s", job.id, queue.name)
