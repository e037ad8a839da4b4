"""/v1/datasets: JSON and CSV upload, generate, list, metadata, data, delete, and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import httpx
import numpy as np
import pytest
from helpers.assertions import assert_422

from app.schemas.datasets import DatasetKind
from mlp_engine import datasets as engine_datasets

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}
SMALL = {"X": [[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [3.0, 2.5]], "y": [0, 1, 0, 1]}


async def post_raw(client: httpx.AsyncClient, body: str | bytes, **kwargs: Any) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return await client.post("/v1/datasets", content=content, headers=JSON, **kwargs)


def npz_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "datasets").glob("*"))


# -- JSON upload and the resource's life cycle --------------------------------------------------


async def test_json_dataset_life_cycle(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/datasets", json={**SMALL, "name": "tiny"})
    assert response.status_code == 201, response.text
    meta = response.json()
    assert response.headers["location"] == f"/v1/datasets/{meta['id']}"
    assert meta["name"] == "tiny"
    assert (meta["n_samples"], meta["n_features"], meta["task"]) == (4, 2, "classification")
    assert meta["classes"] == [0, 1]
    assert meta["bounds"] == {"min": [0.0, -1.0], "max": [3.0, 2.5]}
    assert set(meta) == {
        "id", "name", "n_samples", "n_features", "task", "classes", "bounds", "created_at",
        "label", "features", "rows_without_label",
    }  # fmt: skip
    assert meta["label"] is None and meta["rows_without_label"] == 0
    assert meta["features"] == [
        {"name": "x0", "type": "numeric", "missing": 0},
        {"name": "x1", "type": "numeric", "missing": 0},
    ]

    assert (await client.get(f"/v1/datasets/{meta['id']}")).json() == meta
    listing = (await client.get("/v1/datasets")).json()
    assert listing["count"] == 1 and listing["data"][0]["id"] == meta["id"]
    data = (await client.get(f"/v1/datasets/{meta['id']}/data")).json()
    assert data == SMALL

    response = await client.delete(f"/v1/datasets/{meta['id']}")
    assert response.status_code == 204 and response.content == b""
    assert (await client.get(f"/v1/datasets/{meta['id']}")).status_code == 404
    assert (await client.get(f"/v1/datasets/{meta['id']}/data")).status_code == 404
    response = await client.delete(f"/v1/datasets/{meta['id']}")
    assert response.status_code == 404
    assert meta["id"] in response.json()["detail"]


async def test_list_is_newest_first(client: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(3):
        ids.append((await client.post("/v1/datasets", json=SMALL)).json()["id"])
    listing = (await client.get("/v1/datasets")).json()
    assert [d["id"] for d in listing["data"]] == ids[::-1]


async def test_string_labels_and_regression(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/datasets", json={**SMALL, "y": ["a", "b", "b", "c"]})
    assert response.status_code == 201
    assert response.json()["classes"] == ["a", "b", "c"]
    data = (await client.get(f"/v1/datasets/{response.json()['id']}/data")).json()
    assert data["y"] == ["a", "b", "b", "c"]

    response = await client.post(
        "/v1/datasets", json={**SMALL, "y": [0.5, 1.5, -2.0, 3], "task": "regression"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["task"] == "regression" and response.json()["classes"] is None


async def test_integral_float_labels_count_as_classes(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/datasets", json={**SMALL, "y": [0.0, 1.0, 1.0, 0.0]})
    assert response.status_code == 201
    assert response.json()["classes"] == [0, 1]


# -- CSV upload -----------------------------------------------------------------------------------


async def test_csv_label_is_the_last_column_by_default(client: httpx.AsyncClient) -> None:
    csv = "x1,x2,label\n0.5,1.0,cat\n-1,2e-1,dog\n\n3,4,cat\n"
    response = await client.post("/v1/datasets?name=pets", content=csv, headers=CSV)
    assert response.status_code == 201, response.text
    meta = response.json()
    assert (meta["n_samples"], meta["n_features"], meta["classes"]) == (3, 2, ["cat", "dog"])
    assert (meta["name"], meta["label"]) == ("pets", "label")
    data = (await client.get(f"/v1/datasets/{meta['id']}/data")).json()
    assert data == {
        "columns": ["x1", "x2"],
        "data": [[0.5, 1.0], [-1.0, 0.2], [3.0, 4.0]],
        "label": "label",
        "y": ["cat", "dog", "cat"],
    }


async def test_csv_label_column_by_name(client: httpx.AsyncClient) -> None:
    csv = "\ufeffa,class,b\n1,0,2\n3,1,4\n5,1,6\n"
    response = await client.post(
        "/v1/datasets?label=class", content=csv, headers={"content-type": "text/csv; charset=utf-8"}
    )
    assert response.status_code == 201, response.text
    data = (await client.get(f"/v1/datasets/{response.json()['id']}/data")).json()
    assert data == {
        "columns": ["a", "b"],
        "data": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        "label": "class",
        "y": [0, 1, 1],
    }


async def test_csv_regression(client: httpx.AsyncClient) -> None:
    csv = "x,y\n0,0.5\n1,1.5\n2,2.25\n"
    response = await client.post("/v1/datasets?task=regression", content=csv, headers=CSV)
    assert response.status_code == 201, response.text
    assert response.json()["task"] == "regression"


@pytest.mark.parametrize(
    ("csv", "query", "loc", "words"),
    [  # more bad tables in test_datasets_tables.py
        ("a,b,y\n1,2,0\n3,4\n", "", ["body", "data", 1], ["line 3", "2 values"]),
        ("a,b,y\n1,2,0\n3,4,1\n", "?label=nope", ["query", "label"], ["nope"]),
        ("a,b,y\n1,2,0\n3,4,0\n", "", ["body", "columns", "y"], ["only one class"]),
        (
            "a,y\n1,0.5\n2,abc\n",
            "?task=regression",
            ["body", "columns", "y"],
            ["'y'", "line 3", "'abc'"],
        ),
        ("a,b,y\n", "", ["body"], ["header row"]),
        ("y\n1\n2\n", "", ["body", "columns"], ["feature column"]),
    ],
)
async def test_bad_csv_is_422_naming_the_cell(
    client: httpx.AsyncClient,
    data_dir: Path,
    csv: str,
    query: str,
    loc: list[Any],
    words: list[str],
) -> None:
    response = await client.post(f"/v1/datasets{query}", content=csv, headers=CSV)
    assert_422(response, loc, *words)
    assert npz_files(data_dir) == []


async def test_unsupported_media_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/datasets", content=b"<x/>", headers={"content-type": "application/xml"}
    )
    assert response.status_code == 415
    assert "text/csv" in response.json()["detail"]


# -- RELIABILITY 1-2: bad values name the element and create nothing --------------------------


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ('{"X": [[0, 1], [1, 2], [2, 3], [3, NaN]], "y": [0, 1, 0, 1]}', ["body", "X", 3, 1]),
        ('{"X": [[0, 1], [Infinity, 2]], "y": [0, 1]}', ["body", "X", 1, 0]),
        ('{"X": [[0, 1], [1, -Infinity]], "y": [0, 1]}', ["body", "X", 1, 1]),
        ('{"X": [[0, 1e999], [1, 2]], "y": [0, 1]}', ["body", "X", 0, 1]),
        (
            '{"X": [[0], [1], [2]], "y": [0.5, NaN, 1], "task": "regression"}',
            ["body", "y", 1],
        ),
        ('{"X": [[0], [1], [2]], "y": [0, Infinity, 1]}', ["body", "y", 1]),
    ],
)
async def test_non_finite_numbers_are_422_naming_the_element(
    client: httpx.AsyncClient, data_dir: Path, body: str, loc: list[Any]
) -> None:
    response = await post_raw(client, body)
    assert_422(response, loc, "finite")
    assert (await client.get("/v1/datasets")).json()["count"] == 0
    assert npz_files(data_dir) == []


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"X": [[0, 1], [1]], "y": [0, 1]}, ["body", "X", 1], ["X[1]", "same length"]),
        ({"X": [[0, 1], [1, 2]], "y": [0, 1, 1]}, ["body", "y"], ["3 labels", "2 rows"]),
        ({"X": [[0, 1], [1, 2]], "y": [1, 1]}, ["body", "y"], ["only one class"]),
        ({"X": [[0, 1], [1, 2]], "y": [0, "a"]}, ["body", "y", 1], ["y[1]"]),
        ({"X": [[0, 1], [1, 2]], "y": [0, 0.5]}, ["body", "y", 1], ["integers or strings"]),
        ({"X": [[0, True], [1, 2]], "y": [0, 1]}, ["body", "X", 0, 1], ["boolean"]),
        ({"X": [[0, "1"], [1, 2]], "y": [0, 1]}, ["body", "X", 0, 1], ["string"]),
        ({"X": [[0, None], [1, 2]], "y": [0, 1]}, ["body", "X", 0, 1], ["null"]),
        ({"X": [], "y": []}, ["body", "X"], ["non-empty"]),
        ({"y": [0, 1]}, ["body", "X"], ["X"]),
        ({"X": [[0], [1]], "y": ["a", "b"], "task": "regression"}, ["body", "y"], ["numbers"]),
        ({"X": [[0], [1]], "y": [0, 1], "task": "ranking"}, ["body", "task"], ["task"]),
        ({"X": [[0], [1]], "y": [0, 1], "name": ""}, ["body", "name"], ["name"]),
    ],
)
async def test_malformed_datasets_are_422_naming_the_field(
    client: httpx.AsyncClient,
    data_dir: Path,
    body: dict[str, Any],
    loc: list[Any],
    words: list[str],
) -> None:
    response = await client.post("/v1/datasets", json=body)
    assert_422(response, loc, *words)
    assert npz_files(data_dir) == []


@pytest.mark.parametrize("body", ["", "not json", "[1, 2]", '{"X": [[0]', "null"])
async def test_invalid_json_is_422(client: httpx.AsyncClient, body: str) -> None:
    response = await post_raw(client, body)
    assert_422(response, ["body"])


async def test_too_many_classes_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/datasets", json={"X": [[i] for i in range(6)], "y": list(range(6))}
    )
    assert_422(response, ["body", "y"], "6 classes", "at most 5")


# -- RELIABILITY 4: caps (300 rows, 6 features in these tests) ---------------------------------


def rows(n: int, width: int = 2) -> dict[str, Any]:
    return {"X": [[float(i % 7)] * width for i in range(n)], "y": [i % 2 for i in range(n)]}


async def test_rows_at_the_cap_are_accepted_and_one_more_is_422(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/v1/datasets", json=rows(300))).status_code == 201
    response = await client.post("/v1/datasets", json=rows(301))
    assert_422(response, ["body", "X"], "301 rows", "at most 300")


async def test_features_at_the_cap_are_accepted_and_one_more_is_422(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.post("/v1/datasets", json=rows(4, width=6))).status_code == 201
    response = await client.post("/v1/datasets", json=rows(4, width=7))
    assert_422(response, ["body", "X"], "7 features", "at most 6")


async def test_csv_caps(client: httpx.AsyncClient) -> None:
    def csv(n_rows: int, width: int) -> str:
        header = ",".join(f"f{j}" for j in range(width)) + ",label"
        lines = [",".join(["1"] * width) + f",{i % 2}" for i in range(n_rows)]
        return "\n".join([header, *lines]) + "\n"

    for n_rows, width, status in [(300, 6, 201), (301, 1, 422), (2, 7, 422)]:
        response = await client.post("/v1/datasets", content=csv(n_rows, width), headers=CSV)
        assert response.status_code == status, (n_rows, width, response.text)


# -- generate -------------------------------------------------------------------------------------


def test_kinds_match_the_engine() -> None:
    assert get_args(DatasetKind) == engine_datasets.KINDS


@pytest.mark.parametrize("kind", engine_datasets.KINDS)
async def test_generate_each_kind(client: httpx.AsyncClient, kind: str) -> None:
    response = await client.post("/v1/datasets/generate", json={"kind": kind, "n_samples": 60})
    assert response.status_code == 201, response.text
    meta = response.json()
    assert meta["n_samples"] == 60 and meta["n_features"] == 2
    assert response.headers["location"] == f"/v1/datasets/{meta['id']}"


async def test_generate_notebook_matches_the_engine(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/datasets/generate", json={"kind": "notebook", "seed": 7, "n_samples": 200}
    )
    meta = response.json()
    assert meta["name"] == "notebook (200 samples, seed 7)"
    data = (await client.get(f"/v1/datasets/{meta['id']}/data")).json()
    X, y = engine_datasets.make("notebook", n_samples=200, seed=7)
    np.testing.assert_array_equal(np.array(data["X"]), X)
    assert data["y"] == y.tolist()


def test_the_schema_states_the_engine_noise_cap() -> None:
    from app.schemas.datasets import MAX_NOISE

    assert MAX_NOISE == engine_datasets.MAX_NOISE


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "moons", "n_classes": 3}, "n_classes"),
        ({"kind": "xor", "n_samples": 2}, "n_samples"),
        ({"kind": "gaussians", "n_classes": 11}, "n_classes"),
        ({"kind": "xor", "n_samples": 301}, "n_samples"),
        ({"kind": "notebook"}, "n_samples"),  # 1000 rows by default, over this test's cap
        ({"kind": "xor", "noise": -1}, "noise"),
        ({"kind": "xor", "noise": 1e308}, "noise"),  # issue 18 finding 10: named X[17][1]
        ({"kind": "xor", "seed": -1}, "seed"),
        ({"kind": "pizza"}, "kind"),
        ({"kind": "xor", "extra": 1, "n_samples": 1.5}, "n_samples"),
    ],
)
async def test_generate_bad_parameters_are_422_naming_the_field(
    client: httpx.AsyncClient, data_dir: Path, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/datasets/generate", json=body)
    assert response.status_code == 422, response.text
    locs = [item["loc"] for item in response.json()["detail"]]
    assert ["body", field] in locs, locs
    assert npz_files(data_dir) == []


# -- RELIABILITY 6: IDs that try to escape ---------------------------------------------------


@pytest.mark.parametrize(
    "raw_id",
    [
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f",
        "%2e%2e",
        "abc%00def",
        "a" * 10_000,
        "ds_%20x",
        "..",
    ],
)
@pytest.mark.parametrize("suffix", ["", "/data"])
async def test_malicious_ids_are_404_or_422(
    client: httpx.AsyncClient, raw_id: str, suffix: str
) -> None:
    for method in ("GET", "DELETE") if not suffix else ("GET",):
        response = await client.request(method, f"/v1/datasets/{raw_id}{suffix}")
        assert response.status_code in (404, 422), (method, raw_id[:20], response.status_code)
        assert len(response.content) < 2000  # a 10,000-character ID is never echoed
        assert "/etc" not in response.text and "Traceback" not in response.text


async def test_unknown_well_formed_id_is_404_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/datasets/ds_doesnotexist")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "dataset 'ds_doesnotexist' not found",
        "code": "not_found",
    }


async def test_validation_errors_never_echo_huge_inputs(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/datasets/generate", json={"kind": "x" * 50_000})
    assert response.status_code == 422
    assert len(response.content) < 2000


async def test_data_download_is_plain_json(client: httpx.AsyncClient) -> None:
    meta = (await client.post("/v1/datasets", json=SMALL)).json()
    response = await client.get(f"/v1/datasets/{meta['id']}/data")
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(response.content) == SMALL


async def test_damaged_dataset_file_is_409_without_paths(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    meta = (await client.post("/v1/datasets", json=SMALL)).json()
    (data_dir / "datasets" / f"{meta['id']}.npz").write_bytes(b"PK\x03\x04 truncated")
    for path in (f"/v1/datasets/{meta['id']}", f"/v1/datasets/{meta['id']}/data"):
        response = await client.get(path)
        assert response.status_code == 409, response.text
        assert "damaged" in response.json()["detail"]
        assert str(data_dir) not in response.text
    response = await client.post(
        "/v1/jobs", json={"dataset_id": meta["id"], "training": {"epochs": 1}}
    )
    assert response.status_code == 409
    assert (await client.delete(f"/v1/datasets/{meta['id']}")).status_code == 204
