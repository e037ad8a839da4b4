"""Large JSON bodies of the data routes (``/v1/datasets``, ``/v1/jobs``): a body limit derived
from the row and feature caps, rows counted before anything is parsed, and the parse plus the
body model's validation in a worker thread, so the event loop (``/health``) never waits on it.

A 61 MB ``{"X": [[0], ...16M rows]}`` used to be parsed whole (1.6 GB of Python lists, 9 s on
the event loop) before the row cap refused it; now its arrays are counted in a thread (no
objects built) and it is a 422 naming ``MLP_MAX_ROWS``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Coroutine
from itertools import chain
from typing import Annotated, Any

import anyio.to_thread
import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from app import json_slices, numeric
from app.api.json_route import StrictJSONRequest, StrictJSONRoute
from app.errors import InvalidInput, PayloadTooLarge
from app.settings import Settings

__all__ = ["DataBodyRoute", "check_row_count", "data_body_limit", "read_limited_body"]

# A JSON string, escapes included; one running to the end of the bytes (unterminated, maybe cut
# after a backslash) matches too, so no match fails and the scan is linear whatever the quotes
# (a failed match would start again at every later quote).
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.S)
# Arrays a valid body may hold besides its rows: X or data, y, columns, hidden_layers,
# categorical, ignore, feature_crosses, ... (and the outer one of each).
_OTHER_ARRAYS = 64
_HEADROOM_BYTES = 64 * 1024  # names, options and the JSON around the values


def data_body_limit(settings: Settings) -> int:
    """The largest body the data routes read: ``MLP_MAX_ROWS x (MLP_MAX_FEATURES + 1) x
    MLP_BODY_BYTES_PER_VALUE`` (every cell and its label) plus 64 KiB, at most
    ``MLP_MAX_BODY_BYTES``."""
    derived = settings.max_rows * (settings.max_features + 1) * settings.body_bytes_per_value
    return min(settings.max_body_bytes, derived + _HEADROOM_BYTES)


async def read_limited_body(request: Request, limit: int, max_rows: int | None = None) -> bytes:
    """The request body, or a 413 naming ``limit`` as soon as the declared or streamed size
    passes it. With ``max_rows`` (a JSON body), its arrays are counted as it streams in: a 422
    naming ``MLP_MAX_ROWS`` as soon as they are more than a valid request can hold, before the
    rest is read (see :func:`check_row_count`)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    received = brackets = checked = 0
    bound = (max_rows or 0) + _OTHER_ARRAYS
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        brackets += chunk.count(b"[")
        if max_rows is not None and brackets > max(bound, 2 * checked):
            # More "[" than a valid body holds: count again without those inside strings
            # (doubling the threshold each time keeps the recounts linear in all).
            chunks = [b"".join(chunks)]
            await anyio.to_thread.run_sync(check_row_count, chunks[0], max_rows)
            checked = brackets
    body = b"".join(chunks)
    if max_rows is not None and bound < brackets != checked:
        await anyio.to_thread.run_sync(check_row_count, body, max_rows)
    return body


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body too large: the limit for this route is {limit:,} bytes (MLP_MAX_ROWS x "
        "(MLP_MAX_FEATURES + 1) x MLP_BODY_BYTES_PER_VALUE + 64 KiB, at most MLP_MAX_BODY_BYTES)"
    )


def check_row_count(body: bytes, max_rows: int) -> None:
    """422 naming ``MLP_MAX_ROWS`` when the JSON ``body`` (or its beginning) holds more arrays
    outside strings than ``max_rows`` rows and the few other arrays a request has: counted on
    the bytes, no object built. Blocking (a copy of the body at most): run it in a thread."""
    bound = max_rows + _OTHER_ARRAYS
    if body.count(b"[") <= bound:  # the common case: one pass, no copy
        return
    arrays = _STRING.sub(b"", body).count(b"[")
    if arrays > bound:
        raise InvalidInput(
            ("body",),
            f"the body holds more than {bound:,} JSON arrays: more rows than the {max_rows:,} "
            "allowed (MLP_MAX_ROWS) in X or data",
        )


