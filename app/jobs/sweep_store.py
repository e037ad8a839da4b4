"""Sweep records, kept where the job records are: SQLite (``<data_dir>/sweeps.sqlite3``, WAL)
for the embedded runner, Redis for RQ. Shared by every API process.

A sweep is one JSON document with a version number. Every change is a compare-and-set on that
version (:meth:`SweepStore.replace`), so several processes may advance the same sweep at once:
one write wins, the others re-read and start over. Sweeps that have not ended are also in an
"active" index, which the advancing loop scans.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import redis

from app.errors import NotFound

__all__ = ["SQLITE_FILENAME", "RedisSweepStore", "SQLiteSweepStore", "SweepNotFound", "SweepStore"]

SQLITE_FILENAME = "sweeps.sqlite3"

Doc = dict[str, Any]


class SweepNotFound(NotFound):
    """An unknown sweep (HTTP 404)."""

    def __init__(self, sweep_id: str) -> None:
        super().__init__("sweep", sweep_id)


class SweepStore(Protocol):
    """Where sweep documents live (see the module docstring)."""

    def create(self, doc: Doc) -> None:
        """Store a new sweep (``doc["id"]``), version 1, active."""

    def get(self, sweep_id: str) -> tuple[Doc, int]:
        """The document and its version; :class:`SweepNotFound`."""

    def replace(self, sweep_id: str, version: int, doc: Doc, *, active: bool) -> bool:
        """Write ``doc`` as version + 1 if the stored version is still ``version``."""

    def list(self, limit: int) -> builtins.list[Doc]:
        """Newest first."""

    def active(self) -> builtins.list[str]:
        """IDs of the sweeps that have not ended."""

    def close(self) -> None:
        """Release connections."""


class SQLiteSweepStore:
    """Sweeps in SQLite (WAL): one connection per store, guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sweeps (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "id TEXT UNIQUE NOT NULL, version INTEGER NOT NULL, active INTEGER NOT NULL, "
            "doc TEXT NOT NULL)"
        )

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def create(self, doc: Doc) -> None:
        with self._conn() as db:
            db.execute(
                "INSERT INTO sweeps (id, version, active, doc) VALUES (?, 1, 1, ?)",
                (doc["id"], json.dumps(doc)),
            )

    def get(self, sweep_id: str) -> tuple[Doc, int]:
        with self._conn() as db:
            row = db.execute("SELECT doc, version FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        if row is None:
            raise SweepNotFound(sweep_id)
        return json.loads(row[0]), int(row[1])

    def replace(self, sweep_id: str, version: int, doc: Doc, *, active: bool) -> bool:
        with self._conn() as db:
            cursor = db.execute(
                "UPDATE sweeps SET doc = ?, version = version + 1, active = ? "
                "WHERE id = ? AND version = ?",
                (json.dumps(doc), int(active), sweep_id, version),
            )
        return cursor.rowcount == 1

    def list(self, limit: int) -> builtins.list[Doc]:
        with self._conn() as db:
            rows = db.execute("SELECT doc FROM sweeps ORDER BY seq DESC LIMIT ?", (limit,))
            return [json.loads(row[0]) for row in rows.fetchall()]

    def active(self) -> builtins.list[str]:
        with self._conn() as db:
            rows = db.execute("SELECT id FROM sweeps WHERE active = 1 ORDER BY seq").fetchall()
        return [str(row[0]) for row in rows]

    def close(self) -> None:
        with self._conn() as db:
            db.close()


# KEYS: the sweep's hash, the index of every sweep, the active set. ARGV: id, version, doc,
# active ("1"/"0"). Returns 1 if written.
_REPLACE = """
if tonumber(redis.call('HGET', KEYS[1], 'version')) ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'doc', ARGV[3], 'version', tonumber(ARGV[2]) + 1)
if ARGV[4] == '1' then redis.call('SADD', KEYS[3], ARGV[1])
else redis.call('SREM', KEYS[3], ARGV[1]) end
return 1
"""


class RedisSweepStore:
    """Sweeps in Redis: ``P:sweep:<id>`` hash (doc, version), ``P:sweeps`` sorted set by creation
    time, ``P:sweeps:active`` set. None of them expires."""

    def __init__(self, client: redis.Redis, prefix: str = "mlp") -> None:
        self.client = client
        self.prefix = prefix
        self._replace = client.register_script(_REPLACE)

    def _key(self, sweep_id: str) -> str:
        return f"{self.prefix}:sweep:{sweep_id}"

    def create(self, doc: Doc) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self._key(doc["id"]), mapping={"doc": json.dumps(doc), "version": 1})
        pipe.zadd(f"{self.prefix}:sweeps", {doc["id"]: time.time()})
        pipe.sadd(f"{self.prefix}:sweeps:active", doc["id"])
        pipe.execute()

    def get(self, sweep_id: str) -> tuple[Doc, int]:
        doc, version = self.client.hmget(self._key(sweep_id), ["doc", "version"])
        if doc is None or version is None:
            raise SweepNotFound(sweep_id)
        return json.loads(doc), int(version)

    def replace(self, sweep_id: str, version: int, doc: Doc, *, active: bool) -> bool:
        keys = [self._key(sweep_id), f"{self.prefix}:sweeps", f"{self.prefix}:sweeps:active"]
        args: builtins.list[str | int] = [
            sweep_id,
            version,
            json.dumps(doc),
            "1" if active else "0",
        ]
        return int(self._replace(keys=keys, args=args)) == 1

    def list(self, limit: int) -> builtins.list[Doc]:
        ids = self.client.zrevrange(f"{self.prefix}:sweeps", 0, limit - 1)
        docs = [self.client.hget(self._key(_text(i)), "doc") for i in ids]
        return [json.loads(doc) for doc in docs if doc is not None]

    def active(self) -> builtins.list[str]:
        return sorted(_text(i) for i in self.client.smembers(f"{self.prefix}:sweeps:active"))

    def close(self) -> None:
        """The client belongs to the runner."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
