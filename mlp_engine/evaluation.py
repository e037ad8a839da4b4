"""``evaluate``: a fitted model's metrics on data with known targets (the API's M)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from mlp_engine.metrics import classification_report, regression_report
from mlp_engine.validation import check_labels, check_targets

__all__ = ["evaluate"]


def evaluate(model: Any, X: Any, y: npt.ArrayLike) -> dict[str, Any]:
    """``{"n_samples": n, "metrics": M}`` of a fitted ``MLPClassifier`` or ``MLPRegressor``.

    ``X`` is what ``predict`` takes (a 2-D array or a table), ``y: (n,)`` the true labels or
    targets (``(n, n_targets)`` for a multi-target regressor, whose metrics are then taken
    over all values). M is ``mlp_engine.metrics.classification_report`` (with every class of
    ``classes_``; a label the model does not know is a ``ValueError``) or
    ``regression_report``. JSON-ready.
    """
    if getattr(model, "task", None) == "classification":
        proba = model.predict_proba(X)
        labels, _ = check_labels(y, proba.shape[0])
        unknown = labels[~np.isin(labels, model.classes_)]
        if unknown.size:
            raise ValueError(f"y holds a label the model does not know: {unknown[0].item()!r}")
        report = classification_report(labels, proba, model.classes_)
        return {"n_samples": int(proba.shape[0]), "metrics": report}
    pred = np.asarray(model.predict(X), dtype=np.float64)
    Y = check_targets(y, pred.shape[0])
    if Y.shape != pred.shape:
        raise ValueError(f"y has shape {Y.shape}, but the model predicts {pred.shape}")
    return {"n_samples": int(pred.shape[0]), "metrics": regression_report(Y.ravel(), pred.ravel())}
