"""app.numeric: JSON -> float64 parsing with element-level 422s, and the orjson response."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pytest

from app.errors import InvalidInput
from app.numeric import ORJSONResponse, as_labels, as_matrix, check_finite, dumps, loads

LOC = ("body", "X")


def parse(body: bytes, **kwargs: Any) -> np.ndarray:
    doc = loads(body)
    return as_matrix(doc["X"], LOC, raw=body, **{"max_rows": 100, **kwargs})


def error(body: bytes, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse(body, **kwargs)
    return info.value


def test_as_matrix_parses_numbers_into_contiguous_float64() -> None:
    X = parse(b'{"X": [[1, 2.5], [-3, 4e2]]}')
    assert X.dtype == np.float64 and X.flags.c_contiguous
    np.testing.assert_array_equal(X, [[1.0, 2.5], [-3.0, 400.0]])


def test_numbers_only_bodies_parse_exactly_like_the_checked_path() -> None:
    rows = [[1, -2.5, 3e-7], [2**53 + 1, 0, -0.0], [1e308, -1e-308, 7]]
    fast = parse(orjson.dumps({"X": rows}))  # one key, no bool, no null: np.fromiter
    checked = as_matrix(rows, LOC, max_rows=100)  # no raw body: np.asarray
    assert fast.dtype == np.float64 and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, checked)
    assert np.signbit(fast[1, 2])


def test_as_matrix_without_raw_body_takes_the_checked_path() -> None:
    X = as_matrix([[1, 2], [3, 4]], LOC, max_rows=10)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("body", "loc", "fragment"),
    [
        (b'{"X": [[1, 2], [3]]}', ("body", "X", 1), "X[1] has 1 values"),
        (b'{"X": [[1, 2], 3]}', ("body", "X", 1), "X[1] must be a list"),
        (b'{"X": [[1, "2"]]}', ("body", "X", 0, 1), "X[0][1] must be a number, got a string"),
        (b'{"X": [[1, true]]}', ("body", "X", 0, 1), "got a boolean"),
        (b'{"X": [[false, 1]]}', ("body", "X", 0, 0), "got a boolean"),
        (b'{"X": [[1, null]]}', ("body", "X", 0, 1), "got null"),
        (b'{"X": [[1, {}]]}', ("body", "X", 0, 1), "got an object"),
        (b'{"X": [[1, [2]]]}', ("body", "X", 0, 1), "got a list"),
        (b'{"X": []}', ("body", "X"), "non-empty"),
        (b'{"X": 5}', ("body", "X"), "non-empty"),
        (b'{"X": [[]]}', ("body", "X"), "at least one number"),
    ],
)
def test_as_matrix_names_the_bad_element(
    body: bytes, loc: tuple[str | int, ...], fragment: str
) -> None:
    exc = error(body)
    assert exc.loc == loc
    assert fragment in exc.message


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_named(literal: bytes) -> None:
    exc = error(b'{"X": [[1, 2], [3, ' + literal + b"]]}")
    assert exc.loc == ("body", "X", 1, 1)
    assert "X[1][1] must be a finite number" in exc.message


def test_huge_numbers() -> None:
    # A big integer is still a finite number; one beyond float64 is not.
    assert parse(b'{"X": [[1, 123456789012345678901234567890]]}')[0, 1] == 1.2345678901234568e29
    big = str(10**400).encode()
    exc = error(b'{"X": [[NaN, ' + big + b"]]}")  # the standard-library path keeps Python ints
    assert exc.loc == ("body", "X", 0, 1)
    assert "overflows float64" in exc.message


def test_row_cap_is_inclusive() -> None:
    body = orjson.dumps({"X": [[0.0, 1.0]] * 5})
    assert parse(body, max_rows=5).shape == (5, 2)
    exc = error(body, max_rows=4)
    assert "5 rows; at most 4" in exc.message


def test_feature_count_checks() -> None:
    exc = error(b'{"X": [[1, 2, 3]]}', n_features=2)
    assert "3 features; the model expects 2" in exc.message
    exc = error(b'{"X": [[1, 2, 3]]}', max_features=2)
    assert "at most 2" in exc.message


def test_malformed_json_is_a_422_on_the_body() -> None:
    for body in (b"{", b"", b'{"X": [[1, 2]]', b"\xff\xfe"):
        with pytest.raises(InvalidInput) as info:
            loads(body)
        assert info.value.loc == ("body",)
        assert "not valid JSON" in info.value.message


def test_as_labels() -> None:
    assert as_labels([0, 1, 1], ("body", "y"), n_rows=3).dtype.kind == "i"
    strings = as_labels(["a", "b"], ("body", "y"), n_rows=2)
    assert strings.dtype.kind == "U" and strings.tolist() == ["a", "b"]
    assert as_labels([0.5, 1], ("body", "y"), n_rows=2).dtype == np.float64
    for value, loc in (
        (["a", 1], ("body", "y", 1)),
        ([1, "a"], ("body", "y", 1)),
        ([1, True], ("body", "y", 1)),
        ([1, None], ("body", "y", 1)),
        ([1, 2**64], ("body", "y", 1)),
        ([1, 2, 3], ("body", "y")),
        ("ab", ("body", "y")),
    ):
        with pytest.raises(InvalidInput) as info:
            as_labels(value, ("body", "y"), n_rows=2)
        assert info.value.loc == loc, value
    with pytest.raises(InvalidInput) as info:
        as_labels([1.0, float("nan")], ("body", "y"), n_rows=2)
    assert info.value.loc == ("body", "y", 1)


def test_check_finite_names_the_first_bad_element() -> None:
    check_finite(np.zeros((2, 2)), LOC)
    a = np.zeros((3, 2))
    a[2, 0] = np.inf
    a[1, 1] = np.nan
    with pytest.raises(InvalidInput) as info:
        check_finite(a, LOC)
    assert info.value.loc == ("body", "X", 1, 1)


def test_orjson_response_serialises_numpy_natively() -> None:
    content = {
        "f": np.array([[0.25, 1.0]]),
        "i": np.array([1, 2], dtype=np.int64),
        "s": np.array(["a", "b"]),
        "scalar": np.float64(0.5),
        "t": datetime(2024, 1, 2, tzinfo=UTC),
        "strided": np.arange(6.0).reshape(2, 3)[:, ::2],
    }
    doc = orjson.loads(ORJSONResponse(content).body)
    assert doc == {
        "f": [[0.25, 1.0]],
        "i": [1, 2],
        "s": ["a", "b"],
        "scalar": 0.5,
        "t": "2024-01-02T00:00:00Z",
        "strided": [[0.0, 2.0], [3.0, 5.0]],
    }
    assert dumps({"a": 1}) == b'{"a":1}'
