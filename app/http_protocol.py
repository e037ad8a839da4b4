"""uvicorn's httptools protocol, writing a response's head and its first body part in one call.

uvicorn writes the status line and headers of ``http.response.start`` at once, then the body of
``http.response.body``: two ``write()`` system calls per response, and on a keep-alive
connection the client wakes up twice. For a small response the two calls are most of the
server's cost (docs/benchmarks.md, HTTP). :class:`OneWriteHttpToolsProtocol` holds the head back
until the body's first write, which then sends both in one call; a head still held at the end of
the event loop's current iteration (a streamed response whose body comes later, an error before
any body) is written on its own then, so nothing waits longer than that iteration.

Everything else (parsing, flow control, keep-alive, pipelining, ``Expect: 100-continue``) is
uvicorn's own: the subclass changes which bytes go into which ``write()`` and nothing else. One
difference remains: an app that fails after ``http.response.start`` and before any body, in
the same loop iteration, has its connection closed by uvicorn with the head still held, so the
client sees the connection close without a response rather than a head and then the close (a
failed response either way).
Selected by ``app.cli.uvicorn_options`` when httptools is installed (``HTTP_PROTOCOL``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["HTTP_PROTOCOL", "OneWriteHttpToolsProtocol"]

# uvicorn's ``http`` option for this protocol (an import string, so worker processes load it).
HTTP_PROTOCOL = "app.http_protocol:OneWriteHttpToolsProtocol"


class _HeadHolder:
    """Stands in for the transport while uvicorn writes a response's head: keeps the bytes."""

    __slots__ = ("head", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.head = b""

    def write(self, data: bytes) -> None:
        self.head += data

    def __getattr__(self, name: str) -> Any:  # is_closing, close: the real transport's
        return getattr(self.transport, name)


class _HeadPrepender:
    """Stands in for the transport while uvicorn writes a body part: the held head goes first,
    in the same ``write()``."""

    __slots__ = ("head", "transport")

    def __init__(self, transport: asyncio.Transport, head: bytes) -> None:
        self.transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        head, self.head = self.head, b""
        self.transport.write(head + data if head else data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class _OneWriteCycle(RequestResponseCycle):
    """uvicorn's request-response cycle; the head of the response waits for its first body part.

    uvicorn's ``send`` writes through ``self.transport``; for the duration of one call it is a
    holder (the head) or a prepender (the first body part), then the real transport again.
    """

    _held = b""
    _flush_scheduled = False
    _loop: asyncio.AbstractEventLoop  # set by the protocol (``get_running_loop`` costs a getpid)

    async def send(self, message: ASGISendEvent) -> None:
        transport = self.transport
        if message["type"] == "http.response.start" and not self.response_started:
            holder = _HeadHolder(transport)
            self.transport = holder  # type: ignore[assignment]
            try:
                await super().send(message)
            finally:
                self.transport = transport
            self._held = holder.head
            if self._held and not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
            return
        if not self._held:
            await super().send(message)
            return
        prepender = _HeadPrepender(transport, self._held)
        self._held = b""
        self.transport = prepender  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
        if prepender.head:  # uvicorn wrote nothing (e.g. it raised): the head goes on its own
            self._held = prepender.head
            self._flush()

    def _flush(self) -> None:
        """Write a head still held (its body did not come in the same loop iteration)."""
        self._flush_scheduled = False
        head, self._held = self._held, b""
        if head and not self.transport.is_closing():
            self.transport.write(head)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose request-response cycles write head and body together."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        # The cycle uvicorn just built (its task has not run yet): same object, our ``send``.
        if type(cycle) is RequestResponseCycle:
            cycle.__class__ = _OneWriteCycle
            cycle._loop = self.loop  # type: ignore[attr-defined]
