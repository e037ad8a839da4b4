"""Bounds of the OpenAPI schema that come from the settings, so the schema a server publishes
states the limits that server applies (e.g. ``MLP_MAX_ROWS`` on generated datasets)."""

from __future__ import annotations

from typing import Any

from app.schemas.datasets import DEFAULT_ROWS
from app.settings import Settings

__all__ = ["apply_settings_bounds"]


def _lower_maximum(prop: dict[str, Any], cap: int) -> None:
    """Lower the ``maximum`` of the integer branch of ``prop`` (``int`` or ``int | None``)."""
    for branch in [prop, *prop.get("anyOf", [])]:
        if branch.get("type") == "integer":
            branch["maximum"] = min(int(branch.get("maximum", cap)), cap)


def _cap_property(node: Any, name: str, cap: int) -> None:
    """Cap property ``name`` wherever ``node`` (a schema) declares it, its branches included."""
    if isinstance(node, list):
        for item in node:
            _cap_property(item, name, cap)
    elif isinstance(node, dict):
        prop = node.get("properties", {}).get(name)
        if isinstance(prop, dict):
            _lower_maximum(prop, cap)
        for value in node.values():
            _cap_property(value, name, cap)


def _rows_required_over_cap(generate: dict[str, Any], max_rows: int) -> None:
    """A kind whose default row count is over ``max_rows`` needs ``n_samples`` (its branches
    of the union on ``kind`` drop the ``null`` alternative and require it)."""
    for branch in generate.get("oneOf", []):
        props = branch["properties"]
        if DEFAULT_ROWS[props["kind"]["const"]] <= max_rows:
            continue
        rows = props["n_samples"]
        props["n_samples"] = next(b for b in rows["anyOf"] if b.get("type") != "null")
        branch["required"] = sorted({*branch.get("required", []), "n_samples"})


def apply_settings_bounds(schema: dict[str, Any], settings: Settings) -> None:
    """Write the settings' caps into ``schema`` (in place): ``n_samples`` at most
    ``MLP_MAX_ROWS``, and required for a kind whose default is more."""
    generate = schema.get("components", {}).get("schemas", {}).get("DatasetGenerate")
    if generate is not None:
        _cap_property(generate, "n_samples", settings.max_rows)
        _rows_required_over_cap(generate, settings.max_rows)
