"""The one route class of the service: JSON bodies parsed by orjson, lone surrogates refused.

FastAPI parses JSON bodies with the standard library, which accepts ``"\\ud800"`` (valid JSON
syntax, but no character). Such text then fails wherever it is written or echoed (orjson, UTF-8
files, the error body itself): a 500. :class:`StrictJSONRoute` gives every handler a request
whose ``json()`` parses with orjson (faster too) and, where orjson refuses the document, with the
standard library as before (so malformed JSON keeps FastAPI's own 422, and ``NaN`` literals reach
the field checks that name them), then refuses any lone surrogate with a 422 naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from app.errors import InvalidInput, field_name
from app.numeric import check_unicode

__all__ = ["StrictJSONRequest", "StrictJSONRoute"]


class StrictJSONRequest(Request):
    """A request whose JSON body holds only valid Unicode text."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = orjson.loads(body)
            except orjson.JSONDecodeError:
                doc = json.loads(body)  # malformed: FastAPI turns JSONDecodeError into its 422
                try:
                    check_unicode(doc)
                except InvalidInput as exc:
                    loc = list(exc.loc)
                    item = {
                        "loc": loc,
                        "msg": f"{field_name(loc)}: {exc.message}",
                        "type": exc.code,
                    }
                    raise HTTPException(422, detail=[item]) from None
                self._json = doc
        return self._json


class StrictJSONRoute(APIRoute):
    """``APIRoute`` handing its endpoint a :class:`StrictJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
