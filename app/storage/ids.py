"""Server-generated resource IDs and their validation (before any file-system access)."""

from __future__ import annotations

import re
import secrets

from app.errors import NotFound

__all__ = ["ID_RE", "check_id", "new_id"]

# Opaque, URL-safe, at most 64 characters; no dots or slashes, so never a path component trick.
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TOKEN_BYTES = 12  # 16 URL-safe characters, 96 random bits


def new_id(prefix: str) -> str:
    """A fresh random ID such as ``"ds_Xq3v0c9T1aBzKk2L"`` (URL-safe, at most 64 characters)."""
    value = prefix + secrets.token_urlsafe(_TOKEN_BYTES)
    if not ID_RE.fullmatch(value):
        raise ValueError(f"prefix {prefix!r} does not yield a valid ID")
    return value


def check_id(resource: str, value: str) -> str:
    """Return ``value`` if it is a well-formed ID, else raise ``NotFound(resource, value)``."""
    if not isinstance(value, str) or not ID_RE.fullmatch(value):
        raise NotFound(resource, value)
    return value
