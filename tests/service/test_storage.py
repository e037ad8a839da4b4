"""app.storage: IDs, DatasetStore and ModelStore (atomic files, caches, hostile input)."""

from __future__ import annotations

import io
import os
import pickle
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from app.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from app.storage import ID_RE, DatasetStore, ModelStore, check_id, new_id
from mlp_engine import MLPClassifier, MLPRegressor

BAD_IDS = [
    "",
    "../../etc/passwd",
    "..",
    "%2e%2e%2f",
    "a/b",
    "a\\b",
    "a.npz",
    "nul\x00byte",
    "x" * 65,
    "x" * 10_000,
    "trailing\n",
    "ümlaut",
]


def fit_classifier(seed: int = 0, labels: list[str] | None = None) -> MLPClassifier:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    target = np.array(labels)[y] if labels else y
    return MLPClassifier(hidden_layers=(4,), epochs=5, seed=seed).fit(X, target)


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".tmp-"))


# ---------------------------------------------------------------------------------- ids


def test_new_id_is_url_safe_unique_and_prefixed() -> None:
    ids = {new_id("mdl_") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(ID_RE.fullmatch(i) and i.startswith("mdl_") and len(i) <= 64 for i in ids)
    with pytest.raises(ValueError):
        new_id("bad/prefix_")


@pytest.mark.parametrize("bad", BAD_IDS)
def test_check_id_refuses_anything_but_the_id_alphabet(bad: str) -> None:
    with pytest.raises(NotFound) as info:
        check_id("model", bad)
    assert len(info.value.message) < 200  # a 10,000-char ID is not echoed in full
    assert check_id("model", "mdl_Ab-9_z") == "mdl_Ab-9_z"


@pytest.mark.parametrize("bad", BAD_IDS)
def test_stores_refuse_bad_ids_before_touching_the_file_system(
    tmp_path: Path, bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets, models = DatasetStore(tmp_path), ModelStore(tmp_path)

    def no_fs(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file system was touched")

    monkeypatch.setattr(Path, "stat", no_fs)
    monkeypatch.setattr(Path, "unlink", no_fs)
    monkeypatch.setattr(Path, "is_file", no_fs)
    monkeypatch.setattr("builtins.open", no_fs)
    for call in (
        datasets.get,
        datasets.load,
        datasets.delete,
        models.get,
        models.load,
        models.path,
        models.delete,
    ):
        with pytest.raises(NotFound):
            call(bad)
    assert datasets.exists(bad) is False


# ---------------------------------------------------------------------------- datasets


def test_dataset_round_trip_and_metadata(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    X = np.array([[0.0, 1.0], [2.0, -1.0], [1.0, 3.0]])
    meta = store.create(X, np.array([1, 0, 1]), name="tiny", task="classification")
    assert meta.id.startswith("ds_") and meta.name == "tiny"
    assert (meta.n_samples, meta.n_features, meta.task) == (3, 2, "classification")
    assert meta.classes == [0, 1]
    assert meta.bounds == {"min": [0.0, -1.0], "max": [2.0, 3.0]}
    assert meta.created_at.tzinfo is not None
    X2, y2, meta2 = store.load(meta.id)
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, [1, 0, 1])
    assert meta2 == meta == store.get(meta.id)
    assert [m.id for m in store.list()] == [meta.id]
    assert store.exists(meta.id)
    store.delete(meta.id)
    assert store.list() == [] and not store.exists(meta.id)
    with pytest.raises(NotFound):
        store.get(meta.id)
    with pytest.raises(NotFound):
        store.delete(meta.id)


def test_string_labels_round_trip_without_pickle(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    y = np.array(["dog", "cat", "dog", "ému"], dtype=object)
    meta = store.create(np.zeros((4, 1)), y, name=None, task="classification")
    assert meta.classes == ["cat", "dog", "ému"]
    assert meta.name == meta.id
    _, y2, _ = store.load(meta.id)
    assert y2.dtype.kind == "U" and y2.tolist() == ["dog", "cat", "dog", "ému"]
    with np.load(store.root / f"{meta.id}.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["X", "meta", "y"]
        assert npz["meta"].dtype == np.uint8


def test_regression_and_label_normalisation(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    reg = store.create(np.ones((2, 2)), np.array([0.5, 1]), name="r", task="regression")
    assert reg.classes is None and store.load(reg.id)[1].dtype == np.float64
    cls = store.create(np.ones((2, 2)), np.array([0.0, 1.0]), name="c", task="classification")
    assert cls.classes == [0, 1] and store.load(cls.id)[1].dtype == np.int64


@pytest.mark.parametrize(
    ("X", "y", "task", "loc"),
    [
        (np.array([[np.nan, 1.0]]), np.array([0]), "classification", ("body", "X", 0, 0)),
        (np.ones((2, 2)), np.array([0]), "classification", ("body", "y")),
        (np.ones((2, 2)), np.array([0.5, 1.0]), "classification", ("body", "y")),
        (np.ones((2, 2)), np.array(["a", "b"]), "regression", ("body", "y")),
        (np.ones((2, 2)), np.array([1.0, np.inf]), "regression", ("body", "y", 1)),
        (np.ones((0, 2)), np.array([]), "classification", ("body", "X")),
        (np.ones((2, 2)), np.array([0, 1]), "clustering", ("body", "task")),
    ],
)
def test_dataset_create_refuses_bad_data_and_writes_nothing(
    tmp_path: Path, X: np.ndarray, y: np.ndarray, task: str, loc: tuple[object, ...]
) -> None:
    store = DatasetStore(tmp_path)
    with pytest.raises(InvalidInput) as info:
        store.create(X, y, name=None, task=task)
    assert info.value.loc == loc
    assert list(store.root.iterdir()) == []


def _age(path: Path, seconds: float = 60.0) -> None:
    """Backdate ``path``: the start-up sweep spares temp files created a moment ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_dataset_list_is_newest_first_and_ignores_temp_files(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    ids = [
        store.create(np.ones((1, 1)), np.array([i]), name=None, task="regression").id
        for i in range(3)
    ]
    (store.root / ".tmp-abc123").write_bytes(b"partial")
    _age(store.root / ".tmp-abc123")  # a crash leftover: unlocked, and not just created
    (store.root / "notes.txt").write_text("x")
    (store.root / "bad.name.npz").write_bytes(b"x")
    assert [m.id for m in store.list()] == ids[::-1]
    assert DatasetStore(tmp_path, clean_temp=False) and temp_files(store.root) == [".tmp-abc123"]
    DatasetStore(tmp_path)  # start-up removes stray temp files
    assert temp_files(store.root) == []


def test_dataset_corrupt_file_is_a_conflict_and_skipped_in_listing(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    good = store.create(np.ones((1, 1)), np.array([1.0]), name=None, task="regression")
    (store.root / "ds_broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(Conflict) as info:
        store.get("ds_broken")
    assert str(tmp_path) not in info.value.message
    with pytest.raises(Conflict):
        store.load("ds_broken")
    assert [m.id for m in store.list()] == [good.id]


def test_dataset_pickled_member_is_never_loaded(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    with open(store.root / "ds_evil.npz", "wb") as fh:
        np.savez(fh, X=np.array([object()], dtype=object), y=np.zeros(1), meta=np.zeros(1))
    with pytest.raises(Conflict):
        store.load("ds_evil")


# ------------------------------------------------------------------------------ models


def test_model_save_get_load_list_delete(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    clf = fit_classifier()
    meta = store.save(clf, model_id="mdl_one", name="first", job_id="job_1", dataset_id="ds_1")
    assert (meta.id, meta.name, meta.job_id, meta.dataset_id) == (
        "mdl_one",
        "first",
        "job_1",
        "ds_1",
    )
    assert meta.task == "classification" and meta.classes == [0, 1]
    assert meta.layers == [2, 4, 1] and meta.activation == "relu"
    assert meta.n_parameters == clf.n_parameters_
    assert meta.size_bytes == (store.root / "mdl_one.npz").stat().st_size
    assert set(meta.metrics) >= {"loss", "accuracy"}
    assert meta.training["epochs"] == 5 and "hidden_layers" not in meta.training
    assert store.get("mdl_one") == meta
    # A fresh store (another process) reads the same metadata back from the file.
    assert ModelStore(tmp_path).get("mdl_one") == meta
    model = store.load("mdl_one")
    X = np.random.default_rng(5).normal(size=(10, 2))
    np.testing.assert_array_equal(model.predict(X), clf.predict(X))
    assert model.metadata_["dataset_id"] == "ds_1"
    assert [m.id for m in store.list()] == ["mdl_one"] and store.count() == 1
    assert store.path("mdl_one") == store.root / "mdl_one.npz"
    store.delete("mdl_one")
    assert store.list() == [] and store.count() == 0
    for call in (store.get, store.load, store.path, store.delete, store.cached):
        with pytest.raises(NotFound):
            call("mdl_one")


def test_regressor_metadata(tmp_path: Path) -> None:
    X = np.random.default_rng(0).normal(size=(30, 3))
    reg = MLPRegressor(hidden_layers=(3,), epochs=3).fit(X, X.sum(axis=1))
    meta = ModelStore(tmp_path).save(reg, model_id="mdl_r", name=None, job_id=None, dataset_id=None)
    assert meta.task == "regression" and meta.classes is None and meta.name == "mdl_r"
    assert meta.layers == [3, 3, 1]


def test_model_cache_returns_the_same_object_until_the_file_changes(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.save(fit_classifier(0), model_id="mdl_a", name=None, job_id=None, dataset_id=None)
    assert store.cached("mdl_a") is None  # nothing loaded yet
    first = store.load("mdl_a")
    assert store.load("mdl_a") is first and store.cached("mdl_a") is first
    # A job retry overwrites the same ID atomically: the next load reads the new file.
    store.save(fit_classifier(1), model_id="mdl_a", name=None, job_id=None, dataset_id=None)
    second = store.load("mdl_a")
    assert second is not first
    assert store.load("mdl_a") is second


def test_model_cache_is_an_lru(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, cache_size=2)
    for name in ("mdl_a", "mdl_b", "mdl_c"):
        store.save(fit_classifier(), model_id=name, name=None, job_id=None, dataset_id=None)
    a = store.load("mdl_a")
    store.load("mdl_b")
    assert store.load("mdl_a") is a  # refreshes a
    store.load("mdl_c")  # evicts b, the least recently used
    assert store.cached("mdl_a") is a
    assert store.cached("mdl_b") is None


def test_model_cache_is_bounded_by_bytes(tmp_path: Path) -> None:
    """Issue 18, finding 6: 32 models of 64 MB each were 2 GB, the compose memory limit."""
    from app.storage.models import model_nbytes

    store = ModelStore(tmp_path)
    for name in ("mdl_a", "mdl_b", "mdl_c", "mdl_big"):
        model = fit_classifier()
        if name == "mdl_big":
            X = np.random.default_rng(0).normal(size=(40, 2))
            model = MLPClassifier(hidden_layers=(40, 40), epochs=1).fit(X, X[:, 0] > 0)
        store.save(model, model_id=name, name=None, job_id=None, dataset_id=None)
    one = model_nbytes(store.load("mdl_a"))
    weights = sum(a.nbytes for a in (*store.load("mdl_a").weights_, *store.load("mdl_a").biases_))
    assert one >= weights > 0
    store = ModelStore(tmp_path, cache_bytes=2 * one)
    a, b = store.load("mdl_a"), store.load("mdl_b")
    assert store.cached_bytes == 2 * one
    store.load("mdl_c")  # a third would pass the byte bound: a, the least recent, goes
    assert store.cached("mdl_a") is None and store.cached("mdl_b") is b
    assert store.cached_bytes == 2 * one
    big = store.load("mdl_big")  # larger than the whole bound: served, never kept
    assert model_nbytes(big) > 2 * one and store.cached("mdl_big") is None
    assert store.cached_bytes == 2 * one
    store.delete("mdl_b")
    assert store.cached_bytes == one
    assert store.load("mdl_a") is not a  # evicted earlier, so read again


def test_model_writes_are_atomic_and_temp_files_are_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(tmp_path)
    store.save(fit_classifier(), model_id="mdl_keep", name="old", job_id=None, dataset_id=None)
    before = (store.root / "mdl_keep.npz").read_bytes()

    class Boom(RuntimeError):
        pass

    def failing_save(self: MLPClassifier, fh: io.BufferedWriter, **kwargs: object) -> None:
        fh.write(b"half a model")
        raise Boom

    monkeypatch.setattr(MLPClassifier, "save", failing_save)
    with pytest.raises(Boom):
        store.save(fit_classifier(), model_id="mdl_keep", name="new", job_id=None, dataset_id=None)
    monkeypatch.undo()
    assert (store.root / "mdl_keep.npz").read_bytes() == before  # old model intact
    assert temp_files(store.root) == []
    # A crash can leave a temp file: it is never listed and start-up removes it.
    (store.root / ".tmp-crashed").write_bytes(b"PK partial")
    _age(store.root / ".tmp-crashed")
    assert [m.id for m in store.list()] == ["mdl_keep"]
    ModelStore(tmp_path, clean_temp=False)
    assert temp_files(store.root) == [".tmp-crashed"]
    ModelStore(tmp_path)
    assert temp_files(store.root) == []


def test_import_file_validates_and_assigns_a_new_id(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    clf = fit_classifier(labels=["no", "yes"])
    store.save(clf, model_id="mdl_src", name="source", job_id="job_x", dataset_id="ds_x")
    data = (store.root / "mdl_src.npz").read_bytes()
    meta = store.import_file(data)
    assert meta.id != "mdl_src" and meta.id.startswith("mdl_")
    assert (meta.name, meta.job_id, meta.dataset_id) == ("source", None, "ds_x")
    assert meta.classes == ["no", "yes"]
    X = np.random.default_rng(2).normal(size=(20, 2))
    loaded = store.load(meta.id)
    assert isinstance(loaded, MLPClassifier)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


class _Exploit:
    """Unpickling this would create a file: the loader must never unpickle."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (self.target, "w"))


def hostile_files(tmp_path: Path, good: bytes) -> dict[str, bytes]:
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    np.savez(buffer, W0=np.array([_Exploit(str(marker))], dtype=object))
    return {
        "pickle": buffer.getvalue(),
        "raw_pickle": pickle.dumps(_Exploit(str(marker))),
        "truncated": good[: len(good) // 2],
        "not_a_zip": b"hello, world" * 10,
        "empty": b"",
        "flipped": good[:-30] + bytes(30),
    }


def test_import_file_refuses_hostile_files_and_stores_nothing(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.save(fit_classifier(), model_id="mdl_src", name=None, job_id=None, dataset_id=None)
    good = (store.root / "mdl_src.npz").read_bytes()
    for kind, data in hostile_files(tmp_path, good).items():
        with pytest.raises(InvalidInput) as info:
            store.import_file(data)
        assert info.value.loc == ("body",), kind
        assert "not a valid model file" in info.value.message, kind
        assert str(tmp_path) not in info.value.message
    assert not (tmp_path / "pwned").exists()
    assert sorted(p.name for p in store.root.iterdir()) == ["mdl_src.npz"]


def test_import_file_refuses_a_zip_bomb_before_allocating(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, max_model_bytes=256 * 1024)
    store.save(fit_classifier(), model_id="mdl_src", name=None, job_id=None, dataset_id=None)
    with zipfile.ZipFile(store.root / "mdl_src.npz") as zf:
        config = zf.read("config.npy")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.npy", config)
        with zf.open("W0.npy", "w") as member:  # 64 MB of zeros, about 64 KB compressed
            chunk = bytes(2**20)
            for _ in range(64):
                member.write(chunk)
    data = bomb.getvalue()
    assert len(data) < store.max_model_bytes
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput) as info:
            store.import_file(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "W0" in info.value.message and "limit" in info.value.message
    assert peak < 8 * 2**20
    assert sorted(p.name for p in store.root.iterdir()) == ["mdl_src.npz"]


def test_import_file_size_limit(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, max_model_bytes=1024)
    with pytest.raises(PayloadTooLarge):
        store.import_file(b"x" * 1025)


def test_corrupt_model_file_is_a_conflict_without_paths(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.save(fit_classifier(), model_id="mdl_ok", name=None, job_id=None, dataset_id=None)
    (store.root / "mdl_bad.npz").write_bytes(b"garbage" * 100)
    for call in (store.get, store.load):
        with pytest.raises(Conflict) as info:
            call("mdl_bad")
        assert str(tmp_path) not in info.value.message and "mdl_bad" in info.value.message
    assert [m.id for m in store.list()] == ["mdl_ok"]
    assert store.count() == 2  # count() is cheap: it does not read files


def test_metadata_cache_follows_file_identity(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.save(fit_classifier(), model_id="mdl_m", name="one", job_id=None, dataset_id=None)
    other = ModelStore(tmp_path, clean_temp=False)
    assert other.get("mdl_m").name == "one"
    store.save(fit_classifier(), model_id="mdl_m", name="two", job_id=None, dataset_id=None)
    assert other.get("mdl_m").name == "two"  # another process replaced the file
    os.unlink(store.root / "mdl_m.npz")
    with pytest.raises(NotFound):
        other.get("mdl_m")
