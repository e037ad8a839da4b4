"""Atomic, durable file replacement and clean-up of the temporary files a crash leaves behind.

``write_atomic`` writes through a locked ``.tmp-*`` file in the target's directory and renames it
over the target; ``remove_stale_temp_files`` removes the ones no live writer holds. Used for
model files (``mlp_engine.persistence``) and by the service's stores.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["TEMP_PREFIX", "fsync_directory", "remove_stale_temp_files", "write_atomic"]

TEMP_PREFIX = ".tmp-"

# remove_stale_temp_files spares temp files younger than this: their writer may be between
# creating the file and locking it (microseconds), and a crash leftover is older by then.
_CREATION_GRACE_SECONDS = 0.25


def write_atomic(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Create or replace the file at ``path`` with what ``write`` writes, atomically and durably.

    ``write`` gets a binary file object opened on a new temporary file in the same directory
    (name ``.tmp-XXXXXXXX``, mode 0600). After it returns, the file is flushed, ``fsync``-ed and
    renamed over ``path`` with ``os.replace``, then the directory is ``fsync``-ed so the rename
    itself survives a crash. On any error (including ``KeyboardInterrupt``) the temporary file is
    removed, the old ``path`` is untouched and the error propagates. A crash (``kill -9``,
    power loss) can leave a ``.tmp-*`` file behind, never a half-written ``path``: call
    :func:`remove_stale_temp_files` at start-up.
    """
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=target.parent)
    tmp = Path(tmp_name)
    try:
        # Held until the file is closed (or the process dies): tells remove_stale_temp_files in
        # another process that this temp file is being written, not left over from a crash.
        _lock(fd, blocking=True)
        with open(fd, "wb") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_directory(target.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or an unlink in ``directory`` durable (a no-op on Windows)."""
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals the rename itself.
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # A few file systems refuse fsync on a directory; the data itself is already synced.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _lock(fd: int, *, blocking: bool) -> bool:
    """Take an exclusive ``flock`` on ``fd``; False if another process holds it (non-blocking).

    Where ``flock`` does not exist (Windows) every temp file counts as unlocked."""
    if fcntl is None:  # pragma: no cover - not POSIX
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_stale_temp_files(
    directory: str | os.PathLike[str], *, min_age_seconds: float = _CREATION_GRACE_SECONDS
) -> list[Path]:
    """Delete the ``.tmp-*`` files :func:`write_atomic` left in ``directory`` after a crash.

    Safe while other live processes write to ``directory``: a writer holds an exclusive lock
    on its temp file until it is renamed, and the lock dies with the writer, so only files no
    process holds are removed. ``min_age_seconds`` (a fraction of a second by default) spares a
    file created so recently that its writer may not have locked it yet. Only regular files
    directly in ``directory`` are touched. Returns the removed paths, sorted; a missing directory
    gives ``[]``.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX) or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - entry.stat(follow_symlinks=False).st_mtime < min_age_seconds:
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                if not _lock(fd, blocking=False):
                    continue  # a live writer holds it
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            finally:
                os.close(fd)
    return sorted(removed)
