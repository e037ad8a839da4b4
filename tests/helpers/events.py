"""Server-sent events of a job (``GET /v1/jobs/{id}/events``), read over a real connection."""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ["read_events"]


def read_events(
    client: httpx.Client, job_id: str, timeout: float = 120.0
) -> list[tuple[str, dict[str, Any]]]:
    """Follow ``/events`` to its end, parsing each ``event:``/``data:`` block as it arrives;
    ``[(kind, data), ...]``. ``timeout`` bounds each read (a hang fails, a slow job does not)."""
    events: list[tuple[str, dict[str, Any]]] = []
    kind, data = "", ""
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
            elif line == "" and kind:
                events.append((kind, json.loads(data)))
                kind, data = "", ""
    return events
