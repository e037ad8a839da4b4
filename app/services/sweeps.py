"""Hyper-parameter sweeps: create, read, list, cancel, follow; and the loop that advances them.

A sweep's trials are ordinary jobs (``JobSpec.sweep_id``) submitted through the configured runner.
:meth:`SweepService.advance` is the one step that moves a sweep on: read the document, read its
jobs' states, give job IDs to the next slots (at most ``max_parallel`` active), compare-and-set the
document, then submit the jobs whose IDs are recorded but unknown to the runner. It is idempotent
and safe to run in several API processes at once (see :mod:`app.services.sweep_state`). It runs
after each change the API makes, on every read, and every ``MLP_SWEEP_POLL_SECONDS`` in each API
process (:class:`SweepDriver`), so a restarted server picks its sweeps up where they were.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import math
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread

from app.errors import Conflict
from app.jobs.base import (
    TERMINAL_STATUSES,
    JobNotFound,
    JobRunner,
    JobStateError,
    QueueFull,
)
from app.jobs.sweep_store import SQLITE_FILENAME, RedisSweepStore, SQLiteSweepStore, SweepStore
from app.owners import OPEN, Owner, require_visible, visible
from app.schemas.sweeps import SweepCreate
from app.services import sweep_state
from app.services.datasets import owned_dataset
from app.services.sweep_plan import plan_sweep
from app.settings import Settings
from app.storage.datasets import DatasetStore
from app.storage.models import ModelStore

__all__ = ["SweepDriver", "SweepEvent", "SweepService", "open_sweep_store", "start_sweeps"]

logger = logging.getLogger(__name__)

Doc = dict[str, Any]
_EVENTS_POLL_SECONDS = 0.25
_CAS_ATTEMPTS = 8
_MAX_LISTED = 10_000  # sweeps read to filter a key's own out of (newest first)


@dataclass(frozen=True)
class SweepEvent:
    """One server-sent event: ``trial`` (data = the trial) or ``status`` (the whole sweep)."""

    event: Literal["trial", "status"]
    data: dict[str, Any]


def open_sweep_store(runner: JobRunner, data_dir: Path) -> SweepStore:
    """Redis when the runner is RQ (its connection and key prefix), else SQLite in the data dir."""
    connection = getattr(runner, "connection", None)
    if connection is not None:
        return RedisSweepStore(connection, prefix=str(getattr(runner, "prefix", "mlp")))
    return SQLiteSweepStore(data_dir / SQLITE_FILENAME)


class SweepService:
    """What the sweep routes do (plain, blocking calls: run them in the thread pool)."""

    def __init__(
        self,
        settings: Settings,
        datasets: DatasetStore,
        models: ModelStore,
        jobs: JobRunner,
        store: SweepStore,
    ) -> None:
        self.settings = settings
        self.datasets = datasets
        self.models = models
        self.jobs = jobs
        self.store = store

    def create(self, body: SweepCreate, owner: Owner = OPEN) -> Doc:
        """Check and store a new sweep, then submit its first jobs -> its public view. The
        sweep and its jobs belong to ``owner``; another key's dataset is not found (404)."""
        meta = owned_dataset(self.datasets, owner, body.dataset_id)
        if self.datasets.quota is not None:  # its models will need room: none left is a 507
            self.datasets.quota.check(owner.name, 1)
        doc = plan_sweep(body, meta, self.settings)
        doc["owner"] = owner.name
        self.store.create(doc)
        logger.info("sweep %s: %d trials on %s", doc["id"], len(doc["trials"]), meta.id)
        return sweep_state.public(self.advance(doc["id"]))

    def check_owner(self, sweep_id: str, owner: Owner) -> None:
        """404 for an unknown sweep or another key's (as if unknown)."""
        doc, _ = self.store.get(sweep_id)
        require_visible(owner, doc.get("owner"), "sweep", sweep_id)

    def get(self, sweep_id: str, owner: Owner = OPEN) -> Doc:
        self.check_owner(sweep_id, owner)
        return sweep_state.public(self.advance(sweep_id))

    def list(self, limit: int = 100, owner: Owner = OPEN) -> builtins.list[Doc]:
        """The newest ``limit`` sweeps ``owner`` may see."""
        docs = self.store.list(limit if owner.sees_all else _MAX_LISTED)
        mine = [doc for doc in docs if visible(owner, doc.get("owner"))][:limit]
        return [sweep_state.public(doc) for doc in mine]

    def cancel(self, sweep_id: str, owner: Owner = OPEN) -> Doc:
        """Ask every job of the sweep to stop; 409 once the sweep has ended."""
        self.check_owner(sweep_id, owner)
        for _ in range(_CAS_ATTEMPTS):
            doc, version = self.store.get(sweep_id)
            if doc["status"] in TERMINAL_STATUSES:
                raise Conflict(f"sweep {sweep_id!r} already ended ({doc['status']})")
            if doc["cancel_requested"]:
                break
            doc["cancel_requested"] = True
            if self.store.replace(sweep_id, version, doc, active=True):
                break
        return sweep_state.public(self.advance(sweep_id))

    # -- advancing ---------------------------------------------------------------------------

    def advance(self, sweep_id: str) -> Doc:
        """One idempotent step (see the module docstring) -> the current document."""
        doc, version = self.store.get(sweep_id)
        for _ in range(_CAS_ATTEMPTS):
            if doc["status"] in TERMINAL_STATUSES:
                return doc
            new = sweep_state.advance(doc, self._job_state, self._score)
            active = new["status"] not in TERMINAL_STATUSES
            if new == doc or self.store.replace(sweep_id, version, new, active=active):
                self._submit_pending(new)
                if new["cancel_requested"]:
                    self._cancel_jobs(new)
                return new
            doc, version = self.store.get(sweep_id)  # another process moved it on: again
        return doc

    def advance_all(self) -> None:
        """Advance every sweep that has not ended (errors are logged, one sweep at a time)."""
        try:
            active = self.store.active()
        except Exception as exc:  # e.g. Redis is down: the next round retries
            logger.warning("sweeps: could not list the running sweeps (%s)", exc)
            return
        for sweep_id in active:
            try:
                self.advance(sweep_id)
            except Exception:
                logger.exception("sweep %s: advancing failed (will retry)", sweep_id)

    def _job_state(self, job_id: str) -> tuple[str, str | None] | None:
        try:
            record = self.jobs.get(job_id)
        except JobNotFound:
            return None
        return record.status, record.model_id

    def _score(self, model_id: str, split: str, metric: str) -> float | None:
        """The model's ``metric`` on its ``split`` (``test``: the CV fold), or None."""
        try:
            evaluation = self.models.get(model_id).evaluation or {}
        except Exception:
            logger.warning("sweep: model %s could not be read for its score", model_id)
            return None
        value = (evaluation.get(split) or {}).get(metric)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        return None

    def _submit_pending(self, doc: Doc) -> None:
        """Submit the jobs whose IDs the document holds but the runner does not know yet."""
        if doc["cancel_requested"]:
            return
        submitted = []
        for slot in [*doc["slots"], *([doc["refit"]] if doc.get("refit") else [])]:
            if slot["status"] != "pending":
                continue
            try:
                self.jobs.submit(sweep_state.slot_spec(doc, slot), slot["job_id"])
            except JobStateError:  # another process submitted it first
                continue
            except QueueFull:
                logger.info("sweep %s: the job queue is full; retrying later", doc["id"])
                break
            submitted.append(slot["job_id"])
        if submitted and self.store.get(doc["id"])[0]["cancel_requested"]:
            self._cancel_ids(submitted)  # cancelled while submitting: stop them too

    def _cancel_jobs(self, doc: Doc) -> None:
        slots = [*doc["slots"], *([doc["refit"]] if doc.get("refit") else [])]
        self._cancel_ids([s["job_id"] for s in slots if s["status"] in ("queued", "running")])

    def _cancel_ids(self, job_ids: builtins.list[str]) -> None:
        for job_id in job_ids:
            with contextlib.suppress(JobStateError, JobNotFound):  # it ended meanwhile
                self.jobs.cancel(job_id)

    # -- events ------------------------------------------------------------------------------

    async def events(self, sweep_id: str) -> AsyncIterator[SweepEvent]:
        """A ``trial`` event per ended trial (in the order they ended, from the start), then one
        ``status`` event with the whole sweep; ends when the sweep has ended."""
        sent = 0
        while True:
            doc = await anyio.to_thread.run_sync(self.advance, sweep_id)
            for index in doc["ended"][sent:]:
                yield SweepEvent("trial", sweep_state.trial_view(doc, index))
            sent = len(doc["ended"])
            if doc["status"] in TERMINAL_STATUSES:
                yield SweepEvent("status", sweep_state.public(doc))
                return
            await anyio.sleep(_EVENTS_POLL_SECONDS)


class SweepDriver:
    """A thread advancing every running sweep every ``interval`` seconds."""

    def __init__(self, service: SweepService, interval: float) -> None:
        self.service = service
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mlp-sweeps", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.service.store.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.service.advance_all()


def start_sweeps(app: Any, settings: Settings, runner: JobRunner) -> SweepDriver:
    """Build the sweep service on ``app.state`` (the stores must be open), advance every sweep
    once (a restart picks them up), and start the driver thread."""
    store = open_sweep_store(runner, Path(settings.data_dir))
    service = SweepService(settings, app.state.dataset_store, app.state.model_store, runner, store)
    service.advance_all()
    app.state.sweeps = service
    driver = SweepDriver(service, settings.sweep_poll_seconds)
    driver.start()
    return driver
