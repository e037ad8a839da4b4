"""File helpers shared by the stores: file identity for caches, listings, durable deletes."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from app.errors import Conflict, NotFound
from app.storage.ids import ID_RE
from mlp_engine.fileio import fsync_directory

FileIdentity = tuple[int, int, int]  # (st_ino, st_mtime_ns, st_size)


class _Stored(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


MetaT = TypeVar("MetaT", bound=_Stored)


def file_identity(path: Path, resource: str, resource_id: str) -> FileIdentity:
    """What a cache keys on: a replaced or rewritten file gets a new identity.

    Raises ``NotFound(resource, resource_id)`` when the file does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFound(resource, resource_id) from None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


fsync_dir = fsync_directory
"""Make a rename or an unlink in ``directory`` durable: the engine's helper, shared so the
stores and the model files treat file systems that refuse a directory fsync alike."""


def stored_ids(root: Path, suffix: str) -> list[str]:
    """IDs of the complete files ``<id><suffix>`` in ``root`` (temp files and strays skipped)."""
    ids = []
    with os.scandir(root) as entries:
        for entry in entries:
            stem = entry.name[: -len(suffix)]
            if entry.name.endswith(suffix) and ID_RE.fullmatch(stem) and entry.is_file():
                ids.append(stem)
    return ids


def newest_first(ids: list[str], get: Callable[[str], MetaT]) -> list[MetaT]:
    """``get(id)`` for each ID, newest first; files deleted meanwhile (``NotFound``) or that
    cannot be read (``Conflict``, which ``get`` logs) are skipped."""
    metas: list[MetaT] = []
    for resource_id in ids:
        try:
            metas.append(get(resource_id))
        except (NotFound, Conflict):
            continue
    metas.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    return metas


def delete_file(path: Path, resource: str, resource_id: str) -> None:
    """Remove ``path`` durably; ``NotFound(resource, resource_id)`` if it does not exist."""
    try:
        path.unlink()
    except FileNotFoundError:
        raise NotFound(resource, resource_id) from None
    fsync_dir(path.parent)
