"""How long the reliability tests run: ``make test`` defaults, longer under ``make soak``.

- ``RELIABILITY_EXAMPLES``: hypothesis / schemathesis examples per property or operation;
- ``RELIABILITY_KILL_CYCLES``: kill -9 / restart cycles of the durability tests.
"""

from __future__ import annotations

import os

__all__ = ["examples", "kill_cycles"]


def _env_int(name: str) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else 0


def examples(default: int) -> int:
    """Examples per property: ``RELIABILITY_EXAMPLES`` if set, else ``default``."""
    return _env_int("RELIABILITY_EXAMPLES") or default


def kill_cycles(default: int) -> int:
    """Kill/restart cycles: ``RELIABILITY_KILL_CYCLES`` if set, else ``default``."""
    return _env_int("RELIABILITY_KILL_CYCLES") or default
