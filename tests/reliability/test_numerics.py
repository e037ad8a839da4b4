"""Items 13-17 as properties (hypothesis): random shapes, activations, outputs and data.

- 13: logits anywhere in [-1000, 1000] (the ends included) give a finite loss and gradient;
- 14: the backward pass matches central finite differences (float64, relative error < 1e-6)
  for every hidden activation x output/loss pairing, on random shapes and data;
- 15: a diverging run (learning rate 10, inputs x 1e150) ends ``failed`` / ``diverged`` within
  one epoch and writes no model (through the service's real job runner);
- 16: probabilities stay in [0, 1] and multiclass rows sum to 1 for extreme but finite inputs,
  and every decision-boundary value is finite, or the input is refused with a clear error;
- 17: same seed, data and settings give byte-identical weights (also across job processes).

``RELIABILITY_EXAMPLES`` sets the examples per property (defaults below).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from helpers.gradients import min_abs_preactivation, numeric_gradient
from helpers.inprocess import files_under, make_settings, serve, wait_for_job
from helpers.soak import examples
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import mlp_engine
from mlp_engine.activations import ACTIVATIONS
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network
from mlp_engine.optimizers import OPTIMIZERS

ACTIVATION_NAMES = sorted(ACTIVATIONS)
OUTPUT_NAMES = sorted(OUTPUTS)
KINKED = {"relu", "leaky_relu"}  # derivative jumps at 0: finite differences must not cross it
TOLERANCE = 1e-6
KINK_MARGIN = 1e-3


def property_settings(default: int) -> Any:
    return settings(
        max_examples=examples(default),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        derandomize=False,
    )


def targets(output: str, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Targets ``(n, k)`` as the engine encodes them for each output/loss pair."""
    if output == "sigmoid":
        return rng.integers(0, 2, size=(n, 1)).astype(float)
    if output == "softmax":
        return np.eye(k)[rng.integers(0, k, size=n)]
    return rng.normal(size=(n, k))


def n_outputs(output: str, k: int) -> int:
    return 1 if output == "sigmoid" else k


# ------------------------------------------------------------ item 13: logits of +-1000


