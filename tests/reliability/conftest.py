"""Fixtures of the reliability suite (RELIABILITY.md items 1-26; the map is docs/reliability.md).

``start_server`` (a real uvicorn subprocess, see :mod:`helpers.server`) is shared with the
integration tests; :mod:`helpers.soak` reads the knobs that ``make soak`` turns up;
``anyio_backend`` comes from the root ``tests/conftest.py``.
"""

from __future__ import annotations

from helpers.disk import small_disk
from helpers.server import start_server

__all__ = ["small_disk", "start_server"]
