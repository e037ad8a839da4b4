"""The ceiling of bench/http.py: a bare FastAPI app whose one endpoint returns a constant JSON body.

    python bench/_bare_app.py --port PORT

It runs under exactly the service's uvicorn options (``app.cli.uvicorn_options``: uvloop,
httptools, no uvicorn access log), so the difference between the two is the service's own work:
middleware, routing, dependencies, parsing, the model and the response.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Started as a script, this file's folder is sys.path[0], and bench/http.py there would shadow
# the standard library's ``http`` package (which uvicorn imports): drop the folder first.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
from typing import Any

from fastapi import FastAPI

# The shape of a one-row binary predict response.
BODY: dict[str, Any] = {"predictions": [1], "probabilities": [[0.25, 0.75]], "classes": [0, 1]}

app = FastAPI()


@app.post("/predict")
async def constant() -> dict[str, Any]:
    """A constant JSON body (the request body, if any, is not read)."""
    return BODY


def main() -> None:
    import uvicorn

    from app.cli import uvicorn_options
    from app.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(_env_file=None, host="127.0.0.1", port=args.port, workers=1)  # type: ignore[call-arg]
    options = uvicorn_options(settings)
    uvicorn.run(app, **options)


if __name__ == "__main__":
    main()
