"""A disk that really fills up: a small tmpfs mounted for one test (root only)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["fill_disk", "small_disk"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs mounted on a fresh directory (root only): a disk that really fills up.

    Chosen over RLIMIT_FSIZE (that raises EFBIG/SIGXFSZ, not ENOSPC) and over mocking the
    store (which would not exercise the real write path, its cleanup, or SQLite next to it).
    """
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mount = shutil.which("mount")
    if mount is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    result = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill_disk(directory: Path, leave: int) -> Path:
    """Write a filler file so that only about ``leave`` bytes stay free."""
    stats = os.statvfs(directory)
    free = stats.f_bavail * stats.f_frsize
    filler = directory / "filler"
    chunk = bytes(2**20)
    remaining = max(0, free - leave)
    try:
        with open(filler, "wb") as fh:
            while remaining > 0:
                remaining -= fh.write(chunk[: min(len(chunk), remaining)])
    except OSError as exc:  # asked to fill it all: the last block may not fit
        if exc.errno != errno.ENOSPC:
            raise
    return filler
