"""A small Server-Sent Events decoder (the WHATWG rules the job and sweep streams need):
``event:``, ``data:`` (several lines joined by newlines), ``id:``, comments (``: ping``) and
the blank line that dispatches an event. Fed line by line, so the sync and async clients share
it whatever they read the lines with."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = ["SSEDecoder", "ServerEvent", "iter_events"]


@dataclass(frozen=True)
class ServerEvent:
    """One dispatched event: its type (``message`` when unnamed), data and ID."""

    event: str
    data: str
    id: str | None = None


@dataclass
class SSEDecoder:
    """Feed it lines (without their line break); it returns an event at each blank line."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)
    _id: str | None = None

    def feed(self, line: str) -> ServerEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None  # "retry" and unknown fields are ignored

    def _dispatch(self) -> ServerEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = ServerEvent(self._event or "message", "\n".join(self._data), self._id)
        self._event, self._data = "", []
        return event


def iter_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """Every event in ``lines`` (an unterminated last event is dropped, as browsers do)."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event
