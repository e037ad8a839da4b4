"""Processes seen from ``/proc``: is a PID alive, which processes are in a group, who is whose
parent; and the executables a suite needs (skipped locally when missing, a failure on CI)."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

__all__ = ["ancestors", "group_pids", "parent_pid", "pid_alive", "pid_gone", "require_executable"]


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: [state, ppid, pgrp, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    try:
        state = _stat_fields(pid)[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie counts as gone)."""
    return not pid_alive(pid)


def group_pids(group: int) -> list[int]:
    """The live (not zombie) processes of process group ``group``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = _stat_fields(int(entry.name))
            if int(fields[2]) == group and fields[0] not in ("Z", "X"):
                pids.append(int(entry.name))
    return pids


def parent_pid(pid: int) -> int:
    """The parent of ``pid``."""
    return int(_stat_fields(pid)[1])


def ancestors(pid: int) -> list[int]:
    """The parent of ``pid``, its parent, ... up to (not including) PID 1."""
    chain = []
    while pid > 1:
        pid = parent_pid(pid)
        chain.append(pid)
    return chain


def require_executable(name: str, install_hint: str) -> str:
    """The path of executable ``name``; the test is skipped if it is missing, or fails when
    the ``CI`` environment variable is set (CI must run every test)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({install_hint})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
