"""Job records, per-epoch history and status indexes in Redis, shared by every API process and
every RQ worker (the RQ back-end's counterpart of :mod:`app.jobs.sqlite_store`).

Keys (``P`` is the prefix, ``mlp`` by default); none of them expires, so a job the API shows is
never lost to a TTL:

``P:job:<id>``            hash: the record (status, spec, times, progress, error, attempts, ...)
``P:job:<id>:history``    list: one JSON row per reported epoch of the current run
``P:jobs``                sorted set of every job ID by submission sequence (newest = highest)
``P:jobs:<status>``       sorted set per status, same scores (listing, counts, capacity)
``P:owner:<name>:jobs``   sorted set of the jobs submitted by one API key's owner identity
``P:seq``                 the submission counter
``P:durations``           the last 20 run durations in seconds (for ``Retry-After``)

Every state change is one Lua script, so it is atomic across processes and hosts. As in SQLite,
each run of a job carries a ``run_id`` (on RQ workers: the RQ execution ID); a run may write
progress or a final state only while the job is ``running`` under its ``run_id``, so a run that
was given up for dead can never overwrite the run that replaced it.

The store accepts a client with or without ``decode_responses`` (RQ needs raw bytes, so a worker
shares its RQ connection with the store).
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Literal, cast

import redis

from app.jobs import base, core
from app.jobs.base import (
    ERROR_TIMEOUT,
    ERROR_WORKER_LOST,
    TERMINAL_STATUSES,
    JobRecord,
    JobSpec,
    JobStatus,
)
from app.jobs.core import EventState, FinalState, Progress, Report, Rows

__all__ = ["DEFAULT_PREFIX", "BeginResult", "RedisJobStore", "SettleReason"]

DEFAULT_PREFIX = "mlp"
SettleReason = Literal["lost", "stopped", "timeout"]
BeginResult = Literal["ok", "busy", "skip"]

_WORKER_LOST_MESSAGE = (
    "the worker running the job stopped unexpectedly (crash, kill or lost connection) twice; "
    "it was not retried again"
)
# Shared by every script: ARGV[1] is the key prefix, ARGV[2] the job's ID.
_PRELUDE = """
local P = ARGV[1]
local function jkey(id) return P .. ':job:' .. id end
local id = ARGV[2]
local key = jkey(id)
local function set_status(id, key, new)
  local old = redis.call('HGET', key, 'status')
  local seq = redis.call('HGET', key, 'seq')
  if old then redis.call('ZREM', P .. ':jobs:' .. old, id) end
  redis.call('ZADD', P .. ':jobs:' .. new, seq, id)
  redis.call('HSET', key, 'status', new)
end
local function current(key, run_id)
  return redis.call('HGET', key, 'status') == 'running'
    and redis.call('HGET', key, 'run_id') == run_id
