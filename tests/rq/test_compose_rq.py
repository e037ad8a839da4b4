"""Static checks of docker-compose.rq.yml (the real proof is container-check.sh with it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.rq.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_redis_is_persistent_and_health_checked(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "noeviction" in command
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_api_uses_the_rq_backend(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    env = api["environment"]
    assert env["MLP_JOB_BACKEND"] == "rq"
    assert env["MLP_REDIS_URL"].startswith("redis://redis:")
    assert "mlp-data:/data" in api["volumes"]
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"


def test_workers_scale_and_share_the_data_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    worker = services["worker"]
    assert worker["command"][:3] == ["python", "-m", "app.rq_worker"]
    assert worker["image"] == services["api"]["image"]  # the same image runs both
    assert "mlp-data:/data" in worker["volumes"]
    assert worker["environment"]["MLP_REDIS_URL"] == services["api"]["environment"]["MLP_REDIS_URL"]
    assert worker["environment"]["MLP_DATA_DIR"] == "/data"
    assert "container_name" not in worker and "ports" not in worker  # --scale needs neither
    assert worker["deploy"]["mode"] == "replicated" and worker["deploy"]["replicas"]
    test = " ".join(worker["healthcheck"]["test"])
    assert "app.rq_worker --check" in test and "8000" not in test
    assert {"mlp-data", "redis-data"} <= set(compose["volumes"])
