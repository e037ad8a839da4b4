"""/v1/datasets as tables: CSV and JSON split form, metadata, storage, rows, and bad tables."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from helpers.assertions import assert_422

from app.storage.datasets import DatasetStore

pytestmark = pytest.mark.anyio

CSV = {"content-type": "text/csv"}
HEADER = ["id", "island", "bill_mm", "flipper_mm", "sex", "species"]
SPECIES = ["Adelie", "Gentoo", "Chinstrap"]


def penguin_rows(n: int = 60) -> list[list[Any]]:
    """Rows of ``HEADER``: an id, text columns, numeric gaps (None), a rare class, unlabelled
    rows (species None at rows 7, 17 and 27)."""
    rows: list[list[Any]] = []
    for i in range(n):
        species = "Chinstrap" if i % 15 == 4 else SPECIES[i % 2]
        rows.append(
            [
                i + 1,
                ["Biscoe", "Dream", "Torgersen"][i % 3],
                None if i % 11 == 3 else round(35 + (i % 2) * 10 + (i % 7) * 0.5, 1),
                None if i % 13 == 5 else 180 + (i % 2) * 30 + i % 9,
                None if i % 10 == 9 else ["female", "male"][i % 2],
                None if i in (7, 17, 27) else species,
            ]
        )
    return rows


def to_csv(header: list[str], rows: list[list[Any]], missing: str = "NA") -> str:
    cells = [[missing if v is None else str(v) for v in row] for row in rows]
    return "\n".join(",".join(line) for line in [header, *cells]) + "\n"


def stored(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "datasets").glob("*"))


# -- the rules -------------------------------------------------------------------------------


async def test_csv_table_metadata(client: httpx.AsyncClient) -> None:
    rows = penguin_rows()
    response = await client.post(
        "/v1/datasets?label=species&ignore=id&name=penguins",
        content=to_csv(HEADER, rows),
        headers=CSV,
    )
    assert response.status_code == 201, response.text
    meta = response.json()
    assert (meta["name"], meta["label"], meta["task"]) == ("penguins", "species", "classification")
    assert (meta["n_samples"], meta["n_features"], meta["rows_without_label"]) == (57, 4, 3)
    assert meta["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    labelled = [row for row in rows if row[5] is not None]
    bills = [row[2] for row in labelled if row[2] is not None]
    flippers = [row[3] for row in labelled if row[3] is not None]
    assert meta["features"] == [
        {
            "name": "island",
            "type": "categorical",
            "missing": 0,
            "categories": ["Biscoe", "Dream", "Torgersen"],
            "n_categories": 3,
        },
        {"name": "bill_mm", "type": "numeric", "missing": len(labelled) - len(bills)},
        {"name": "flipper_mm", "type": "numeric", "missing": len(labelled) - len(flippers)},
        {
            "name": "sex",
            "type": "categorical",
            "missing": sum(row[4] is None for row in labelled),
            "categories": ["female", "male"],
            "n_categories": 2,
        },
    ]
    assert meta["bounds"] == {
        "min": [None, min(bills), min(flippers), None],
        "max": [None, max(bills), max(flippers), None],
    }
    assert (await client.get(f"/v1/datasets/{meta['id']}")).json() == meta


async def test_split_form_equals_csv(client: httpx.AsyncClient) -> None:
    rows = penguin_rows()
    csv = await client.post(
        "/v1/datasets?label=species&ignore=id", content=to_csv(HEADER, rows, ""), headers=CSV
    )
    body = {"name": "p", "columns": HEADER, "data": rows, "label": "species", "ignore": ["id"]}
    split = await client.post("/v1/datasets", json=body)
    assert split.status_code == 201, split.text
    different = {"id", "name", "created_at"}
    assert {k: v for k, v in split.json().items() if k not in different} == {
        k: v for k, v in csv.json().items() if k not in different
    }


async def test_table_rows_and_round_trip(client: httpx.AsyncClient) -> None:
    rows = penguin_rows(30)
    body = {"columns": HEADER, "data": rows, "label": "species", "ignore": ["id"]}
    meta = (await client.post("/v1/datasets", json=body)).json()
    response = await client.get(f"/v1/datasets/{meta['id']}/data")
    assert response.status_code == 200
    data = response.json()
    labelled = [row for row in rows if row[5] is not None]
    assert data == {
        "columns": ["island", "bill_mm", "flipper_mm", "sex"],
        "data": [[row[1], row[2], row[3], row[4]] for row in labelled],
        "label": "species",
        "y": [row[5] for row in labelled],
    }
    again = {
        "columns": [*data["columns"], data["label"]],
        "data": [[*cells, y] for cells, y in zip(data["data"], data["y"], strict=True)],
        "label": data["label"],
    }
    copy = (await client.post("/v1/datasets", json=again)).json()
    assert copy["features"] == meta["features"] and copy["rows_without_label"] == 0
    assert (await client.get(f"/v1/datasets/{copy['id']}/data")).json() == data


@pytest.mark.parametrize(
    ("labels", "classes"),
    [
        ([10, 9, 2, 10, 9, 2], [2, 9, 10]),
        (["b", "B", "a", "é", "Z", "a"], ["B", "Z", "a", "b", "é"]),
        (["10", "9", "x", "10", "9", "x"], ["10", "9", "x"]),  # text: by code point
    ],
)
async def test_classes_are_sorted(
    client: httpx.AsyncClient, labels: list[Any], classes: list[Any]
) -> None:
    body = {"columns": ["f", "t"], "data": [[i, v] for i, v in enumerate(labels)], "label": "t"}
    meta = (await client.post("/v1/datasets", json=body)).json()
    assert meta["classes"] == classes
    data = (await client.get(f"/v1/datasets/{meta['id']}/data")).json()
    assert data["y"] == labels


async def test_kinds_missing_cells_and_forced_categorical(client: httpx.AsyncClient) -> None:
    body = {
        "columns": ["zip", "flag", "n", "word", "y"],
        "data": [
            [1000, True, 1.5, " a ", 0],
            [2000.0, False, None, "", 1],
            [1000, None, float("nan"), None, 0],
            ["3000", True, 2, "b", None],
            [2000, True, -1, "a", 1],
        ],
        "label": "y",
        "categorical": ["zip"],
    }
    response = await client.post(
        "/v1/datasets", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    # Python's json writes NaN: a literal NaN is refused even where null would be missing.
    assert_422(response, ["body", "data", 2, 2], "'n'", "finite")
    body["data"][2][2] = None
    meta = (await client.post("/v1/datasets", json=body)).json()
    assert meta["rows_without_label"] == 1
    assert [(f["name"], f["type"], f["missing"]) for f in meta["features"]] == [
        ("zip", "categorical", 0),
        ("flag", "categorical", 1),
        ("n", "numeric", 2),
        ("word", "categorical", 2),
    ]
    assert meta["features"][0]["categories"] == ["1000", "2000"]
    assert meta["features"][1]["categories"] == ["false", "true"]
    assert meta["features"][3]["categories"] == ["a"]
    assert meta["bounds"] == {"min": [None, None, -1.0, None], "max": [None, None, 1.5, None]}


async def test_csv_missing_tokens_and_inferred_tasks(client: httpx.AsyncClient) -> None:
    tokens = ["", "NA", "N/A", "NaN", "nan", "null", "None", "?"]
    lines = ["a,b,y"] + [f"{t},{i},{i % 2}" for i, t in enumerate(tokens)] + ["1.5,9,0"]
    meta = (await client.post("/v1/datasets", content="\n".join(lines), headers=CSV)).json()
    assert meta["features"][0] == {"name": "a", "type": "numeric", "missing": len(tokens)}
    assert meta["task"] == "classification" and meta["classes"] == [0, 1]
    regression = "a,y\n1,0.5\n2,1.25\n3,2\n4,NA\n"
    meta = (await client.post("/v1/datasets", content=regression, headers=CSV)).json()
    assert (meta["task"], meta["classes"], meta["rows_without_label"]) == ("regression", None, 1)
    data = (await client.get(f"/v1/datasets/{meta['id']}/data")).json()
    assert data == {
        "columns": ["a"],
        "data": [[1.0], [2.0], [3.0]],
        "label": "y",
        "y": [0.5, 1.25, 2.0],
    }
    forced = "a,y\n1,3\n2,4\n3,3\n4,4\n5,3\n6,4\n7,3\n8,4\n9,3\n10,4\n11,5\n"
    meta = (await client.post("/v1/datasets?task=regression", content=forced, headers=CSV)).json()
    assert meta["task"] == "regression"


async def test_categories_beyond_the_listed_cap_are_counted(app_client: Any) -> None:
    async with app_client(max_listed_categories=3) as client:
        lines = ["code,y"] + [f"c{i % 5},{i % 2}" for i in range(20)]
        meta = (await client.post("/v1/datasets", content="\n".join(lines), headers=CSV)).json()
        assert meta["features"] == [
            {"name": "code", "type": "categorical", "missing": 0, "n_categories": 5}
        ]


# -- storage ---------------------------------------------------------------------------------


async def test_table_file_holds_codes_and_category_tables(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    long_label = "L" * 200  # at the cap
    lines = ["word,n,y"] + [f"w{i % 3},{i},{'a' if i % 2 else long_label}" for i in range(40)]
    meta = (await client.post("/v1/datasets", content="\n".join(lines), headers=CSV)).json()
    with np.load(data_dir / "datasets" / f"{meta['id']}.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["classes", "f0_cats", "f0_code", "f1", "meta", "y_code"]
        assert npz["f0_code"].dtype == np.int32 and npz["f0_cats"].tolist() == ["w0", "w1", "w2"]
        assert npz["y_code"].dtype == np.int32 and npz["y_code"].nbytes == 40 * 4
        assert npz["classes"].tolist() == [long_label, "a"]
        assert npz["f1"].dtype == np.float64
    store = DatasetStore(data_dir, clean_temp=False)
    columns, y, _ = store.load_table(meta["id"])
    assert columns["word"].tolist() == [f"w{i % 3}" for i in range(40)]
    assert y.tolist() == ["a" if i % 2 else long_label for i in range(40)]
    with pytest.raises(Exception, match="categorical"):
        store.load(meta["id"])  # no numeric matrix for a table with text columns


async def test_numeric_table_loads_as_a_matrix_with_nan_gaps(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    meta = (await client.post("/v1/datasets", content="a,b,y\n1,,0\n2,5,1\n", headers=CSV)).json()
    X, y, _ = DatasetStore(data_dir, clean_temp=False).load(meta["id"])
    assert X.shape == (2, 2) and math.isnan(X[0, 1]) and X[1].tolist() == [2.0, 5.0]
    assert y.tolist() == [0, 1]


async def test_old_dataset_files_still_load(client: httpx.AsyncClient, data_dir: Path) -> None:
    old_meta = {
        "id": "ds_old",
        "name": "old",
        "n_samples": 2,
        "n_features": 2,
        "task": "classification",
        "classes": ["a", "b"],
        "bounds": {"min": [0.0, 1.0], "max": [2.0, 3.0]},
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    (data_dir / "datasets").mkdir(parents=True, exist_ok=True)
    with open(data_dir / "datasets" / "ds_old.npz", "wb") as fh:
        np.savez(
            fh,
            X=np.array([[0.0, 3.0], [2.0, 1.0]]),
            y=np.array(["a", "b"]),
            meta=np.frombuffer(orjson.dumps(old_meta), dtype=np.uint8),
        )
    meta = (await client.get("/v1/datasets/ds_old")).json()
    assert meta["label"] is None and meta["rows_without_label"] == 0
    assert [f["name"] for f in meta["features"]] == ["x0", "x1"]
    data = (await client.get("/v1/datasets/ds_old/data")).json()
    assert data == {"X": [[0.0, 3.0], [2.0, 1.0]], "y": ["a", "b"]}


async def test_damaged_table_file_is_409(client: httpx.AsyncClient, data_dir: Path) -> None:
    meta = (await client.post("/v1/datasets", content="w,y\na,0\nb,1\n", headers=CSV)).json()
    path = data_dir / "datasets" / f"{meta['id']}.npz"
    with np.load(path, allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    members["f0_code"] = np.array([0, 7], dtype=np.int32)  # a code past the category table
    with open(path, "wb") as fh:
        np.savez(fh, **members)
    response = await client.get(f"/v1/datasets/{meta['id']}/data")
    assert response.status_code == 409 and "damaged" in response.json()["detail"]


# -- label lengths -----------------------------------------------------------------------------


async def test_a_long_label_is_422_before_any_array_is_made(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    y = ["a", "b"] * 50 + ["x" * 5000]
    response = await client.post("/v1/datasets", json={"X": [[i] for i in range(101)], "y": y})
    assert_422(response, ["body", "y", 100], "5000 characters", "at most 200")
    lines = ["f,kind"] + [f"{i},{'a' if i % 2 else 'b'}" for i in range(10)] + ["1," + "x" * 201]
    response = await client.post("/v1/datasets", content="\n".join(lines), headers=CSV)
    assert_422(response, ["body", "columns", "kind", 10], "'kind'", "201 characters")
    ok = await client.post("/v1/datasets", json={"X": [[0], [1]], "y": ["a", "x" * 200]})
    assert ok.status_code == 201
    assert len(stored(data_dir)) == 1


# -- bad tables: a 4xx naming the column or the knob, nothing stored ---------------------------


@pytest.mark.parametrize(
    ("csv", "query", "loc", "words"),
    [
        ("a,y\n1,0\n2,1\n", "?label=z", ["query", "label"], ["'z'"]),
        ("a,y\n1,0\n2,1\n", "?categorical=q", ["query", "categorical"], ["'q'"]),
        ("a,b,y\n1,2,0\n2,3,1\n", "?ignore=a,q", ["query", "ignore"], ["'q'"]),
        ("a,y\n1,0\n2,1\n", "?ignore=y", ["query", "ignore"], ["label column 'y'"]),
        ("a,y\n1,0\n2,1\n", "?ignore=a", ["body", "columns"], ["feature"]),
        ("a,a,y\n1,2,0\n2,3,1\n", "", ["body", "columns", "a"], ["'a' appears twice"]),
        ("a,,y\n1,2,0\n2,3,1\n", "", ["body", "columns", 1], ["empty name"]),
        ("a,y\n1,\n2,NA\n", "", ["body", "columns", "y"], ["'y'", "missing"]),
        ("a,y\n1,0\n2,0\n", "", ["body", "columns", "y"], ["'y'", "only one class"]),
        ("a,y\n1,cat\n2,dog\n", "?task=regression", ["body", "columns", "y"], ["'cat'"]),
        ("a,y\n1,0.5\n2,1\n", "?task=classification", ["body", "columns", "y", 0], ["'y'"]),
        ("a,y\n1,0\n2,1\n", "?task=ranking", ["query", "task"], ["task"]),
        ("a,y\n" + "x" * 1001 + ",0\n2,1\n", "", ["body", "columns", "a"], ["'a'", "1000 bytes"]),
        ("a,b,c,d,e,f,g,y\n" + "1," * 7 + "0\n", "", ["body", "columns"], ["7 columns"]),
        ("a,y\n" + "1,0\n" * 301, "", ["body"], ["301 rows", "at most 300"]),
        ("a,y\n" + "".join(f"1,c{i}\n" for i in range(6)), "", ["body", "columns", "y"], ["6"]),
        ("a,y\n1,0\x00\n2,1\n", "", ["body"], ["NUL byte", "line 2"]),
    ],
)
async def test_bad_csv_tables(
    client: httpx.AsyncClient,
    data_dir: Path,
    csv: str,
    query: str,
    loc: list[Any],
    words: list[str],
) -> None:
    response = await client.post(f"/v1/datasets{query}", content=csv, headers=CSV)
    assert_422(response, loc, *words)
    assert stored(data_dir) == []


async def test_csv_must_be_utf8(client: httpx.AsyncClient, data_dir: Path) -> None:
    response = await client.post("/v1/datasets", content=b"a,y\n\xff,0\n2,1\n", headers=CSV)
    assert_422(response, ["body"], "UTF-8")
    assert stored(data_dir) == []


GOOD = {"columns": ["a", "y"], "data": [[1, 0], [2, 1]], "label": "y"}


@pytest.mark.parametrize(
    ("patch", "loc", "words"),
    [
        ({"label": None}, ["body", "label"], []),
        ({"label": "z"}, ["body", "label"], ["'z'"]),
        ({"columns": ["a", 3]}, ["body", "columns"], ["strings"]),
        ({"columns": "a,y"}, ["body", "columns"], []),
        ({"data": [[1, 0], [2]]}, ["body", "data", 1], ["1 values"]),
        ({"data": [[1, 0], {"a": 2}]}, ["body", "data", 1], []),
        ({"data": [[1, 0], [[2], 1]]}, ["body", "data", 1, 0], ["column 'a'"]),
        ({"data": []}, ["body", "data"], ["non-empty"]),
        ({"task": "ranking"}, ["body", "task"], []),
        ({"categorical": ["q"]}, ["body", "categorical"], ["'q'"]),
        ({"ignore": "a"}, ["body", "ignore"], []),
        ({"name": ""}, ["body", "name"], []),
        ({"X": [[1], [2]]}, ["body"], ["not both"]),
        ({"data": [[1, 0], [2, 0]]}, ["body", "columns", "y"], ["only one class"]),
    ],
)
async def test_bad_split_tables(
    client: httpx.AsyncClient,
    data_dir: Path,
    patch: dict[str, Any],
    loc: list[Any],
    words: list[str],
) -> None:
    body = {k: v for k, v in {**GOOD, **patch}.items() if v is not None}
    response = await client.post("/v1/datasets", json=body)
    assert_422(response, loc, *words)
    assert stored(data_dir) == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_split_form_non_finite_literals_are_422(
    client: httpx.AsyncClient, data_dir: Path, literal: str
) -> None:
    body = '{"columns": ["a", "y"], "data": [[1, 0], [LITERAL, 1]], "label": "y"}'
    body = body.replace("LITERAL", literal)
    response = await client.post(
        "/v1/datasets", content=body, headers={"content-type": "application/json"}
    )
    assert_422(response, ["body", "data", 1, 0], "column 'a'", "finite")
    assert stored(data_dir) == []


@pytest.mark.parametrize("knob", ["label=y", "categorical=a", "ignore=a"])
async def test_csv_knobs_with_a_json_body_are_422(client: httpx.AsyncClient, knob: str) -> None:
    response = await client.post(f"/v1/datasets?{knob}", json=GOOD)
    assert_422(response, ["query", knob.split("=")[0]], "CSV")


async def test_openapi_declares_both_json_forms_and_the_csv_knobs(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    post = spec["paths"]["/v1/datasets"]["post"]
    forms = post["requestBody"]["content"]["application/json"]["schema"]["anyOf"]
    assert [sorted(form["required"]) for form in forms] == [
        ["X", "y"],
        ["columns", "data", "label"],
    ]
    assert "text/csv" in post["requestBody"]["content"]
    params = {p["name"] for p in post["parameters"]}
    assert {"label", "task", "categorical", "ignore", "name"} <= params
    public = spec["components"]["schemas"]["DatasetPublic"]["properties"]
    assert {"label", "features", "rows_without_label"} <= set(public)


@pytest.mark.parametrize(
    "known",
    [None, ["Biscoe", "Dream"], ["Biscoe", "Dream", "Torgersen"], ["Zzz"], ["Dream", "Biscoe"]],
)
def test_known_categories_are_checked_never_trusted(tmp_path: Path, known: Any) -> None:
    """The parser's distinct values save the store a hash pass; wrong ones (missing a value,
    unsorted, foreign) change nothing in what is stored."""
    island = np.array(["Dream", "", "Biscoe", "Torgersen", "Dream", "Biscoe"])
    store = DatasetStore(tmp_path)
    meta = store.create_table(
        {"island": island, "x": np.arange(6.0)},
        np.array([0, 1, 0, 1, 0, 1]),
        label="y",
        task="classification",
        name=None,
        known_categories=None if known is None else {"island": known},
    )
    columns, _, _ = store.load_table(meta.id)
    assert columns["island"].tolist() == island.tolist()
    assert meta.features[0]["categories"] == ["Biscoe", "Dream", "Torgersen"]
    assert meta.features[0]["missing"] == 1
