"""One unit's activation: what a single neuron of a fitted network computes (neuron previews).

``layer`` indexes the model's ``layers_`` (``layers_[0]`` inputs, then the hidden layers, then
the outputs): layer 0 is the network's input after the model's preprocessing (standardisation,
a table's plan), a hidden layer's unit is ``activation(z)``, an output unit is the output
activation (sigmoid, softmax or identity) of the logits. The input goes through the same
transform as ``predict``, so raw columns (arrays or tables) come in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from .grid import decision_grid

Floats = NDArray[np.float64]

__all__ = ["check_unit", "unit_activations", "unit_grid"]


def check_unit(model: Any, layer: int, unit: int) -> None:
    """``ValueError`` naming ``layer`` or ``unit`` unless both are within the model's
    ``layers_`` (``0 <= layer < len(layers_)``, ``0 <= unit < layers_[layer]``)."""
    layers = list(model._network().layers)
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        raise ValueError(f"layer must be an integer, got {layer!r}")
    if not 0 <= layer < len(layers):
        raise ValueError(f"layer must be in 0..{len(layers) - 1} (the model's layers), got {layer}")
    if isinstance(unit, bool) or not isinstance(unit, int | np.integer):
        raise ValueError(f"unit must be an integer, got {unit!r}")
    if not 0 <= unit < layers[layer]:
        raise ValueError(
            f"unit must be in 0..{layers[layer] - 1} (layer {layer} has {layers[layer]} units), "
            f"got {unit}"
        )


def unit_activations(model: Any, X: Any, layer: int, unit: int) -> Floats:
    """Activation of unit ``unit`` of layer ``layer`` for raw inputs ``X`` (array ``(n,
    n_features)`` or table); returns ``(n,)`` float64."""
    check_unit(model, layer, unit)
    net = model._network()
    a = model._network_input(X)
    last = len(net.weights) - 1
    with np.errstate(all="ignore"):
        for i in range(layer):
            z = a @ net.weights[i] + net.biases[i]
            a = net.activation.fn(z) if i < last else net.output.fn(z)
    return np.asarray(a[:, unit], dtype=np.float64)


class _UnitView:
    """A fitted model seen as a regressor whose prediction is one unit's activation (so
    ``decision_grid`` handles the ranges, the axes and the fixed values exactly as ever)."""

    task = "regression"

    def __init__(self, model: Any, layer: int, unit: int) -> None:
        self.model, self.layer, self.unit = model, layer, unit
        self.n_features_in_ = model.n_features_in_
        self.data_min_, self.data_max_ = model.data_min_, model.data_max_
        self.plan_ = getattr(model, "plan_", None)

    def predict(self, X: Any) -> Floats:
        """``(m,)`` activations for raw points (array or table)."""
        return unit_activations(self.model, X, self.layer, self.unit)


def unit_grid(
    model: Any, layer: int, unit: int, *args: Any, **kwargs: Any
) -> tuple[Floats, Floats, Floats]:
    """``decision_grid`` (same arguments after ``layer`` and ``unit``) of one unit's activation:
    ``(xs (nx,), ys (ny,), values (ny, nx))``."""
    check_unit(model, layer, unit)
    return decision_grid(_UnitView(model, layer, unit), *args, **kwargs)
