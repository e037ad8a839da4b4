"""mlp_engine: multi-layer perceptrons in pure NumPy, faithful to the teaching notebook.

Imports NumPy and the standard library only.

    from mlp_engine import MLPClassifier, datasets
    X, y = datasets.make("moons", seed=0)
    clf = MLPClassifier(hidden_layers=(16, 16), seed=0).fit(X, y)

Tables (``{name: column}`` or a DataFrame) work too; the preprocessing is learnt and saved::

    table = {"age": [31.0, nan, 47.0, ...], "city": ["Oslo", "", "Rome", ...]}
    clf = MLPClassifier(test_fraction=0.2, class_weight="balanced").fit(table, y)
    clf.features, clf.evaluation_["test"], evaluate(clf, other_table, other_y)
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
