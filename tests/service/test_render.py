"""app.render: the boundary picture is a valid PNG for every kind of model."""

from __future__ import annotations

import struct
import threading

import numpy as np

from app.render import render_boundary_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which must come first; checks the magic bytes."""
    assert data[:8] == PNG_MAGIC
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert data.endswith(b"IEND\xaeB`\x82")  # the final IEND chunk with its CRC
    return int(width), int(height)


def grid(nx: int = 30, ny: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xs = np.linspace(-1.0, 1.0, nx)
    ys = np.linspace(-2.0, 2.0, ny)
    gx, gy = np.meshgrid(xs, ys)  # (ny, nx)
    return xs, ys, gx, gy


def test_binary_png_with_points_and_contour() -> None:
    xs, ys, gx, gy = grid()
    values = 1.0 / (1.0 + np.exp(-(gx * 3 + gy)))
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(50, 2))
    y = (X[:, 0] > 0).astype(np.int64)
    data = render_boundary_png(xs, ys, values, X, y, classes=[0, 1])
    assert png_size(data) == (640, 480)


def test_binary_png_with_string_labels_and_without_points() -> None:
    xs, ys, gx, _ = grid()
    values = np.clip(gx * 0.5 + 0.5, 0, 1)
    X = np.array([[0.0, 0.0], [0.5, 0.5]])
    y = np.array(["cat", "dog"])
    assert png_size(render_boundary_png(xs, ys, values, X, y, classes=["cat", "dog"]))
    # A constant map has no 0.5 contour; that must not fail.
    assert png_size(render_boundary_png(xs, ys, np.zeros_like(values), classes=[0, 1]))


def test_multiclass_png() -> None:
    xs, ys, gx, gy = grid()
    logits = np.stack([gx, gy, -gx - gy], axis=2)
    values = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    X = np.array([[0.0, 0.0], [0.5, -1.0], [-0.5, 1.0]])
    y = np.array([0, 1, 2])
    assert png_size(render_boundary_png(xs, ys, values, X, y, classes=[0, 1, 2])) == (640, 480)


def test_regression_png_and_many_points_are_subsampled() -> None:
    xs, ys, gx, gy = grid()
    values = gx**2 + gy
    X = np.random.default_rng(1).normal(size=(20_000, 2))
    y = X[:, 0] ** 2
    assert png_size(render_boundary_png(xs, ys, values, X, y)) == (640, 480)


def test_renders_concurrently_in_threads() -> None:
    xs, ys, gx, gy = grid()
    values = 1.0 / (1.0 + np.exp(-(gx + gy)))
    results: list[bytes] = []

    def work() -> None:
        results.append(render_boundary_png(xs, ys, values, classes=[0, 1]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    assert all(png_size(r) == (640, 480) for r in results)


def test_user_text_is_drawn_literally_not_as_mathtext() -> None:
    """Issue 18, finding 2: a class label or column name with ``$...$`` made every PNG a 500."""
    xs, ys, gx, _gy = grid()
    values = 1.0 / (1.0 + np.exp(-gx))
    X = np.array([[0.0, 0.0], [0.5, 0.5]])
    hostile = ["$\\nosuchcommand$", "$" + "\\sqrt{" * 300 + "$"]
    y = np.array(hostile, dtype=object)
    data = render_boundary_png(
        xs, ys, values, X, y, classes=hostile, axis_labels=("$\\frac{$", "price $")
    )
    assert png_size(data) == (640, 480)
    multi = np.stack([values, 1 - values, np.zeros_like(values)], axis=2)
    data = render_boundary_png(xs, ys, multi, X, y, classes=[*hostile, "x" * 100_000])
    assert png_size(data) == (640, 480)


def test_plain_text_escapes_dollars_and_cuts_long_labels() -> None:
    from app.render import MAX_LABEL_CHARS, plain_text

    assert plain_text("$a$") == r"\$a\$"
    assert plain_text(3) == "3"
    long = plain_text("y" * 100_000)
    assert len(long) == MAX_LABEL_CHARS and long.endswith("\u2026")
