"""app.tabular: CSV and JSON split tables -> typed columns, labels, features; 422s name a column."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import csv_cells, tabular
from app.errors import InvalidInput
from app.tabular import (
    MAX_CELL_BYTES,
    MISSING_TOKENS,
    ParsedTable,
    cell_text,
    features_of,
    parse_csv,
    parse_split,
)

LIMITS = {"max_rows": 1000, "max_columns": 50}


def csv_table(text: str | bytes, **kwargs: Any) -> ParsedTable:
    data = text.encode() if isinstance(text, str) else text
    return parse_csv(data, **{"label": None, "task": None, **LIMITS, **kwargs})


def split_table(columns: list[str], data: list[list[Any]], **kwargs: Any) -> ParsedTable:
    return parse_split(columns, data, **{"label": None, "task": None, **LIMITS, **kwargs})


def csv_error(text: str | bytes, **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        csv_table(text, **kwargs)
    return info.value


PENGUINS = """bill,island,mass,species
39.1,Torgersen,3750,Adelie
46.5,Dream,,Chinstrap
NA,Biscoe,5000,Gentoo
38.2, Dream ,3400,Adelie
"""


def test_csv_types_values_label_and_features() -> None:
    t = csv_table(PENGUINS)
    assert t.label == "species" and t.task == "classification"  # the last column by default
    assert list(t.columns) == ["bill", "island", "mass"]
    np.testing.assert_array_equal(t.columns["bill"], [39.1, 46.5, np.nan, 38.2])
    assert t.columns["bill"].dtype == np.float64
    assert t.columns["island"].dtype.kind == "U"
    assert t.columns["island"].tolist() == ["Torgersen", "Dream", "Biscoe", "Dream"]  # stripped
    assert t.y.tolist() == ["Adelie", "Chinstrap", "Gentoo", "Adelie"]
    assert t.n_rows == 4 and t.rows_without_label == 0
    assert t.features == [
        {"name": "bill", "type": "numeric", "missing": 1},
        {
            "name": "island",
            "type": "categorical",
            "missing": 0,
            "categories": ["Biscoe", "Dream", "Torgersen"],
        },
        {"name": "mass", "type": "numeric", "missing": 1},
    ]


@pytest.mark.parametrize("token", MISSING_TOKENS)
def test_every_missing_token_is_missing_in_numeric_and_text_columns(token: str) -> None:
    t = csv_table(f"x,c,y\n1,a,0\n {token} ,{token},1\n3,b,0\n")
    np.testing.assert_array_equal(t.columns["x"], [1.0, np.nan, 3.0])
    assert t.columns["c"].tolist() == ["a", "", "b"]
    assert [f["missing"] for f in t.features] == [1, 1]


@pytest.mark.parametrize(
    "cells",
    [
        ["1", "inf"],
        ["1", "-Infinity"],
        ["1", "nAn"],  # not a missing token, and not a finite number
        ["1_000", "2"],  # Python's float takes it; pandas (and this module) do not
        ["0x10", "1"],
        ["١٢", "1"],  # Arabic-Indic digits
        ["1.5e", "2"],
        ["--1", "2"],
        ["1.2.3", "2"],
    ],
)
def test_a_column_with_a_non_finite_or_odd_number_is_categorical(cells: list[str]) -> None:
    t = csv_table("x,y\n" + "".join(f"{cell},{i}\n" for i, cell in enumerate(cells)))
    assert t.features[0]["type"] == "categorical"
    assert t.columns["x"].tolist() == cells


@pytest.mark.parametrize("odd", ["abc", "1_0", "inf", "1e", "١"])
def test_one_odd_cell_late_in_a_long_column_makes_it_categorical(odd: str) -> None:
    cells = [str(i / 4) for i in range(600)] + [odd] + ["", "NA", "7"]
    t = csv_table("x,y\n" + "".join(f"{cell},1\n" for cell in cells))
    assert t.features[0] == {
        "name": "x",
        "type": "categorical",
        "missing": 2,
        "categories": sorted(set(cells) - {"", "NA"}),
    }


def test_numbers_in_every_spelling_parse_like_python_float() -> None:
    cells = ["-0", "+.5", "5.", "1e5", "-2.5E-3", "007", "123456789012345678", "0.1", " 4 "]
    t = csv_table("x,y\n" + "".join(f"{cell},1\n" for cell in cells))
    np.testing.assert_array_equal(t.columns["x"], [float(cell) for cell in cells])
    assert math.copysign(1.0, t.columns["x"][0]) == -1.0


def test_line_endings_bom_blank_lines_and_no_final_newline() -> None:
    expected = csv_table("a,b,y\n1,x,0\n2,z,1\n")
    for variant in [
        "a,b,y\r\n1,x,0\r\n2,z,1\r\n",
        "a,b,y\r1,x,0\r2,z,1\r",  # bare CR (a 500 in the first round)
        "\ufeffa,b,y\n1,x,0\n2,z,1\n",
        "a,b,y\n1,x,0\n2,z,1",
        "\n  \na,b,y\n\n1,x,0\n \t \n2,z,1\n\n",
        '"a","b","y"\n1,"x",0\n"2",z,1\n',  # quotes: the csv-module path
        '"a","b","y"\r1,"x",0\r2,z,1',
    ]:
        t = csv_table(variant)
        assert t.features == expected.features, variant
        for name in expected.columns:
            np.testing.assert_array_equal(t.columns[name], expected.columns[name])
        np.testing.assert_array_equal(t.y, expected.y)


def test_a_csv_split_in_small_pieces_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are split a piece of ``PIECE_BYTES`` at a time: pieces that end mid-file, blank
    lines and widths that differ per piece give the same table, and errors the same rows."""
    rng = np.random.default_rng(0)
    rows = [
        f"{rng.integers(-99, 99)}, {rng.choice(['ab', 'c', 'NA', ''])} ,{i % 3}" for i in range(300)
    ]
    rows[17] = rows[200] = "  "  # blank lines
    rows[250] = "1,longer-than-the-rest,2"

    def csv_of(body: list[str]) -> str:
        return "\n\na,b,y\n" + "\n".join(body) + "\n"

    text = csv_of(rows)
    whole = csv_table(text)
    monkeypatch.setattr(tabular, "PIECE_BYTES", 16)
    pieces = csv_table(text)
    assert pieces.features == whole.features and pieces.n_rows == whole.n_rows == 298
    for name in whole.columns:
        np.testing.assert_array_equal(pieces.columns[name], whole.columns[name])
    np.testing.assert_array_equal(pieces.y, whole.y)
    ragged = csv_error(csv_of([*rows[:260], rows[260] + ",9", *rows[261:]]))
    assert "data row 258 (line 264)" in ragged.message, ragged.message
    cell = "1," + "x" * (MAX_CELL_BYTES + 1) + ",2"
    long = csv_error(csv_of([*rows[:270], cell, *rows[271:]]))
    assert "data row 268 (line 274)" in long.message, long.message
    quoted = csv_of(
        [f'"{row.split(",")[0]}",{row.split(",", 1)[1]}' if row.strip() else row for row in rows]
    )
    monkeypatch.setattr(csv_cells, "_PIECE_BYTES", 16)
    assert csv_cells.without_quotes(quoted.encode()) is not None  # the fast path, piece by piece
    for name in whole.columns:
        np.testing.assert_array_equal(csv_table(quoted).columns[name], whole.columns[name])
    many = csv_error(text, max_rows=100)
    assert "more than 100 rows" in many.message and "MLP_MAX_ROWS" in many.message


