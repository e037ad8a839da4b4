"""The playground in a real browser: train the notebook's network and watch the boundary form.

Desktop (1280 x 800) and phone (390 x 844). Screenshots go to ``test-artifacts/`` (git-ignored):
``playground-{desktop,phone}-{mid,final}.png``.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.specs import FOREVER

from app.palette import CLASS_COLOURS, heat_tint

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


def painted(page: Any, canvas: str = CANVAS) -> str:
    """The pixels of ``canvas`` (a JavaScript expression) once every redraw already asked for
    has run. A canvas redraws on the next animation frame (``app/static/canvas.js``), so the data
    attributes of a new grid can be seen before its pixels; a frame callback queued now runs
    after the pending redraw, in the same frame."""
    frame: str = page.evaluate(
        f"() => new Promise((done) => requestAnimationFrame(() => done({canvas}.toDataURL())))"
    )
    return frame


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_for_data(page: Any) -> None:
    wait_until(page, "document.getElementById('dataset-info').textContent", "the dataset")


def start_notebook_training(page: Any, epochs: int | None = None) -> None:
    """Notebook dataset (the default) + the notebook setup preset (with ``epochs`` instead of
    its 200 if given), then Train."""
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
    if epochs is not None:
        page.fill("#epochs", str(epochs))
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
    # Written once the model's figures are shown (training-panel.js finishSucceeded): the
    # evaluation may arrive after the final map.
    done = "document.getElementById('status').textContent.startsWith('Done after')"
    wait_until(page, done, "the model's figures")


def wait_listed(page: Any, model_id: str) -> None:
    """Wait for ``model_id`` in My runs (the list is refreshed apart from the map)."""
    selector = f'.model[data-model-id="{model_id}"]'
    wait_until(page, f"document.querySelector({selector!r}) !== null", f"{model_id} listed")


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

    wait_listed(page, model_id)
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
    # Endless: the preset's 200 epochs take seconds and could end before the cancel.
    start_notebook_training(page, epochs=FOREVER["epochs"])
    live_frame(page, None)
    page.click("#cancel")  # asks first: keep what was learnt, or discard it
    assert page.evaluate("() => document.activeElement.id") == "cancel-keep"
    page.click("#cancel-discard")
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


# ------------------------------------------------------------------------------- details


def css_rgb(colour: str) -> tuple[int, ...]:
    """(r, g, b) of ``#rrggbb``."""
    return tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))


def rgb_values(text: str) -> list[tuple[int, ...]]:
    """Every ``rgb(r, g, b)`` in a computed CSS value, in order."""
    found = re.findall(r"rgb\((\d+), (\d+), (\d+)\)", text)
    return [tuple(int(v) for v in match) for match in found]


def test_the_map_draws_with_the_service_palette(open_page: OpenPage) -> None:
    """The legend (drawn by the same code as the map) shows app/palette.py's colours."""
    page, problems = open_page(DESKTOP)
    wait_for_data(page)  # the notebook set: classes 0 and 1
    swatches = page.eval_on_selector_all(
        "#legend .swatch", "marks => marks.map(m => getComputedStyle(m).backgroundColor)"
    )
    assert [rgb_values(s)[0] for s in swatches] == [css_rgb(c) for c in CLASS_COLOURS[:2]]
    ramp = rgb_values(
        page.eval_on_selector("#legend .ramp", "r => getComputedStyle(r).backgroundImage")
    )
    expected = [
        tuple(255 * c for c in heat_tint(0)),
        (255, 255, 255),
        tuple(255 * c for c in heat_tint(1)),
    ]
    assert len(ramp) == 3
    for shown, wanted in zip(ramp, expected, strict=True):
        assert shown == pytest.approx(wanted, abs=1)
    assert problems.errors == []


def listener_count(page: Any, expression: str) -> int:
    """How many event listeners the object ``expression`` evaluates to has (via DevTools)."""
    cdp = page.context.new_cdp_session(page)
    try:
        target = cdp.send("Runtime.evaluate", {"expression": expression})
        found = cdp.send(
            "DOMDebugger.getEventListeners", {"objectId": target["result"]["objectId"]}
        )
        return len(found["listeners"])
    finally:
        cdp.detach()


def test_sleep_leaves_no_abort_listener_behind(open_page: OpenPage) -> None:
    """The live-boundary loop sleeps on the job's signal many times: no listener may pile up."""
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.evaluate(
        """async () => {
            const { sleep } = await import("/static/util.js");
            window.testSleep = sleep;
            window.testController = new AbortController();
            const signal = window.testController.signal;
            await Promise.all(Array.from({ length: 20 }, () => sleep(1, signal)));
            window.testLongSleep = sleep(600000, signal).then(() => "woke");
        }"""
    )
    assert listener_count(page, "window.testController.signal") == 1  # the sleep still running
    woke = page.evaluate(
        """async () => {
            window.testController.abort();
            const timeout = window.testSleep(20000).then(() => "still asleep after 20 s");
            return Promise.race([window.testLongSleep, timeout]);
        }"""
    )
    assert woke == "woke"  # aborting ends a sleep at once
    assert listener_count(page, "window.testController.signal") == 0
    assert problems.errors == []


