"""Which requests may reach the service at all: a ``Host`` allow-list and same-origin writes.

Two attacks a browser makes possible even against a server that listens on loopback only, in
open mode (no API keys) in particular:

* **DNS rebinding**: a page on ``evil.example`` re-points that name at ``127.0.0.1``; the browser
  then treats the service as the page's own origin and reads its answers. Its requests still
  carry ``Host: evil.example:8000``, so only known host names are served (else 400).
* **Cross-site writes**: a page anywhere can POST ``multipart/form-data`` or ``text/plain`` to
  the service without a CORS preflight (import a model, upload a dataset, start jobs). Browsers
  name the page's origin in ``Origin``; a state-changing request (POST, PUT, PATCH, DELETE)
  whose ``Origin`` is neither the request's own ``Host`` nor in ``MLP_ALLOWED_ORIGINS`` is a 403,
  and so is one without ``Origin`` whose ``Sec-Fetch-Site`` says another site sent it.

Accepted ``Host`` names: ``localhost``, ``127.0.0.1`` and ``::1`` (a browser sends those only
for a page that is itself on this machine), the address the connection arrived on (the ASGI
scope's ``server``: ``Host: 192.168.1.5:8000`` on a connection to 192.168.1.5, wherever the
server is bound; a browser sends an address only for a page loaded from that address), and the
names in ``MLP_ALLOWED_HOSTS`` (``*``: any). Ports are not compared. Nothing from a refused
header is echoed back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "LOCAL_HOSTS",
    "HostGuardMiddleware",
    "declare_responses",
    "host_name",
    "normalise_host",
    "normalise_origin",
    "split_host",
]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_GUARDED_HEADERS = frozenset({b"host", b"origin", b"sec-fetch-site"})
_MAX_SEEN = 64
# Sec-Fetch-Site values that mean another origin started the request.
_FOREIGN_SITES = frozenset({b"cross-site", b"same-site"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# host[:port]: a bracketed IPv6 literal or a name/IPv4 address without ':', then digits.
_HOST_RE = re.compile(r"(?:\[([0-9a-f:.]+)\]|([^\s:/\[\]@]+))(?::([0-9]{1,5}))?", re.ASCII)
_ORIGIN_RE = re.compile(r"(https?)://([^\s/?#]+)", re.ASCII)
_MAPPED_V4 = "::ffff:"  # a dual-stack socket's IPv4 address: ::ffff:192.168.1.5

_HOST_HINT = "add the host name clients use to MLP_ALLOWED_HOSTS (comma-separated; '*' allows any)"
_ORIGIN_HINT = (
    "a state-changing request must come from the service's own origin or one listed in "
    "MLP_ALLOWED_ORIGINS"
)


def split_host(value: str) -> tuple[str, str] | None:
    """``(name, port)`` of a ``Host`` value (or an origin's host part): the name lower-cased,
    an IPv6 literal without its brackets, ``port`` ``""`` when absent; None if malformed."""
    match = _HOST_RE.fullmatch(value.strip().lower())
    if match is None:
        return None
    ipv6, name, port = match.groups()
    return (ipv6 or name), (port or "")


@lru_cache(maxsize=256)
def host_name(value: bytes) -> str | None:
    """The name in a raw ``Host`` header, or None if malformed (cached: a service sees a
    handful of distinct values, and this runs on every request)."""
    parts = split_host(value.decode("latin-1"))
    return None if parts is None else parts[0]


def normalise_host(entry: str) -> str:
    """An ``MLP_ALLOWED_HOSTS`` entry as the guard compares it (a port, brackets or case
    dropped; an IPv6 address with or without brackets); ``ValueError`` if it is not a host
    name or address."""
    entry = entry.strip()
    if entry == "*":
        return entry
    if entry.count(":") > 1 and not entry.startswith("["):
        entry = f"[{entry}]"  # a bare IPv6 address (as this function returns it)
    parts = split_host(entry)
    if parts is None:
        raise ValueError(f"allowed_hosts: {entry!r} is not a host name or address (e.g. api.local)")
    return parts[0]


def normalise_origin(entry: str) -> str:
    """An ``MLP_ALLOWED_ORIGINS`` entry as browsers send it (``https://app.example``,
    lower-case, no path, no default port); ``ValueError`` otherwise."""
    entry = entry.strip()
    if entry == "*":
        return entry
    origin = _parse_origin(entry.lower().rstrip("/"))
    if origin is None:
        raise ValueError(
            f"allowed_origins: {entry!r} is not an origin like https://app.example or "
            "http://localhost:3000"
        )
    scheme, name, port = origin
    shown = f"[{name}]" if ":" in name else name
    return f"{scheme}://{shown}" + ("" if port == _DEFAULT_PORTS[scheme] else f":{port}")


def _parse_origin(text: str) -> tuple[str, str, str] | None:
    """``(scheme, name, port)`` of an origin, the port defaulted from the scheme; None for
    ``null`` or anything but an http(s) origin."""
    match = _ORIGIN_RE.fullmatch(text)
    if match is None:
        return None
    scheme, netloc = match.groups()
    parts = split_host(netloc)
    if parts is None:
        return None
    name, port = parts
    return scheme, name, port or _DEFAULT_PORTS[scheme]


def _same_origin(origin: str, host: bytes) -> bool:
    """Whether ``origin`` names the host and port this request was sent to (its ``Host``).

    Schemes are not compared: behind a TLS proxy the service sees ``http`` for an ``https``
    page. A ``Host`` without a port means the origin scheme's default port.
    """
    parsed = _parse_origin(origin)
    target = split_host(host.decode("latin-1"))
    if parsed is None or target is None:
        return False
    scheme, name, port = parsed
    return (name, port) == (target[0], target[1] or _DEFAULT_PORTS[scheme])


def _arrival_host(scope: Scope) -> str | None:
    """The local address the connection arrived on (``scope["server"]``), as a Host name."""
    server = scope.get("server")
    if not server or not isinstance(server[0], str):
        return None
    address = server[0].lower()
    if address.startswith(_MAPPED_V4) and "." in address:
        return address[len(_MAPPED_V4) :]
    return address


class HostGuardMiddleware:
    """400 for a ``Host`` that is not allowed (or missing on HTTP/1.1, or given twice), 403
    for a cross-origin state-changing request; everything else passes untouched.

    The settings are turned into sets once; a request costs one pass over its headers and set
    lookups (a ``Host`` value seen before is not parsed again; ``Origin`` is parsed only on
    writes from a browser). ``*`` in ``allowed_hosts`` / ``allowed_origins`` turns that check off.
    """

    def __init__(
        self, app: ASGIApp, allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = ()
    ) -> None:
        self.app = app
        hosts = {normalise_host(entry) for entry in allowed_hosts}
        origins = {normalise_origin(entry) for entry in allowed_origins}
        self.any_host = "*" in hosts
        self.hosts = frozenset(LOCAL_HOSTS | hosts)
        self.any_origin = "*" in origins
        self.origins = frozenset(origins)
        # Raw Host values already found in ``hosts`` (bounded: a client may send many values).
        self.seen: set[bytes] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host: bytes | None = None
        origin: bytes | None = None
        fetch_site: bytes | None = None
        hosts = 0
        for key, value in scope["headers"]:
            if key in _GUARDED_HEADERS:  # one set lookup for each of the other headers
                if key == b"host":
                    host, hosts = value, hosts + 1
                elif key == b"origin":
                    origin = value
                else:
                    fetch_site = value
        problem = (
            None if hosts == 1 and host in self.seen else self._host_problem(scope, host, hosts)
        )
        if problem is not None:
            await _refuse(scope, send, 400, "host_not_allowed", problem)
        elif scope["method"] in _UNSAFE_METHODS and not self._origin_allowed(
            origin, fetch_site, host
        ):
            await _refuse(scope, send, 403, "cross_origin", f"cross-origin request: {_ORIGIN_HINT}")
        else:
            await self.app(scope, receive, send)

    def _host_problem(self, scope: Scope, host: bytes | None, count: int) -> str | None:
        """Why the request's ``Host`` is refused, or None if it is allowed."""
        if count > 1:
            return "more than one Host header"
        if host is None:
            # HTTP/1.0 may leave Host out (no browser does: nothing to rebind); 1.1 must send it.
            return None if scope.get("http_version") == "1.0" else "missing Host header"
        if self.any_host:
            return None
        name = host_name(host)
        if name is not None and name in self.hosts:
            if len(self.seen) < _MAX_SEEN:
                self.seen.add(host)  # the next request with this exact header: one lookup
            return None
        if name is not None and name == _arrival_host(scope):
            return None
        return f"Host not allowed: {_HOST_HINT}"

    def _origin_allowed(
        self, origin: bytes | None, fetch_site: bytes | None, host: bytes | None
    ) -> bool:
        """Whether a state-changing request comes from this service's own origin (or an allowed
        one); without ``Origin`` (not a browser, or an old one) unless ``Sec-Fetch-Site`` says
        another site sent it. ``Origin: null`` (sandboxed pages, files) is foreign."""
        if self.any_origin:
            return True
        if origin is None:
            return fetch_site is None or fetch_site.strip().lower() not in _FOREIGN_SITES
        text = origin.decode("latin-1").strip().lower()
        return text in self.origins or (host is not None and _same_origin(text, host))


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    """The service's usual error body (``/v2``: KServe's ``{"error": ...}``)."""
    path: str = scope.get("path", "")
    path = path.removeprefix(scope.get("root_path", "")) or "/"
    v2 = path == "/v2" or path.startswith("/v2/")
    payload = orjson.dumps({"error": message} if v2 else {"detail": message, "code": code})
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


_HOST_DOC = (
    "`host_not_allowed`: the `Host` header is missing, repeated, or names a host that is not "
    "localhost, the address the request arrived on, or in `MLP_ALLOWED_HOSTS`."
)
_ORIGIN_DOC = (
    "`cross_origin`: a state-changing request from a browser page of another origin (`Origin` "
    "not this service's and not in `MLP_ALLOWED_ORIGINS`, or `Sec-Fetch-Site` cross-site)."
)


def declare_responses(schema: dict[str, Any]) -> None:
    """Declare this middleware's answers on every operation of an OpenAPI ``schema``: 400 on
    each, 403 on each state-changing one (a status the route declares already gets the case
    added to its description). Bodies: ``ErrorResponse``, or the V2 error under ``/v2``."""
    for path, operations in schema.get("paths", {}).items():
        v2 = path == "/v2" or path.startswith("/v2/")
        body = "V2ErrorBody" if v2 else "ErrorResponse"
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            cases = [("400", _HOST_DOC)]
            if method.upper() in _UNSAFE_METHODS:
                cases.append(("403", _ORIGIN_DOC))
            for status, text in cases:
                if status in responses:
                    described = responses[status].get("description", "")
                    responses[status]["description"] = f"{described} Or {text}".strip()
                else:
                    responses[status] = {"description": text, "content": content}
