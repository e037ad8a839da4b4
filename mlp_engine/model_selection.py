"""Model selection: cross-validation folds and hyper-parameter search spaces.

- :func:`fold_assignment` gives every row a fold: stratified for classification (each class spread
  over the folds as evenly as ``sklearn.model_selection.StratifiedKFold(shuffle=True)`` spreads
  it), plain shuffled k-fold (``KFold(shuffle=True)``) for regression. Seeded.
- A search space is ``{name: [values] | {"uniform": [lo, hi]} | {"log_uniform": [lo, hi]} |
  {"int_uniform": [lo, hi]}}`` (``int_uniform`` includes both ends). :func:`parse_space` checks
  it (``ConfigError`` whose ``field`` is ``search.space.<name>``), :func:`grid_size` counts a grid
  without building it, :func:`grid_trials` lists it in a fixed order (the last name varies
  fastest) and :func:`random_trials` draws from it: the same seed draws the same trials.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlp_engine.errors import ConfigError

__all__ = [
    "DISTRIBUTIONS",
    "Dimension",
    "fold_assignment",
    "grid_size",
    "grid_trials",
    "kfold_assignment",
    "parse_space",
    "random_trials",
    "stratified_assignment",
]

Kind = Literal["list", "uniform", "log_uniform", "int_uniform"]
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "log_uniform", "int_uniform")
# Above this many grid points a list-only random search draws with replacement (no index array).
_WITHOUT_REPLACEMENT_MAX = 10_000_000
_INT_BOUND = 2**62  # int_uniform bounds (NumPy draws 64-bit integers)


# -- folds ----------------------------------------------------------------------------------


def _check_folds(n: int, k: int) -> None:
    if k < 2:
        raise ConfigError("cv_folds", f"cv_folds must be >= 2, got {k}")
    if n < k:
        raise ConfigError("cv_folds", f"cv_folds={k} needs at least {k} rows, got {n}")


def kfold_assignment(n: int, k: int, seed: int) -> npt.NDArray[np.intp]:
    """``(n,)`` fold index (0..k-1) of each row: shuffled, fold sizes differing by at most one
    (the first ``n % k`` folds one row larger), as ``KFold(k, shuffle=True)``."""
    _check_folds(n, k)
    sizes = np.full(k, n // k, dtype=np.intp)
    sizes[: n % k] += 1
    folds = np.empty(n, dtype=np.intp)
    folds[np.random.default_rng(seed).permutation(n)] = np.repeat(np.arange(k), sizes)
    return folds


def stratified_assignment(y: npt.ArrayLike, k: int, seed: int) -> npt.NDArray[np.intp]:
    """``(n,)`` fold index of each row for labels ``y: (n,)``, stratified by class.

    The allocation is scikit-learn's: classes numbered by first appearance, the labels sorted
    by class are dealt round-robin to the folds, so every fold gets ``floor`` or ``ceil`` of
    ``count / k`` rows of each class and the fold sizes differ by at most one; then each
    class's fold list is shuffled (seeded).
    """
    labels = np.asarray(y)
    _check_folds(labels.shape[0], k)
    # Classes numbered in order of first appearance, as scikit-learn does.
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    codes = np.argsort(np.argsort(first))[inverse.reshape(-1)]
    n_classes = int(codes.max()) + 1
    ordered = np.sort(codes)
    allocation = np.stack([np.bincount(ordered[i::k], minlength=n_classes) for i in range(k)])
    rng = np.random.default_rng(seed)
    folds = np.empty(labels.shape[0], dtype=np.intp)
    for c in range(n_classes):
        per_class = np.repeat(np.arange(k), allocation[:, c])
        rng.shuffle(per_class)
        folds[codes == c] = per_class
    return folds


def fold_assignment(
    y: npt.ArrayLike, k: int, seed: int, *, stratified: bool
) -> npt.NDArray[np.intp]:
    """``(n,)`` fold index of each row: :func:`stratified_assignment` (classification) or
    :func:`kfold_assignment` (regression; ``y: (n,)`` or ``(n, n_targets)``)."""
    if stratified:
        return stratified_assignment(y, k, seed)
    return kfold_assignment(np.asarray(y).shape[0], k, seed)


# -- search spaces --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: a list of ``values`` or a distribution over ``[low, high]``."""

    name: str
    kind: Kind
    values: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0

    def size(self) -> int | None:
        """Number of grid points (None for a distribution)."""
        return len(self.values) if self.kind == "list" else None

    def draw(self, rng: np.random.Generator) -> Any:
        """One random value (a list: a uniformly chosen element)."""
        if self.kind == "list":
            return self.values[int(rng.integers(len(self.values)))]
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.kind == "log_uniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return int(rng.integers(round(self.low), round(self.high), endpoint=True))


