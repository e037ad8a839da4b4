"""Waiting for observable events: poll a predicate until it holds, with a generous timeout that
only turns a hang into a failure (never a check of how long something took)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

__all__ = ["TERMINAL", "wait_for", "wait_for_async"]

T = TypeVar("T")

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})  # the job states that do not change


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float = 30.0,
    what: str = "condition",
    interval: float = 0.02,
) -> T:
    """Call ``predicate`` until it returns something truthy and return that; raise
    ``AssertionError`` naming ``what`` if ``timeout`` seconds pass first (a predicate may raise
    ``AssertionError`` itself to fail at once)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


async def wait_for_async(
    predicate: Callable[[], Awaitable[T | None]],
    timeout: float = 30.0,
    what: str = "condition",
    interval: float = 0.02,
) -> T:
    """:func:`wait_for` for an async ``predicate`` (sleeps without blocking the event loop)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await anyio.sleep(interval)
