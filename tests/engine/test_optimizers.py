"""One and two optimizer steps against arithmetic written out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlp_engine.optimizers import OPTIMIZERS, SGD, Adam, NotebookSGD, make_optimizer

P0 = np.array([1.0, -2.0, 0.5])
G1 = np.array([0.5, 0.25, -1.0])
G2 = np.array([-0.1, 0.4, 2.0])


def _two_steps(optimizer: SGD | Adam) -> tuple[np.ndarray, np.ndarray]:
    params = P0.copy()
    optimizer.step(params, G1.copy())
    after_one = params.copy()
    optimizer.step(params, G2.copy())
    return after_one, params


def test_table_and_factory() -> None:
    assert {"sgd": SGD, "adam": Adam, "notebook": NotebookSGD} == OPTIMIZERS
    assert [cls.layerwise for cls in (SGD, Adam, NotebookSGD)] == [False, False, True]
    sgd = make_optimizer("sgd", 0.1, momentum=0.5, nesterov=True)
    assert isinstance(sgd, SGD) and (sgd.lr, sgd.momentum, sgd.nesterov) == (0.1, 0.5, True)
    adam = make_optimizer("adam", 0.01, momentum=0.5)
    assert isinstance(adam, Adam) and (adam.lr, adam.beta1, adam.beta2) == (0.01, 0.9, 0.999)
    notebook = make_optimizer("notebook", 0.1, momentum=0.9, nesterov=True)  # both ignored
    assert isinstance(notebook, NotebookSGD) and (notebook.lr, notebook.momentum) == (0.1, 0.0)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer("rmsprop", 0.1)


def test_plain_sgd() -> None:
    for sgd in (SGD(0.1), NotebookSGD(0.1)):  # notebook: the same step, applied per layer
        one, two = _two_steps(sgd)
        np.testing.assert_allclose(one, [0.95, -2.025, 0.6], rtol=1e-15)
        np.testing.assert_allclose(two, [0.96, -2.065, 0.4], rtol=1e-15)


def test_sgd_momentum() -> None:
    # v1 = -0.1*g1; p1 = p0 + v1;  v2 = 0.9*v1 - 0.1*g2; p2 = p1 + v2
    one, two = _two_steps(SGD(0.1, momentum=0.9))
    v2 = [0.9 * -0.05 + 0.01, 0.9 * -0.025 - 0.04, 0.9 * 0.1 - 0.2]
    np.testing.assert_allclose(one, [1.0 - 0.05, -2.025, 0.6], rtol=1e-15)
    np.testing.assert_allclose(two, np.add(one, v2), rtol=1e-15)


def test_sgd_nesterov() -> None:
    # v_t = mu*v_{t-1} - lr*g_t;  p_t = p_{t-1} + mu*v_t - lr*g_t   (scikit-learn's form)
    mu, lr = 0.9, 0.1
    one, two = _two_steps(SGD(lr, momentum=mu, nesterov=True))
    v1 = -lr * G1
    p1 = P0 + mu * v1 - lr * G1
    v2 = mu * v1 - lr * G2
    p2 = p1 + mu * v2 - lr * G2
    np.testing.assert_allclose(one, p1, rtol=1e-15)
    np.testing.assert_allclose(two, p2, rtol=1e-15)
    classical = _two_steps(SGD(lr, momentum=mu))[1]
    assert not np.allclose(two, classical)


def test_adam() -> None:
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    one, two = _two_steps(Adam(lr))
    expected, m, v = [], np.zeros(3), np.zeros(3)
    p = P0.copy()
    for t, g in enumerate((G1, G2), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        expected.append(p)
    np.testing.assert_allclose(one, expected[0], rtol=1e-14)
    np.testing.assert_allclose(two, expected[1], rtol=1e-14)
    # The first step of Adam moves every parameter by about lr, whatever the gradient's size.
    np.testing.assert_allclose(np.abs(one - P0), lr, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_steps_keep_dtype_and_update_in_place(dtype: type) -> None:
    for optimizer in (SGD(0.1), SGD(0.1, 0.9, True), Adam(0.1)):
        params = P0.astype(dtype)
        view = params[:2]
        optimizer.step(params, G1.astype(dtype))
        assert params.dtype == dtype
        assert view[0] == params[0] != P0[0]  # views of params see the update
        assert math.isfinite(float(params.sum()))
