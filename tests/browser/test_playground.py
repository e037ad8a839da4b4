"""The playground in a real browser: train the notebook's network and watch the boundary form.

Desktop (1280 x 800) and phone (390 x 844). Screenshots go to ``test-artifacts/`` (git-ignored):
``playground-{desktop,phone}-{mid,final}.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

# "integration" too: like those tests it starts a real server (so `make unit` leaves it out).
pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TRAINING_TIMEOUT = 120.0  # the notebook setup takes a few seconds; CI machines can be slow

# conftest's ``open_page(viewport)`` -> (Playwright page at ``/``, its ``PageProblems``).
OpenPage = Callable[[dict[str, int]], tuple[Any, Any]]

CANVAS = "document.getElementById('boundary')"
STATUS = "document.body.dataset.jobStatus"


def wait_until(page: Any, expression: str, what: str, timeout: float = 60.0) -> Any:
    """Poll a JavaScript expression until it is truthy and return its value.

    (``page.wait_for_function`` evaluates strings with ``eval``, which the page's CSP forbids.)
    """
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(f"() => {expression}")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_for_data(page: Any) -> None:
    wait_until(page, "document.getElementById('dataset-info').textContent", "the dataset")


def start_notebook_training(page: Any) -> None:
    """Notebook dataset (the default) + the notebook setup preset, then Train."""
    wait_for_data(page)
    assert page.input_value("#dataset") == "gen:notebook"
    assert "1000 rows" in page.inner_text("#dataset-info")
    page.click("#preset-notebook")
    units = page.eval_on_selector_all("#layers input", "inputs => inputs.map(i => i.value)")
    assert units == ["5", "3"]
    assert page.input_value("#activation") == "relu"
    assert page.input_value("#optimizer") == "sgd"
    assert page.input_value("#learning-rate") == "0.001"
    assert page.input_value("#batch-size") == "1"
    assert page.input_value("#epochs") == "200"
    assert page.input_value("#init") == "notebook"
    assert not page.is_checked("#shuffle")
    assert not page.is_checked("#standardize")
    page.click("#train")


def live_frame(page: Any, previous: str | None) -> str:
    """Wait for a live (snapshot) boundary drawn while the job runs, different from ``previous``."""
    page.evaluate("(frame) => { window.previousFrame = frame; }", previous)
    expression = (
        f"{STATUS} === 'running' && {CANVAS}.dataset.boundarySource === 'snapshot' && "
        f"{CANVAS}.toDataURL() !== window.previousFrame && {CANVAS}.toDataURL()"
    )
    frame: str = wait_until(
        page, expression, "the live boundary to change while training", TRAINING_TIMEOUT
    )
    return frame


def mid_training_screenshot(page: Any, name: str) -> Path:
    """A screenshot once the live map shows epoch 40 or later (the boundary is taking shape)."""
    wait_until(
        page,
        f"{STATUS} !== 'running' || ({CANVAS}.dataset.boundarySource === 'snapshot' && "
        f"Number({CANVAS}.dataset.boundaryEpoch) >= 40)",
        "the live map to reach epoch 40",
        TRAINING_TIMEOUT,
    )
    return screenshot(page, name)


def wait_for_success(page: Any) -> None:
    status = wait_until(
        page,
        f"['succeeded', 'failed', 'cancelled'].includes({STATUS}) && {STATUS}",
        "the job to end",
        TRAINING_TIMEOUT,
    )
    assert status == "succeeded", page.inner_text("#error")
    wait_until(page, f"{CANVAS}.dataset.boundarySource === 'model'", "the final boundary")


def test_train_notebook_and_watch_the_boundary_form(open_page: OpenPage, server: Any) -> None:
    page, problems = open_page(DESKTOP)
    start_notebook_training(page)

    first = live_frame(page, None)
    second = live_frame(page, first)
    assert first != second  # the heat map moved while the network trained
    assert "Live" in page.inner_text("#map-source")
    mid_training_screenshot(page, "playground-desktop-mid.png")

    wait_for_success(page)
    accuracy = float(page.get_attribute("#final-accuracy", "data-value") or "nan")
    assert accuracy >= 0.99
    assert page.inner_text("#final-accuracy").endswith("%")
    job_id = page.evaluate("() => document.body.dataset.jobId")
    with httpx.Client(base_url=server.base_url) as api:
        job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        assert job["progress"]["accuracy"] == pytest.approx(accuracy)
        model_id = job["model_id"]

        # Click the upper blob (class 1 in the notebook set) and compare with the API's answer.
        box = page.locator("#boundary").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.22)
        wait_until(page, "document.getElementById('prediction').dataset.label", "a prediction")
        x = float(page.input_value("#predict-x"))
        y = float(page.input_value("#predict-y"))
        expected = api.post(f"/v1/models/{model_id}/predict", json={"X": [[x, y]]}).json()
    shown = page.inner_text("#prediction")
    label = str(expected["predictions"][0])
    assert f"class {label} with probability" in shown
    probability = float(page.get_attribute("#prediction", "data-probability") or "nan")
    index = expected["classes"].index(expected["predictions"][0])
    assert probability == pytest.approx(expected["probabilities"][0][index], abs=1e-3)

    # Keyboard: focus the map, move the cursor down, predict with Enter.
    page.focus("#boundary")
    for _ in range(5):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    wait_until(
        page,
        f"document.getElementById('prediction').textContent !== {shown!r}",
        "a prediction made with the keyboard",
    )
    assert float(page.input_value("#predict-y")) < y

    assert page.locator(f'.model[data-model-id="{model_id}"]').is_visible()
    assert page.is_enabled("#download-model") and page.is_enabled("#download-png")
    with page.expect_download() as download:
        page.click("#download-png")
    assert download.value.suggested_filename == f"{model_id}-boundary.png"
    assert Path(download.value.path()).read_bytes().startswith(b"\x89PNG")
    with page.expect_download() as download:
        page.click("#download-model")
    assert download.value.suggested_filename == f"{model_id}.npz"
    assert Path(download.value.path()).read_bytes().startswith(b"PK")  # an .npz is a zip
    screenshot(page, "playground-desktop-final.png")
    assert problems.errors == []


def test_phone_width_shows_every_control_and_trains(open_page: OpenPage) -> None:
    page, problems = open_page(PHONE)
    wait_for_data(page)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways at phone width"
    for selector in [
        "#train",
        "#cancel",
        "#api-key-summary",
        "#dataset",
        "#noise",
        "#preset-notebook",
        "#add-layer",
        "#layer-units-0",
        "#activation",
        "#learning-rate",
        "#epochs",
        "#boundary",
        "#predict-x",
        "#refresh-models",
    ]:
        control = page.locator(selector)
        control.scroll_into_view_if_needed()
        assert control.is_visible(), selector
        box = control.bounding_box()
        assert box is not None and box["width"] > 0, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector

    start_notebook_training(page)
    live_frame(page, None)
    mid_training_screenshot(page, "playground-phone-mid.png")
    wait_for_success(page)
    assert float(page.get_attribute("#final-accuracy", "data-value") or "nan") >= 0.99
    screenshot(page, "playground-phone-final.png", full_page=True)
    assert problems.errors == []


def test_api_errors_are_shown_next_to_the_field(open_page: OpenPage) -> None:
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.fill("#learning-rate", "0")  # allowed by the form, refused by the API (must be > 0)
    page.click("#train")
    wait_until(page, "!document.getElementById('error').hidden", "the error message")
    message = page.inner_text("#error")
    assert "learning_rate" in message and "greater than 0" in message
    assert page.get_attribute("#learning-rate", "aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == "learning-rate"
    assert page.is_enabled("#train")
    assert problems.errors == []


def test_cancel_stops_training(open_page: OpenPage) -> None:
    page, problems = open_page(DESKTOP)
    start_notebook_training(page)
    live_frame(page, None)
    page.click("#cancel")
    status = wait_until(
        page,
        f"['succeeded', 'failed', 'cancelled'].includes({STATUS}) && {STATUS}",
        "the job to end",
        TRAINING_TIMEOUT,
    )
    assert status == "cancelled"
    assert "Cancelled at epoch" in page.inner_text("#status")
    assert page.is_enabled("#train") and not page.is_enabled("#cancel")
    assert page.inner_text("#final-accuracy") == "–"
    assert problems.errors == []


def test_api_key_is_asked_for_and_sent(browser: Any, start_keyed_server: Any) -> None:
    keyed = start_keyed_server("k3y")
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(f"{keyed.base_url}/")
        wait_until(page, "!document.getElementById('error').hidden", "the 401 message")
        assert "API key" in page.inner_text("#error")
        assert page.evaluate("() => document.activeElement.id") == "api-key"
        page.fill("#api-key", "k3y")
        page.press("#api-key", "Tab")  # "change" fires: the page retries with the key
        wait_for_data(page)
        assert page.is_hidden("#error")
    finally:
        context.close()