end
local function push_rows(key, first)
  local i = first
  while i <= #ARGV do
    local last = math.min(i + 499, #ARGV)
    redis.call('RPUSH', key .. ':history', unpack(ARGV, i, last))
    i = last + 1
  end
end
local function detach(key, now)
  redis.call('HDEL', key, 'heartbeat_at', 'pid')
  redis.call('HSET', key, 'updated_at', now)
end
"""

# ARGV: prefix, id, spec, now, capacity, owner ('' = none) -> seq, 0 (full) or -1 (exists)
_SUBMIT = """
local active = redis.call('ZCARD', P .. ':jobs:queued') + redis.call('ZCARD', P .. ':jobs:running')
if active >= tonumber(ARGV[5]) then return 0 end
if redis.call('EXISTS', key) == 1 then return -1 end
local seq = redis.call('INCR', P .. ':seq')
redis.call('HSET', key, 'id', id, 'seq', seq, 'spec', ARGV[3], 'created_at', ARGV[4],
  'updated_at', ARGV[4], 'attempts', 0, 'cancel_requested', 0)
redis.call('ZADD', P .. ':jobs', seq, id)
if ARGV[6] ~= '' then redis.call('ZADD', P .. ':owner:' .. ARGV[6] .. ':jobs', seq, id) end
set_status(id, key, 'queued')
return seq
"""

# ARGV: prefix, id, run_id, worker, pid, now, max_attempts, stale_before, lost_message
# -> {'ok'} | {'busy'} | {'skip', status}
_BEGIN = """
local now = ARGV[6]
local st = redis.call('HGET', key, 'status')
if not st then return {'skip', 'missing'} end
if st == 'running' then
  -- Another run is current: a live one (duplicate delivery) or one that died unsettled.
  if tonumber(redis.call('HGET', key, 'heartbeat_at') or '0') >= tonumber(ARGV[8]) then
    return {'busy'}
  end
  if redis.call('HGET', key, 'cancel_requested') == '1' then
    set_status(id, key, 'cancelled')
    redis.call('HSET', key, 'finished_at', now)
    detach(key, now)
    return {'skip', 'cancelled'}
  end
elseif st ~= 'queued' then
  return {'skip', st}
end
local attempts = tonumber(redis.call('HGET', key, 'attempts') or '0')
if attempts >= tonumber(ARGV[7]) then
  set_status(id, key, 'failed')
  redis.call('HSET', key, 'finished_at', now, 'error_code', '__WORKER_LOST__',
    'error_message', ARGV[9])
  detach(key, now)
  return {'skip', 'failed'}
end
set_status(id, key, 'running')
redis.call('HSET', key, 'run_id', ARGV[3], 'worker', ARGV[4], 'pid', ARGV[5],
  'started_at', now, 'heartbeat_at', now, 'updated_at', now, 'attempts', attempts + 1)
redis.call('HDEL', key, 'progress', 'finished_at', 'error_code', 'error_message', 'model_id',
  'cancel_requested_at', 'stop_sent_at')
redis.call('DEL', key .. ':history')
return {'ok'}
"""

# ARGV: prefix, id, run_id, now, progress ('' = unchanged), rows...
# -> {owned, cancel_requested, cancel_keep}
_REPORT = """
if not current(key, ARGV[3]) then return {0, 0} end
if ARGV[5] ~= '' then redis.call('HSET', key, 'progress', ARGV[5]) end
redis.call('HSET', key, 'heartbeat_at', ARGV[4], 'updated_at', ARGV[4])
push_rows(key, 6)
return {1, tonumber(redis.call('HGET', key, 'cancel_requested') or '0'),
  tonumber(redis.call('HGET', key, 'cancel_keep') or '0')}
"""

# ARGV: prefix, id, run_id, status, now, model_id, error_code, error_message, progress, rows...
_FINISH = """
if not current(key, ARGV[3]) then return 0 end
local now = ARGV[5]
set_status(id, key, ARGV[4])
redis.call('HSET', key, 'finished_at', now)
if ARGV[6] ~= '' then redis.call('HSET', key, 'model_id', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', key, 'error_code', ARGV[7], 'error_message', ARGV[8]) end
if ARGV[9] ~= '' then redis.call('HSET', key, 'progress', ARGV[9]) end
push_rows(key, 10)
detach(key, now)
local started = tonumber(redis.call('HGET', key, 'started_at') or '')
if started then
  redis.call('LPUSH', P .. ':durations', tostring(tonumber(now) - started))
  redis.call('LTRIM', P .. ':durations', 0, 19)
end
return 1
"""

# ARGV: prefix, id, run_id, now -> new status or false
_REQUEUE = """
if not current(key, ARGV[3]) then return false end
local now = ARGV[4]
local new = 'queued'
if redis.call('HGET', key, 'cancel_requested') == '1' then
  new = 'cancelled'
  redis.call('HSET', key, 'finished_at', now)
else
  local attempts = tonumber(redis.call('HGET', key, 'attempts') or '1')
  redis.call('HSET', key, 'attempts', math.max(attempts - 1, 0))
  redis.call('HDEL', key, 'started_at')
end
set_status(id, key, new)
detach(key, now)
return new
"""

# ARGV: prefix, id, run_id ('' = whichever), now, max_attempts, reason, stale_before ('' = no
# check), lost_message, timeout_message, kept model_id ('' = none; set if it ends cancelled)
# -> new status, 'alive', or false (not running/current)
_SETTLE = """
if redis.call('HGET', key, 'status') ~= 'running' then return false end
if ARGV[3] ~= '' and redis.call('HGET', key, 'run_id') ~= ARGV[3] then return false end
if ARGV[7] ~= '' and tonumber(redis.call('HGET', key, 'heartbeat_at') or '0') >= tonumber(ARGV[7])
then
  return 'alive'
end
local now = ARGV[4]
local reason = ARGV[6]
local new = 'queued'
if redis.call('HGET', key, 'cancel_requested') == '1' or reason == 'stopped' then
  new = 'cancelled'
elseif reason == 'timeout' then
  new = 'failed'
  redis.call('HSET', key, 'error_code', '__TIMEOUT__', 'error_message', ARGV[9])
elseif tonumber(redis.call('HGET', key, 'attempts') or '0') >= tonumber(ARGV[5]) then
  new = 'failed'
  redis.call('HSET', key, 'error_code', '__WORKER_LOST__', 'error_message', ARGV[8])
end
set_status(id, key, new)
if new == 'cancelled' and ARGV[10] ~= '' then redis.call('HSET', key, 'model_id', ARGV[10]) end
if new == 'queued' then
  redis.call('HDEL', key, 'started_at')
else
  redis.call('HSET', key, 'finished_at', now)
end
detach(key, now)
return new
"""

# ARGV: prefix, id, now, keep ('1' or '0') -> 'dequeued' (was queued, now cancelled), 'running'
# (flag set; with keep, 'cancel_keep' too), 'missing' or the terminal status
_CANCEL = """
local now = ARGV[3]
local st = redis.call('HGET', key, 'status')
if not st then return 'missing' end
if st == 'queued' then
  set_status(id, key, 'cancelled')
  redis.call('HSET', key, 'cancel_requested', 1, 'finished_at', now, 'updated_at', now)
  return 'dequeued'
end
if st == 'running' then
  if redis.call('HGET', key, 'cancel_requested') ~= '1' then
    redis.call('HSET', key, 'cancel_requested', 1, 'cancel_requested_at', now, 'updated_at', now)
  end
  if ARGV[4] == '1' then redis.call('HSET', key, 'cancel_keep', 1) end
  return 'running'
end
return st
"""

# ARGV: prefix, id, now -> 1 if the job is running and the stop time was recorded
_MARK_STOP_SENT = """
if redis.call('HGET', key, 'status') ~= 'running' then return 0 end
redis.call('HSET', key, 'stop_sent_at', ARGV[3])
return 1
"""

# ARGV: prefix, id, first_row -> false | {status, run_id, model_id, error_code, error_message, rows}
_EVENT_STATE = """
local f = redis.call('HMGET', key, 'status', 'run_id', 'model_id', 'error_code', 'error_message')
if not f[1] then return false end
local rows = redis.call('LRANGE', key .. ':history', tonumber(ARGV[3]), -1)
return {f[1], f[2] or '', f[3] or '', f[4] or '', f[5] or '', rows}
"""


def _script(body: str) -> str:
    """The prelude plus ``body``, with the error codes of :mod:`app.jobs.base` filled in."""
    source = _PRELUDE + body
    return source.replace("__WORKER_LOST__", ERROR_WORKER_LOST).replace(
        "__TIMEOUT__", ERROR_TIMEOUT
    )


def _text(value: Any) -> str:
    """A reply value as ``str`` (clients without ``decode_responses`` return bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _now() -> str:
    return repr(time.time())


class RedisJobStore:
    """The job records of the RQ back-end (see the module docstring for the key layout).

    ``owner`` names the RQ worker a run belongs to (recorded by :meth:`begin_run`);
    ``stale_after`` is how long a running job may go without a heartbeat from its run before
    another delivery of it may take over (seconds).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        owner: str = "",
        stale_after: float = 10.0,
        max_attempts: int = core.MAX_ATTEMPTS,
    ) -> None:
        """Wrap ``client``; nothing is read or written here."""
        self.client = client
        self.prefix = prefix
        self.owner = owner
        self.stale_after = stale_after
        self.max_attempts = max_attempts
        self._scripts = {
            name: client.register_script(_script(body))
            for name, body in {
                "submit": _SUBMIT,
                "begin": _BEGIN,
                "report": _REPORT,
                "finish": _FINISH,
                "requeue": _REQUEUE,
                "settle": _SETTLE,
                "cancel": _CANCEL,
                "mark_stop_sent": _MARK_STOP_SENT,
                "event_state": _EVENT_STATE,
            }.items()
        }

    def _run(self, name: str, *args: Any) -> Any:
        return self._scripts[name](keys=[], args=[self.prefix, *args])

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def _index(self, status: str | None = None) -> str:
        return f"{self.prefix}:jobs" if status is None else f"{self.prefix}:jobs:{status}"

    # -- reading -----------------------------------------------------------------------------

    def ping(self) -> bool:
        """True if Redis answers."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def get(self, job_id: str, *, history: bool = True) -> JobRecord | None:
        """The record of one job (with its history unless ``history=False``), or None."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._key(job_id))
            if history:
                pipe.lrange(f"{self._key(job_id)}:history", 0, -1)
            replies = pipe.execute()
        fields = {_text(k): _text(v) for k, v in replies[0].items()}
        if "status" not in fields:
            return None
        rows = [json.loads(_text(r)) for r in replies[1]] if history else []
        return self._record(fields, rows)

    def fields(self, job_id: str, *names: str) -> dict[str, str | None]:
        """Selected raw fields of a record (None where absent)."""
        values = self.client.hmget(self._key(job_id), list(names))
        return {n: None if v is None else _text(v) for n, v in zip(names, values, strict=True)}

    def status(self, job_id: str) -> str | None:
        """The job's status, or None if unknown."""
        return self.fields(job_id, "status")["status"]

    def exists(self, job_id: str) -> bool:
        """True if the job exists."""
        return bool(self.client.exists(self._key(job_id)))

    def list(
        self, status: JobStatus | None = None, limit: int = 100, owner: str | None = None
    ) -> builtins.list[JobRecord]:
        """Newest first, optionally filtered by status and by the submitting key's ``owner``
        identity (its own index, read page by page when a status filter applies too);
        ``history`` left empty."""
        limit = core.clamp_limit(limit)
        if owner is None:
            return self._records(self.client.zrevrange(self._index(status), 0, limit - 1))
        index, start = f"{self.prefix}:owner:{owner}:jobs", 0
        records: builtins.list[JobRecord] = []
        while len(records) < limit:
            page = self.client.zrevrange(index, start, start + max(limit, 100) - 1)
            if not page:
                break
            start += len(page)
            found = self._records(page)
            records += [r for r in found if status is None or r.status == status]
        return records[:limit]

    def _records(self, ids: builtins.list[Any]) -> builtins.list[JobRecord]:
        """The records of ``ids`` (read in one round trip; vanished ones skipped)."""
        with self.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hgetall(self._key(_text(job_id)))
            replies = pipe.execute()
        records = []
        for reply in replies:
            fields = {_text(k): _text(v) for k, v in reply.items()}
            if "status" in fields:
                records.append(self._record(fields, []))
        return records

    def queue_order(self) -> builtins.list[str]:
        """IDs of the queued jobs by submission (RQ's own queue order is the RQ runner's)."""
        return self.ids("queued")

    def ids(self, status: JobStatus, limit: int = core.MAX_LIST) -> builtins.list[str]:
        """IDs of the oldest ``limit`` jobs in ``status`` (FIFO order)."""
        return [_text(i) for i in self.client.zrange(self._index(status), 0, limit - 1)]

    def counts(self) -> dict[str, int]:
        """Number of jobs per status (every status present, zeros included)."""
        with self.client.pipeline(transaction=True) as pipe:
            for status in core.JOB_STATUSES:
                pipe.zcard(self._index(status))
            values = pipe.execute()
        return {status: int(n) for status, n in zip(core.JOB_STATUSES, values, strict=True)}

    def event_state(self, job_id: str, first_row: int) -> EventState | None:
        """Status, run and the history rows from index ``first_row`` on, read atomically (a
        terminal status always comes with every row written before it)."""
        reply = self._run("event_state", job_id, first_row)
        if not reply:
            return None
        status, run_id, model_id, code, message, rows = reply
        error = {"code": _text(code), "message": _text(message)} if _text(code) else None
        return EventState(
            status=cast(JobStatus, _text(status)),
            run_id=_text(run_id) or None,
            model_id=_text(model_id) or None,
            error=error,
            rows=[json.loads(_text(r)) for r in rows],
            cursor=first_row + len(rows),
        )

    def retry_after(self, concurrency: int) -> int:
        """:func:`~app.jobs.core.estimate_retry_after` over the last 20 run durations."""
        durations = [float(_text(d)) for d in self.client.lrange(f"{self.prefix}:durations", 0, 19)]
        starts = [
            float(started)
            for job_id in self.ids("running", 100)
            if (started := self.fields(job_id, "started_at")["started_at"])
        ]
        oldest = min(starts) if starts else None
        return core.estimate_retry_after(durations, oldest, time.time(), concurrency)

    @staticmethod
    def _record(fields: Mapping[str, str], history: builtins.list[dict[str, Any]]) -> JobRecord:
        error = None
        if fields.get("error_code"):
            error = {"code": fields["error_code"], "message": fields.get("error_message", "")}
        return JobRecord(
            id=fields["id"],
            status=cast(JobStatus, fields["status"]),
            created_at=datetime.fromtimestamp(float(fields["created_at"]), UTC),
            spec=JobSpec(**json.loads(fields["spec"])),
            started_at=core.from_timestamp(fields.get("started_at")),
            finished_at=core.from_timestamp(fields.get("finished_at")),
            progress=json.loads(fields["progress"]) if fields.get("progress") else None,
            history=history,
            model_id=fields.get("model_id") or None,
            error=error,
            attempts=int(fields.get("attempts", "0")),
            cancel_requested=fields.get("cancel_requested") == "1",
            cancel_keep=fields.get("cancel_keep") == "1",
        )

    # -- the API's side ----------------------------------------------------------------------

    def submit(self, job_id: str, spec: JobSpec, *, capacity: int, concurrency: int) -> JobRecord:
        """Record a new queued job unless ``running + queued >= capacity`` (then
        :class:`QueueFull` with an estimate of when a slot frees up)."""
        now = _now()
        seq = int(
            self._run("submit", job_id, core.dumps(asdict(spec)), now, capacity, spec.owner or "")
        )
        if seq == 0:
            raise base.QueueFull(capacity, self.retry_after(concurrency))
        if seq < 0:
            raise base.JobStateError(f"job {job_id!r} already exists")
        return JobRecord(
            id=job_id,
            status="queued",
            created_at=datetime.fromtimestamp(float(now), UTC),
            spec=spec,
        )

    def request_cancel(self, job_id: str, keep: bool = False) -> tuple[JobRecord, bool]:
        """Queued: cancelled at once. Running: ``cancel_requested`` is set (and ``cancel_keep``
        with ``keep``: the run saves its model). Terminal: :class:`JobStateError`; unknown:
        :class:`JobNotFound`. Returns the record and whether the job was running (so its run
        must be stopped)."""
        outcome = _text(self._run("cancel", job_id, _now(), "1" if keep else "0"))
        if outcome == "missing":
            raise base.JobNotFound(job_id)
        if outcome in TERMINAL_STATUSES:
            raise base.JobStateError(f"job {job_id!r} already ended ({outcome})")
        record = self.get(job_id)
        if record is None:  # pragma: no cover - records are never deleted
            raise base.JobNotFound(job_id)
        return record, outcome == "running"

    def mark_stop_sent(self, job_id: str) -> bool:
        """Record that a stop command was sent to the job's worker (False if not running)."""
        return bool(self._run("mark_stop_sent", job_id, _now()))

    def settle(
        self,
        job_id: str,
        run_id: str | None,
        reason: SettleReason,
        *,
        stale_before: float | None = None,
        timeout_seconds: float | None = None,
        kept_model_id: str | None = None,
    ) -> str | None:
        """Give up a running job's run that ended without writing a final state.

        ``run_id`` None settles whichever run is current, but only if its last heartbeat is
        older than ``stale_before`` (else returns ``"alive"``). The job becomes ``cancelled``
        (a cancel was pending, or ``reason == "stopped"``), ``failed`` with ``timeout``
        (``reason == "timeout"``) or ``worker_lost`` (after ``max_attempts`` runs), else
        ``queued`` again. Returns the new status, or None if that run was not current.
        ``kept_model_id`` (cancel?keep=true) becomes the job's model if it ends cancelled.
        """
        limit = "" if timeout_seconds is None else f" of {timeout_seconds:g} s"
        reply = self._run(
            "settle",
            job_id,
            run_id or "",
            _now(),
            self.max_attempts,
            reason,
            "" if stale_before is None else repr(stale_before),
            _WORKER_LOST_MESSAGE,
            f"the job ran longer than its time limit{limit}",
            kept_model_id or "",
        )
        return None if not reply else _text(reply)

    # -- the job's side (a JobSink) ----------------------------------------------------------

    def begin(self, job_id: str, run_id: str, pid: int) -> tuple[BeginResult, str | None]:
        """Start a run of a queued job (or take over from a run that died unsettled: its
        heartbeat is older than ``stale_after``). ``("skip", status)`` when the job must not
        run (cancelled while queued, already ended, or failed ``worker_lost`` because it has
        had ``max_attempts`` runs), ``("busy", None)`` when another run is alive."""
        reply = self._run(
            "begin",
            job_id,
            run_id,
            self.owner,
            pid,
            _now(),
            self.max_attempts,
            repr(time.time() - self.stale_after),
            _WORKER_LOST_MESSAGE,
        )
        outcome = cast(BeginResult, _text(reply[0]))
        return outcome, _text(reply[1]) if len(reply) > 1 else None

    def begin_run(self, job_id: str, run_id: str, pid: int) -> JobRecord | None:
        """:meth:`begin`, returning the record when the run may go ahead (else None)."""
        outcome, _ = self.begin(job_id, run_id, pid)
        return self.get(job_id, history=False) if outcome == "ok" else None

    def heartbeat(self, job_id: str, run_id: str) -> Report:
        """Prove the run is alive; tells whether it is still current and a cancel is pending."""
        return self.report(job_id, run_id, (), None)

    def report(self, job_id: str, run_id: str, rows: Rows, progress: Progress) -> Report:
        """Append history rows and set the latest progress, if the run is still current."""
        owned, cancel, keep = self._run(
            "report",
            job_id,
            run_id,
            _now(),
            "" if progress is None else core.dumps(progress),
            *(core.dumps(row) for row in rows),
        )
        cancel = bool(owned) and bool(cancel)
        return Report(owned=bool(owned), cancel_requested=cancel, keep=cancel and bool(keep))

    def finish(self, job_id: str, run_id: str, final: FinalState) -> bool:
        """Write a run's final state (with its last rows) if the run is still current."""
        error, progress = final.error, final.progress
        return bool(
            self._run(
                "finish",
                job_id,
                run_id,
                final.status,
                _now(),
                final.model_id or "",
                "" if error is None else error["code"],
                "" if error is None else error["message"],
                "" if progress is None else core.dumps(progress),
                *(core.dumps(row) for row in final.rows),
            )
        )

    def requeue(self, job_id: str, run_id: str) -> str | None:
        """Put a run stopped on purpose (worker shutdown) back in the queue without counting
        the attempt (``cancelled`` if a cancel was pending). None if the run was not current."""
        reply = self._run("requeue", job_id, run_id, _now())
        return None if not reply else _text(reply)
