"""``python -m app.worker``: the former name of ``python -m app.rq_worker`` (kept working)."""

from __future__ import annotations

import sys

from app.rq_worker import BLAS_ENVIRONMENT, main

__all__ = ["BLAS_ENVIRONMENT", "main"]

if __name__ == "__main__":
    sys.exit(main())
