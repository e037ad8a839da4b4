"""Items 7, 8 and 9 against a real server: hostile model files, uploaded and planted.

Each file is sent to ``POST /v1/models/import`` (raw body and multipart) and planted in the
data directory as ``models/<id>.npz`` (then read through every route that loads a model). The
uvicorn process's resident memory is measured before and after, both now (``VmRSS``: stays
flat) and at its peak (``VmHWM``: a file that was inflated or allocated and then refused, and
freed, still leaves its mark there). A file that got unpickled would create the sentinel file
(the zip bombs expand to 400 MB, the huge headers declare terabytes).
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.model_files import (
    build_zip,
    config_npy,
    npy,
    npy_header,
    patch_central_entry,
    pickled_object_array,
    valid_members,
    with_members,
    write_consistent_zip_bomb,
    write_zip_bomb,
)
from helpers.server import Server

import mlp_engine

pytestmark = pytest.mark.integration

RSS_SLACK = 48 * 2**20  # allocator noise; any hostile file would cost hundreds of MB or more
BOMB_BYTES = 400 * 2**20


def service_model_file() -> bytes:
    """A genuine model file as the service writes it (an engine estimator with metadata)."""
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]] * 5)
    y = np.array([0, 1, 1, 0] * 5)
    model = mlp_engine.MLPClassifier(hidden_layers=(4,), epochs=3, seed=0).fit(X, y)
    buffer = io.BytesIO()
    model.save(buffer, metadata={"name": "genuine"})
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[bytes, str]]:
    """name -> (file bytes, a fragment the rejection message must contain)."""
    root = tmp_path_factory.mktemp("hostile")
    sentinel = root / "PWNED"  # a pickle payload would create it (server-side)
    bomb = write_zip_bomb(root / "bomb.npz", BOMB_BYTES)
    header_len = len(npy_header("<f8", (1, 2)))
    huge = {"config.npy": config_npy({"layers": [10**6, 10**6], "format_version": 1})}
    huge["W0.npy"] = npy_header("<f8", (10**6, 10**6)) + bytes(64)
    huge["b0.npy"] = npy_header("<f8", (10**6,)) + bytes(64)
    thousands = io.BytesIO()
    with zipfile.ZipFile(thousands, "w") as zf:
        for i in range(7000):  # above the 6145 members a model file with a table plan may have
            zf.writestr(f"W{i}.npy", b"")
    good = build_zip(valid_members())
    files: dict[str, tuple[bytes, str]] = {
        # item 7: pickles
        "pickle_W0": (with_members(W0=pickled_object_array(sentinel, (2, 5))), "'W0'"),
        "pickle_b2": (with_members(b2=pickled_object_array(sentinel, (1,))), "'b2'"),
        "pickle_config": (with_members(config=pickled_object_array(sentinel, (10,))), "config"),
        "bare_pickle": (pickle.dumps(np.array([1.0])), "zip"),
        # item 8: huge declared shapes and zip bombs
        "header_10e12": (build_zip(huge), "'W0'"),
        "header_not_matching": (with_members(W1=npy_header("<f8", (10**6, 10**6))), "'W1'"),
        "config_terabyte": (with_members(config=npy_header("|u1", (10**12,)) + b"{}"), "config"),
        "npy_v2_4gb_header": (
            with_members(W0=np.lib.format.magic(2, 0) + struct.pack("<I", 0xFFFFFFF0) + b"{"),
            "'W0'",
        ),
        "zip_bomb": (bomb, "'W0'"),
        "zip_bomb_lying_size": (
            patch_central_entry(bomb, "W0.npy", file_size=header_len + 16),
            "not a valid model file",
        ),
        "zip_bomb_consistent": (
            write_consistent_zip_bomb(root / "consistent.npz", BOMB_BYTES // 16),
            "limit",
        ),
        "thousands_of_members": (thousands.getvalue(), "7000 members"),
        # truncated and mis-shaped files (item 9 too)
        "empty": (b"", "not"),
        "truncated_half": (good[: len(good) // 2], "not a valid model file"),
        "truncated_tail": (good[:-10], "not a valid model file"),
        "not_a_zip": (b"hello, this is not a model" * 10, "zip"),
        "missing_W1": (with_members(W1=None), "'W1'"),
        "extra_member": (with_members(W3=npy(np.zeros((1, 1)))), "'W3'"),
        "path_member": (with_members(**{"../../evil": b"x"}), "unexpected member"),
        "int_weights": (with_members(W0=npy(np.zeros((2, 5), dtype=np.int64))), "'W0'"),
        "complex_bias": (with_members(b0=npy(np.zeros(5, dtype=np.complex128))), "'b0'"),
        "shapes_do_not_chain": (with_members(W1=npy(np.zeros((4, 3)))), "'W1'"),
        "bias_wrong_shape": (with_members(b1=npy(np.zeros(7))), "'b1'"),
        "nan_weights": (with_members(W2=npy(np.full((3, 1), np.nan))), "'W2'"),
        "engine_file_without_service_config": (good, "config"),
        # issue 18 finding 5: a lone surrogate in the config was a 500 when written or echoed
        "lone_surrogate_in_config": (
            with_members(config=config_npy(name="\ud800", classes=["\udfff", "b"])),
            "not valid Unicode",
        ),
    }
    return files


@pytest.fixture
def server(start_server: Any) -> Iterator[Server]:
    yield start_server(mlp_max_model_bytes=str(8 * 2**20))


def sentinels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Sentinel files a pickle payload would have created (anywhere in this run's temp dir)."""
    return list(Path(tmp_path_factory.getbasetemp()).rglob("PWNED"))


