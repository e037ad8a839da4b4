"""mlp_engine: multi-layer perceptrons in pure NumPy, faithful to the teaching notebook.

Imports NumPy and the standard library only.

    from mlp_engine import MLPClassifier, datasets
    X, y = datasets.make("moons", seed=0)
    clf = MLPClassifier(hidden_layers=(16, 16), seed=0).fit(X, y)
"""

from mlp_engine import datasets, metrics
from mlp_engine.errors import ConfigError, DivergedError, MLPEngineError, ModelFormatError
from mlp_engine.estimators import MLPClassifier, MLPRegressor, load
from mlp_engine.evaluation import evaluate
from mlp_engine.grid import decision_grid

__all__ = [
    "ConfigError",
    "DivergedError",
    "MLPClassifier",
    "MLPEngineError",
    "MLPRegressor",
    "ModelFormatError",
    "datasets",
    "decision_grid",
    "evaluate",
    "load",
    "metrics",
]
