"""/v1/models over the ASGI app in process: every route and each status it declares."""

from __future__ import annotations

import io
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from fastapi import FastAPI

import mlp_engine
from app.main import create_app
from app.settings import Settings
from app.storage import DatasetStore, ModelStore
from mlp_engine import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.anyio

MAX_ROWS = 50
MAX_GRID = 40
MAX_MODEL_BYTES = 64 * 1024


@pytest.fixture(scope="module")
def binary_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2)) * [1.0, 2.0] + [3.0, -1.0]
    y = ((X[:, 0] - 3.0) + (X[:, 1] + 1.0) / 2 > 0).astype(np.int64)
    return X, y


@pytest.fixture(scope="module")
def binary(binary_data: tuple[np.ndarray, np.ndarray]) -> MLPClassifier:
    X, y = binary_data
    return MLPClassifier(hidden_layers=(5, 3), epochs=30, seed=0).fit(X, y)


@pytest.fixture(scope="module")
def multiclass() -> MLPClassifier:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = np.array(["red", "green", "blue"])[np.argmax(np.c_[X, -X.sum(axis=1)], axis=1)]
    return MLPClassifier(hidden_layers=(6,), epochs=20, seed=0).fit(X, y)


@pytest.fixture(scope="module")
def regressor() -> MLPRegressor:
    X = np.random.default_rng(2).normal(size=(40, 2))
    return MLPRegressor(hidden_layers=(4,), epochs=10, seed=0).fit(X, X[:, 0] - X[:, 1])


@pytest.fixture(scope="module")
def wide() -> MLPClassifier:
    X = np.random.default_rng(3).uniform(0, 10, size=(50, 4))
    y = (X[:, 0] > X[:, 3]).astype(np.int64)
    return MLPClassifier(hidden_layers=(4,), epochs=10, seed=0).fit(X, y)


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        max_rows=MAX_ROWS,
        max_grid_resolution=MAX_GRID,
        max_model_bytes=MAX_MODEL_BYTES,
        api_keys=[],
    )
    application = create_app(settings)
    # The stores without the lifespan (no job runner is needed for these routes).
    application.state.dataset_store = DatasetStore(tmp_path)
    application.state.model_store = ModelStore(tmp_path, max_model_bytes=settings.max_model_bytes)
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # The lifespan is not run: no job runner is needed; the stores are set above.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", follow_redirects=True
    ) as client:
        yield client


@pytest.fixture
def store(app: FastAPI) -> ModelStore:
    model_store: ModelStore = app.state.model_store
    return model_store


@pytest.fixture
def datasets(app: FastAPI) -> DatasetStore:
    dataset_store: DatasetStore = app.state.dataset_store
    return dataset_store


def save(store: ModelStore, model: Any, model_id: str = "mdl_test", **kw: Any) -> str:
    store.save(
        model,
        model_id=model_id,
        name=kw.get("name", "test model"),
        job_id=kw.get("job_id"),
        dataset_id=kw.get("dataset_id"),
    )
    return model_id


def assert_error(response: Any, status: int, *fragments: str) -> Any:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    text = response.text
    assert "Traceback" not in text and "/tmp" not in text and "site-packages" not in text
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return body


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


# ----------------------------------------------------------------------------- metadata


