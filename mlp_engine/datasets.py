"""Two-dimensional toy data sets: the notebook's "hard" set and the classic benchmarks.

Every generator returns ``(X, y)``: ``X`` of shape ``(n_samples, 2)``, float64, and ``y`` of shape
``(n_samples,)``, int64 labels ``0 .. n_classes - 1``. Classes are balanced (sizes differ by at
most one). Results depend only on the arguments: the same ``seed`` gives the same arrays.

=========  =================  =============  ==========================================
kind       default n_samples  default noise  classes
=========  =================  =============  ==========================================
notebook   1000               notebook's     2 (unshuffled: 0s then 1s, as the notebook)
xor        400                0.05           2
circles    400                0.08           2 (0 = outer ring, 1 = inner ring)
moons      400                0.1            2
spirals    400                0.05           n_classes arms, default 2
gaussians  300                0.5            n_classes blobs, default 3
=========  =================  =============  ==========================================

``noise`` is the standard deviation of Gaussian jitter added to each coordinate, except for
``notebook`` (it multiplies the notebook's scales; see :func:`make`) and ``gaussians`` (it is the
standard deviation of each blob). Every set but ``notebook`` is shuffled.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import SupportsIndex

import numpy as np
from numpy.typing import NDArray

from mlp_engine.errors import ConfigError

__all__ = ["KINDS", "MAX_SAMPLES", "make"]

KINDS = ("notebook", "xor", "circles", "moons", "spirals", "gaussians")
MAX_SAMPLES = 1_000_000
MIN_CLASSES, MAX_CLASSES = 2, 10
# Far beyond any teaching use; larger jitter makes coordinates the float64 arithmetic of training
# (squares in the standardisation) cannot hold.
MAX_NOISE = 1e6

_DEFAULT_N = {
    "notebook": 1000,
    "xor": 400,
    "circles": 400,
    "moons": 400,
    "spirals": 400,
    "gaussians": 300,
}
_DEFAULT_NOISE = {"xor": 0.05, "circles": 0.08, "moons": 0.1, "spirals": 0.05, "gaussians": 0.5}
_DEFAULT_CLASSES = {"spirals": 2, "gaussians": 3}

_XOR_GAP = 0.1  # points keep this distance from the axes before jitter
_CIRCLES_FACTOR = 0.5  # inner radius / outer radius
_SPIRAL_TURNS = 1.25  # turns of each arm between radius 0.1 and 1
_BLOB_SPACING = 3.5  # distance between neighbouring gaussian blob centres

Dataset = tuple[NDArray[np.float64], NDArray[np.int64]]


def make(
    kind: str,
    n_samples: int | None = None,
    noise: float | None = None,
    seed: int | np.random.Generator = 0,
    n_classes: int | None = None,
) -> Dataset:
    """Generate a 2-D classification data set.

    Args:
        kind: one of ``KINDS``.
        n_samples: number of rows, ``2 * n_classes .. MAX_SAMPLES``; default per kind (table
            in the module docstring).
        noise: 0 .. ``MAX_NOISE``. For ``notebook``, None means the notebook's exact scales and a
            number multiplies every scale (``noise=1`` equals None, ``noise=0`` puts every point
            on its blob centre). For ``gaussians`` it is each blob's standard deviation; for the
            others the standard deviation of Gaussian jitter added to each coordinate.
        seed: an int >= 0 for ``np.random.default_rng``, or a ``np.random.Generator`` (used
            and advanced as is).
        n_classes: only for ``spirals`` (arms, default 2) and ``gaussians`` (blobs, default 3);
            2 .. 10.

    Returns:
        ``(X, y)``: ``X`` (n_samples, 2) float64, ``y`` (n_samples,) int64.

    Raises:
        ValueError: naming the bad parameter.

    ``notebook`` reproduces the notebook's "hard" set: class 0 (``n // 2`` rows) from
    ``normal([0, 0], [2, 0.5])``, then class 1 split between ``normal([0, 3.5], [0.5, 1])``
    (the extra row, if any) and ``normal([0, -3.5], [0.5, 1])``, drawn in that order and stacked
    without shuffling, ``y`` = 0s then 1s. With ``n_samples=1000``: 500 + 250 + 250.
    """
    if kind not in KINDS:
        raise ConfigError("kind", f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    k = _check_classes(kind, n_classes)
    n = _check_samples(kind, n_samples, k)
    scale = _check_noise(noise)
    rng = _check_seed(seed)
    if kind == "notebook":
        return _notebook(rng, n, 1.0 if scale is None else scale)
    sigma = _DEFAULT_NOISE[kind] if scale is None else scale
    X, y = _GENERATORS[kind](rng, n, k, sigma)
    order = rng.permutation(n)
    return np.ascontiguousarray(X[order], dtype=np.float64), y[order].astype(np.int64)


def _check_classes(kind: str, n_classes: int | None) -> int:
    """Return the number of classes for ``kind``, validating ``n_classes``."""
    if n_classes is None:
        return _DEFAULT_CLASSES.get(kind, 2)
    if kind not in _DEFAULT_CLASSES:
        raise ConfigError(
            "n_classes", f"n_classes applies only to spirals and gaussians, not {kind!r}"
        )
    k = _as_int(n_classes, "n_classes")
    if not MIN_CLASSES <= k <= MAX_CLASSES:
        raise ConfigError(
            "n_classes", f"n_classes must be in {MIN_CLASSES}..{MAX_CLASSES}, got {k}"
        )
    return k


def _check_samples(kind: str, n_samples: int | None, n_classes: int) -> int:
    """Return the number of rows, validating ``n_samples`` (at least two per class)."""
    if n_samples is None:
        return _DEFAULT_N[kind]
    n = _as_int(n_samples, "n_samples")
    low = 2 * n_classes
    if not low <= n <= MAX_SAMPLES:
        raise ConfigError(
            "n_samples", f"n_samples must be in {low}..{MAX_SAMPLES} for {kind!r}, got {n}"
        )
    return n


def _check_noise(noise: float | None) -> float | None:
    """Return ``noise`` as a float (or None), validating it is finite and >= 0."""
    if noise is None:
        return None
    if isinstance(noise, bool) or not isinstance(noise, int | float | np.integer | np.floating):
        raise ConfigError("noise", f"noise must be a number, got {type(noise).__name__}")
    value = float(noise)
    if not math.isfinite(value) or not 0 <= value <= MAX_NOISE:
        raise ConfigError("noise", f"noise must be in 0..{MAX_NOISE:g}, got {noise!r}")
    return value


def _check_seed(seed: int | np.random.Generator) -> np.random.Generator:
    """Return a Generator: ``seed`` itself, or ``default_rng(seed)`` for an int >= 0."""
    if isinstance(seed, np.random.Generator):
        return seed
    value = _as_int(seed, "seed")
    if value < 0:
        raise ConfigError("seed", f"seed must be >= 0, got {value}")
    return np.random.default_rng(value)


def _as_int(value: object, name: str) -> int:
    """``operator.index(value)``, refusing bools and non-integers (``ConfigError``)."""
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise ConfigError(name, f"{name} must be an integer, got {value!r}")
    return operator.index(value)


def _class_sizes(n: int, k: int) -> list[int]:
    """Split ``n`` rows into ``k`` balanced classes (the first ``n % k`` get one more)."""
    return [n // k + (1 if c < n % k else 0) for c in range(k)]


def _labels(sizes: list[int]) -> NDArray[np.int64]:
    """``y`` for classes of ``sizes``: 0s, then 1s, ...; shape (sum(sizes),)."""
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


def _notebook(rng: np.random.Generator, n: int, factor: float) -> Dataset:
    """The notebook's hard set, scales multiplied by ``factor``; unshuffled."""
    n0 = n // 2
    n1a = (n - n0 + 1) // 2
    n1b = n - n0 - n1a
    X0 = rng.normal([0.0, 0.0], [2.0 * factor, 0.5 * factor], (n0, 2))
    X11 = rng.normal([0.0, 3.5], [0.5 * factor, 1.0 * factor], (n1a, 2))
    X12 = rng.normal([0.0, -3.5], [0.5 * factor, 1.0 * factor], (n1b, 2))
    X = np.vstack([X0, X11, X12]).astype(np.float64)
    return X, _labels([n0, n - n0])


