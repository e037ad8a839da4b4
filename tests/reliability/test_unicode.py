"""Issue 18, finding 5: a lone surrogate (``"\\ud800"``) anywhere in a JSON body is a 422.

It is valid JSON syntax but no character: orjson refuses it, the standard library lets it
through, and then writing the dataset, the job record or the error echo failed with a 500. Every
route parses JSON through :class:`app.api.json_route.StrictJSONRoute` (a test checks each route
uses it), which names the field holding the bad text; nothing is created.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from helpers.inprocess import files_under, make_settings, serve

from app.api.json_route import StrictJSONRoute
from app.main import create_app

pytestmark = pytest.mark.anyio

LONE = "\\ud800"  # as written in the raw JSON text
ROWS = '"X": [[0], [1], [2], [3]]'


def doc(template: str) -> str:
    """``template`` with ``@`` as the lone surrogate escape and ``ROWS`` as four rows of X."""
    return template.replace("@", LONE).replace("ROWS", ROWS)


CASES = [
    ("/v1/datasets", doc('{ROWS, "y": ["@", "b", "a", "b"]}'), ["body", "y", 0]),
    ("/v1/datasets", doc('{"name": "n@", ROWS, "y": [0, 1, 0, 1]}'), ["body", "name"]),
    (
        "/v1/datasets",
        '{"columns": ["a", "l"], "data": [[1, "x"], [2, "\\udc00y"]], "label": "l"}',
        ["body", "data", 1, 1],
    ),
    (
        "/v1/datasets",
        doc('{"columns": ["a", "l@"], "data": [[1, "x"]], "label": "l"}'),
        ["body", "columns", 1],
    ),
    ("/v1/datasets/generate", doc('{"kind": "xor", "name": "@"}'), ["body", "name"]),
    ("/v1/jobs", doc('{ROWS, "y": [0, 1, 0, 1], "name": "@"}'), ["body", "name"]),
    ("/v1/jobs", doc('{ROWS, "y": ["@", 1, 0, 1]}'), ["body", "y", 0]),
]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(tmp_path / "data")) as client:
        yield client


@pytest.mark.parametrize(("path", "body", "loc"), CASES)
async def test_lone_surrogates_are_422_naming_the_field(
    client: httpx.AsyncClient, tmp_path: Path, path: str, body: str, loc: list[Any]
) -> None:
    response = await client.post(
        path, content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == loc, detail
    assert "valid Unicode" in detail[0]["msg"]
    assert (await client.get("/v1/datasets")).json()["count"] == 0
    assert (await client.get("/v1/jobs")).json()["count"] == 0
    assert files_under(tmp_path / "data" / "datasets") == []


async def test_a_paired_surrogate_escape_is_an_ordinary_character(
    client: httpx.AsyncClient,
) -> None:
    body = doc('{"name": "smile \\ud83d\\ude00", ROWS, "y": ["\\ud83d\\ude00", "b", "b", "b"]}')
    response = await client.post(
        "/v1/datasets", content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "smile \U0001f600"
    assert response.json()["classes"] == ["b", "\U0001f600"]


def test_every_route_parses_json_strictly(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data"))
    loose = [
        route.path
        for route in app.routes
        if isinstance(route, APIRoute) and not isinstance(route, StrictJSONRoute)
    ]
    assert loose == []