async def test_list_get_delete(
    client: httpx.AsyncClient, store: ModelStore, binary: MLPClassifier
) -> None:
    assert (await client.get("/v1/models")).json() == {"data": [], "count": 0}
    save(store, binary, "mdl_a", job_id="job_1", dataset_id="ds_1")
    save(store, binary, "mdl_b")
    listing = (await client.get("/v1/models")).json()
    assert listing["count"] == 2
    assert [m["id"] for m in listing["data"]] == ["mdl_b", "mdl_a"]  # newest first
    body = (await client.get("/v1/models/mdl_a")).json()
    assert body["id"] == "mdl_a" and body["name"] == "test model"
    assert body["job_id"] == "job_1" and body["dataset_id"] == "ds_1"
    assert body["task"] == "classification" and body["classes"] == [0, 1]
    assert body["layers"] == [2, 5, 3, 1] and body["activation"] == "relu"
    assert body["n_parameters"] == binary.n_parameters_
    assert body["size_bytes"] == (store.root / "mdl_a.npz").stat().st_size
    assert set(body["metrics"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert body["training"]["epochs"] == 30
    assert body["created_at"].endswith(("Z", "+00:00"))
    response = await client.delete("/v1/models/mdl_a")
    assert response.status_code == 204 and response.content == b""
    assert_error(await client.get("/v1/models/mdl_a"), 404, "mdl_a")
    assert_error(await client.delete("/v1/models/mdl_a"), 404, "not_found")
    assert (await client.get("/v1/models")).json()["count"] == 1


@pytest.mark.parametrize(
    ("path", "statuses"),
    [
        ("/v1/models/mdl_missing", {404}),
        ("/v1/models/..%2F..%2Fetc%2Fpasswd", {404, 422}),
        ("/v1/models/%2e%2e%2f", {404, 422}),
        ("/v1/models/bad%00id", {404, 422}),
        ("/v1/models/" + "x" * 10_000, {404, 422}),
        ("/v1/models/a.b", {404, 422}),
    ],
)
@pytest.mark.parametrize("suffix", ["", "/download", "/boundary"])
async def test_bad_and_unknown_ids(
    client: httpx.AsyncClient,
    path: str,
    statuses: set[int],
    suffix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[str] = []
    real_open = open

    def spy(file: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    response = await client.get(path + suffix)
    assert response.status_code in statuses, response.text
    assert_error(response, response.status_code)
    response = await client.post(path + "/predict", json={"X": [[0, 0]]})
    assert response.status_code in statuses | {405}, response.text
    assert not [f for f in opened if "passwd" in f or "etc" in f]
    monkeypatch.undo()
    if suffix == "":
        assert (await client.delete(path)).status_code in statuses


async def test_damaged_model_file_is_409_not_500(
    client: httpx.AsyncClient, store: ModelStore, binary: MLPClassifier
) -> None:
    save(store, binary, "mdl_ok")
    (store.root / "mdl_bad.npz").write_bytes(b"PK\x03\x04 this is not a model" * 10)
    assert_error(await client.get("/v1/models/mdl_bad"), 409, "mdl_bad", "damaged")
    assert_error(await client.post("/v1/models/mdl_bad/predict", json={"X": [[0, 0]]}), 409)
    assert_error(await client.get("/v1/models/mdl_bad/boundary"), 409)
    assert [m["id"] for m in (await client.get("/v1/models")).json()["data"]] == ["mdl_ok"]


# ------------------------------------------------------------------------ download/import


async def test_download_import_round_trip_gives_identical_predictions(
    client: httpx.AsyncClient, store: ModelStore, multiclass: MLPClassifier
) -> None:
    save(store, multiclass, "mdl_src", dataset_id="ds_gone")
    download = await client.get("/v1/models/mdl_src/download")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == 'attachment; filename="mdl_src.npz"'
    assert download.content == (store.root / "mdl_src.npz").read_bytes()
    assert mlp_engine.load(io.BytesIO(download.content)).n_features_in_ == 2

    raw = await client.post(
        "/v1/models/import",
        content=download.content,
        headers={"content-type": "application/octet-stream"},
    )
    assert raw.status_code == 201, raw.text
    imported = raw.json()
    assert imported["id"] != "mdl_src" and imported["job_id"] is None
    assert imported["name"] == "test model" and imported["classes"] == ["blue", "green", "red"]
    form = await client.post(
        "/v1/models/import", files={"file": ("model.npz", download.content, "application/x")}
    )
    assert form.status_code == 201, form.text
    X = np.random.default_rng(9).normal(size=(25, 2)).tolist()
    results = [
        (await client.post(f"/v1/models/{model_id}/predict", json={"X": X})).json()
        for model_id in ("mdl_src", imported["id"], form.json()["id"])
    ]
    assert results[0] == results[1] == results[2]
    assert (await client.get("/v1/models")).json()["count"] == 3


@pytest.mark.parametrize("multipart", [False, True])
async def test_import_refuses_hostile_files(
    client: httpx.AsyncClient,
    store: ModelStore,
    binary: MLPClassifier,
    tmp_path: Path,
    multipart: bool,
) -> None:
    save(store, binary, "mdl_src")
    good = (store.root / "mdl_src.npz").read_bytes()
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str, str]]:
            return (open, (str(marker), "w"))

    pickled = io.BytesIO()
    np.savez(pickled, W0=np.array([Exploit()], dtype=object))
    bodies = {
        "pickle": pickled.getvalue(),
        "truncated": good[: len(good) - 100],
        "not a zip": b"definitely not a zip archive",
        "empty": b"",
    }
    for kind, data in bodies.items():
        if multipart:
            response = await client.post("/v1/models/import", files={"file": ("m.npz", data)})
        else:
            response = await client.post("/v1/models/import", content=data)
        body = assert_error(response, 422, "not a valid model file")
        assert body["detail"][0]["loc"] == ["body"], kind
    assert not marker.exists()
    assert sorted(p.name for p in store.root.iterdir()) == ["mdl_src.npz"]


async def test_import_multipart_without_file_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/import", data={"other": "x"}, files={"x": ("a", b"b")})
    assert_error(response, 422, "file")
    response = await client.post(
        "/v1/models/import",
        content=b"--nope",
        headers={"content-type": "multipart/form-data; boundary=zzz"},
    )
    assert_error(response, 422)


async def test_import_size_limit_is_413(client: httpx.AsyncClient, store: ModelStore) -> None:
    big = b"\0" * (MAX_MODEL_BYTES + 1)
    assert_error(await client.post("/v1/models/import", content=big), 413, "too large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while streaming
        for _ in range(MAX_MODEL_BYTES // 4096 + 2):
            yield b"\0" * 4096

    assert_error(await client.post("/v1/models/import", content=chunks()), 413)
    assert_error(
        await client.post("/v1/models/import", files={"file": ("m.npz", big)}), 413, "too large"
    )
    assert list(store.root.iterdir()) == []


# ------------------------------------------------------------------------------- predict


async def test_predict_binary_matches_the_engine(
    client: httpx.AsyncClient, store: ModelStore, binary: MLPClassifier
) -> None:
    save(store, binary)
    X = np.random.default_rng(4).normal(size=(30, 2)) * 3
    X[0] = [3.0, -1.0]
    response = await client.post("/v1/models/mdl_test/predict", json={"X": X.tolist()})
    assert response.status_code == 200
    body = response.json()
    assert body["classes"] == [0, 1]
    assert body["predictions"] == binary.predict(X).tolist()
    np.testing.assert_allclose(body["probabilities"], binary.predict_proba(X), rtol=1e-15)
    proba = np.array(body["probabilities"])
    assert proba.shape == (30, 2) and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


async def test_predict_multiclass_string_labels_and_regression(
    client: httpx.AsyncClient, store: ModelStore, multiclass: MLPClassifier, regressor: MLPRegressor
) -> None:
    save(store, multiclass, "mdl_multi")
    save(store, regressor, "mdl_reg")
    X = np.random.default_rng(5).normal(size=(7, 2))
    multi = (await client.post("/v1/models/mdl_multi/predict", json={"X": X.tolist()})).json()
    assert multi["classes"] == ["blue", "green", "red"]
    assert multi["predictions"] == multiclass.predict(X).tolist()
    np.testing.assert_allclose(np.sum(multi["probabilities"], axis=1), 1.0)
    reg = (await client.post("/v1/models/mdl_reg/predict", json={"X": X.tolist()})).json()
    assert set(reg) == {"predictions"}
    np.testing.assert_allclose(reg["predictions"], regressor.predict(X), rtol=1e-15)


async def test_predict_inline_and_thread_pool_paths_agree(
    client: httpx.AsyncClient,
    store: ModelStore,
    binary: MLPClassifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save(store, binary)
    body = orjson.dumps({"X": np.random.default_rng(6).normal(size=(MAX_ROWS, 2)).tolist()})
    url = "/v1/models/mdl_test/predict"
    first = await client.post(url, content=body)  # not cached yet: loaded in the thread pool
    inline = await client.post(url, content=body)  # cached and small: on the event loop
    monkeypatch.setattr("app.api.predict_fast._INLINE_BODY_BYTES", 0)
    threaded = await client.post(url, content=body)  # cached but "large": thread pool
    assert first.status_code == inline.status_code == threaded.status_code == 200
    assert first.json() == inline.json() == threaded.json()


@pytest.mark.parametrize(
    ("body", "loc", "fragment"),
    [
        (b'{"X": [[1, 2], [3]]}', ["body", "X", 1], "X[1] has 1 values"),
        (b'{"X": [[1, 2, 3]]}', ["body", "X"], "the model expects 2"),
        (b'{"X": [[1]]}', ["body", "X"], "the model expects 2"),
        (b'{"X": [[1, NaN]]}', ["body", "X", 0, 1], "X[0][1] must be a finite number"),
        (b'{"X": [[Infinity, 1]]}', ["body", "X", 0, 0], "finite"),
        (b'{"X": [[1, -Infinity]]}', ["body", "X", 0, 1], "finite"),
        (b'{"X": [[1, 1e999]]}', ["body", "X", 0, 1], "finite"),
        (b'{"X": [[1, "2"]]}', ["body", "X", 0, 1], "must be a number, got a string"),
        (b'{"X": [[1, true]]}', ["body", "X", 0, 1], "boolean"),
        (b'{"X": [[1, null]]}', ["body", "X", 0, 1], "null"),
        (b'{"X": []}', ["body", "X"], "non-empty"),
        (b'{"X": "rows"}', ["body", "X"], "non-empty"),
        (b'{"rows": [[1, 2]]}', ["body", "X"], "X is required"),
        (b"[[1, 2]]", ["body", "X"], "X is required"),
        (b'{"X": [[1, 2]]', ["body"], "not valid JSON"),
        (b"", ["body"], "not valid JSON"),
        (b"\xff\xfe", ["body"], "not valid JSON"),
    ],
)
async def test_predict_bad_inputs_are_422_naming_the_field(
    client: httpx.AsyncClient,
    store: ModelStore,
    binary: MLPClassifier,
    body: bytes,
    loc: list[Any],
    fragment: str,
) -> None:
    save(store, binary)
    response = await client.post(
        "/v1/models/mdl_test/predict", content=body, headers={"content-type": "application/json"}
    )
    detail = assert_error(response, 422, fragment)["detail"]
    assert detail[0]["loc"] == loc


async def test_predict_row_cap_is_inclusive(
    client: httpx.AsyncClient, store: ModelStore, binary: MLPClassifier
) -> None:
    save(store, binary)
    at_cap = await client.post("/v1/models/mdl_test/predict", json={"X": [[0.0, 1.0]] * MAX_ROWS})
    assert at_cap.status_code == 200 and len(at_cap.json()["predictions"]) == MAX_ROWS
    over = await client.post(
        "/v1/models/mdl_test/predict", json={"X": [[0.0, 1.0]] * (MAX_ROWS + 1)}
    )
    assert_error(over, 422, f"at most {MAX_ROWS}")


async def test_predict_unknown_model_and_too_large_body(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    assert_error(await client.post("/v1/models/mdl_nope/predict", json={"X": [[1, 2]]}), 404)
    too_big = b" " * (app.state.settings.max_body_bytes + 1)
    assert_error(await client.post("/v1/models/mdl_nope/predict", content=too_big), 413)


async def test_predict_uses_the_model_cache(
    client: httpx.AsyncClient,
    store: ModelStore,
    binary: MLPClassifier,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save(store, binary)
    import app.storage.models as storage_models  # the store reads files through it

    loads: list[object] = []
    real_load = storage_models.load_model_file

    def counting_load(source: Any, **limits: int) -> Any:
        loads.append(source)
        return real_load(source, **limits)

    monkeypatch.setattr(storage_models, "load_model_file", counting_load)
    for _ in range(5):
        assert (
            await client.post("/v1/models/mdl_test/predict", json={"X": [[1, 2]]})
        ).status_code == 200
    assert len(loads) == 1


# ------------------------------------------------------------------------------ boundary


async def test_boundary_json_matches_decision_grid_and_orientation(
    client: httpx.AsyncClient, store: ModelStore, binary: MLPClassifier
) -> None:
    save(store, binary)
    response = await client.get("/v1/models/mdl_test/boundary", params={"nx": 7, "ny": 5})
    assert response.status_code == 200
    body = response.json()
    xs, ys, values = mlp_engine.decision_grid(binary, nx=7, ny=5)
    assert body["task"] == "classification" and body["classes"] == [0, 1]
    assert body["features"] == [0, 1] and body["fixed"] is None
    np.testing.assert_allclose(body["x"], xs)
    np.testing.assert_allclose(body["y"], ys)
    probabilities = np.array(body["probabilities"])
    assert probabilities.shape == (5, 7)  # [ny][nx]
    np.testing.assert_allclose(probabilities, values, rtol=1e-12)
    # probabilities[j][i] is P(classes_[1]) at (x[i], y[j]).
    j, i = 3, 6
    point = np.array([[body["x"][i], body["y"][j]]])
    assert probabilities[j][i] == pytest.approx(binary.predict_proba(point)[0, 1], rel=1e-12)
    assert "predicted" not in body and "values" not in body


async def test_boundary_explicit_ranges_and_default_resolution(
    client: httpx.AsyncClient, store: ModelStore, binary: MLPClassifier
) -> None:
    save(store, binary)
    body = (
        await client.get(
            "/v1/models/mdl_test/boundary",
            params={"x_min": -1, "x_max": 1, "y_min": 0, "y_max": 2, "resolution": 11},
        )
    ).json()
    assert body["x"][0] == -1 and body["x"][-1] == 1 and len(body["x"]) == 11
    assert body["y"][0] == 0 and body["y"][-1] == 2 and len(body["y"]) == 11
    xs, _, _ = mlp_engine.decision_grid(binary, resolution=MAX_GRID)
    partial = await client.get(
        "/v1/models/mdl_test/boundary", params={"x_min": 0.5, "resolution": 40}
    )
    assert partial.json()["x"][0] == 0.5
    assert partial.json()["x"][-1] == pytest.approx(xs[-1])


async def test_boundary_multiclass_and_regression_shapes(
    client: httpx.AsyncClient, store: ModelStore, multiclass: MLPClassifier, regressor: MLPRegressor
) -> None:
    save(store, multiclass, "mdl_multi")
    save(store, regressor, "mdl_reg")
    multi = (await client.get("/v1/models/mdl_multi/boundary", params={"nx": 6, "ny": 4})).json()
    probabilities = np.array(multi["probabilities"])
    assert probabilities.shape == (4, 6, 3)
    np.testing.assert_allclose(probabilities.sum(axis=2), 1.0)
    np.testing.assert_array_equal(multi["predicted"], probabilities.argmax(axis=2))
    np.testing.assert_allclose(multi["confidence"], probabilities.max(axis=2))
    assert multi["classes"] == ["blue", "green", "red"]
    reg = (await client.get("/v1/models/mdl_reg/boundary", params={"nx": 6, "ny": 4})).json()
    assert reg["task"] == "regression" and reg["classes"] is None
    assert np.array(reg["values"]).shape == (4, 6) and "probabilities" not in reg
    _, _, values = mlp_engine.decision_grid(regressor, nx=6, ny=4)
    np.testing.assert_allclose(reg["values"], values)


async def test_boundary_features_and_fixed_for_wider_models(
    client: httpx.AsyncClient, store: ModelStore, wide: MLPClassifier
) -> None:
    save(store, wide, "mdl_wide")
    url = "/v1/models/mdl_wide/boundary"
    body = (
        await client.get(url, params={"features": "3,0", "fixed": "1.5,2.5", "resolution": 5})
    ).json()
    assert body["features"] == [3, 0] and body["fixed"] == [1.5, 2.5]
    _, _, values = mlp_engine.decision_grid(
        wide, resolution=5, features=(3, 0), fixed={1: 1.5, 2: 2.5}
    )
    np.testing.assert_allclose(body["probabilities"], values)
    default = (await client.get(url, params={"resolution": 5})).json()
    midpoints = (wide.data_min_ + wide.data_max_) / 2
    np.testing.assert_allclose(default["fixed"], midpoints[2:])
    for params, name in (
        ({"features": "0,0"}, "features"),
        ({"features": "0,4"}, "features"),
        ({"features": "a,b"}, "features"),
        ({"features": "0,1,2"}, "features"),
        ({"fixed": "1"}, "fixed"),
        ({"fixed": "1,nan"}, "fixed"),
        ({"fixed": "1,inf"}, "fixed"),
        ({"fixed": "1,x"}, "fixed"),
    ):
        detail = assert_error(await client.get(url, params=params), 422, name)["detail"]
        assert detail[0]["loc"] == ["query", name], params


async def test_boundary_query_validation(
    client: httpx.AsyncClient, store: ModelStore, binary: MLPClassifier
) -> None:
    save(store, binary)
    url = "/v1/models/mdl_test/boundary"
    default = (await client.get(url)).json()  # default 100 points per axis, or the cap if lower
    assert len(default["x"]) == len(default["y"]) == min(100, MAX_GRID)
    at_cap = await client.get(url, params={"resolution": MAX_GRID})
    assert at_cap.status_code == 200 and len(at_cap.json()["x"]) == MAX_GRID
    ok = await client.get(url, params={"nx": MAX_GRID, "ny": 2})
    assert ok.status_code == 200 and len(ok.json()["y"]) == 2
    for params, name in (
        ({"resolution": MAX_GRID + 1}, "resolution"),
        ({"nx": MAX_GRID + 1}, "nx"),
        ({"ny": MAX_GRID + 1}, "ny"),
        ({"resolution": 1}, "resolution"),
        ({"x_min": 2, "x_max": 1}, "x_min"),
        ({"y_min": 1, "y_max": 1}, "y_min"),
        ({"x_min": "nan", "x_max": 1}, "x_min"),
        ({"y_max": "inf"}, "y_max"),
        ({"x_min": -1e308, "x_max": 1e308}, "x_max"),  # issue 18 finding 10: "X contains NaN"
        ({"format": "gif"}, "format"),
        ({"fixed": "1"}, "fixed"),
    ):
        detail = assert_error(await client.get(url, params=params), 422)["detail"]
        assert detail[0]["loc"] == ["query", name], (params, detail)
    assert_error(await client.get("/v1/models/mdl_nope/boundary"), 404)


async def test_boundary_value_budget_for_many_classes(
    client: httpx.AsyncClient, store: ModelStore
) -> None:
    X = np.random.default_rng(7).normal(size=(44, 2))
    y = np.arange(44) % 11
    save(store, MLPClassifier(hidden_layers=(3,), epochs=1).fit(X, y), "mdl_eleven")
    url = "/v1/models/mdl_eleven/boundary"
    assert_error(
        await client.get(url, params={"resolution": MAX_GRID}), 422, "at most 16000 are allowed"
    )
    ok = await client.get(url, params={"resolution": 38})  # 38 * 38 * 11 = 15884 values
    assert ok.status_code == 200 and np.array(ok.json()["probabilities"]).shape == (38, 38, 11)


async def test_boundary_png_with_and_without_training_points(
    client: httpx.AsyncClient,
    store: ModelStore,
    datasets: DatasetStore,
    binary: MLPClassifier,
    binary_data: tuple[np.ndarray, np.ndarray],
) -> None:
    X, y = binary_data
    dataset = datasets.create(X, y, name="train", task="classification")
    save(store, binary, "mdl_png", dataset_id=dataset.id)
    response = await client.get("/v1/models/mdl_png/boundary", params={"format": "png"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert png_size(response.content) == (640, 480)
    datasets.delete(dataset.id)  # the points are skipped once the dataset is gone
    again = await client.get(
        "/v1/models/mdl_png/boundary", params={"format": "png", "resolution": 10}
    )
    assert again.status_code == 200 and png_size(again.content) == (640, 480)


async def test_boundary_png_multiclass_and_regression(
    client: httpx.AsyncClient, store: ModelStore, multiclass: MLPClassifier, regressor: MLPRegressor
) -> None:
    save(store, multiclass, "mdl_multi")
    save(store, regressor, "mdl_reg")
    for model_id in ("mdl_multi", "mdl_reg"):
        response = await client.get(f"/v1/models/{model_id}/boundary", params={"format": "png"})
        assert response.status_code == 200 and png_size(response.content) == (640, 480)


# ------------------------------------------------------------------------------- OpenAPI


async def test_openapi_declares_every_status_and_body(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    expected = {
        ("get", "/v1/models"): {"200"},
        ("get", "/v1/models/{model_id}"): {"200", "404", "409", "422"},
        ("delete", "/v1/models/{model_id}"): {"204", "404", "422"},
        ("get", "/v1/models/{model_id}/download"): {"200", "404", "422"},
        ("post", "/v1/models/import"): {"201", "413", "422"},
        ("post", "/v1/models/{model_id}/predict"): {"200", "404", "409", "413", "422"},
        ("get", "/v1/models/{model_id}/boundary"): {"200", "404", "409", "422"},
        ("post", "/v1/models/{model_id}/evaluate"): {"200", "404", "409", "413", "422"},
    }
    for (method, path), statuses in expected.items():
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), (method, path)
        assert operation.get("summary") and operation.get("description")
    predict = paths["/v1/models/{model_id}/predict"]["post"]
    schema = predict["requestBody"]["content"]["application/json"]["schema"]
    assert [form["required"] for form in schema["anyOf"]] == [
        ["X"],
        ["instances"],
        ["columns", "data"],
    ]
    evaluate = paths["/v1/models/{model_id}/evaluate"]["post"]["requestBody"]["content"]
    forms = evaluate["application/json"]["schema"]["anyOf"]
    assert [form["required"] for form in forms] == [
        ["dataset_id"],
        ["columns", "data", "label"],
        ["X", "y"],
    ]
    imported = paths["/v1/models/import"]["post"]["requestBody"]["content"]
    assert set(imported) == {"application/octet-stream", "multipart/form-data"}
    boundary = paths["/v1/models/{model_id}/boundary"]["get"]["responses"]["200"]["content"]
    assert set(boundary) == {"application/json", "image/png"}
