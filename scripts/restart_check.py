#!/usr/bin/env python3
"""Check that a deployment keeps models and jobs across a restart (`compose down` + `up`).

    python scripts/restart_check.py before [BASE_URL]   # train a model, start a long job
    # ... docker compose down && docker compose up -d  (same volume) ...
    python scripts/restart_check.py after [BASE_URL]    # same model, same predictions; job done

`before` records what it made in ./restart-check.json; `after` reads it. Standard library only.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from smoke import NOTEBOOK_SETUP, TERMINAL, Client, SmokeError, step

STATE = Path("restart-check.json")
PROBE = [[0.0, 0.0], [0.0, 3.5], [0.0, -3.5], [3.0, 0.2], [-1.0, 2.0]]


def wait(client: Client, job_id: str, timeout: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.json("GET", f"/v1/jobs/{job_id}")
        if job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise SmokeError(f"job {job_id} still {job['status']} after {timeout:.0f} s")
        time.sleep(0.5)


def before(client: Client) -> None:
    ds = client.json("POST", "/v1/datasets/generate", body={"kind": "notebook"}, expect=201)
    job = client.json(
        "POST", "/v1/jobs", body={"dataset_id": ds["id"], **NOTEBOOK_SETUP}, expect=202
    )
    job = wait(client, job["id"])
    if job["status"] != "succeeded":
        raise SmokeError(f"training job ended {job['status']}")
    pred = client.json("POST", f"/v1/models/{job['model_id']}/predict", body={"X": PROBE})
    step(f"model {job['model_id']} trained; predictions {pred['predictions']}")
    long_setup = {**NOTEBOOK_SETUP, "training": {**NOTEBOOK_SETUP["training"], "epochs": 2000}}
    long_job = client.json(
        "POST", "/v1/jobs", body={"dataset_id": ds["id"], **long_setup}, expect=202
    )
    for _ in range(120):
        if client.json("GET", f"/v1/jobs/{long_job['id']}")["status"] == "running":
            break
        time.sleep(0.25)
    else:
        raise SmokeError("the long job never started")
    step(f"long job {long_job['id']} is running; stop the stack now")
    STATE.write_text(
        json.dumps({"model_id": job["model_id"], "pred": pred, "job_id": long_job["id"]})
    )


def after(client: Client) -> None:
    state = json.loads(STATE.read_text())
    models = client.json("GET", "/v1/models")
    ids = [m["id"] for m in models["data"]]
    if state["model_id"] not in ids:
        raise SmokeError(f"model {state['model_id']} is not listed after the restart: {ids}")
    pred = client.json("POST", f"/v1/models/{state['model_id']}/predict", body={"X": PROBE})
    if pred != state["pred"]:
        raise SmokeError(f"predictions changed across the restart: {pred} != {state['pred']}")
    step(f"model {state['model_id']} still listed, identical predictions")
    job = client.json("GET", f"/v1/jobs/{state['job_id']}")
    step(f"long job {state['job_id']} after restart: {job['status']} (attempts are internal)")
    job = wait(client, state["job_id"], timeout=900)
    if job["status"] != "succeeded":
        raise SmokeError(f"the interrupted job ended {job['status']}: {job.get('error')}")
    step(f"interrupted job finished: {job['status']}, model {job['model_id']}")
    step("OK")


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"before", "after"}:
        print(__doc__, file=sys.stderr)
        return 2
    client = Client(sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000", None)
    try:
        (before if sys.argv[1] == "before" else after)(client)
    except (SmokeError, OSError, KeyError, ValueError) as exc:
        print(f"restart-check: FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
