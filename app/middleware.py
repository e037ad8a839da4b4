"""Pure ASGI middleware (no ``BaseHTTPMiddleware``, so streamed and SSE responses pass unbuffered).

Order, outermost first: :class:`RequestContextMiddleware` (request ID, access log, metrics),
``app.host_guard.HostGuardMiddleware`` (400 for a foreign Host, 403 for a cross-origin write),
:class:`ApiKeyMiddleware` (401 before any body is read), :class:`BodySizeLimitMiddleware` (413).
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Mapping, Sequence
from random import getrandbits
from typing import Literal

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BodyTooLarge
from app.logging import log_access, request_id_var
from app.metrics import Metrics
from app.owners import OWNER_STATE, ApiKey, Owner, keyring

__all__ = [
    "ApiKeyMiddleware",
    "BodySizeLimitMiddleware",
    "RequestContextMiddleware",
    "route_path",
]

_REQUEST_ID_KEY = b"x-request-id"
# A client's X-Request-ID is echoed only if it is short and made of harmless characters.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_UNMATCHED = "<unmatched>"
_MAX_LOGGED_PATH = 200

access_logger = logging.getLogger("app.access")


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), without building a ``Headers`` object
    (this runs on every request; ASGI servers give lower-case names)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def route_path(scope: Scope) -> str:
    """The request path below the app's root path (what the routes match)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


async def _send_json(
    send: Send, status: int, body: Mapping[str, object], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    """Assigns the request ID, echoes it, writes the access log line and records metrics.

    ``access_log=False`` (``MLP_ACCESS_LOG=false``, e.g. behind a proxy that logs requests)
    leaves the access line out; the request ID still goes on the response and on every other
    log line of the request, errors included.
    """

    def __init__(
        self, app: ASGIApp, metrics: Metrics | None = None, *, access_log: bool = True
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, _REQUEST_ID_KEY) or ""
        # 128 random bits from the process's Mersenne Twister (reseeded in forked children): IDs
        # tell requests apart and need no secrecy, and this costs no system call per request.
        request_id = offered if _REQUEST_ID_RE.fullmatch(offered) else f"{getrandbits(128):032x}"
        # Shared with the exception handlers, which run outside this middleware.
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500  # unless a response starts
        responded = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                headers = [h for h in message.get("headers", []) if h[0].lower() != _REQUEST_ID_KEY]
                headers.append((_REQUEST_ID_KEY, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            if not responded:  # e.g. a stream cut short by the client keeps its 200
                status = 500
            raise
        finally:
            seconds = time.perf_counter() - started
            self._record(scope, request_id, status, seconds)
            request_id_var.reset(token)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or _UNMATCHED
        method: str = scope.get("method", "")
        # Whose request it was (the key's name, never the key): set by ApiKeyMiddleware.
        owner: Owner | None = scope["state"].get(OWNER_STATE)
        name = None if owner is None else owner.name
        if self.metrics is not None:
            self.metrics.observe(method, route, status, seconds)
            if name is not None:
                self.metrics.observe_owner(name, route, status)
        if not self.access_log or not access_logger.isEnabledFor(logging.INFO):
            return
        path = route_path(scope)[:_MAX_LOGGED_PATH]
        client = scope.get("client")
        fields = {
            "request_id": request_id,
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "client": f"{client[0]}:{client[1]}" if client else None,
        }
        if name is not None:  # only requests with a valid key (open mode logs as before)
            fields["owner"] = name
        log_access(access_logger, f"{method} {path} {status}", fields)


def _is_v2(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def requires_key(path: str, prefix: str = "/v1") -> bool:
    """Whether a request to ``path`` needs an API key when keys are configured: everything under
    ``prefix`` and every ``/v2`` route but its health probes (the schema says the same)."""
    if _is_v2(path):  # the Open Inference Protocol: all but its health probes
        return not path.startswith("/v2/health/")
    return path == prefix or path.startswith(prefix + "/")


class ApiKeyMiddleware:
    """With keys configured, every ``/v1`` request needs ``Authorization: Bearer <key>`` (else 401),
    and so does every ``/v2`` request but ``/v2/health/*`` (its 401 body is ``{"error": ...}``).

    Health, readiness, metrics, the docs and the playground stay open. Keys are compared in
    constant time against every configured key and never logged. An accepted request carries
    its key's :class:`~app.owners.Owner` in ``scope["state"]["owner"]`` (built once per key).
    ``keys`` and ``admin_keys`` are ``name:key`` or bare keys (``app.owners.parse_key``).
    """

    def __init__(
        self,
        app: ASGIApp,
        keys: Sequence[str],
        prefix: str = "/v1",
        admin_keys: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.keys: list[ApiKey] = keyring(keys, admin_keys)
        self.prefix = prefix

    def _protected(self, scope: Scope) -> bool:
        return requires_key(route_path(scope), self.prefix)

    def _authorised(self, scope: Scope) -> Owner | None:
        """The owner of the offered key, or None."""
        header = _header(scope, b"authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        offered = token.strip().encode()
        matched = None
        for key in self.keys:  # no early exit: timing does not reveal which key matched
            if hmac.compare_digest(offered, key.secret):
                matched = key.owner
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or not self._protected(scope):
            await self.app(scope, receive, send)
            return
        owner = self._authorised(scope)
        if owner is not None:
            state = scope.get("state")
            if state is None:
                state = scope["state"] = {}
            state[OWNER_STATE] = owner
            await self.app(scope, receive, send)
            return
        has_header = _header(scope, b"authorization") is not None
        challenge = b'Bearer realm="mlp-service"'
        if has_header:
            challenge += b', error="invalid_token"'
        message = "invalid API key" if has_header else "missing API key"
        text = f"{message}: send 'Authorization: Bearer <key>'"
        # /v2 errors are KServe's {"error": ...}; everywhere else {"detail", "code"}.
        body = (
            {"error": text}
            if _is_v2(route_path(scope))
            else {"detail": text, "code": "unauthorized"}
        )
        await _send_json(send, 401, body, [(b"www-authenticate", challenge)])


class BodySizeLimitMiddleware:
    """413 for bodies over ``max_bytes``: at once from ``Content-Length``, else while streaming.

    Chunked bodies are counted as they arrive; the request fails as soon as the count passes
    the limit, so the server never holds more than about ``max_bytes`` of one request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        action = self._action(scope)
        if action == "reject":
            await self._reject(send)
        elif action == "pass":
            await self.app(scope, receive, send)
        else:
            await self._counted(scope, receive, send)

    def _action(self, scope: Scope) -> Literal["pass", "reject", "count"]:
        """``reject`` a declared length over the limit; ``pass`` what needs no counting."""
        if scope["type"] != "http":
            return "pass"
        declared = _header(scope, b"content-length")
        if declared is None or not declared.isdigit():
            return "count"
        if int(declared) > self.max_bytes:
            return "reject"
        # Without Transfer-Encoding the HTTP server frames the body by Content-Length and never
        # delivers more, so there is nothing to count (every ordinary request: skip the wrappers).
        return "pass" if _header(scope, b"transfer-encoding") is None else "count"

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with a ``receive`` that raises :class:`BodyTooLarge` past the limit."""
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        error = BodyTooLarge(self.max_bytes)
        headers = [(k.lower().encode(), v.encode()) for k, v in error.response_headers().items()]
        await _send_json(send, error.status_code, error.body(), headers)
