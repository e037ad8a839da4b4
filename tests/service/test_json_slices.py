"""Issue 18 finding 3, the parse: a large JSON body is parsed in slices (``app.json_slices``), so
no single ``orjson.loads`` call holds the GIL over the whole body, and the document is exactly
the one a single call gives: the same keys in the same order, the same float64s (``-0.0``,
exponents), the same strings (brackets, commas and escaped quotes inside them), and for a body
a single call refuses, the same error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import json_slices


@pytest.fixture
def pieces(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of every document ``orjson.loads`` parses inside ``app.json_slices``."""
    sizes: list[int] = []
    real = orjson.loads

    def spy(data: bytes) -> Any:
        sizes.append(len(data))
        return real(data)

    monkeypatch.setattr(json_slices.orjson, "loads", spy)
    yield sizes
    monkeypatch.undo()


def same(got: Any, want: Any) -> None:
    """Equal documents, float for float (``-0.0`` is not ``0.0``), keys in the same order."""
    assert orjson.dumps(got) == orjson.dumps(want)
    assert repr(got) == repr(want)


TRICKY = (
    b'{ "name" : "a[b],\\"c\\\\" , "X" :\n [ [1e308, -0.0, 1E-5] ,[ 2.5e+3,0,-1 ] ,\n'
    b"\t[3.000000000000001, 4, 5], [1.7976931348623157e308, 2.2250738585072014e-308, -0]"
    + b", [0.1, 0.2, 0.30000000000000004]" * 20
    + b' ],  "y" : [ "[x]", "\\u00e9\\"]", "\\\\", "z,]", "q\\\\\\"", "\\ud83d\\ude00"'
    + b', "{\\"a\\": [1,2]}"' * 20
    + b' ], "o": {"k": [1, [2, {"z": "]"}]], "w": "[[["}, "e": [], "s": "\\\\\\"" , "n": null }'
)


@pytest.mark.parametrize("slice_bytes", [8, 16, 33, 64, 128, 256])
def test_a_large_body_is_parsed_in_slices_equal_to_one_parse(
    pieces: list[int], slice_bytes: int
) -> None:
    want = orjson.loads(TRICKY)
    pieces.clear()
    got = json_slices.loads(TRICKY, slice_bytes)
    same(got, want)
    rest, *rows = pieces  # the object without X and y, then X and y piece by piece
    assert len(rows) > 2 and rest < len(TRICKY) / 4
    # Each piece is about one slice (a cut per slice_bytes, plus the element that crosses it).
    longest_element = 60
    assert max(rows) <= 2 * slice_bytes + longest_element + 2


def test_a_small_body_is_one_call(pieces: list[int]) -> None:
    body = b'{"X": [[0.5, -0.25]]}'
    want = orjson.loads(body)
    pieces.clear()
    same(json_slices.loads(body), want)
    assert pieces == [len(body)]


@pytest.mark.parametrize(
    "body",
    [
        b'{"X": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [5,, 6]], "y": [1]}',
        b'{"X": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14]], "y": [NaN]}',
        b'{"y": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, "\\ud800", 1]}',
        b'{"X": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14]], "y": [1] ',
        b'{"X": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14]]} trailing',
        b'{"X": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], 1e99999]}',
    ],
)
def test_a_body_one_call_refuses_raises_the_same_error(body: bytes) -> None:
    with pytest.raises(orjson.JSONDecodeError) as one:
        orjson.loads(body)
    with pytest.raises(orjson.JSONDecodeError) as sliced:
        json_slices.loads(body, 8)
    assert str(sliced.value) == str(one.value)


@pytest.mark.parametrize(
    "body",
    [
        # duplicate keys: one call keeps what orjson keeps
        b'{"X": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12]], "X": [[0]], "y": [1]}',
        b'{"X": [[0]], "X": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12]], "y": [1]}',
        b'{"y": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 99999999999999999999]}',
        # not an object at the top, deeper than the scan goes, a quote-heavy key
        b"[[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]",
        b'{"d": ' + b"[" * 70 + b"1, 2, 3, 4, 5, 6, 7, 8, 9, 10" + b"]" * 70 + b"}",
        b'{"\\"]\\\\": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12]], "a": {"b": [1, 2]}}',
        b'  \n{"X": [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12]], "y": [0, 1, 0, 1]}\n ',
    ],
)
def test_bodies_the_scan_does_not_cut_still_parse_as_one_call(body: bytes) -> None:
    same(json_slices.loads(body, 8), orjson.loads(body))


