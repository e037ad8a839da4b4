"""Browser tests: the real service (uvicorn subprocess) and Debian's Chromium driven by Playwright.

The server is the integration tests' :class:`Server` (``python -m app serve`` on a free loopback
port with a temporary data directory), loaded from ``tests/integration/conftest.py`` so there is
one implementation of it. Chromium is ``/usr/bin/chromium`` (``apt-get install chromium``; never
``playwright install``). Without it, or without the ``playwright`` package, the tests skip with
the reason, except when ``CI`` is set: then they fail, so CI can never pass without running them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
from helpers.server import cancel_unfinished
from helpers.specs import LONG_JOB_ENV

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Limits that admit FOREVER jobs and sweeps of FOREVER trials (a job or sweep a test cancels
# must not be able to end before the cancel).
LONG_ENV = {**{k.upper(): v for k, v in LONG_JOB_ENV.items()}, "MLP_SWEEP_COMPUTE_BUDGET": "1e18"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the browser tests must run", pytrace=False)
    pytest.skip(reason)


def _integration_support() -> ModuleType:
    """``tests/integration/conftest.py`` as a plain module (for its ``Server`` class)."""
    path = REPO / "tests" / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_integration_server_support", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real service for the module's tests (snapshots every 5 epochs: the default); it
    admits endless jobs (:data:`LONG_ENV`)."""
    support = _integration_support()
    root = tmp_path_factory.mktemp("browser")
    logs = root / "logs"
    logs.mkdir()
    live = support.Server(root / "data", logs, {"MLP_LOG_JSON": "false", **LONG_ENV})
    live.start()
    yield live
    live.stop()


@pytest.fixture
def start_keyed_server(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """``start_keyed_server(key)`` -> a started service that requires ``Bearer <key>``."""
    support = _integration_support()
    servers: list[Any] = []

    def factory(key: str) -> Any:
        logs = tmp_path / "keyed-logs"
        logs.mkdir()
        live = support.Server(tmp_path / "keyed-data", logs, {"MLP_API_KEYS": key})
        servers.append(live)
        live.start()
        return live

    yield factory
    for live in servers:
        live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium (one per module)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageProblems:
    """Uncaught page errors and console errors (CSP violations among them) seen while a test ran.

    The browser's own "Failed to load resource" lines (an HTTP error status, which the page
    handles and shows) are kept apart in ``failed_loads``: tests that provoke one expect them.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.failed_loads: list[str] = []

    def on_page_error(self, error: Any) -> None:
        self.errors.append(f"uncaught: {error}")

    def on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource"):
            self.failed_loads.append(message.text)
        else:
            self.errors.append(f"console: {message.text}")


@pytest.fixture
def open_page(browser: Any, server: Any) -> Iterator[Callable[..., tuple[Any, PageProblems]]]:
    """``open_page(viewport)`` -> (page at ``/``, its problems); contexts close at teardown."""
    contexts: list[Any] = []

    def factory(viewport: dict[str, int]) -> tuple[Any, PageProblems]:
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        problems = PageProblems()
        page.on("pageerror", problems.on_page_error)
        page.on("console", problems.on_console)
        page.goto(f"{server.base_url}/")
        return page, problems

    yield factory
    for context in contexts:
        context.close()
    cancel_unfinished(server.base_url)  # an endless job a failed test left must not block
