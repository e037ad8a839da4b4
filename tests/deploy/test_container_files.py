"""Static checks of the Dockerfile and docker-compose.yml, so a careless edit fails `make test`.

The real build-and-run proof is `../shared/tools/container-check.sh` (podman); these tests pin the
properties that proof relies on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_every_stage_builds_from_python_312_slim() -> None:
    froms = [args.split()[0] for kw, args in dockerfile_instructions() if kw == "FROM"]
    assert len(froms) >= 2, "the Dockerfile must be multi-stage"
    assert all(image == "python:3.12-slim" for image in froms), froms


def test_final_stage_runs_as_non_root_user() -> None:
    users = [args for kw, args in final_stage() if kw == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_healthcheck_needs_no_curl() -> None:
    checks = [args for kw, args in final_stage() if kw == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/health" in checks[0]
    assert "curl" not in checks[0] and "wget" not in checks[0]


def test_cmd_is_exec_form() -> None:
    cmds = [args for kw, args in final_stage() if kw == "CMD"]
    assert len(cmds) == 1
    parsed = json.loads(cmds[0])
    assert isinstance(parsed, list) and all(isinstance(part, str) for part in parsed)
    assert [kw for kw, _ in final_stage() if kw == "ENTRYPOINT"] == []


def test_data_volume_and_port() -> None:
    stage = final_stage()
    assert any(kw == "VOLUME" and "/data" in args for kw, args in stage)
    assert any(kw == "EXPOSE" and args.split()[0] == "8000" for kw, args in stage)
    env = " ".join(args for kw, args in stage if kw == "ENV")
    assert "MLP_DATA_DIR=/data" in env


def test_no_build_tools_or_caches_in_runtime_stage() -> None:
    runs = " ".join(args for kw, args in final_stage() if kw == "RUN")
    for tool in ("build-essential", "gcc", "apt-get install"):
        assert tool not in runs
    assert "--no-index" in runs, "the runtime stage installs only the wheels built earlier"
    env = " ".join(args for kw, args in final_stage() if kw == "ENV")
    assert "PIP_NO_CACHE_DIR=1" in env


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", "data", ".git"} <= ignored


def test_compose_api_service(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["build"] == "." or api["build"]["context"] == "."
    assert any(str(port).endswith(":8000") for port in api["ports"])
    assert "mlp-data:/data" in api["volumes"]
    assert "mlp-data" in compose["volumes"]
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert api["restart"] in {"unless-stopped", "always", "on-failure"}
    limits = api["deploy"]["resources"]["limits"]
    assert limits["cpus"] and limits["memory"]
    assert api["environment"]["MLP_DATA_DIR"] == "/data"


@pytest.mark.parametrize("compose_file", ["docker-compose.yml", "docker-compose.rq.yml"])
def test_env_example_documents_compose_variables(compose_file: str) -> None:
    text = (ROOT / compose_file).read_text()
    used = set(re.findall(r"\$\{(\w+)", text))
    documented = set(re.findall(r"^(\w+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used <= documented, f"undocumented in .env.example: {sorted(used - documented)}"
