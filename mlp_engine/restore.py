"""Rebuilding a fitted model's pieces from a model file's arrays and JSON config.

Every inconsistency raises ``ModelFormatError``; nothing is trusted, nothing is unpickled.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mlp_engine.activations import ACTIVATIONS, FloatArray
from mlp_engine.config import DTYPES, MLPConfig
from mlp_engine.crosses import Crosses
from mlp_engine.errors import ModelFormatError
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network
from mlp_engine.preprocessing import Plan

__all__ = ["float_list", "network_from_config", "restore_fitted_state"]


def network_from_config(
    settings: MLPConfig,
    weights: Sequence[FloatArray],
    biases: Sequence[FloatArray],
    config: Mapping[str, Any],
) -> Network:
    """The network described by ``config`` holding ``weights`` and ``biases``."""
    activation, output = config["activation"], config["output"]
    if activation not in ACTIVATIONS or activation != settings.activation:
        raise ModelFormatError(
            f"config 'activation' {activation!r} is unknown or disagrees with 'params'"
        )
    if output not in OUTPUTS:
        raise ModelFormatError(f"config 'output' must be one of {sorted(OUTPUTS)}, got {output!r}")
    if config["dtype"] not in DTYPES:
        raise ModelFormatError(
            f"config 'dtype' must be one of {list(DTYPES)}, got {config['dtype']!r}"
        )
    layers = config["layers"]
    expected = [(w.shape, b.shape) for w, b in zip(weights, biases, strict=False)]
    if (
        not isinstance(layers, list)
        or len(layers) < 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in layers)
        or expected != [((i, o), (o,)) for i, o in itertools.pairwise(layers)]
        or tuple(layers[1:-1]) != settings.hidden_layers
    ):
        raise ModelFormatError(
            "config 'layers' does not match the arrays or 'params.hidden_layers'"
        )
    net = Network(layers, ACTIVATIONS[activation], OUTPUTS[output], config["dtype"])
    net.set_parameters(weights, biases)
    if not np.isfinite(net.params).all():
        raise ModelFormatError("model weights contain NaN or infinity")
    return net


def float_list(
    config: Mapping[str, Any], key: str, n: int, positive: bool = False, nullable: bool = False
) -> FloatArray:
    """``config[key]`` as a finite float64 array of shape ``(n,)``.

    With ``nullable``, null items are allowed and read as NaN.
    """
    value = config.get(key)
    ok = (
        isinstance(value, list)
        and len(value) == n
        and all(
            (v is None and nullable) or (isinstance(v, numbers.Real) and not isinstance(v, bool))
            for v in value
        )
    )
    items = value if ok and isinstance(value, list) else None
    arr = None if items is None else np.array([np.nan if v is None else v for v in items], float)
    if arr is None or not np.isfinite(arr[~np.isnan(arr)] if nullable else arr).all():
        raise ModelFormatError(f"config '{key}' must be a list of {n} finite numbers")
    if positive and not (arr > 0).all():
        raise ModelFormatError(f"config '{key}' must be a list of {n} finite positive numbers")
    return arr


def restore_fitted_state(n_inputs: int, config: Mapping[str, Any]) -> dict[str, Any]:
    """The fitted attributes (by name) of a model with ``n_inputs`` network inputs.

    Files written before tables existed have no ``preprocessing``, ``feature_names``,
    ``features`` or ``evaluation``: they restore as array models named ``x0, x1, ...``; files
    written before feature crosses have no ``crosses`` (none).
    """
    crosses = Crosses.from_config(config.get("crosses"))
    plan = (
        None if config.get("preprocessing") is None else Plan.from_config(config["preprocessing"])
    )
    if plan is not None:
        plan = plan.with_crosses(crosses)
        if plan.width != n_inputs:
            raise ModelFormatError(
                f"config 'preprocessing' gives {plan.width} inputs but the layers start with "
                f"{n_inputs}"
            )
    n_raw = n_inputs - (0 if crosses is None else crosses.width)
    if plan is None and crosses is not None and crosses.n_inputs != n_raw:
        raise ModelFormatError(
            f"config 'crosses' does not fit {n_inputs} network inputs: it crosses "
            f"{crosses.n_inputs} columns into {crosses.width}"
        )
    names = _feature_names(config, n_raw if plan is None else len(plan.steps), plan)
    state: dict[str, Any] = {
        "plan_": plan,
        "crosses_": crosses,
        "feature_names_in_": np.array(names, dtype=str),
        "n_features_in_": len(names),
        "_features": _features(config, names, plan),
        "evaluation_": _evaluation(config),
        "split_": _split(config),
        **_standardization(config, n_raw if plan is None else n_inputs),
        **_training_record(config),
    }
    state["data_min_"] = float_list(config, "data_min", len(names), nullable=plan is not None)
    state["data_max_"] = float_list(config, "data_max", len(names), nullable=plan is not None)
    return state


def _split(config: Mapping[str, Any]) -> npt.NDArray[np.int8] | None:
    """``split_``: the ``(n_rows,)`` int8 codes the loader read from member ``split`` (None in
    files written before the split was recorded)."""
    split = config.get("split")
    if split is None:
        return None
    if not isinstance(split, list | np.ndarray) or not len(split):
        raise ModelFormatError("config 'split' must be a non-empty list of 0, 1 and 2")
    codes = np.asarray(split)
    if codes.ndim != 1 or codes.dtype.kind not in "iu" or ((codes < 0) | (codes > 2)).any():
        raise ModelFormatError("config 'split' must be a non-empty list of 0, 1 and 2")
    return codes.astype(np.int8)


def _standardization(config: Mapping[str, Any], n_inputs: int) -> dict[str, Any]:
    """``mean_`` and ``scale_`` of an array model (both None when not standardising)."""
    std = config["standardize"]
    if std is None:
        return {"mean_": None, "scale_": None}
    if not isinstance(std, Mapping):
        raise ModelFormatError("config 'standardize' must be null or {mean, scale}")
    return {
        "mean_": float_list(std, "mean", n_inputs),
        "scale_": float_list(std, "scale", n_inputs, positive=True),
    }


def _training_record(config: Mapping[str, Any]) -> dict[str, Any]:
    """History, metrics, best epoch, stop reason and metadata."""
    history, metrics = config.get("history", []), config.get("metrics", {})
    if not isinstance(history, list) or not isinstance(metrics, Mapping):
        raise ModelFormatError("config 'history' must be a list and 'metrics' an object")
    if not all(isinstance(row, Mapping) for row in history):
        raise ModelFormatError("config 'history' must be a list of objects")
    metadata = config.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise ModelFormatError("config 'metadata' must be an object")
    best = config.get("best_epoch", len(history))
    stop_reason = str(config.get("stop_reason", "completed"))
    return {
        "history_": [dict(row) for row in history],
        "metrics_": dict(metrics),
        "best_epoch_": best if isinstance(best, int) else len(history),
        "stop_reason_": stop_reason,
        "stopped_early_": stop_reason not in ("completed", "running"),
        "metadata_": dict(metadata),
    }


def _feature_names(config: Mapping[str, Any], n: int, plan: Plan | None) -> list[str]:
    """``config["feature_names"]`` (n distinct strings), else ``x0, x1, ...``."""
    names = config.get("feature_names")
    if names is None:
        if plan is not None:
            return [step.column for step in plan.steps]
        return [f"x{i}" for i in range(n)]
    if (
        not isinstance(names, list)
        or len(names) != n
        or not all(isinstance(name, str) and name for name in names)
        or len(set(names)) != n
    ):
        raise ModelFormatError(f"config 'feature_names' must be {n} distinct non-empty strings")
    if plan is not None and names != [step.column for step in plan.steps]:
        raise ModelFormatError("config 'feature_names' disagree with 'preprocessing'")
    return list(names)


def _features(
    config: Mapping[str, Any], names: list[str], plan: Plan | None
) -> list[dict[str, Any]]:
    """``config["features"]`` (one object per column, in order), else derived from the plan."""
    stored = config.get("features")
    if stored is None:
        if plan is None:
            return [{"name": name, "type": "numeric", "missing": 0} for name in names]
        raise ModelFormatError("config 'features' is missing")
    if not isinstance(stored, list) or len(stored) != len(names):
        raise ModelFormatError(f"config 'features' must be a list of {len(names)} objects")
    for feature, name in zip(stored, names, strict=True):
        if not isinstance(feature, Mapping) or feature.get("name") != name:
            raise ModelFormatError(f"config 'features' must describe the columns {names}")
        if feature.get("type") not in ("numeric", "categorical"):
            raise ModelFormatError("config 'features' types must be numeric or categorical")
    return [dict(feature) for feature in stored]


def _evaluation(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """``config["evaluation"]``: null or ``{"train", "validation", "test"}`` of objects/nulls."""
    evaluation = config.get("evaluation")
    if evaluation is None:
        return None
    if not isinstance(evaluation, Mapping) or set(evaluation) != {"train", "validation", "test"}:
        raise ModelFormatError("config 'evaluation' must have 'train', 'validation' and 'test'")
    if not all(v is None or isinstance(v, Mapping) for v in evaluation.values()):
        raise ModelFormatError("config 'evaluation' values must be objects or null")
    return dict(evaluation)
