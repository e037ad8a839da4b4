"""Assertions on API responses shared by the service and the integration tests."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["assert_422"]


def assert_422(response: httpx.Response, loc: list[Any], *words: str) -> None:
    """A validation error naming ``loc`` (e.g. ``["body", "X", 3, 1]``) among its details,
    whose messages together contain every one of ``words``."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert any(item["loc"] == loc for item in detail), (loc, detail)
    message = " ".join(item["msg"] for item in detail)
    for word in words:
        assert word in message, (word, message)
