"""Job records and the FIFO job queue in SQLite (WAL) at ``<data_dir>/jobs.sqlite3``.

Several server processes (``uvicorn --workers N``) and their job processes share one database,
so every state change is race-free across processes: either a single conditional ``UPDATE``
(``... WHERE status = 'running' AND run_id = ?``) or a ``BEGIN IMMEDIATE`` transaction when it
must read before it writes (claiming, submitting against the capacity, recovery).

Each claim of a job gets a fresh ``run_id``, a fencing token: a job process may write progress
or a final state only while the row is ``running`` and still carries its ``run_id``. A run that
was recovered by another server (its owner looked dead) therefore cannot overwrite the new run.

``owner`` is the server-side runner instance that claimed a running job; it refreshes the job's
``heartbeat_at`` about once a second. A running job whose heartbeat is stale (or whose owner
process is known to be dead) is *released*: re-queued if it has been attempted fewer than
:data:`~app.jobs.core.MAX_ATTEMPTS` times, else failed with code ``interrupted`` (``cancelled``
if a cancel was pending).

Per-epoch history rows live in their own table so a progress write appends a few rows instead of
rewriting a growing JSON document. sqlite3 connections are never shared: one per thread and
process, opened lazily.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from app.jobs import base, core
from app.jobs.base import ERROR_INTERRUPTED, TERMINAL_STATUSES, JobRecord, JobSpec, JobStatus
from app.jobs.core import EventState, FinalState, Progress, Report, Rows

__all__ = ["DB_FILENAME", "Claim", "RunnerIdentity", "SQLiteJobStore"]

DB_FILENAME = "jobs.sqlite3"
SCHEMA_VERSION = 1
_INTERRUPTED_MESSAGE = (
    "the job's process stopped unexpectedly (server crash or kill) twice; it was not retried again"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,  -- FIFO order
    id               TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL,
    spec             TEXT NOT NULL,                      -- JSON of JobSpec
    created_at       REAL NOT NULL,                      -- unix time
    started_at       REAL,
    finished_at      REAL,
    progress         TEXT,                               -- JSON: latest epoch row
    model_id         TEXT,
    error_code       TEXT,
    error_message    TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    run_id           TEXT,                               -- fencing token of the latest run
    owner            TEXT,                               -- runner instance running it
    owner_scope      TEXT,                               -- host / pid namespace of the owner
    owner_pid        INTEGER,                            -- server process of the owner
    pid              INTEGER,                            -- the job process
    heartbeat_at     REAL,                               -- owner's last heartbeat
    updated_at       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_status_seq ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner) WHERE owner IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_key_owner ON jobs (json_extract(spec, '$.owner'), seq);
CREATE TABLE IF NOT EXISTS job_history (
    job_id TEXT NOT NULL,
    epoch  INTEGER NOT NULL,
    row    TEXT NOT NULL,                                -- JSON: {epoch, loss, accuracy?, ...}
    PRIMARY KEY (job_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runners (
    owner        TEXT PRIMARY KEY,
    scope        TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""

# Column values that detach a job from its run (shared by release, requeue and finish).
_DETACH = "owner = NULL, owner_scope = NULL, owner_pid = NULL, pid = NULL, heartbeat_at = NULL"

# A run that died: queued again, or failed `interrupted` after MAX_ATTEMPTS, or cancelled if a
# cancel was pending. SQLite evaluates every CASE against the old row.
_RELEASE_SET = f"""
    status = CASE WHEN cancel_requested THEN 'cancelled'
                  WHEN attempts >= :max_attempts THEN 'failed' ELSE 'queued' END,
    error_code = CASE WHEN cancel_requested THEN NULL
                      WHEN attempts >= :max_attempts THEN '{ERROR_INTERRUPTED}' ELSE NULL END,
    error_message = CASE WHEN cancel_requested THEN NULL
                         WHEN attempts >= :max_attempts THEN :message ELSE NULL END,
    finished_at = CASE WHEN cancel_requested OR attempts >= :max_attempts THEN :now ELSE NULL END,
    started_at = CASE WHEN cancel_requested OR attempts >= :max_attempts
                      THEN started_at ELSE NULL END,
    {_DETACH}, updated_at = :now
