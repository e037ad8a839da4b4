"""Render a decision-boundary grid as a PNG: the teaching notebook's picture.

Uses matplotlib's object API (``Figure`` + the Agg canvas), never ``pyplot``: no global state, so
concurrent requests can render in worker threads.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize, to_rgba
from matplotlib.figure import Figure

__all__ = ["MAX_POINTS", "render_boundary_png"]

MAX_POINTS = 5000  # training points drawn at most (an evenly spaced subsample beyond that)
_FIGSIZE = (6.4, 4.8)
_DPI = 100
_CLASS_COLOURS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


def render_boundary_png(
    xs: np.ndarray,
    ys: np.ndarray,
    values: np.ndarray,
    X: np.ndarray | None = None,
    y: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    *,
    axis_labels: tuple[str, str] = ("x0", "x1"),
) -> bytes:
    """PNG bytes of a boundary grid.

    Args:
        xs: (nx,) grid x coordinates; ys: (ny,) grid y coordinates.
        values: binary (ny, nx) P(classes[1]); multiclass (ny, nx, k) class probabilities;
            regression (ny, nx) predictions (regression when ``classes`` is None).
        X: (n, 2) training points in the plotted features, or None; y: (n,) their labels.
        classes: the model's class labels (None for regression).
        axis_labels: names of the two plotted features.
    """
    fig = Figure(figsize=_FIGSIZE, dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    extent = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    if classes is None:
        image = ax.imshow(values, origin="lower", extent=extent, aspect="auto", cmap="viridis")
        fig.colorbar(image, ax=ax, label="prediction")
    elif values.ndim == 3:
        _draw_multiclass(fig, ax, values, extent, classes)
    else:
        image = ax.imshow(
            values, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r", vmin=0, vmax=1
        )
        fig.colorbar(image, ax=ax, label=f"P(class = {classes[1]})")
        if float(values.min()) < 0.5 < float(values.max()):
            ax.contour(xs, ys, values, levels=[0.5], colors="red", linewidths=2)
    if X is not None and y is not None and len(X):
        _draw_points(ax, X, y, classes, value_range=(float(values.min()), float(values.max())))
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title("decision boundary" if classes is not None else "prediction")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _draw_multiclass(
    fig: Figure, ax: Any, values: np.ndarray, extent: tuple[float, ...], classes: Sequence[Any]
) -> None:
    """Colour each cell by its predicted class, with the class probability as opacity."""
    k = len(classes)
    predicted = values.argmax(axis=2)
    confidence = values.max(axis=2)
    palette = np.array([to_rgba(_colour(i)) for i in range(k)])
    rgba = palette[predicted]
    rgba[..., 3] = np.clip(confidence, 0.0, 1.0)
    ax.imshow(rgba, origin="lower", extent=extent, aspect="auto")
    cmap = ListedColormap([_colour(i) for i in range(k)])
    mappable = ScalarMappable(norm=Normalize(vmin=-0.5, vmax=k - 0.5), cmap=cmap)
    bar = fig.colorbar(mappable, ax=ax, ticks=range(k), label="predicted class")
    bar.set_ticklabels([str(c) for c in classes])


def _draw_points(
    ax: Any,
    X: np.ndarray,
    y: np.ndarray,
    classes: Sequence[Any] | None,
    *,
    value_range: tuple[float, float],
) -> None:
    """Scatter the training points (at most MAX_POINTS), coloured by class or by target.

    Regression targets share the heat map's colour scale (``value_range``).
    """
    if len(X) > MAX_POINTS:
        keep = np.linspace(0, len(X) - 1, MAX_POINTS).astype(np.intp)
        X, y = X[keep], y[keep]
    if classes is None:
        ax.scatter(
            X[:, 0], X[:, 1], c=y, cmap="viridis", vmin=value_range[0], vmax=value_range[1],
            s=12, edgecolors="white", linewidths=0.5,
        )  # fmt: skip
        return
    colours = _BINARY_COLOURS if len(classes) == 2 else None
    drawn = 0
    for index, label in enumerate(classes):
        mask = y == label
        if mask.any():
            ax.scatter(
                X[mask, 0], X[mask, 1], s=14, edgecolors="black",
                color=colours[index] if colours else _colour(index),
                linewidths=0.5, label=f"class {label}",
            )  # fmt: skip
            drawn += 1
    if 0 < drawn <= 20:
        ax.legend(loc="upper right", fontsize="small", framealpha=0.8)


_BINARY_COLOURS = ("#2166ac", "#b2182b")  # the ends of RdBu_r, as on the colour bar


def _colour(index: int) -> str:
    return _CLASS_COLOURS[index % len(_CLASS_COLOURS)]
