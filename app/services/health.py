"""Operations: the service's version and its readiness checks."""

from __future__ import annotations

import logging
import os
import tempfile
from functools import cache
from importlib import metadata
from pathlib import Path

from app.jobs.base import JobRunner
from app.settings import Settings

__all__ = ["readiness", "service_version"]

logger = logging.getLogger(__name__)


@cache
def service_version() -> str:
    """The installed package's version (``0.0.0`` when running from an uninstalled tree)."""
    try:
        return metadata.version("mlp-service")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def readiness(settings: Settings | None, runner: JobRunner | None) -> dict[str, bool]:
    """``runner``: recovery has run and jobs can start; ``storage``: the data dir is writable."""
    return {
        "runner": _runner_ready(runner),
        "storage": settings is not None
        and os.path.isdir(settings.data_dir)
        and _storage_writable(settings.data_dir),
    }


def _storage_writable(data_dir: Path) -> bool:
    """Create and remove a small file in the data directory (catches read-only or full disks)."""
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".ready-", delete=True) as fh:
            fh.write(b"ok")
            fh.flush()
        return True
    except OSError:
        return False


def _runner_ready(runner: JobRunner | None) -> bool:
    if runner is None:
        return False
    try:
        return bool(runner.ready())
    except Exception:
        logger.exception("the job runner's readiness check failed")
        return False
