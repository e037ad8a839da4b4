"""The embedded back-end's job database read straight from disk (read-only), for what the API
does not show: a job's process ID and attempts, the ID its model will have; and one write,
:func:`set_epochs`, which makes an endless (``FOREVER``) job finite for its next run."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from app.jobs.sqlite_store import DB_FILENAME

__all__ = ["future_model_id", "job_row", "running_count", "running_pid", "set_epochs"]


def _connect(data_dir: Path) -> contextlib.closing[sqlite3.Connection]:
    uri = f"file:{data_dir / DB_FILENAME}?mode=ro"
    return contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10))


def job_row(data_dir: Path, job_id: str) -> dict[str, Any]:
    """The job's ``status``, ``attempts``, ``pid`` and ``error_code``."""
    with _connect(data_dir) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute(
            "SELECT status, attempts, pid, error_code FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    if row is None:
        raise AssertionError(f"no job {job_id} in the database")
    return dict(row)


def running_pid(data_dir: Path, job_id: str) -> int | None:
    """The job process of ``job_id`` while it runs, else ``None``."""
    with _connect(data_dir) as conn:
        row = conn.execute(
            "SELECT pid FROM jobs WHERE id = ? AND status = 'running'", (job_id,)
        ).fetchone()
    return int(row[0]) if row and row[0] else None


def running_count(data_dir: Path) -> int:
    """How many jobs the database has in ``running``."""
    with _connect(data_dir) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'running'").fetchone()
    return int(count)


def future_model_id(data_dir: Path, job_id: str) -> str:
    """The model ID chosen for ``job_id`` at submission (published only once the model exists)."""
    with _connect(data_dir) as conn:
        (spec,) = conn.execute("SELECT spec FROM jobs WHERE id = ?", (job_id,)).fetchone()
    model_id: str = json.loads(spec)["model_id"]
    return model_id


def set_epochs(data_dir: Path, job_id: str, epochs: int) -> None:
    """Give job ``job_id`` ``epochs`` epochs from its next run on: a run reads the job's spec
    when it begins, so a run going on now keeps its own (e.g. endless) count. Safe while a
    server uses the database (SQLite locks it for the write)."""
    with contextlib.closing(sqlite3.connect(data_dir / DB_FILENAME, timeout=30)) as conn, conn:
        (raw,) = conn.execute("SELECT spec FROM jobs WHERE id = ?", (job_id,)).fetchone()
        spec = json.loads(raw)
        spec["training"]["epochs"] = epochs
        conn.execute("UPDATE jobs SET spec = ? WHERE id = ?", (json.dumps(spec), job_id))