def train_quick_model(api: httpx.Client) -> dict[str, Any]:
    """A small XOR model made through the API; returns the finished job."""
    dataset = api.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 200})
    body = {
        "dataset_id": dataset.raise_for_status().json()["id"],
        "name": "xor for the predict test",
        "architecture": {"hidden_layers": [4], "activation": "tanh"},
        "training": {"epochs": 3, "batch_size": 16, "seed": 0},
    }
    job = api.post("/v1/jobs", json=body).raise_for_status().json()
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the quick job did not end"
        time.sleep(0.1)
        job = api.get(f"/v1/jobs/{job['id']}").raise_for_status().json()
    assert job["status"] == "succeeded", job
    return job


def predict_with_the_form(page: Any, x: float, y: float) -> None:
    page.fill("#predict-x", str(x))
    page.fill("#predict-y", str(y))
    page.click("#predict-button")


def pump_until(page: Any, condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for a Python-side condition fed by Playwright's events (delivered while it waits)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        page.wait_for_timeout(20)


def prediction_starts(text: str) -> str:
    return f"document.getElementById('prediction').textContent.startsWith({text!r})"


def test_a_late_answer_never_replaces_a_newer_prediction(open_page: OpenPage, server: Any) -> None:
    """Ask at A, then at B; A's answer, held back until B's is shown, must never be shown."""
    from playwright.sync_api import Error as PlaywrightError

    with httpx.Client(base_url=server.base_url) as api:
        model_id = train_quick_model(api)["model_id"]
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.check("#show-all")  # made through the API, not by this browser
    page.click(f'.model[data-model-id="{model_id}"] button[aria-label^="Show on the map"]')
    wait_until(page, "document.getElementById('status').textContent.startsWith('Showing')", "it")
    page.evaluate(
        """() => {
            const output = document.getElementById("prediction");
            window.predictionLog = [];
            new MutationObserver(() => window.predictionLog.push(output.textContent))
                .observe(output, { childList: true, characterData: true, subtree: true });
        }"""
    )
    held: list[Any] = []  # the first prediction request, answered only after the second
    ended: list[Any] = []
    page.route(
        "**/v1/models/*/predict",
        lambda route: held.append(route) if not held else route.continue_(),
    )
    page.on("requestfinished", lambda request: ended.append(request))
    page.on("requestfailed", lambda request: ended.append(request))

    predict_with_the_form(page, -0.5, -0.5)
    pump_until(page, lambda: bool(held), "the first request to be held")
    predict_with_the_form(page, 0.5, 0.5)
    wait_until(page, prediction_starts("(0.5, 0.5)"), "the second answer")
    first = held[0]
    with contextlib.suppress(PlaywrightError):  # raised when the page has abandoned it already
        first.continue_()  # the late answer arrives now, if the page still waits for it
    pump_until(page, lambda: first.request in ended, "the first request to end")
    predict_with_the_form(page, 1, 1)  # answered after the first one has been dealt with
    wait_until(page, prediction_starts("(1, 1)"), "the third answer")
    log = page.evaluate("() => window.predictionLog")
    assert [text for text in log if text.startswith("(0.5, 0.5)")], log
    assert not [text for text in log if text.startswith("(-0.5, -0.5)")], log
    assert problems.errors == []


def test_a_generated_dataset_is_known_by_its_id_not_its_name(
    open_page: OpenPage, server: Any
) -> None:
    """A stored dataset that happens to bear the generated one's name is not taken for it."""
    name = "notebook · 1000 points · noise 1 · seed 0"  # the page's name for its default dataset
    impostor = {"name": name, "X": [[0, 0], [1, 1], [0, 1], [1, 0]], "y": [0, 1, 0, 1]}
    with httpx.Client(base_url=server.base_url) as api:
        api.post("/v1/datasets", json=impostor).raise_for_status()
        page, problems = open_page(DESKTOP)
        wait_for_data(page)
        assert page.inner_text("#dataset-info").startswith("1000 rows")
        stored = len(api.get("/v1/datasets").raise_for_status().json()["data"])
        page.reload()  # the page remembers which dataset it generated: no second one
        wait_for_data(page)
        assert page.inner_text("#dataset-info").startswith("1000 rows")
        assert len(api.get("/v1/datasets").raise_for_status().json()["data"]) == stored
    assert problems.errors == []
