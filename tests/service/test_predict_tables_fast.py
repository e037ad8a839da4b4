"""Table predict bodies (``instances``, ``columns``/``data``) on the fast path: byte-identical
to the FastAPI route, the row checks done in C still name the row and column of a bad cell
further down the body, and the categorical decoding gives the cells' values as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.fast_path import fast_and_route_clients

from app.services.model_input import decode_column
from mlp_engine import MLPClassifier

pytestmark = pytest.mark.anyio

URL = "/v1/models/mdl_tab/predict"
ISLANDS = np.array(["Biscoe", "Dream", "Torgersen"])


@pytest.fixture(scope="module")
def model() -> MLPClassifier:
    rng = np.random.default_rng(0)
    n = 120
    bill, island = rng.normal(45, 5, n), ISLANDS[rng.integers(0, 3, n)]
    y = np.where((bill - 45) / 5 + (island == "Dream") > 0.3, "yes", "no")
    bill[::9] = np.nan
    island[::7] = ""
    return MLPClassifier(hidden_layers=(6,), epochs=20, seed=0).fit(
        {"bill": bill, "island": island}, y
    )


@pytest.fixture
async def clients(
    tmp_path: Path, model: MLPClassifier
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with fast_and_route_clients(tmp_path, model, "mdl_tab", max_rows=50) as pair:
        yield pair


def _rows(n: int) -> list[dict[str, Any]]:
    islands = [" Dream", "Biscoe ", None, "Atlantis", "Torgersen", 7, ""]
    return [{"bill": None if i % 5 == 0 else 40.0 + i, "island": islands[i % 7]} for i in range(n)]


GOOD = _rows(30)
BAD_LATER_ROW: list[tuple[dict[str, Any], list[Any], str]] = [
    ({"instances": [*GOOD[:3], {"bill": 1.0, "sex": "f"}]}, ["body", "instances", 3, "sex"], "sex"),
    ({"instances": [*GOOD[:3], {"bill": 1.0}]}, ["body", "instances", 3, "island"], "needs"),
    ({"instances": [*GOOD[:3], {**GOOD[0], "x": 1}]}, ["body", "instances", 3, "x"], "'x'"),
    ({"instances": [*GOOD[:4], [1.0, "Dream"]]}, ["body", "instances", 4], "object"),
    ({"instances": [*GOOD[:5], {"bill": "long", "island": "Dream"}]}, None, "'long'"),
    ({"instances": [*GOOD[:5], {"bill": 1.0, "island": {"a": 1}}]}, None, "an object"),
    ({"columns": ["island", "bill"], "data": [["Dream", 1.0], ["Dream", True]]}, None, "boolean"),
]


@pytest.mark.parametrize(
    "body",
    [
        {"instances": GOOD},
        {"columns": ["island", "bill"], "data": [[r["island"], r["bill"]] for r in GOOD]},
        *[case[0] for case in BAD_LATER_ROW],
    ],
)
async def test_table_bodies_answer_byte_for_byte_as_the_route(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], body: dict[str, Any]
) -> None:
    fast, route = clients
    headers = {"x-request-id": "same-id"}
    a = await fast.post(URL, json=body, headers=headers)
    b = await route.post(URL, json=body, headers=headers)
    assert a.status_code == b.status_code and a.status_code in (200, 422)
    assert a.content == b.content
    same = ("content-type", "content-length", "x-request-id")
    assert [a.headers.get(h) for h in same] == [b.headers.get(h) for h in same]


async def test_table_rows_equal_the_engine(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], model: MLPClassifier
) -> None:
    fast, _ = clients
    response = await fast.post(URL, json={"instances": GOOD})
    assert response.status_code == 200, response.text
    table = {
        "bill": np.array([np.nan if r["bill"] is None else r["bill"] for r in GOOD]),
        "island": ["" if r["island"] is None else str(r["island"]).strip() for r in GOOD],
    }
    np.testing.assert_array_equal(response.json()["probabilities"], model.predict_proba(table))


@pytest.mark.parametrize(("body", "loc", "fragment"), BAD_LATER_ROW)
async def test_a_bad_row_further_down_is_named(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    body: dict[str, Any],
    loc: list[Any] | None,
    fragment: str,
) -> None:
    fast, _ = clients
    response = await fast.post(URL, json=body)
    assert response.status_code == 422, response.text
    assert fragment in response.text
    if loc is not None:
        assert response.json()["detail"][0]["loc"] == loc


def _old_text_column(cells: list[str | None]) -> np.ndarray:
    """The decoding this replaced: every cell converted, then stripped, in NumPy."""
    objects = np.array(cells, dtype=object)
    objects[objects == None] = ""  # noqa: E711  # elementwise
    return np.strings.strip(objects.astype(str), " \t\n\r\x0b\x0c")


@pytest.mark.parametrize(
    "cells",
    [
        ["Dream", " Dream", "Dream\t", None, "", "  ", "Dream"],
        ["a \x00", "a", "\x00", "b\x00 ", None],  # NumPy drops trailing NULs before stripping
        ["São Paulo", "東京", " 東京 ", "\u00a0x", None, "x"],  # no-break space is not stripped
        [None, None],
        [""],
        [f"c{i % 13}" for i in range(500)],
    ],
)
def test_categorical_cells_decode_as_before(cells: list[str | None]) -> None:
    decoded = decode_column(cells, "categorical", "c", lambda i: ("body", "data", i))
    assert decoded.tolist() == _old_text_column(cells).tolist()
    assert decoded.dtype.kind == "U" and decoded.shape == (len(cells),)