def warm_up(client: httpx.Client) -> str:
    """Exercise every code path once with a genuine file, so the RSS baseline includes them."""
    genuine = service_model_file()
    response = client.post("/v1/models/import", content=genuine)
    assert response.status_code == 201, response.text
    model_id: str = response.json()["id"]
    for _ in range(3):
        assert client.post(f"/v1/models/{model_id}/predict", json={"X": [[0, 1]]}).is_success
        assert client.get(f"/v1/models/{model_id}/boundary?resolution=20").is_success
        assert client.post("/v1/models/import", content=b"junk").status_code == 422
        files = {"file": ("m.npz", genuine, "application/octet-stream")}
        assert client.post("/v1/models/import", files=files).status_code == 201
    return model_id


def test_hostile_uploads_are_rejected_without_unpickling_or_allocating(
    server: Server,
    hostile: dict[str, tuple[bytes, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with server.client() as client:
        warm_up(client)
        before, peak_before = server.rss_bytes(), server.peak_rss_bytes()
        models_before = client.get("/v1/models").json()["count"]
        for name, (data, fragment) in hostile.items():
            for how in ("raw", "multipart"):
                if how == "raw":
                    response = client.post("/v1/models/import", content=data)
                else:
                    files = {"file": (f"{name}.npz", data, "application/octet-stream")}
                    response = client.post("/v1/models/import", files=files)
                assert response.status_code == 422, (name, how, response.text)
                message = response.json()["detail"][0]["msg"]
                assert fragment in message, (name, message)
                assert str(server.data_dir.parent) not in response.text, (name, message)
        after, peak_after = server.rss_bytes(), server.peak_rss_bytes()
        assert client.get("/v1/models").json()["count"] == models_before
    assert not sentinels(tmp_path_factory), "a pickle payload ran"
    assert after - before < RSS_SLACK, f"RSS grew by {(after - before) / 2**20:.1f} MiB"
    assert peak_after - peak_before < RSS_SLACK, f"peak RSS +{(peak_after - peak_before) >> 20} MiB"
    assert list((server.data_dir / "models").glob(".tmp-*")) == []


def test_hostile_files_planted_in_the_data_dir_are_never_loaded(
    server: Server,
    hostile: dict[str, tuple[bytes, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Files dropped into ``models/`` behind the service's back: every route that loads a
    model answers 409 (damaged or unsupported), the listing skips them, memory stays flat."""
    with server.client() as client:
        genuine_id = warm_up(client)
        before, peak_before = server.rss_bytes(), server.peak_rss_bytes()
        planted = []
        for i, (data, _) in enumerate(hostile.values()):
            model_id = f"mdl_planted{i}"
            (server.data_dir / "models" / f"{model_id}.npz").write_bytes(data)
            planted.append(model_id)
        listing = client.get("/v1/models")
        assert listing.status_code == 200
        assert {m["id"] for m in listing.json()["data"]}.isdisjoint(planted)
        for model_id in planted:
            for method, url, body in (
                ("GET", f"/v1/models/{model_id}", None),
                ("POST", f"/v1/models/{model_id}/predict", {"X": [[0.0, 1.0]]}),
                ("GET", f"/v1/models/{model_id}/boundary", None),
                ("GET", f"/v1/models/{model_id}/boundary?format=png", None),
            ):
                response = client.request(method, url, json=body)
                assert response.status_code == 409, (model_id, url, response.text)
                assert "damaged or unsupported" in response.json()["detail"]
                assert str(server.data_dir) not in response.text
        after, peak_after = server.rss_bytes(), server.peak_rss_bytes()
        # The genuine model still works next to them.
        assert client.post(f"/v1/models/{genuine_id}/predict", json={"X": [[0, 1]]}).is_success
    assert not sentinels(tmp_path_factory), "a pickle payload ran"
    assert after - before < RSS_SLACK, f"RSS grew by {(after - before) / 2**20:.1f} MiB"
    assert peak_after - peak_before < RSS_SLACK, f"peak RSS +{(peak_after - peak_before) >> 20} MiB"