@property_settings(200)
@given(
    output=st.sampled_from(OUTPUT_NAMES),
    z=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.one_of(
            st.sampled_from([-1000.0, 1000.0, 0.0, -709.8, 709.8]),
            st.floats(-1000, 1000, allow_nan=False, allow_infinity=False),
        ),
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_losses_and_output_deltas_are_finite_for_logits_up_to_1000(
    output: str, z: np.ndarray, seed: int
) -> None:
    n, k = z.shape
    if output == "sigmoid":
        z = z[:, :1]
    elif output == "softmax" and k < 2:
        z = np.hstack([z, -z])
    y = targets(output, n, z.shape[1], np.random.default_rng(seed))
    pair = OUTPUTS[output]
    # No overflow, no invalid operation, no division by zero: not even a warning (underflow to
    # a denormal or 0 is harmless and allowed).
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        loss = pair.loss(z, y)
        probabilities = pair.fn(z)
        delta = (probabilities - y) / n  # d loss / d z
    assert (np.isfinite(loss) and loss >= 0.0) or output == "identity"
    assert np.isfinite(probabilities).all() and np.isfinite(delta).all()
    if output != "identity":
        assert ((probabilities >= 0.0) & (probabilities <= 1.0)).all()


@property_settings(60)
@given(
    activation=st.sampled_from(ACTIVATION_NAMES),
    output=st.sampled_from(OUTPUT_NAMES),
    sign=st.sampled_from([-1.0, 1.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_network_loss_and_gradient_are_finite_at_logits_of_1000(
    activation: str, output: str, sign: float, seed: int
) -> None:
    """A whole network driven to output logits of +-1000: loss and gradient stay finite."""
    rng = np.random.default_rng(seed)
    k = n_outputs(output, 3)
    net = Network.initialized(
        (3, 4, k), ACTIVATIONS[activation], OUTPUTS[output], "glorot", rng, "float64"
    )
    X = rng.normal(size=(5, 3))
    net.biases[-1][...] = 0.0
    logits = net.logits(X)
    net.biases[-1][...] = sign * 1000.0 - logits.mean(axis=0)  # centre the logits on +-1000
    assert np.abs(net.logits(X)).max() > 900
    Y = targets(output, 5, k, rng)
    loss, grads = net.loss_and_gradient(X, Y, l2=0.01)
    assert np.isfinite(loss) and np.isfinite(grads).all()


# ----------------------------------------------------- item 14: gradient checks (float64)


@property_settings(120)
@given(
    activation=st.sampled_from(ACTIVATION_NAMES),
    output=st.sampled_from(OUTPUT_NAMES),
    hidden=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    n_in=st.integers(1, 4),
    n_classes=st.integers(2, 4),
    rows=st.integers(1, 6),
    scale=st.sampled_from([0.1, 1.0, 3.0]),
    l2=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 2**32 - 1),
)
def test_backward_pass_matches_finite_differences(
    activation: str,
    output: str,
    hidden: list[int],
    n_in: int,
    n_classes: int,
    rows: int,
    scale: float,
    l2: float,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    k = n_outputs(output, n_classes)
    layers = (n_in, *hidden, k)
    net = Network.initialized(
        layers, ACTIVATIONS[activation], OUTPUTS[output], "glorot", rng, "float64"
    )
    for b in net.biases:
        b[...] = rng.normal(0.0, 0.5, size=b.shape)
    X = rng.normal(0.0, scale, size=(rows, n_in))
    if activation in KINKED and hidden:
        assume(min_abs_preactivation(net, X) > KINK_MARGIN)
    Y = targets(output, rows, k, rng)
    _, analytic = net.loss_and_gradient(X, Y, l2)
    numeric = numeric_gradient(net, X, Y, l2)
    scale_of = max(np.linalg.norm(analytic), np.linalg.norm(numeric))
    assume(scale_of > 1e-6)  # a vanishing gradient has no meaningful relative error
    error = float(np.linalg.norm(analytic - numeric) / scale_of)
    assert error < TOLERANCE, (layers, activation, output, error)


# ------------------------------------------------------------ item 15: a diverging run


@pytest.mark.anyio
async def test_a_diverging_job_fails_diverged_within_one_epoch_and_writes_no_model(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    rng = np.random.default_rng(15)
    X = rng.normal(size=(40, 2)) * 1e150
    y = (X[:, 0] > 0).astype(int)
    body = {
        "X": X.tolist(),
        "y": y.tolist(),
        "architecture": {"hidden_layers": [8], "activation": "relu"},
        "training": {
            "epochs": 50,
            "learning_rate": 10.0,
            "optimizer": "sgd",
            "standardize": False,
            "seed": 0,
        },
    }
    async with serve(make_settings(data_dir)) as client:
        response = await client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job = await wait_for_job(client, response.json()["id"])
        assert job["status"] == "failed", job
        assert job["error"]["code"] == "diverged"
        assert len(job["history"]) <= 1 and (job["progress"] or {}).get("epoch", 1) <= 1
        assert job["model_id"] is None
        assert (await client.get("/v1/models")).json()["count"] == 0
    assert files_under(data_dir / "models") == []


# ------------------------------------------- item 16: probabilities and boundary values


def fitted(
    activation: str, n_classes: int, n_features: int, seed: int, task: str = "classification"
) -> Any:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4 * n_classes + 4, n_features))
    if task == "regression":
        return mlp_engine.MLPRegressor(
            hidden_layers=(5,), activation=activation, epochs=2, seed=seed
        ).fit(X, X.sum(axis=1))
    y = np.arange(X.shape[0]) % n_classes
    return mlp_engine.MLPClassifier(
        hidden_layers=(5, 4), activation=activation, epochs=2, seed=seed
    ).fit(X, y)


finite_inputs = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
extreme_inputs = st.one_of(
    finite_inputs,
    st.sampled_from([1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324]),
)


@property_settings(80)
@given(
    activation=st.sampled_from(ACTIVATION_NAMES),
    n_classes=st.integers(2, 5),
    n_features=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_probabilities_are_in_range_and_rows_sum_to_one(
    activation: str, n_classes: int, n_features: int, seed: int, data: st.DataObject
) -> None:
    model = fitted(activation, n_classes, n_features, seed)
    rows = data.draw(st.integers(1, 20))
    X = data.draw(hnp.arrays(np.float64, (rows, n_features), elements=extreme_inputs))
    try:
        proba = model.predict_proba(X)
    except ValueError as exc:  # only a refusal that says why is acceptable
        assert "too large" in str(exc)
        assert np.abs(X).max() > 1e6
        return
    assert proba.shape == (rows, n_classes)
    assert np.isfinite(proba).all()
    assert ((proba >= 0.0) & (proba <= 1.0)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-9)
    assert set(model.predict(X)) <= set(model.classes_)


@property_settings(60)
@given(
    activation=st.sampled_from(ACTIVATION_NAMES),
    n_classes=st.integers(1, 4),  # 1 means a regressor
    n_features=st.integers(2, 4),
    seed=st.integers(0, 2**16),
    low=finite_inputs,
    width=st.floats(1e-6, 1e6),
    resolution=st.integers(2, 30),
)
def test_every_decision_boundary_value_is_finite(
    activation: str,
    n_classes: int,
    n_features: int,
    seed: int,
    low: float,
    width: float,
    resolution: int,
) -> None:
    task = "regression" if n_classes == 1 else "classification"
    model = fitted(activation, max(n_classes, 2), n_features, seed, task)
    span = (low, low + width)
    assume(span[1] > span[0])
    try:
        xs, ys, values = mlp_engine.decision_grid(model, span, span, resolution)
    except ValueError as exc:
        assert "too large" in str(exc) or "overflow" in str(exc), exc
        return
    assert np.isfinite(xs).all() and np.isfinite(ys).all() and np.isfinite(values).all()
    if task == "classification":
        assert ((values >= 0.0) & (values <= 1.0)).all()
        if values.ndim == 3:
            np.testing.assert_allclose(values.sum(axis=2), 1.0, atol=1e-9)


# ------------------------------------------------------------ item 17: determinism


@property_settings(25)
@given(
    activation=st.sampled_from(ACTIVATION_NAMES),
    optimizer=st.sampled_from(sorted(OPTIMIZERS)),
    batch_size=st.integers(1, 16),
    shuffle=st.booleans(),
    validation_fraction=st.sampled_from([0.0, 0.25]),
    dtype=st.sampled_from(["float64", "float32"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_same_seed_data_and_settings_give_byte_identical_weights(
    activation: str,
    optimizer: str,
    batch_size: int,
    shuffle: bool,
    validation_fraction: float,
    dtype: str,
    seed: int,
) -> None:
    if optimizer == "notebook":  # the notebook's optimizer updates after every sample
        batch_size = 1
    rng = np.random.default_rng(seed % 1000)
    X = rng.normal(size=(24, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    settings_ = {
        "hidden_layers": (4, 3),
        "activation": activation,
        "optimizer": optimizer,
        "batch_size": batch_size,
        "shuffle": shuffle,
        "validation_fraction": validation_fraction,
        "dtype": dtype,
        "epochs": 4,
        "seed": seed,
    }
    files = []
    for _ in range(2):
        model = mlp_engine.MLPClassifier(**settings_).fit(X.copy(), y.copy())
        buffer = io.BytesIO()
        model.save(buffer)
        files.append((buffer.getvalue(), [w.tobytes() for w in model.weights_]))
    assert files[0][1] == files[1][1]
    assert files[0][0] == files[1][0]


@pytest.mark.anyio
async def test_two_jobs_with_the_same_seed_write_identical_weights(tmp_path: Path) -> None:
    """Through the service: two job processes, same dataset and settings, same weights."""
    async with serve(make_settings(tmp_path / "data")) as client:
        dataset = (
            await client.post("/v1/datasets/generate", json={"kind": "moons", "n_samples": 120})
        ).json()
        body = {
            "dataset_id": dataset["id"],
            "architecture": {"hidden_layers": [8, 8], "activation": "tanh"},
            "training": {"epochs": 20, "seed": 1234, "shuffle": True, "batch_size": 8},
        }
        weights = []
        for _ in range(2):
            job = (await client.post("/v1/jobs", json=body)).json()
            done = await wait_for_job(client, job["id"])
            assert done["status"] == "succeeded"
            download = await client.get(f"/v1/models/{done['model_id']}/download")
            assert isinstance(download, httpx.Response) and download.status_code == 200
            model = mlp_engine.load(io.BytesIO(download.content))
            weights.append([a.tobytes() for a in (*model.weights_, *model.biases_)])
        assert weights[0] == weights[1]
