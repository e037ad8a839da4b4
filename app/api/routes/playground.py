"""The web playground: ``GET /`` (the page) and ``GET /static/{path}`` (its CSS and JS modules).

Plain HTML, CSS and JavaScript modules shipped in ``app/static``; no build step. The page talks
to the public ``/v1`` API only, so it needs nothing from the server beyond these two routes. Both
stay outside the OpenAPI schema (they are not part of the API) and outside the API key check
(the page asks for the key and sends it as ``Authorization: Bearer`` on its own requests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from app.api.json_route import StrictJSONRoute
from app.errors import NotFound

__all__ = ["STATIC_DIR", "router"]

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"

# The page loads only its own files and talks only to this origin.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate on every load (ETag / Last-Modified make that a cheap 304).
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["playground"], route_class=StrictJSONRoute)

# Starlette serves the files: content types, ETag / 304, ranges, and no escape from STATIC_DIR.
_files = StaticFiles(directory=STATIC_DIR, check_dir=False)


@router.api_route(
    "/", methods=["GET", "HEAD"], include_in_schema=False, response_class=FileResponse
)
def playground() -> FileResponse:
    """The playground page (not part of the API, so not in the OpenAPI schema)."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_PAGE_HEADERS)


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def static_file(
    path: Annotated[str, PathParam(max_length=200)], request: Request
) -> Response:
    """A file of the page (CSS, JavaScript modules, icons)."""
    relative = os.path.normpath(os.path.join(*path.split("/")))
    try:
        response = await _files.get_response(relative, request.scope)
    except HTTPException:  # missing, a directory, or outside STATIC_DIR
        raise NotFound("static file", path) from None
    response.headers.update(_PAGE_HEADERS)
    return response
