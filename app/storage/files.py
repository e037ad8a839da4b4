"""File helpers shared by the stores: file identity for caches, durable deletes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from app.errors import NotFound
from app.storage.ids import ID_RE

FileIdentity = tuple[int, int, int]  # (st_ino, st_mtime_ns, st_size)


def file_identity(path: Path, resource: str, resource_id: str) -> FileIdentity:
    """What a cache keys on: a replaced or rewritten file gets a new identity.

    Raises ``NotFound(resource, resource_id)`` when the file does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFound(resource, resource_id) from None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def fsync_dir(directory: Path) -> None:
    """Make a rename or an unlink in ``directory`` durable (a no-op on Windows)."""
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals the change itself.
        return
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # A few file systems refuse fsync on a directory; there is nothing more to make durable.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def stored_ids(root: Path, suffix: str) -> list[str]:
    """IDs of the complete files ``<id><suffix>`` in ``root`` (temp files and strays skipped)."""
    ids = []
    with os.scandir(root) as entries:
        for entry in entries:
            stem = entry.name[: -len(suffix)]
            if entry.name.endswith(suffix) and ID_RE.fullmatch(stem) and entry.is_file():
                ids.append(stem)
    return ids
