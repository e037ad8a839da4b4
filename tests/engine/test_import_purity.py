"""Importing mlp_engine loads NumPy and the standard library only (STYLE habit 1)."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("fastapi", "pydantic", "app", "matplotlib", "starlette", "uvicorn", "sklearn")

_PROBE = """
import json, sys
before = set(sys.modules)
import mlp_engine
from mlp_engine import MLPClassifier, MLPRegressor, load, datasets, decision_grid
from mlp_engine import DivergedError, ModelFormatError
loaded = {name.split(".")[0] for name in set(sys.modules) - before}
print(json.dumps({"all": sorted({n.split(".")[0] for n in sys.modules}), "new": sorted(loaded)}))
"""


def _probe() -> dict[str, set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    return {key: set(value) for key, value in json.loads(out.stdout).items()}


def test_import_loads_no_service_or_plotting_module() -> None:
    modules = _probe()["all"]
    for name in FORBIDDEN:
        assert name not in modules, f"importing mlp_engine loaded {name}"


def test_import_loads_only_numpy_and_stdlib() -> None:
    new = _probe()["new"]
    # NumPy's compiled extensions register their Cython runtime as top-level modules.
    new = {name for name in new if not name.startswith(("_cython_", "cython_runtime"))}
    allowed = set(sys.stdlib_module_names) | {"numpy", "mlp_engine"}
    assert new - allowed == set(), f"unexpected modules: {new - allowed}"
