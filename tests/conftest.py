"""Root conftest: its presence puts ``tests/`` on ``sys.path`` so every test directory can
``import helpers`` (shared servers, in-process apps and model-file builders), and it holds the
fixtures every directory shares."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``pytest.mark.anyio``) run on asyncio only."""
    return "asyncio"