@pytest.mark.parametrize(("header", "said"), [("a;b;y", "';'"), ("a\tb\ty", "tab"), ("a|y", "'|'")])
def test_a_csv_that_is_not_comma_separated_says_so(header: str, said: str) -> None:
    error = csv_error(f"{header}\n1\n")
    assert "comma-separated" in error.message and said in error.message, error.message


def test_quoted_cells_keep_commas_newlines_and_quotes() -> None:
    t = csv_table('name,n,y\n"Doe, Jane",1,0\n"say ""hi""\nthere",2,1\n')
    assert t.columns["name"].tolist() == ["Doe, Jane", 'say "hi"\nthere']
    np.testing.assert_array_equal(t.columns["n"], [1.0, 2.0])


@pytest.mark.parametrize(
    "text",
    [
        '"a","b","y"\n"x","1","p"\n"","NA","q"\n',  # every field quoted, as R and Excel write
        '"a",b,y\r\n" x ",1,p\r\n"z",,q',
        '"a",b,y\n"x,w",1,p\n"z",2,q\n',  # a comma inside quotes: the csv module
        '"a",b,y\n"say ""hi""",1,p\n"z",2,q\n',  # an escaped quote
        '"a",b,y\n"two\nlines",1,p\n"z",2,q\n',  # a line break inside quotes
        'a,b,y\nx "q",1,p\nz,2,q\n',  # a quote inside an unquoted field is literal
        'a,b,y\n "x",1,p\nz,2,q\n',  # a quote after a space is literal too
        'a,b,y\n"x"w,1,p\nz,2,q\n',  # text after a closing quote
        'a,b,y\n"",1,p\n"""",2,q\n',
    ],
)
def test_quoted_files_give_the_csv_modules_cells(text: str) -> None:
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    header, data = rows[0], rows[1:]
    t = csv_table(text, categorical=header[:-1])  # every feature as the text it holds
    for j, name in enumerate(header[:-1]):
        cells = [row[j].strip(" \t\r\n") for row in data]
        assert t.columns[name].tolist() == ["" if c in MISSING_TOKENS else c for c in cells]
    assert t.y.tolist() == [row[-1] for row in data]