def parse_space(
    space: Mapping[str, Any], allowed: Collection[str], *, grid: bool
) -> list[Dimension]:
    """The dimensions of ``space``, in its order. ``allowed``: the parameter names that may be
    searched; ``grid`` accepts lists only. ``ConfigError`` (``field`` ``search.space[.name]``)
    for an empty space, an unknown name, an empty list or a bad range."""
    if not space:
        raise ConfigError("search.space", "search.space is empty; name at least one parameter")
    dims = []
    for name, spec in space.items():
        field = f"search.space.{name}"
        if name not in allowed:
            choices = ", ".join(sorted(allowed))
            raise ConfigError(field, f"unknown parameter {name!r}; searchable: {choices}")
        dims.append(_dimension(name, spec, field, grid))
    return dims


def _dimension(name: str, spec: Any, field: str, grid: bool) -> Dimension:
    if isinstance(spec, list | tuple):
        if not spec:
            raise ConfigError(field, f"{field} is an empty list; give at least one value")
        return Dimension(name, "list", values=tuple(spec))
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(
            field,
            f"{field} must be a list of values or one of {{{', '.join(DISTRIBUTIONS)}: [lo, hi]}}",
        )
    ((kind, bounds),) = spec.items()
    if grid:
        raise ConfigError(field, f"a grid search takes lists of values; {field} is {kind}")
    low, high = _bounds(bounds, field, kind)
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(field, f"{field}: log_uniform needs lo > 0, got {low}")
    return Dimension(name, kind, low=low, high=high)


def _bounds(bounds: Any, field: str, kind: str) -> tuple[float, float]:
    """``[lo, hi]``: two finite numbers (integers for ``int_uniform``), ``lo <= hi``."""
    integral = kind == "int_uniform"
    number = int if integral else (int, float)
    ok = (
        isinstance(bounds, list | tuple)
        and len(bounds) == 2
        and all(isinstance(b, number) and not isinstance(b, bool) for b in bounds)
        and all(math.isfinite(b) for b in bounds)
    )
    if not ok:
        what = "integers" if integral else "finite numbers"
        raise ConfigError(field, f"{field}: {kind} takes [lo, hi], two {what}")
    if integral and max(abs(bounds[0]), abs(bounds[1])) > _INT_BOUND:
        raise ConfigError(field, f"{field}: int_uniform bounds must lie within +-2^62")
    low, high = float(bounds[0]), float(bounds[1])
    if low > high:
        raise ConfigError(field, f"{field}: lo must be <= hi, got [{bounds[0]}, {bounds[1]}]")
    return low, high


def grid_size(dims: list[Dimension]) -> int | None:
    """The number of grid points (a product of list lengths; nothing is built), or None when a
    dimension is a distribution."""
    sizes = [d.size() for d in dims]
    if any(s is None for s in sizes):
        return None
    return math.prod(s for s in sizes if s is not None)


def _grid_point(dims: list[Dimension], index: int) -> dict[str, Any]:
    """The ``index``-th grid point (mixed radix, the last dimension varying fastest)."""
    params: dict[str, Any] = {}
    for dim in reversed(dims):
        index, digit = divmod(index, len(dim.values))
        params[dim.name] = dim.values[digit]
    return {dim.name: params[dim.name] for dim in dims}


def grid_trials(dims: list[Dimension], limit: int | None = None) -> list[dict[str, Any]]:
    """The grid's points in order (the first ``limit`` of them), as ``itertools.product``."""
    size = grid_size(dims)
    if size is None:
        raise ConfigError("search.space", "a grid search takes lists of values only")
    count = size if limit is None else min(size, limit)
    return [_grid_point(dims, i) for i in range(count)]


def random_trials(dims: list[Dimension], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` random points, seeded. When every dimension is a list, distinct grid points are
    drawn without replacement (at most the grid's size, like scikit-learn's
    ``ParameterSampler``); otherwise each dimension is drawn independently, in order."""
    rng = np.random.default_rng(seed)
    size = grid_size(dims)
    if size is not None and size <= _WITHOUT_REPLACEMENT_MAX:
        picks = rng.choice(size, size=min(n, size), replace=False)
        return [_grid_point(dims, int(i)) for i in picks]
    return [{dim.name: dim.draw(rng) for dim in dims} for _ in range(n)]