class DataBodyRoute(StrictJSONRoute):
    """A :class:`StrictJSONRoute` whose POST body is read under :func:`data_body_limit`, its rows
    counted, then (JSON) parsed and validated against the route's body model in a thread;
    FastAPI then gets the validated model (accepted as is, not validated again)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = APIRoute.get_route_handler(self)
        prepare = self._prepare

        async def data_handler(request: Request) -> Response:
            strict = StrictJSONRequest(request.scope, request.receive)
            if request.method == "POST":
                settings: Settings = request.app.state.settings
                limit, json_body = data_body_limit(settings), _is_json(strict)
                rows = settings.max_rows if json_body else None
                body = await read_limited_body(strict, limit, rows)
                strict._body = body
                if body and json_body:
                    parsed = await anyio.to_thread.run_sync(prepare, body)
                    if parsed is not None:
                        strict._json = parsed[0]
            return await handler(strict)

        return data_handler

    def _prepare(self, body: bytes) -> tuple[Any] | None:
        """``(the validated body model,)``; None for a route that reads its body itself, or
        where orjson refuses the document (NaN literals, malformed JSON: the strict request's
        own fallback then answers, naming the element)."""
        if self.body_field is None:  # the route parses its body itself (in a thread too)
            return None
        try:
            doc = json_slices.loads(body)  # a large body in slices (the GIL changes hands)
        except orjson.JSONDecodeError:
            return None
        model = self.body_field.field_info.annotation
        checked = _checked_lists(model, doc)
        if checked:  # validated slice by slice: the rest with [] in their place, then put back
            doc_rest = {**doc, **{key: [] for key in checked}}
            value, errors = self.body_field.validate(doc_rest, {}, loc=("body",))
            if not errors:
                for key, items in checked.items():
                    setattr(value, key, items)
                numeric.release(doc)  # the unvalidated lists: freed in slices, not at once
                return (value,)
        value, errors = self.body_field.validate(doc, {}, loc=("body",))
        if errors:
            raise RequestValidationError(errors, body=doc)
        return (value,)


def _checked_lists(model: Any, doc: Any) -> dict[str, list[Any]] | None:
    """The long lists of ``doc`` (``X``: 100,000 rows) validated against their field's type
    ``SLICE_ROWS`` items at a time, so that pydantic does not hold the GIL over all of them in
    one call (~0.5 s for 3M numbers). None when there is none, or a slice fails: the whole body
    is then validated in one call, as before, for FastAPI's exact list of errors. The model's
    own validators see ``[]`` for these fields (``JobCreate``'s only asks whether they are
    given)."""
    if not (isinstance(model, type) and issubclass(model, BaseModel) and isinstance(doc, dict)):
        return None
    with json_slices.gc_paused():  # the validated copies are new lists: no full collections
        return _validate_lists(model, doc) or None


def _validate_lists(model: type[BaseModel], doc: dict[str, Any]) -> dict[str, list[Any]] | None:
    """``{field: validated list}`` for each long list of ``doc``; None as soon as one fails."""
    checked = {}
    for key, items in doc.items():
        if (
            key in model.model_fields
            and isinstance(items, list)
            and len(items) > numeric.SLICE_ROWS
        ):
            adapter = _adapter(model, key)
            parts = []
            step = numeric.SLICE_ROWS
            for i in range(0, len(items), step):
                try:
                    parts.append(adapter.validate_python(items[i : i + step]))
                except ValidationError:
                    return None
            checked[key] = list(chain.from_iterable(parts))
    return checked


@functools.cache
def _adapter(model: type[BaseModel], key: str) -> TypeAdapter[Any]:
    """A validator of one field's value (its annotation and constraints)."""
    field = model.model_fields[key]
    return TypeAdapter(Annotated[field.annotation, field])  # type: ignore[arg-type]


def _is_json(request: Request) -> bool:
    """Whether FastAPI reads this body as JSON (``application/json`` or ``application/*+json``;
    without a type FastAPI decides, on the event loop as before)."""
    header = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return header == "application/json" or (
        header.startswith("application/") and header.endswith("+json")
    )
