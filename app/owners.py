"""Who owns what: with API keys configured, every dataset, job and model belongs to the key that
created it, and only that key (or an admin key) sees it.

An owner is stored as a non-secret identity, never the key: the key's name (``MLP_API_KEYS``
entries ``name:key``) or ``sha256:`` and the first 16 hex digits of the key's SHA-256 for an
unnamed key. Keys sharing a name share what they own (rotate a key by adding the new one under
the same name). Records written without an owner (open mode, or before owners existed) are
visible to admin keys only while keys are configured, and to everyone in open mode.

One way in for every resource (sweeps too)::

    owner = owner_from_scope(request.scope)        # or the ``OwnerDep`` dependency
    require_visible(owner, record.owner, "sweep", sweep_id)   # 404 for another key's
    shown = only_visible(owner, store.list())      # items with an ``owner`` attribute
    store.list(owner=owner_filter(owner))          # or filter in the store's own query

and ``owner.name`` is what a new record stores (None in open mode).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from app.errors import NotFound, ServiceError

__all__ = [
    "OPEN",
    "OWNER_STATE",
    "ApiKey",
    "Owner",
    "key_identity",
    "keyring",
    "only_visible",
    "owner_filter",
    "owner_from_scope",
    "parse_key",
    "require_visible",
    "visible",
]

# The key of ``scope["state"]`` under which the API-key middleware puts the request's Owner.
OWNER_STATE = "owner"
# A key's name: what logs, metrics and stored records show.
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Owner:
    """The identity a request acts as.

    ``name``: stored on what the request creates (None in open mode); ``sees_all``: sees and
    acts on every record (admin keys, and open mode)."""

    name: str | None
    sees_all: bool = False


OPEN = Owner(None, sees_all=True)
"""Open mode (no keys configured): nothing is owned, everything is visible."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One configured key: its secret (bytes, compared in constant time) and the owner it
    authenticates as."""

    secret: bytes
    owner: Owner


class Unauthorized(ServiceError):
    """A route that needs an owner was reached without a key while keys are configured."""

    status_code = 401
    code = "unauthorized"


def key_identity(key: str) -> str:
    """The stored identity of an unnamed key: ``sha256:<first 16 hex digits>``."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:16]


def parse_key(entry: str, *, admin: bool = False) -> ApiKey:
    """``name:key`` or a bare key (which then may not contain ``:``); ValueError for a bad name."""
    name, sep, secret = entry.partition(":")
    if not sep:
        name, secret = key_identity(entry), entry
    elif not NAME_RE.fullmatch(name) or not secret:
        raise ValueError(
            "an API key entry with ':' must be 'name:key', the name made of 1-64 letters, "
            "digits, '.', '_' or '-' (bare keys may not contain ':')"
        )
    return ApiKey(secret.encode(), Owner(name, sees_all=admin))


def keyring(api_keys: Sequence[str], admin_keys: Sequence[str] = ()) -> list[ApiKey]:
    """Every configured key in order: ``MLP_API_KEYS``, then ``MLP_ADMIN_KEYS`` (admins).
    ValueError for one key given twice under different names or roles."""
    keys = [parse_key(e) for e in api_keys if e] + [
        parse_key(e, admin=True) for e in admin_keys if e
    ]
    owners: dict[bytes, Owner] = {}
    for key in keys:
        if owners.setdefault(key.secret, key.owner) != key.owner:
            raise ValueError(
                "one API key is configured twice with different names or roles "
                "(MLP_API_KEYS, MLP_ADMIN_KEYS)"
            )
    return keys


def owner_from_scope(scope: Any) -> Owner:
    """The request's owner: what the API-key middleware put in ``scope["state"]``; open mode
    when the app has no keys; :class:`Unauthorized` if keys are on but none was checked."""
    state = scope.get("state")
    owner = state.get(OWNER_STATE) if state is not None else None
    if owner is not None:
        return owner  # type: ignore[no-any-return]
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    if settings is not None and settings.keys_enabled:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    return OPEN


def visible(owner: Owner, record_owner: str | None) -> bool:
    """Whether ``owner`` may see a record owned by ``record_owner`` (None: no owner)."""
    return owner.sees_all or (record_owner is not None and record_owner == owner.name)


def require_visible(owner: Owner, record_owner: str | None, resource: str, rid: str) -> None:
    """``NotFound(resource, rid)`` unless ``owner`` may see the record (another key's record
    looks exactly like one that does not exist)."""
    if not visible(owner, record_owner):
        raise NotFound(resource, rid)


def owner_filter(owner: Owner) -> str | None:
    """For a store's listing query: the owner identity to filter by, or None for every record."""
    return None if owner.sees_all else owner.name


class _Owned(Protocol):
    @property
    def owner(self) -> str | None: ...


OwnedT = TypeVar("OwnedT", bound=_Owned)


def only_visible(owner: Owner, items: Iterable[OwnedT]) -> list[OwnedT]:
    """The items (each with an ``owner`` attribute) that ``owner`` may see, in order."""
    if owner.sees_all:
        return list(items)
    return [item for item in items if visible(owner, item.owner)]