def _xor(rng: np.random.Generator, n: int, k: int, sigma: float) -> Dataset:
    """Uniform points in the four quadrants of [-1, 1]^2 (kept ``_XOR_GAP`` off the axes).

    Label 1 where x * y > 0 (first and third quadrants), 0 elsewhere; the label is fixed before
    the jitter is added, as in the TensorFlow Playground's XOR set.
    """
    sizes = _class_sizes(n, 2)
    y = _labels(sizes)
    quadrant_x = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # alternate within each class
    quadrant_y = np.where(y == 1, quadrant_x, -quadrant_x)
    magnitude = rng.uniform(_XOR_GAP, 1.0, size=(n, 2))
    X = magnitude * np.column_stack([quadrant_x, quadrant_y])
    return X + rng.normal(0.0, sigma, size=(n, 2)), y


def _circles(rng: np.random.Generator, n: int, k: int, sigma: float) -> Dataset:
    """Two concentric rings: radius 1 (class 0) and ``_CIRCLES_FACTOR`` (class 1), jittered."""
    sizes = _class_sizes(n, 2)
    y = _labels(sizes)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=n)
    radius = np.where(y == 0, 1.0, _CIRCLES_FACTOR)
    X = radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    return X + rng.normal(0.0, sigma, size=(n, 2)), y