def test_fields_quoted_whole_skip_the_csv_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.tabular

    def fail(*args: object) -> None:
        raise AssertionError("took the csv-module path")

    monkeypatch.setattr(app.tabular, "_quoted_cells", fail)
    t = csv_table('"a","b","y"\r\n"1","x y","p"\r\n"2","","q"\r\n')
    np.testing.assert_array_equal(t.columns["a"], [1.0, 2.0])
    with pytest.raises(AssertionError):
        csv_table('a,b,y\n"1,5",x,p\n')


def test_a_column_with_no_present_cell_is_numeric_and_all_missing() -> None:
    t = csv_table("a,b,y\n1,,0\n2,NA,1\n")
    assert t.features[1] == {"name": "b", "type": "numeric", "missing": 2}


def test_a_line_of_commas_is_a_row_of_missing_cells() -> None:
    t = csv_table("a,b,y\n1,x,0\n,,\n2,z,1\n")
    assert t.rows_without_label == 1 and t.n_rows == 2


def test_rows_without_label_are_left_out_and_counted() -> None:
    t = csv_table("a,c,y\n1,p,A\n2,q,\n3,,NA\n4,s,B\n")
    assert t.y.tolist() == ["A", "B"]
    np.testing.assert_array_equal(t.columns["a"], [1.0, 4.0])
    assert t.columns["c"].tolist() == ["p", "s"]
    assert t.rows_without_label == 2 and t.n_rows == 2


def test_type_is_decided_on_the_rows_that_have_a_label() -> None:
    t = csv_table("a,y\n1,0\noops,\n2,1\n")
    assert t.features[0]["type"] == "numeric"


def test_label_knob_forced_categorical_and_ignore() -> None:
    t = csv_table(
        "id,zip,v,target\n1,1234,2.5,a\n2,0567,3.0,b\n",
        label="target",
        categorical=["zip", "v"],
        ignore=["id"],
    )
    assert list(t.columns) == ["zip", "v"]
    assert t.columns["zip"].tolist() == ["1234", "0567"]  # the text as written
    assert t.columns["v"].tolist() == ["2.5", "3.0"]
    assert t.features[0]["categories"] == ["0567", "1234"]