_TEXT = st.text(alphabet=st.sampled_from(list('ab[]{},:"\\ \n\té\U0001f600')), max_size=8)
_NUMBER = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)
)
_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=30,
)


@settings(max_examples=100, deadline=None)
@given(
    doc=st.dictionaries(_TEXT, st.lists(_VALUE, max_size=12), min_size=1, max_size=4),
    slice_bytes=st.integers(4, 64),
    indent=st.sampled_from([None, 0, 2]),
)
def test_any_document_parses_in_slices_as_in_one_call(
    doc: dict[str, Any], slice_bytes: int, indent: int | None
) -> None:
    body = json.dumps(doc, indent=indent, ensure_ascii=indent is None).encode()
    same(json_slices.loads(body, slice_bytes), orjson.loads(body))


# ------------------------------------------------------------------ through the data routes


def rows_body(bad: bytes = b"") -> bytes:
    """300 rows of 6 awkward float64s (``-0.0``, subnormals, 17 significant digits), string
    labels with brackets, commas and quotes; ``bad`` (JSON text) put at ``X[200][1]``."""
    X = [[-0.0, 5e-324, 0.1 + i, 1e300 / (i + 1), -(2.0**-1074) * i, 1e-7 * i] for i in range(300)]
    X[200][1] = 12345.5
    y = ['c[1],"a"' if i % 3 else "\\]\u00e9" for i in range(300)]
    body = orjson.dumps({"name": "sliced", "X": X, "y": y})
    return body.replace(b"12345.5", bad) if bad else body


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch, pieces: list[int]) -> list[int]:
    """Slices of 1 KiB and 16 rows, so the routes' 40 KB bodies are cut in many."""
    from app import numeric

    monkeypatch.setattr(json_slices, "SLICE_BYTES", 1024)
    monkeypatch.setattr(numeric, "SLICE_ROWS", 16)
    return pieces


@pytest.mark.anyio
async def test_the_data_routes_store_what_one_parse_gives(
    client: Any, small_slices: list[int]
) -> None:
    body = rows_body()
    want = orjson.loads(body)
    small_slices.clear()
    headers = {"content-type": "application/json"}
    created = await client.post("/v1/datasets", content=body, headers=headers)
    assert created.status_code == 201, created.text
    assert len(small_slices) > 10  # cut in pieces, not parsed in one call
    stored = (await client.get(f"/v1/datasets/{created.json()['id']}/data")).json()
    same(stored["X"], want["X"])  # the same float64s, bit for bit
    assert stored["y"] == want["y"]

    job_body = orjson.dumps({**want, "training": {"epochs": 1}})
    small_slices.clear()
    job = await client.post("/v1/jobs", content=job_body, headers=headers)
    assert job.status_code == 202, job.text
    assert len(small_slices) > 10
    inline = (await client.get(f"/v1/datasets/{job.json()['dataset_id']}/data")).json()
    same(inline["X"], want["X"])
    assert inline["y"] == want["y"]


@pytest.mark.anyio
@pytest.mark.parametrize("bad", [b'"1.5"', b"true", b"null", b"[1]", b"1e400", b"NaN"])
@pytest.mark.parametrize("path", ["/v1/datasets", "/v1/jobs"])
async def test_errors_in_a_sliced_body_are_those_of_one_parse(
    client: Any, monkeypatch: pytest.MonkeyPatch, pieces: list[int], path: str, bad: bytes
) -> None:
    from app import numeric

    body = rows_body(bad)
    headers = {"content-type": "application/json"}
    one_call = await client.post(path, content=body, headers=headers)
    monkeypatch.setattr(json_slices, "SLICE_BYTES", 1024)
    monkeypatch.setattr(numeric, "SLICE_ROWS", 16)
    pieces.clear()
    sliced = await client.post(path, content=body, headers=headers)
    assert len(pieces) > 3  # the sliced parse ran (a piece orjson refuses: then the whole body)
    assert one_call.status_code == sliced.status_code == 422
    assert sliced.json() == one_call.json()
    assert "200" in sliced.text