def _moons(rng: np.random.Generator, n: int, k: int, sigma: float) -> Dataset:
    """Two interleaving half circles (scikit-learn's ``make_moons`` shape), jittered."""
    sizes = _class_sizes(n, 2)
    y = _labels(sizes)
    t = rng.uniform(0.0, np.pi, size=n)
    outer = np.column_stack([np.cos(t), np.sin(t)])
    inner = np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)])
    X = np.where((y == 0)[:, None], outer, inner)
    return X + rng.normal(0.0, sigma, size=(n, 2)), y


def _spirals(rng: np.random.Generator, n: int, k: int, sigma: float) -> Dataset:
    """``k`` interleaved arms; arm ``c`` at angle ``2 pi (c / k + turns * r)``, r in [0.1, 1]."""
    sizes = _class_sizes(n, k)
    y = _labels(sizes)
    r = rng.uniform(0.1, 1.0, size=n)
    angle = 2.0 * np.pi * (y / k + _SPIRAL_TURNS * r)
    X = r[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    return X + rng.normal(0.0, sigma, size=(n, 2)), y


def _gaussians(rng: np.random.Generator, n: int, k: int, sigma: float) -> Dataset:
    """``k`` isotropic blobs (std ``sigma``) on a circle, neighbours ``_BLOB_SPACING`` apart."""
    sizes = _class_sizes(n, k)
    y = _labels(sizes)
    radius = _BLOB_SPACING / (2.0 * math.sin(math.pi / k))
    angle = 2.0 * np.pi * np.arange(k) / k
    centres = radius * np.column_stack([np.cos(angle), np.sin(angle)])
    return centres[y] + rng.normal(0.0, sigma, size=(n, 2)), y


_GENERATORS: dict[str, Callable[[np.random.Generator, int, int, float], Dataset]] = {
    "xor": _xor,
    "circles": _circles,
    "moons": _moons,
    "spirals": _spirals,
    "gaussians": _gaussians,
}
