"""Storage quotas: bytes of datasets and models (with their frames files) per owner and in all.

Usage comes from a scan of ``<data_dir>/datasets`` and ``<data_dir>/models`` (one ``scandir``
each, no file read twice: owners are cached by file identity), done at most every
``max_age`` seconds; in between, what this process writes is added as it is written and a
delete makes the next check scan again. Job processes and other API workers write too, so the
figure is exact after a scan and an estimate in between: a quota can be passed by at most
what is written within ``max_age``. Checks run before anything is written (a 507 then).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from app.errors import InsufficientStorage

if TYPE_CHECKING:
    from app.settings import Settings
    from app.storage.datasets import DatasetStore
    from app.storage.models import ModelStore

__all__ = ["StorageQuota", "StorageUsage", "attach_quota"]

# (directory name, the resource whose owner a file there has), e.g. models/mdl_x.frames.npz
_ROOTS = ("datasets", "models")
OwnerOf = Callable[[str, str], str | None]  # (directory name, resource id) -> owner


class StorageUsage:
    """Bytes per owner (``None``: no key) and in all, from the last scan plus later writes."""

    def __init__(self, by_owner: dict[str | None, int]) -> None:
        self.by_owner = by_owner

    @property
    def total(self) -> int:
        return sum(self.by_owner.values())


class StorageQuota:
    """``MLP_STORAGE_QUOTA_BYTES`` per owner and ``MLP_STORAGE_TOTAL_QUOTA_BYTES`` in all (0:
    no quota); :meth:`check` before a write, :meth:`added` after it, :meth:`removed` after a
    delete."""

    def __init__(
        self,
        data_dir: Path,
        owner_of: OwnerOf,
        *,
        per_owner: int,
        total: int,
        max_age: float = 1.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.owner_of = owner_of
        self.per_owner = per_owner
        self.total = total
        self.max_age = max_age
        self._lock = threading.Lock()
        self._owners: dict[tuple[str, str], tuple[tuple[int, int], str | None]] = {}
        self._usage = StorageUsage({})
        self._scanned_at = float("-inf")

    def usage(self) -> StorageUsage:
        """The bytes stored now (scanning again if the last scan is older than ``max_age``)."""
        with self._lock:
            if time.monotonic() - self._scanned_at > self.max_age:
                self._usage = StorageUsage(self._scan())
                self._scanned_at = time.monotonic()
            return StorageUsage(dict(self._usage.by_owner))

    def check(self, owner: str | None, incoming: int) -> None:
        """:class:`InsufficientStorage` (507) if ``incoming`` more bytes for ``owner`` would
        pass its quota or the total one."""
        if not self.per_owner and not self.total:
            return
        usage = self.usage()
        mine = usage.by_owner.get(owner, 0)
        if self.per_owner and mine + incoming > self.per_owner:
            whose = "this key's" if owner is not None else "the"
            raise InsufficientStorage(
                _message(f"{whose} datasets and models", mine, self.per_owner, incoming)
                + " (MLP_STORAGE_QUOTA_BYTES); delete datasets or models to free room"
            )
        if self.total and usage.total + incoming > self.total:
            raise InsufficientStorage(
                _message("all datasets and models", usage.total, self.total, incoming)
                + " (MLP_STORAGE_TOTAL_QUOTA_BYTES); delete datasets or models to free room"
            )

    def added(self, owner: str | None, nbytes: int) -> None:
        """Count a file this process has just written (until the next scan sees it)."""
        with self._lock:
            self._usage.by_owner[owner] = self._usage.by_owner.get(owner, 0) + nbytes

    def removed(self) -> None:
        """A file was deleted: the next check scans again."""
        with self._lock:
            self._scanned_at = float("-inf")

    def _scan(self) -> dict[str | None, int]:
        """Bytes per owner of every stored file (temp files included: they take room too)."""
        usage: dict[str | None, int] = {}
        seen: set[tuple[str, str]] = set()
        for root in _ROOTS:
            try:
                entries = list(os.scandir(self.data_dir / root))
            except OSError:
                continue
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue  # deleted meanwhile
                key = (root, entry.name)
                seen.add(key)
                owner = self._owner(key, (st.st_ino, st.st_mtime_ns))
                usage[owner] = usage.get(owner, 0) + st.st_size
        self._owners = {k: v for k, v in self._owners.items() if k in seen}
        return usage

    def _owner(self, key: tuple[str, str], identity: tuple[int, int]) -> str | None:
        """The owner of a stored file's resource (``mdl_x.frames.npz``: model ``mdl_x``'s),
        read once per file identity; a temp or damaged file has none."""
        cached = self._owners.get(key)
        if cached is not None and cached[0] == identity:
            return cached[1]
        root, name = key
        resource_id = "" if name.startswith(".") else name.split(".")[0]
        try:
            owner = self.owner_of(root, resource_id) if resource_id else None
        except Exception:  # a damaged file, or one deleted meanwhile
            owner = None
        self._owners[key] = (identity, owner)
        return owner


def _message(what: str, used: int, limit: int, incoming: int) -> str:
    return (
        f"storage quota full: {what} use {used:,} bytes of the {limit:,} allowed, and this "
        f"needs about {incoming:,} more"
    )


def attach_quota(settings: Settings, datasets: DatasetStore, models: ModelStore) -> StorageQuota:
    """The API's quota over ``settings.data_dir``, checked and updated by both stores."""

    def owner_of(root: str, resource_id: str) -> str | None:
        store = datasets if root == "datasets" else models
        return store.get(resource_id).owner

    quota = StorageQuota(
        settings.data_dir,
        owner_of,
        per_owner=settings.storage_quota_bytes,
        total=settings.storage_total_quota_bytes,
    )
    datasets.quota = models.quota = quota
    return quota
