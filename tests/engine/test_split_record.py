"""The split record: a fitted model's ``split_`` says where each training row went (0 training,
1 validation, 2 test); it is saved as the ``split`` member and refused when malformed."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from mlp_engine import MLPClassifier, MLPRegressor, ModelFormatError, base, load
from mlp_engine.metrics import accuracy, classification_report


def blobs(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three labelled clouds ``X: (n, 2)``, ``y: (n,)`` with 40/40/40 rows."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b", "c"]), n // 3)
    centres = {"a": (0.0, 0.0), "b": (3.0, 0.0), "c": (0.0, 3.0)}
    X = np.array([centres[label] for label in y]) + rng.normal(0, 0.8, (n, 2))
    return X, y


def fitted(**settings: Any) -> tuple[MLPClassifier, np.ndarray, np.ndarray]:
    X, y = blobs()
    params: dict[str, Any] = {"hidden_layers": (6,), "epochs": 15, "seed": 3}
    model = MLPClassifier(**(params | settings)).fit(X, y)
    return model, X, y


def saved(model: MLPClassifier) -> bytes:
    buf = io.BytesIO()
    model.save(buf)
    return buf.getvalue()


def rewritten(data: bytes, change: Callable[[dict[str, bytes], dict[str, Any]], None]) -> bytes:
    """The archive with its members (``name.npy`` -> bytes) and config changed by ``change``."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {info.filename: zf.read(info) for info in zf.infolist()}
    config = json.loads(np.load(io.BytesIO(members.pop("config.npy"))).tobytes())
    change(members, config)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
        buf = io.BytesIO()
        np.save(buf, np.frombuffer(json.dumps(config).encode(), dtype=np.uint8))
        zf.writestr("config.npy", buf.getvalue())
    return out.getvalue()


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_split_codes_match_the_fractions_per_class() -> None:
    model, _, y = fitted(test_fraction=0.2, validation_fraction=0.25)
    split = model.split_
    assert split is not None and split.dtype == np.int8 and split.shape == y.shape
    assert set(np.unique(split).tolist()) == {0, 1, 2}
    for label in ("a", "b", "c"):
        assert int((split[y == label] == 2).sum()) == round(0.2 * 40)
    kept = int((split != 2).sum())
    assert int((split == 1).sum()) == round(0.25 * kept)


def test_test_metrics_are_those_of_the_recorded_test_rows() -> None:
    model, X, y = fitted(test_fraction=0.25)
    assert model.split_ is not None and model.evaluation_ is not None
    rows = model.split_ == 2
    expected = classification_report(y[rows], model.predict_proba(X[rows]), model.classes_)
    report = model.evaluation_["test"]
    assert report["confusion_matrix"] == expected["confusion_matrix"]
    assert report["per_class"] == expected["per_class"]
    for key in ("accuracy", "balanced_accuracy", "log_loss", "roc_auc"):
        assert report[key] == pytest.approx(expected[key], rel=1e-12)
    assert model.evaluation_["test"]["accuracy"] == accuracy(y[rows], model.predict(X[rows]))


def test_no_holdout_records_training_rows_only() -> None:
    model, _, y = fitted(test_fraction=0.0, validation_fraction=0.0)
    assert model.split_ is not None
    assert not model.split_.any() and model.split_.shape == y.shape


def test_recording_the_split_draws_no_random_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    X, _ = blobs()

    def run() -> tuple[list[np.ndarray], float]:
        rng = np.random.default_rng(2)
        model = MLPRegressor(hidden_layers=(4,), epochs=5, seed=rng, test_fraction=0.2)
        model.fit(X, X[:, 0])
        return model.weights_, float(rng.random())

    with_record = run()
    monkeypatch.setattr(base, "split_record", lambda *args: None)
    without = run()
    for wa, wb in zip(with_record[0], without[0], strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert with_record[1] == without[1]  # the generator is left where it was


def test_round_trip_keeps_the_split() -> None:
    model, _, _ = fitted(test_fraction=0.2)
    loaded = load(io.BytesIO(saved(model)))
    assert loaded.split_ is not None and loaded.split_.dtype == np.int8
    np.testing.assert_array_equal(loaded.split_, model.split_)
    again = load(io.BytesIO(saved(loaded)))
    np.testing.assert_array_equal(again.split_, model.split_)


def test_an_old_file_without_a_split_loads_with_none() -> None:
    model, X, _ = fitted(test_fraction=0.2)

    def drop(members: dict[str, bytes], config: dict[str, Any]) -> None:
        del members["split.npy"]
        del config["split_rows"]

    loaded = load(io.BytesIO(rewritten(saved(model), drop)))
    assert loaded.split_ is None
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert load(io.BytesIO(saved(loaded))).split_ is None


def _member(arr: np.ndarray) -> Callable[[dict[str, bytes], dict[str, Any]], None]:
    def change(members: dict[str, bytes], config: dict[str, Any]) -> None:
        members["split.npy"] = npy(arr)

    return change


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_member(np.zeros(119, dtype=np.int8)), "shape"),
        (_member(np.zeros(121, dtype=np.int8)), "shape"),
        (_member(np.zeros(120, dtype=np.int64)), "dtype"),
        (_member(np.zeros(120, dtype=np.float64)), "dtype"),
        (_member(np.full(120, 3, dtype=np.int8)), "codes"),
        (_member(np.zeros((120, 1), dtype=np.int8)), "shape"),
        (lambda m, c: m.pop("split.npy"), "missing member 'split'"),
        (lambda m, c: c.pop("split_rows"), "unexpected member 'split'"),
        (lambda m, c: c.update(split_rows=-1), "split_rows"),
        (lambda m, c: c.update(split_rows="120"), "split_rows"),
        (lambda m, c: c.update(split_rows=2**40), "split_rows"),
    ],
)
def test_a_malformed_split_is_refused(
    change: Callable[[dict[str, bytes], dict[str, Any]], None], fragment: str
) -> None:
    model, _, _ = fitted(test_fraction=0.2)
    with pytest.raises(ModelFormatError, match=fragment):
        load(io.BytesIO(rewritten(saved(model), change)))
