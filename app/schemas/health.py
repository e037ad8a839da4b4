"""Schemas of the operations routes: ``HealthPublic`` and ``ReadyPublic``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["HealthPublic", "ReadyPublic"]


class HealthPublic(BaseModel):
    """The process is up and serving requests."""

    status: Literal["ok"] = "ok"
    version: str


class ReadyPublic(BaseModel):
    """Readiness and what it was judged on."""

    status: Literal["ready", "not ready"]
    checks: dict[str, bool] = Field(
        description="`runner`: recovery has run and jobs can start; `storage`: data dir writable."
    )
    detail: str | None = None
