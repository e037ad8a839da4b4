"""Toy data sets: the notebook's "hard" set exactly, the classic 2-D sets, and validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlp_engine import datasets
from mlp_engine.datasets import KINDS, MAX_SAMPLES, make
from mlp_engine.errors import ConfigError

OTHER_KINDS = [k for k in KINDS if k != "notebook"]
DEFAULT_N = {"notebook": 1000, "xor": 400, "circles": 400, "moons": 400, "spirals": 400}


def notebook_by_hand(seed: int, n0: int, n1a: int, n1b: int, factor: float = 1.0) -> np.ndarray:
    """The notebook's cell, with a seeded Generator in place of the global ``np.random``."""
    rng = np.random.default_rng(seed)
    X0 = rng.normal(loc=[0, 0], scale=[2 * factor, 0.5 * factor], size=(n0, 2))
    X11 = rng.normal(loc=[0, 3.5], scale=[0.5 * factor, 1 * factor], size=(n1a, 2))
    X12 = rng.normal(loc=[0, -3.5], scale=[0.5 * factor, 1 * factor], size=(n1b, 2))
    X1 = np.vstack([X11, X12])
    return np.vstack([X0, X1])


def one_nn_accuracy(X: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy: a cheap proxy for "learnable"."""
    d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((y[d.argmin(axis=1)] == y).mean())


# ----------------------------------------------------------------------------------- notebook


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_notebook_set_is_the_notebooks_cell(seed: int) -> None:
    X, y = make("notebook", seed=seed)
    assert X.shape == (1000, 2) and X.dtype == np.float64
    assert y.shape == (1000,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, notebook_by_hand(seed, 500, 250, 250))
    np.testing.assert_array_equal(y, np.r_[np.zeros(500), np.ones(500)])


def test_notebook_blob_statistics() -> None:
    X, y = make("notebook", n_samples=200_000, seed=3)
    X0, X11, X12 = X[:100_000], X[100_000:150_000], X[150_000:]
    np.testing.assert_allclose(X0.mean(0), [0, 0], atol=0.03)
    np.testing.assert_allclose(X0.std(0), [2, 0.5], rtol=0.02)
    np.testing.assert_allclose(X11.mean(0), [0, 3.5], atol=0.03)
    np.testing.assert_allclose(X12.mean(0), [0, -3.5], atol=0.03)
    np.testing.assert_allclose(X11.std(0), [0.5, 1], rtol=0.02)
    assert (y[:100_000] == 0).all() and (y[100_000:] == 1).all()


@pytest.mark.parametrize(
    ("n", "sizes"), [(1000, (500, 250, 250)), (1001, (500, 251, 250)), (1002, (501, 251, 250))]
)
def test_notebook_remainders(n: int, sizes: tuple[int, int, int]) -> None:
    X, y = make("notebook", n_samples=n, seed=4)
    np.testing.assert_array_equal(X, notebook_by_hand(4, *sizes))
    assert np.bincount(y).tolist() == [sizes[0], sizes[1] + sizes[2]]


def test_notebook_noise_multiplies_the_scales() -> None:
    X_none, _ = make("notebook", seed=2)
    X_one, _ = make("notebook", noise=1.0, seed=2)
    np.testing.assert_array_equal(X_none, X_one)
    X_two, _ = make("notebook", noise=2.0, seed=2)
    np.testing.assert_array_equal(X_two, notebook_by_hand(2, 500, 250, 250, factor=2.0))
    X_zero, _ = make("notebook", noise=0.0, n_samples=8)
    assert X_zero.tolist() == [[0, 0]] * 4 + [[0, 3.5]] * 2 + [[0, -3.5]] * 2


def test_notebook_is_hard_for_a_linear_model_but_learnable() -> None:
    X, y = make("notebook", seed=0)
    A = np.c_[X, np.ones(len(X))]
    coef, *_ = np.linalg.lstsq(A, y * 2.0 - 1.0, rcond=None)
    assert ((A @ coef > 0) == y).mean() < 0.75  # the point of the notebook
    assert one_nn_accuracy(X, y) > 0.95


# ------------------------------------------------------------------------------ other kinds


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_dtypes_balance_and_determinism(kind: str) -> None:
    X, y = make(kind, seed=5)
    n = DEFAULT_N.get(kind, 300)
    k = 3 if kind == "gaussians" else 2
    assert X.shape == (n, 2) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (n,) and y.dtype == np.int64
    assert np.isfinite(X).all()
    counts = np.bincount(y, minlength=k)
    assert len(counts) == k and counts.max() - counts.min() <= 1
    X2, y2 = make(kind, seed=5)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(kind, seed=6)
    assert not np.array_equal(X, X3)


@pytest.mark.parametrize("kind", KINDS)
def test_a_generator_seed_is_used_as_is(kind: str) -> None:
    X1, y1 = make(kind, seed=np.random.default_rng(11))
    X2, y2 = make(kind, seed=11)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    rng = np.random.default_rng(11)
    make(kind, seed=rng)
    X3, _ = make(kind, seed=rng)  # the generator advanced: a different draw
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("kind", OTHER_KINDS)
def test_other_sets_are_shuffled(kind: str) -> None:
    _, y = make(kind, seed=0)
    assert not (np.diff(y) >= 0).all()


@pytest.mark.parametrize(
    ("kind", "n_classes"),
    [
        ("xor", None),
        ("circles", None),
        ("moons", None),
        ("spirals", None),
        ("spirals", 3),
        ("gaussians", None),
        ("gaussians", 5),
        ("gaussians", 10),
    ],
)
def test_defaults_are_learnable(kind: str, n_classes: int | None) -> None:
    X, y = make(kind, seed=0, n_classes=n_classes)
    assert one_nn_accuracy(X, y) >= 0.95


@pytest.mark.parametrize("k", [2, 3, 4, 7, 10])
@pytest.mark.parametrize("kind", ["spirals", "gaussians"])
def test_n_classes(kind: str, k: int) -> None:
    X, y = make(kind, n_samples=10 * k + 3, n_classes=k, seed=1)
    counts = np.bincount(y)
    assert len(counts) == k and counts.max() - counts.min() <= 1
    assert X.shape == (10 * k + 3, 2)


def test_noise_free_geometry() -> None:
    X, y = make("circles", noise=0.0, seed=0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], 0.5)

    X, y = make("xor", noise=0.0, seed=0)
    assert ((X[:, 0] * X[:, 1] > 0) == (y == 1)).all()
    assert (np.abs(X) >= 0.1).all() and (np.abs(X) <= 1.0).all()
    quadrants = np.bincount((X[:, 0] > 0) * 2 + (X[:, 1] > 0))
    assert quadrants.tolist() == [100, 100, 100, 100]

    X, y = make("moons", noise=0.0, seed=0)
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1, X[y == 1, 1] - 0.5), 1.0)
    assert (X[y == 0, 1] >= 0).all() and (X[y == 1, 1] <= 0.5).all()

    X, y = make("gaussians", noise=0.0, n_classes=4, seed=0)
    centres = np.unique(X.round(12), axis=0)
    assert len(centres) == 4
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    np.testing.assert_allclose(np.sort(gaps[gaps > 0])[:4], 3.5)

    X, y = make("spirals", noise=0.0, n_classes=2, seed=0)
    r = np.hypot(*X.T)
    assert (r >= 0.1 - 1e-12).all() and (r <= 1.0 + 1e-12).all()
    # arm c sits at angle 2 pi (c / k + 1.25 r): rotating arm 1 by half a turn gives arm 0
    angle = np.arctan2(X[:, 1], X[:, 0]) - 2 * np.pi * (y / 2 + 1.25 * r)
    np.testing.assert_allclose(np.cos(angle), 1.0)


def test_noise_is_the_jitter_std() -> None:
    _, y0 = make("circles", n_samples=20_000, noise=0.0, seed=9)
    X1, _ = make("circles", n_samples=20_000, noise=0.2, seed=9)
    radius = np.hypot(*X1.T)
    spread = radius[y0 == 0] - 1.0
    assert abs(spread.std() - 0.2) < 0.01


# --------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"kind": "spiral"}, "kind must be one of notebook, xor, circles, moons, spirals"),
        ({"kind": 3}, "kind must be one of"),
        ({"kind": "xor", "n_samples": 3}, "n_samples"),
        ({"kind": "xor", "n_samples": 0}, "n_samples"),
        ({"kind": "xor", "n_samples": -5}, "n_samples"),
        ({"kind": "xor", "n_samples": MAX_SAMPLES + 1}, "n_samples"),
        ({"kind": "xor", "n_samples": 10.0}, "n_samples"),
        ({"kind": "xor", "n_samples": True}, "n_samples"),
        ({"kind": "xor", "n_samples": "100"}, "n_samples"),
        ({"kind": "gaussians", "n_classes": 10, "n_samples": 19}, "n_samples"),
        ({"kind": "moons", "noise": -0.1}, "noise"),
        ({"kind": "moons", "noise": float("nan")}, "noise"),
        ({"kind": "moons", "noise": float("inf")}, "noise"),
        ({"kind": "moons", "noise": "0.1"}, "noise"),
        ({"kind": "notebook", "noise": -1}, "noise"),
        ({"kind": "xor", "n_classes": 3}, "n_classes"),
        ({"kind": "notebook", "n_classes": 2}, "n_classes"),
        ({"kind": "spirals", "n_classes": 1}, "n_classes"),
        ({"kind": "gaussians", "n_classes": 11}, "n_classes"),
        ({"kind": "gaussians", "n_classes": 2.5}, "n_classes"),
        ({"kind": "xor", "seed": -1}, "seed"),
        ({"kind": "xor", "seed": 1.5}, "seed"),
        ({"kind": "xor", "seed": None}, "seed"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        make(**kwargs)
    # The field travels as data, not inside the message.
    assert info.value.field == fragment.split(" ", 1)[0]


def test_numpy_integers_are_accepted() -> None:
    kwargs: dict[str, Any] = {
        "n_samples": np.int64(40),
        "n_classes": np.int32(4),
        "seed": np.uint8(3),
    }
    X, y = make("gaussians", **kwargs)
    assert X.shape == (40, 2) and len(np.unique(y)) == 4


def test_module_exports() -> None:
    assert datasets.KINDS == ("notebook", "xor", "circles", "moons", "spirals", "gaussians")


def test_noise_beyond_the_cap_is_refused_naming_noise() -> None:
    """Issue 18, finding 10: ``noise=1e308`` made infinite coordinates, blamed on ``X[17][1]``."""
    from mlp_engine.datasets import MAX_NOISE

    make("xor", n_samples=20, noise=MAX_NOISE)
    with pytest.raises(ConfigError) as caught:
        make("xor", n_samples=20, noise=1e308)
    assert caught.value.field == "noise"
