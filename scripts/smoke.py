#!/usr/bin/env python3
"""End-to-end smoke test of a running mlp-service.

Usage: python scripts/smoke.py [BASE_URL] [--api-key KEY] [--timeout SECONDS]

Checks health, generates the teaching notebook's dataset, trains it with the notebook's exact
setup, waits for the job to succeed, predicts, and fetches the decision-boundary PNG. Prints each
step and exits non-zero on the first failure. Needs only httpx.
"""

from __future__ import annotations

import argparse
import sys
import time

import httpx

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
        "seed": 0,
    },
}


class SmokeError(RuntimeError):
    pass


def step(message: str) -> None:
    print(f"smoke: {message}", flush=True)


def expect(response: httpx.Response, status: int) -> dict:
    if response.status_code != status:
        raise SmokeError(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}, expected {status}: {response.text[:500]}"
        )
    return (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {}
    )


def run(base_url: str, api_key: str | None, timeout: float) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30.0) as client:
        health = expect(client.get("/health"), 200)
        step(f"health ok, version {health.get('version')}")

        dataset = expect(
            client.post(
                "/v1/datasets/generate", json={"kind": "notebook", "n_samples": 1000, "seed": 0}
            ),
            201,
        )
        step(
            f"generated dataset {dataset['id']}: {dataset['n_samples']} rows, "
            f"classes {dataset['classes']}"
        )

        job = expect(
            client.post("/v1/jobs", json={"dataset_id": dataset["id"], **NOTEBOOK_SETUP}), 202
        )
        step(
            f"submitted job {job['id']} (notebook setup: (2, 5, 3, 1), per-sample SGD, 200 epochs)"
        )

        deadline = time.monotonic() + timeout
        while True:
            job = expect(client.get(f"/v1/jobs/{job['id']}"), 200)
            if job["status"] in {"succeeded", "failed", "cancelled"}:
                break
            if time.monotonic() > deadline:
                raise SmokeError(f"job {job['id']} still {job['status']} after {timeout:.0f} s")
            time.sleep(0.5)
        if job["status"] != "succeeded":
            raise SmokeError(f"job ended {job['status']}: {job.get('error')}")
        progress = job.get("progress") or {}
        step(
            f"job succeeded: model {job['model_id']}, training accuracy {progress.get('accuracy')}"
        )

        data = expect(client.get(f"/v1/datasets/{dataset['id']}/data"), 200)
        pred = expect(
            client.post(f"/v1/models/{job['model_id']}/predict", json={"X": data["X"]}), 200
        )
        correct = sum(p == t for p, t in zip(pred["predictions"], data["y"], strict=True))
        accuracy = correct / len(data["y"])
        step(f"predicted {len(pred['predictions'])} rows, accuracy {accuracy:.4f}")
        if accuracy < 0.95:
            raise SmokeError(f"accuracy {accuracy:.4f} is below 0.95")

        png = client.get(
            f"/v1/models/{job['model_id']}/boundary", params={"format": "png", "resolution": 250}
        )
        expect(png, 200)
        if not png.content.startswith(b"\x89PNG\r\n\x1a\n"):
            raise SmokeError("boundary?format=png did not return a PNG")
        step(f"boundary PNG {len(png.content)} bytes")
    step("OK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for training")
    args = parser.parse_args()
    try:
        run(args.base_url.rstrip("/"), args.api_key, args.timeout)
    except (SmokeError, httpx.HTTPError, KeyError, ValueError) as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