def test_label_in_the_middle() -> None:
    t = csv_table("a,y,b\n1,0,2\n3,1,4\n", label="y")
    assert list(t.columns) == ["a", "b"] and t.y.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("labels", "task", "dtype"),
    [
        (["a", "b", "a", "c"], "classification", "U"),
        (["0", "1", "1", "0"], "classification", "i"),
        (["1.0", "2.0", "1", "2"], "classification", "i"),  # integral floats are classes too
        (["0.5", "1.5", "2.25", "3"], "regression", "f"),
        ([str(i) for i in range(30)], "regression", "f"),  # many distinct integers
        (["1", "2", "3", "4"], "regression", "f"),  # 4 distinct of 4 rows: more than half
    ],
)
def test_task_inference(labels: list[str], task: str, dtype: str) -> None:
    t = csv_table("x,y\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels)))
    assert t.task == task and t.y.dtype.kind == dtype


def test_classification_labels_int_float_or_str() -> None:
    rows = "x,y\n1,0.5\n2,1.5\n"
    t = csv_table(rows, task="classification")
    assert t.y.dtype == np.float64 and t.y.tolist() == [0.5, 1.5]
    t = csv_table("x,y\n1,3\n2,4\n", task="classification")
    assert t.y.dtype == np.int64
    t = csv_table("x,y\n1,3\n2,4\n", task="classification", categorical=["y"])
    assert t.y.tolist() == ["3", "4"]
    t = csv_table("x,y\n1,3\n2,4\n", task="regression")
    assert t.y.dtype == np.float64 and t.y.tolist() == [3.0, 4.0]


def test_features_of_describes_columns() -> None:
    columns = {"n": np.array([1.0, np.nan]), "c": np.array(["b", ""]), "d": np.array(["z", "a"])}
    assert features_of(columns) == [
        {"name": "n", "type": "numeric", "missing": 1},
        {"name": "c", "type": "categorical", "missing": 1, "categories": ["b"]},
        {"name": "d", "type": "categorical", "missing": 0, "categories": ["a", "z"]},
    ]


# --- Bad tables: each a 422 whose loc / message names the column, knob or row ------------------


@pytest.mark.parametrize(
    ("text", "kwargs", "loc", "words"),
    [
        ("a,,y\n1,2,3\n", {}, ("body", "columns", 1), ["column 1", "empty"]),
        ("a,b,a\n1,2,3\n", {}, ("body", "columns", "a"), ["'a'", "twice"]),
        ("a,y\n1,2\n", {"label": "species"}, ("query", "label"), ["'species'"]),
        ("a,y\n1,2\n", {"categorical": ["island"]}, ("query", "categorical"), ["'island'"]),
        ("a,y\n1,2\n", {"ignore": ["id"]}, ("query", "ignore"), ["'id'"]),
        ("a,y\n1,2\n", {"ignore": ["y"]}, ("query", "ignore"), ["'y'", "label"]),
        ("a,y\n1,2\n", {"ignore": ["a"]}, ("body", "columns"), ["feature"]),
        ("a,y\n1,2\n", {"task": "clustering"}, ("query", "task"), ["clustering"]),
        ("a,b,y\n1,2,3\n4,5\n", {}, ("body", "data", 1), ["row 1", "line 3", "2 values"]),
        ('a,b,y\n1,2,3\n"4",5,6,7\n', {}, ("body", "data", 1), ["row 1", "line 3", "4 values"]),
        ("a,b,y\n\n1,2,3\n4,5\n", {}, ("body", "data", 1), ["row 1", "line 4"]),
        ("a,y\n1,x\n2,3\n", {"task": "regression"}, ("body", "columns", "y"), ["row 0", "'x'"]),
        ("a,y\n1,2\n2,inf\n", {"task": "regression"}, ("body", "columns", "y"), ["row 1"]),
        (
            "a,y\n1,2\n",
            {"task": "regression", "categorical": ["y"]},
            ("query", "categorical"),
            ["'y'"],
        ),
        ("a,y\n1,\n2,NA\n", {}, ("body", "columns", "y"), ["'y'", "missing"]),
        ("a,y\n", {}, ("body",), ["data row"]),
        ("", {}, ("body",), ["empty"]),
        ("\n \n", {}, ("body",), ["empty"]),
        ("y\n1\n", {}, ("body", "columns"), ["label"]),
        (b"a,y\n1,\xff\n", {}, ("body",), ["UTF-8", "line 2"]),
        (b"a,y\n1,2\x00\n", {}, ("body",), ["NUL", "line 2"]),
        ("a,y\n" + "1,2\n" * 1001, {}, ("body",), ["1001 rows", "1000", "MLP_MAX_ROWS"]),
        (
            ",".join(f"c{i}" for i in range(52)) + "\n" + "1," * 51 + "1\n",
            {},
            ("body", "columns"),
            ["51", "MLP_MAX_FEATURES"],
        ),
        (
            "t,y\n" + "x" * (MAX_CELL_BYTES + 1) + ",1\n",
            {},
            ("body", "columns", "t"),
            ["'t'", "row 0"],
        ),
        ('t,y\n"' + "x" * (MAX_CELL_BYTES + 1) + '",1\n', {}, ("body", "columns", "t"), ["row 0"]),
    ],
)
def test_bad_tables_name_what_is_wrong(
    text: str | bytes, kwargs: dict[str, Any], loc: tuple[Any, ...], words: list[str]
) -> None:
    error = csv_error(text, **kwargs)
    assert error.loc == loc
    for word in words:
        assert word in error.message, (word, error.message)


def test_text_columns_beyond_the_memory_budget_are_a_422(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.tabular

    monkeypatch.setattr(app.tabular, "MAX_TEXT_BYTES", 4 * 5 * 30)  # 30 rows of 5 characters
    text = "a,b,y\n" + "xxxxx,1,0\n" * 30
    assert csv_table(text).features[0]["type"] == "categorical"  # at the budget: accepted
    error = csv_error(text.replace(",1,", ",z,"))  # a second text column: over it
    assert error.loc == ("body", "columns", "b") and "MAX_TEXT_BYTES" in error.message


def test_a_malformed_quoted_csv_is_a_422() -> None:
    error = csv_error('a,y\n"1,2\n', **{"max_rows": 5})  # an unterminated quote
    assert error.loc[0] == "body"


# --- JSON split form ---------------------------------------------------------------------------


def test_split_form_types_bools_nulls_and_forced_text() -> None:
    t = split_table(
        ["n", "flag", "code", "mixed", "label"],
        [
            [1, True, 3, 1, "a"],
            [2.5, False, 2.5, "x", "b"],
            [None, None, 3.0, None, None],
            [4, True, None, 2, "a"],
        ],
        categorical=["code"],
        label="label",
    )
    np.testing.assert_array_equal(t.columns["n"], [1.0, 2.5, 4.0])
    assert t.columns["flag"].tolist() == ["true", "false", "true"]  # bools are categories
    assert t.columns["code"].tolist() == ["3", "2.5", ""]  # numbers as their text
    assert t.columns["mixed"].tolist() == ["1", "x", "2"]
    assert t.rows_without_label == 1 and t.y.tolist() == ["a", "b", "a"]
    assert [f["type"] for f in t.features] == [
        "numeric",
        "categorical",
        "categorical",
        "categorical",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (True, "true"), (3, "3"), (3.0, "3"), (2.5, "2.5"), (" a ", "a"), (math.nan, "")],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_split_form_numbers_nan_inf_and_huge_ints() -> None:
    t = split_table(["a", "b", "c", "y"], [[1, 1, 1, 0], [math.nan, math.inf, 10**400, 1]])
    np.testing.assert_array_equal(t.columns["a"], [1.0, np.nan])  # a float NaN is missing
    assert t.columns["b"].tolist() == ["1", "inf"]
    assert t.features[2]["type"] == "categorical"


def test_split_form_labels() -> None:
    t = split_table(["x", "y"], [[1, 0], [2, 1], [3, 1]])
    assert t.task == "classification" and t.y.dtype == np.int64
    t = split_table(["x", "y"], [[1, "2.5"], [2, "3"]], task="regression")
    assert t.y.tolist() == [2.5, 3.0]
    t = split_table(["x", "y"], [[1, True], [2, False]])
    assert t.y.tolist() == ["true", "false"]


@pytest.mark.parametrize(
    ("columns", "data", "kwargs", "loc"),
    [
        (["a", "y"], [[1, 2], [3]], {}, ("body", "data", 1)),
        (["a", "y"], [[1, 2], "row"], {}, ("body", "data", 1)),
        (["a", "y"], [[1, 2], [{"k": 1}, 2]], {}, ("body", "data", 1, 0)),
        (["a", "y"], [], {}, ("body", "data")),
        (["a", 3], [[1, 2]], {}, ("body", "columns")),
        (["a", "a"], [[1, 2]], {}, ("body", "columns", "a")),
        (["a", " "], [[1, 2]], {}, ("body", "columns", 1)),
        (["a", "y"], [[1, 2]], {"label": "z"}, ("body", "label")),
        (["a", "y"], [[1, 2]], {"categorical": ["z"]}, ("body", "categorical")),
        (["a", "y"], [[1, "x"]], {"task": "regression"}, ("body", "columns", "y")),
        (["a", "y"], [[1, None]], {}, ("body", "columns", "y")),
        (["a", "y"], [[1, 2]] * 1001, {}, ("body", "data")),
        (["a", "y"], [["x" * (MAX_CELL_BYTES + 1), 2]], {}, ("body", "columns", "a")),
    ],
)
def test_bad_split_tables(
    columns: list[Any], data: list[Any], kwargs: dict[str, Any], loc: tuple[Any, ...]
) -> None:
    with pytest.raises(InvalidInput) as info:
        split_table(columns, data, **kwargs)
    assert info.value.loc == loc


def test_split_and_csv_agree() -> None:
    rows = [[1.5, "Dream", 3, "A"], [None, "Biscoe", 4, "B"], [2.0, None, None, "A"]]
    from_json = split_table(["a", "b", "c", "y"], rows)
    text = "a,b,c,y\n" + "".join(
        ",".join("" if v is None else str(v) for v in r) + "\n" for r in rows
    )
    from_csv = csv_table(text)
    assert from_json.features == from_csv.features
    for name in from_csv.columns:
        np.testing.assert_array_equal(from_json.columns[name], from_csv.columns[name])
    np.testing.assert_array_equal(from_json.y, from_csv.y)


# --- Round trips and agreement with pandas ------------------------------------------------------


def random_table(seed: int, n_rows: int = 200) -> dict[str, list[str]]:
    """Text cells of a random table: numbers in several spellings, text with commas and quotes."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[str]] = {}
    for j in range(4):
        values = rng.normal(0, 10.0 ** rng.integers(-3, 6), n_rows)
        spelled = [repr(float(v)) if j % 2 else f"{v:.{j + 1}f}" for v in values]
        columns[f"num{j}"] = [
            MISSING_TOKENS[int(rng.integers(len(MISSING_TOKENS)))] if rng.random() < 0.1 else s
            for s in spelled
        ]
    words = ["a", "b c", "d,e", 'f"g', "São", "x\ny"]
    columns["text"] = [words[int(i)] if i < len(words) else "" for i in rng.integers(0, 7, n_rows)]
    columns["y"] = [str(int(v)) for v in rng.integers(0, 3, n_rows)]
    return columns


def write_csv(columns: dict[str, list[str]], *, quoting: int = csv.QUOTE_MINIMAL) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=quoting)
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return out.getvalue().encode()


def expected_number(cell: str) -> float:
    return math.nan if cell.strip() in MISSING_TOKENS else float(cell)


@pytest.mark.parametrize("seed", range(6))
def test_random_tables_written_by_the_csv_module_parse_back(seed: int) -> None:
    columns = random_table(seed)
    plain = {name: cells for name, cells in columns.items() if name != "text"}
    for data, names in [(write_csv(columns), columns), (write_csv(plain), plain)]:  # quoted, not
        t = csv_table(data, label="y")
        assert t.y.tolist() == [int(v) for v in columns["y"]]
        for name in names:
            if name.startswith("num"):
                expected = [expected_number(cell) for cell in columns[name]]
                np.testing.assert_array_equal(t.columns[name], expected)
        if "text" in names:
            assert t.columns["text"].tolist() == columns["text"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64) | st.integers(-(10**20), 10**20),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 17),
)
def test_any_finite_number_parses_exactly(values: list[float | int], digits: int) -> None:
    cells = [
        repr(v) if i % 2 else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))
        for i, v in enumerate(values)
    ]
    t = csv_table("x,y\n" + "".join(f"{cell},1\n" for cell in cells))
    np.testing.assert_array_equal(t.columns["x"], [float(cell) for cell in cells])


@pytest.mark.parametrize("seed", range(3))
def test_numbers_and_missing_counts_agree_with_pandas(seed: int) -> None:
    pd = pytest.importorskip("pandas")
    columns = random_table(seed, n_rows=500)
    data = write_csv(columns)
    t = csv_table(data, label="y")
    frame = pd.read_csv(io.BytesIO(data), na_values=list(MISSING_TOKENS), keep_default_na=False)
    for feature in t.features:
        name = feature["name"]
        assert feature["missing"] == int(frame[name].isna().sum()), name
        if feature["type"] == "numeric":
            np.testing.assert_array_equal(t.columns[name], frame[name].to_numpy(dtype=float))
