#!/usr/bin/env python3
"""End-to-end smoke test of a running mlp-service.

Usage: python scripts/smoke.py [BASE_URL] [--api-key KEY] [--timeout SECONDS]

Checks health, generates the teaching notebook's dataset, trains it with the notebook's exact
setup, waits for the job to succeed, predicts, and fetches the decision-boundary PNG. Prints each
step and exits non-zero on the first failure. Standard library only, so it runs with any Python
3.11+ (on a deployment host, inside a container, in CI) without installing anything.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

NOTEBOOK_SETUP = {
    "architecture": {"hidden_layers": [5, 3], "activation": "relu"},
    "training": {
        "epochs": 200,
        "learning_rate": 0.001,
        "batch_size": 1,
        "optimizer": "sgd",
        "momentum": 0.0,
        "init": "notebook",
        "shuffle": False,
        "standardize": False,
        "seed": 1,
    },
}
TERMINAL = {"succeeded", "failed", "cancelled"}


class SmokeError(RuntimeError):
    pass


def step(message: str) -> None:
    print(f"smoke: {message}", flush=True)


class Client:
    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        expect: int = 200,
    ) -> tuple[bytes, str]:
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None
        headers = dict(self.headers)
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, payload = resp.status, resp.read()
                content_type = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            status, payload, content_type = err.code, err.read(), ""
        if status != expect:
            raise SmokeError(f"{method} {path} -> {status}, expected {expect}: {payload[:500]!r}")
        return payload, content_type

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        payload, _ = self.request(method, path, **kwargs)
        return json.loads(payload)


def run(base_url: str, api_key: str | None, timeout: float) -> None:
    client = Client(base_url, api_key)
    health = client.json("GET", "/health")
    step(f"health ok, version {health.get('version')}")

    dataset = client.json(
        "POST",
        "/v1/datasets/generate",
        body={"kind": "notebook", "n_samples": 1000, "seed": 0},
        expect=201,
    )
    step(f"generated dataset {dataset['id']}: {dataset['n_samples']} rows")

    job = client.json(
        "POST", "/v1/jobs", body={"dataset_id": dataset["id"], **NOTEBOOK_SETUP}, expect=202
    )
    step(f"submitted job {job['id']} (notebook setup: (2, 5, 3, 1), per-sample SGD, 200 epochs)")

    deadline = time.monotonic() + timeout
    while job["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise SmokeError(f"job {job['id']} still {job['status']} after {timeout:.0f} s")
        time.sleep(0.5)
        job = client.json("GET", f"/v1/jobs/{job['id']}")
    if job["status"] != "succeeded":
        raise SmokeError(f"job ended {job['status']}: {job.get('error')}")
    progress = job.get("progress") or {}
    step(f"job succeeded: model {job['model_id']}, training accuracy {progress.get('accuracy')}")

    data = client.json("GET", f"/v1/datasets/{dataset['id']}/data")
    pred = client.json("POST", f"/v1/models/{job['model_id']}/predict", body={"X": data["X"]})
    correct = sum(p == t for p, t in zip(pred["predictions"], data["y"], strict=True))
    accuracy = correct / len(data["y"])
    step(f"predicted {len(pred['predictions'])} rows, accuracy {accuracy:.4f}")
    if accuracy < 0.95:
        raise SmokeError(f"accuracy {accuracy:.4f} is below 0.95")

    png, content_type = client.request(
        "GET",
        f"/v1/models/{job['model_id']}/boundary",
        params={"format": "png", "resolution": 250},
    )
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise SmokeError(f"boundary?format=png returned {content_type!r}, not a PNG")
    step(f"boundary PNG {len(png)} bytes")
    step("OK")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for training")
    args = parser.parse_args()
    try:
        run(args.base_url, args.api_key, args.timeout)
    except (SmokeError, OSError, KeyError, ValueError) as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
