"""Rebuilding a fitted model's pieces from a model file's arrays and JSON config.

Every inconsistency raises ``ModelFormatError``; nothing is trusted, nothing is unpickled.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlp_engine.activations import ACTIVATIONS, FloatArray
from mlp_engine.config import DTYPES, MLPConfig
from mlp_engine.errors import ModelFormatError
from mlp_engine.losses import OUTPUTS
from mlp_engine.network import Network

__all__ = ["float_list", "network_from_config"]


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


def float_list(config: Mapping[str, Any], key: str, n: int, positive: bool = False) -> FloatArray:
    """``config[key]`` as a finite float64 array of shape ``(n,)``."""
    value = config.get(key)
    ok = (
        isinstance(value, list)
        and len(value) == n
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value)
    )
    arr = np.array(value, dtype=np.float64) if ok else np.zeros(0)
    if not ok or not np.isfinite(arr).all() or (positive and not (arr > 0).all()):
        sign = " positive" if positive else ""
        raise ModelFormatError(f"config '{key}' must be a list of {n} finite{sign} numbers")
    return arr