"""


@dataclass(frozen=True)
class RunnerIdentity:
    """A server-side runner instance: ``owner`` is unique, ``scope`` names its host and PID
    namespace (so another runner in the same scope can tell whether ``pid`` is alive)."""

    owner: str
    scope: str
    pid: int


@dataclass(frozen=True)
class Claim:
    """A job just claimed by a runner: start a process for it with this ``run_id``."""

    job_id: str
    run_id: str
    attempts: int


def _error(row: sqlite3.Row) -> dict[str, str] | None:
    if row["error_code"] is None:
        return None
    return {"code": row["error_code"], "message": row["error_message"] or ""}


class SQLiteJobStore:
    """Job records, the FIFO queue and per-epoch history in one SQLite database (WAL mode)."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0) -> None:
        """Open (and create if needed) the database at ``path``; no connection is kept open
        for the calling thread beyond what it uses."""
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: builtins.list[sqlite3.Connection] = []
        self._generation = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._create_schema()

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (reopened after :meth:`close` or in a new process)."""
        cached = getattr(self._local, "conn", None)
        if cached is not None and cached[0] == (os.getpid(), self._generation):
            return cast(sqlite3.Connection, cached[1])
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit; transactions are explicit (BEGIN IMMEDIATE)
            check_same_thread=False,  # only so close() may close it; used by one thread only
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # a 202-accepted job survives a power cut
        with self._lock:
            self._connections.append(conn)
        self._local.conn = ((os.getpid(), self._generation), conn)
        return conn

    def close(self) -> None:
        """Close every connection this store opened in this process (they reopen on use)."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._generation += 1
        for conn in connections:
            with contextlib.suppress(sqlite3.Error):  # a broken connection
                conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (no upgrade deadlocks)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several queries."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _create_schema(self) -> None:
        with self._write() as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{DB_FILENAME} has schema version {version}; this server knows "
                    f"{SCHEMA_VERSION} (downgrade not supported)"
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
            if "cancel_keep" not in columns:  # cancel?keep=true, added to existing databases
                conn.execute("ALTER TABLE jobs ADD COLUMN cancel_keep INTEGER NOT NULL DEFAULT 0")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- reading -----------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The full record of one job (with its history), or None."""
        with self._read() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            history = [
                json.loads(r[0])
                for r in conn.execute(
                    "SELECT row FROM job_history WHERE job_id = ? ORDER BY epoch", (job_id,)
                )
            ]
        return self._record(row, history)

    def list(
        self, status: JobStatus | None = None, limit: int = 100, owner: str | None = None
    ) -> builtins.list[JobRecord]:
        """Newest first, optionally filtered by status and by the submitting key's ``owner``
        identity (in the spec). ``history`` is left empty (a listing would otherwise carry
        every epoch of every job); :meth:`get` has it."""
        where: builtins.list[str] = []
        params: builtins.list[str] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if owner is not None:
            where.append("json_extract(spec, '$.owner') = ?")
            params.append(owner)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._conn().execute(
            f"SELECT * FROM jobs {clause}ORDER BY seq DESC LIMIT ?",
            (*params, core.clamp_limit(limit)),
        )
        return [self._record(row, []) for row in rows.fetchall()]

    def queue_order(self) -> builtins.list[str]:
        """IDs of the queued jobs in the order they will be claimed (FIFO by submission)."""
        rows = self._conn().execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq")
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        """Number of jobs per status (every status present, zeros included)."""
        result: dict[str, int] = dict.fromkeys(core.JOB_STATUSES, 0)
        for status, count in self._conn().execute(
            "SELECT status, COUNT(*) FROM jobs GROUP BY status"
        ):
            result[status] = count
        return result

    def exists(self, job_id: str) -> bool:
        """True if the job exists (a cheap check, without its history)."""
        return self.status(job_id) is not None

    def status(self, job_id: str) -> str | None:
        """The job's status, or None if unknown."""
        row = self._conn().execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else cast(str, row[0])

    def has_queued(self) -> bool:
        """True if some job waits (a cheap read before taking the write lock to claim)."""
        row = self._conn().execute("SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1")
        return row.fetchone() is not None

    def owned_running(self, owner: str) -> dict[str, tuple[str, bool]]:
        """``{job_id: (run_id, cancel_requested)}`` of the running jobs ``owner`` holds."""
        rows = self._conn().execute(
            "SELECT id, run_id, cancel_requested FROM jobs WHERE owner = ? AND status = 'running'",
            (owner,),
        )
        return {r["id"]: (r["run_id"], bool(r["cancel_requested"])) for r in rows}

    def foreign_owners(self, exclude_owner: str) -> builtins.list[RunnerIdentity]:
        """Owners, other than ``exclude_owner``, of running jobs."""
        rows = self._conn().execute(
            "SELECT DISTINCT owner, owner_scope, owner_pid FROM jobs "
            "WHERE status = 'running' AND owner IS NOT NULL AND owner != ?",
            (exclude_owner,),
        )
        return [RunnerIdentity(r[0], r[1] or "", int(r[2] or 0)) for r in rows]

    def event_state(self, job_id: str, after_epoch: int) -> EventState | None:
        """The job's state and its history rows after ``after_epoch`` (the cursor: the last
        epoch sent), from one snapshot (a terminal state comes with every row before it)."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT status, run_id, model_id, error_code, error_message FROM jobs WHERE id = ?",
                (job_id,),
            ).fetchone()
            if row is None:
                return None
            rows = [
                json.loads(r[0])
                for r in conn.execute(
                    "SELECT row FROM job_history WHERE job_id = ? AND epoch > ? ORDER BY epoch",
                    (job_id, after_epoch),
                )
            ]
        cursor = max([after_epoch, *(int(r["epoch"]) for r in rows)])
        return EventState(row["status"], row["run_id"], row["model_id"], _error(row), rows, cursor)

    def _record(self, row: sqlite3.Row, history: builtins.list[dict[str, Any]]) -> JobRecord:
        return JobRecord(
            id=row["id"],
            status=row["status"],
            created_at=datetime.fromtimestamp(row["created_at"], UTC),
            spec=JobSpec(**json.loads(row["spec"])),
            started_at=core.from_timestamp(row["started_at"]),
            finished_at=core.from_timestamp(row["finished_at"]),
            progress=json.loads(row["progress"]) if row["progress"] else None,
            history=history,
            model_id=row["model_id"],
            error=_error(row),
            attempts=row["attempts"],
            cancel_requested=bool(row["cancel_requested"]),
            cancel_keep=bool(row["cancel_keep"]),
        )

    # -- submitting and cancelling -----------------------------------------------------------

    def insert(self, job_id: str, spec: JobSpec, *, capacity: int, concurrency: int) -> JobRecord:
        """Queue a new job unless ``running + queued >= capacity`` (then :class:`QueueFull`
        with an estimate of when a slot frees up)."""
        now = time.time()
        with self._write() as conn:
            (active,) = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchone()
            if active >= capacity:
                raise base.QueueFull(capacity, self._retry_after(conn, now, concurrency))
            try:
                conn.execute(
                    "INSERT INTO jobs (id, status, spec, created_at, updated_at) "
                    "VALUES (?, 'queued', ?, ?, ?)",
                    (job_id, core.dumps(asdict(spec)), now, now),
                )
            except sqlite3.IntegrityError:
                raise base.JobStateError(f"job {job_id!r} already exists") from None
        return JobRecord(
            id=job_id, status="queued", created_at=datetime.fromtimestamp(now, UTC), spec=spec
        )

    @staticmethod
    def _retry_after(conn: sqlite3.Connection, now: float, concurrency: int) -> int:
        """:func:`~app.jobs.core.estimate_retry_after` over the last 20 finished runs."""
        durations = [
            r[0]
            for r in conn.execute(
                "SELECT finished_at - started_at FROM jobs WHERE finished_at IS NOT NULL "
                "AND started_at IS NOT NULL ORDER BY seq DESC LIMIT 20"
            )
        ]
        (oldest_start,) = conn.execute(
            "SELECT MIN(started_at) FROM jobs WHERE status = 'running'"
        ).fetchone()
        return core.estimate_retry_after(durations, oldest_start, now, concurrency)

    def request_cancel(self, job_id: str, keep: bool = False) -> JobRecord:
        """Queued: cancelled at once. Running: ``cancel_requested`` is set (the owner stops the
        process), and ``cancel_keep`` with ``keep`` (the run then saves its model). Terminal:
        :class:`JobStateError`. Unknown: :class:`JobNotFound`."""
        conn = self._conn()
        for _ in range(3):  # a queued job may start running between the two updates
            now = time.time()
            cur = conn.execute(
                "UPDATE jobs SET status = 'cancelled', cancel_requested = 1, finished_at = ?, "
                "updated_at = ? WHERE id = ? AND status = 'queued'",
                (now, now, job_id),
            )
            if cur.rowcount == 0:
                cur = conn.execute(
                    "UPDATE jobs SET cancel_requested = 1, cancel_keep = MAX(cancel_keep, ?), "
                    "updated_at = ? WHERE id = ? AND status = 'running'",
                    (int(keep), now, job_id),
                )
            record = self.get(job_id)
            if record is None:
                raise base.JobNotFound(job_id)
            if cur.rowcount == 1:
                return record
            if record.status in TERMINAL_STATUSES:
                raise base.JobStateError(f"job {job_id!r} already ended ({record.status})")
        raise base.JobStateError(f"job {job_id!r} changed state while being cancelled; try again")

    # -- the runner's side -------------------------------------------------------------------

    def claim(self, owner: RunnerIdentity, max_running: int) -> Claim | None:
        """Atomically move the oldest queued job to ``running`` for ``owner``, unless
        ``max_running`` jobs already run (counted over every process sharing the database)."""
        now = time.time()
        with self._write() as conn:
            (running,) = conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE status = 'running'"
            ).fetchone()
            if running >= max_running:
                return None
            row = conn.execute(
                "SELECT id, attempts FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            job_id, run_id = row["id"], uuid.uuid4().hex
            conn.execute(
                "UPDATE jobs SET status = 'running', attempts = attempts + 1, run_id = ?, "
                "owner = ?, owner_scope = ?, owner_pid = ?, heartbeat_at = ?, started_at = ?, "
                "finished_at = NULL, progress = NULL, pid = NULL, updated_at = ? "
                "WHERE id = ? AND status = 'queued'",
                (run_id, owner.owner, owner.scope, owner.pid, now, now, now, job_id),
            )
            conn.execute("DELETE FROM job_history WHERE job_id = ?", (job_id,))
        return Claim(job_id, run_id, row["attempts"] + 1)

    def set_pid(self, job_id: str, run_id: str, pid: int) -> bool:
        """Record the job process of a run (False if the run is no longer current)."""
        cur = self._conn().execute(
            "UPDATE jobs SET pid = ?, updated_at = ? "
            "WHERE id = ? AND run_id = ? AND status = 'running'",
            (pid, time.time(), job_id, run_id),
        )
        return cur.rowcount == 1

    def heartbeat(self, owner: RunnerIdentity) -> None:
        """Refresh ``owner``'s heartbeat and that of every job it runs (a real write, so a
        success also proves the database is writable)."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runners (owner, scope, pid, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (owner) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (owner.owner, owner.scope, owner.pid, now, now),
            )
            conn.execute(
                "UPDATE jobs SET heartbeat_at = ? WHERE owner = ? AND status = 'running'",
                (now, owner.owner),
            )

    def remove_runner(self, owner: str) -> None:
        """Forget a runner instance that stops cleanly."""
        self._conn().execute("DELETE FROM runners WHERE owner = ?", (owner,))

    def recover(
        self,
        *,
        stale_before: float,
        dead_owners: Sequence[str] = (),
        exclude_owner: str | None = None,
        max_attempts: int = core.MAX_ATTEMPTS,
    ) -> builtins.list[tuple[str, str]]:
        """Release running jobs whose owner is dead: heartbeat older than ``stale_before``
        (unix time) or owner in ``dead_owners``. Returns ``[(job_id, new_status)]``."""
        now = time.time()
        marks = ",".join("?" * len(dead_owners))
        dead_clause = f" OR owner IN ({marks})" if dead_owners else ""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, run_id FROM jobs WHERE status = 'running' AND owner IS NOT ? "
                f"AND (owner IS NULL OR heartbeat_at IS NULL OR heartbeat_at < ?{dead_clause})",
                (exclude_owner, stale_before, *dead_owners),
            ).fetchall()
            released = []
            for row in rows:
                status = self._release(conn, row["id"], row["run_id"], now, max_attempts)
                if status is not None:
                    released.append((row["id"], status))
            conn.execute("DELETE FROM runners WHERE heartbeat_at < ?", (now - 86400.0,))
        return released

    def release(
        self, job_id: str, run_id: str, max_attempts: int = core.MAX_ATTEMPTS
    ) -> str | None:
        """A run's process died without a final state: re-queue the job, or fail it with
        ``interrupted`` after ``max_attempts`` (``cancelled`` if a cancel was pending).
        Returns the new status, or None if the run was no longer current."""
        with self._write() as conn:
            return self._release(conn, job_id, run_id, time.time(), max_attempts)

    @staticmethod
    def _release(
        conn: sqlite3.Connection, job_id: str, run_id: str | None, now: float, max_attempts: int
    ) -> str | None:
        row = conn.execute(
            f"UPDATE jobs SET {_RELEASE_SET} "
            "WHERE id = :id AND run_id IS :run_id AND status = 'running' RETURNING status",
            {
                "id": job_id,
                "run_id": run_id,
                "now": now,
                "max_attempts": max_attempts,
                "message": _INTERRUPTED_MESSAGE,
            },
        ).fetchall()
        return cast(str, row[0][0]) if row else None

    def requeue(self, job_id: str, run_id: str) -> str | None:
        """Put a run that was stopped on purpose (server shutdown) back in the queue without
        counting the attempt (``cancelled`` if a cancel was pending). Returns the new status,
        or None if the run was no longer current."""
        now = time.time()
        rows = (
            self._conn()
            .execute(
                "UPDATE jobs SET "
                "status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, "
                "attempts = CASE WHEN cancel_requested THEN attempts "
                "ELSE MAX(attempts - 1, 0) END, "
                "finished_at = CASE WHEN cancel_requested THEN :now ELSE NULL END, "
                "started_at = CASE WHEN cancel_requested THEN started_at ELSE NULL END, "
                f"{_DETACH}, updated_at = :now "
                "WHERE id = :id AND run_id = :run_id AND status = 'running' RETURNING status",
                {"id": job_id, "run_id": run_id, "now": now},
            )
            .fetchall()
        )
        return cast(str, rows[0][0]) if rows else None

    # -- the job process's side --------------------------------------------------------------

    def begin_run(self, job_id: str, run_id: str, pid: int) -> JobRecord | None:
        """Called by the job process when it starts: records its pid and start time. None if
        the run is no longer current (cancelled or recovered meanwhile)."""
        now = time.time()
        cur = self._conn().execute(
            "UPDATE jobs SET pid = ?, started_at = ?, updated_at = ? "
            "WHERE id = ? AND run_id = ? AND status = 'running'",
            (pid, now, now, job_id, run_id),
        )
        return self.get(job_id) if cur.rowcount == 1 else None

    def report(self, job_id: str, run_id: str, rows: Rows, progress: Progress) -> Report:
        """Append history rows and set the latest progress, if the run is still current."""
        now = time.time()
        with self._write() as conn:
            result = conn.execute(
                "UPDATE jobs SET progress = COALESCE(?, progress), updated_at = ? "
                "WHERE id = ? AND run_id = ? AND status = 'running' "
                "RETURNING cancel_requested, cancel_keep",
                (None if progress is None else core.dumps(progress), now, job_id, run_id),
            ).fetchall()
            if not result:
                return Report(owned=False, cancel_requested=False)
            self._append_history(conn, job_id, rows)
        cancel = bool(result[0][0])
        return Report(owned=True, cancel_requested=cancel, keep=cancel and bool(result[0][1]))

    def finish(self, job_id: str, run_id: str, final: FinalState) -> bool:
        """Write a run's final state (with its last history rows) if the run is still current.
        Returns False when it was not (the job was recovered, or already ended)."""
        error, progress = final.error, final.progress
        now = time.time()
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, model_id = ?, error_code = ?, "
                f"error_message = ?, progress = COALESCE(?, progress), {_DETACH}, updated_at = ? "
                "WHERE id = ? AND run_id = ? AND status = 'running'",
                (
                    final.status,
                    now,
                    final.model_id,
                    None if error is None else error["code"],
                    None if error is None else error["message"],
                    None if progress is None else core.dumps(progress),
                    now,
                    job_id,
                    run_id,
                ),
            )
            if cur.rowcount != 1:
                return False
            self._append_history(conn, job_id, final.rows)
        return True

    @staticmethod
    def _append_history(conn: sqlite3.Connection, job_id: str, rows: Rows) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO job_history (job_id, epoch, row) VALUES (?, ?, ?)",
            ((job_id, int(row["epoch"]), core.dumps(row)) for row in rows),
        )
