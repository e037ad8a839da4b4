"""The playground's sweep panel in a real browser against the real service (no mocks).

A 2 x 2 grid (learning rate x hidden layers) on the XOR data with a few epochs, without and with
2-fold cross-validation, at 1280 x 800 and 390 x 844: the leaderboard fills in from the sweep's
event stream while it runs, its order is the API's ``leaderboard``, a row (by pointer or by
keyboard) puts that trial's model on the map, a reloaded page follows a running sweep again,
and Cancel stops it. Screenshots go to ``test-artifacts/playground-sweep-*.png`` (git-ignored).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from helpers.specs import FOREVER
from test_playground import ARTIFACTS, DESKTOP, PHONE, OpenPage, painted, screenshot, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

# A tiny sweep takes seconds (up to 9 job processes to spawn); this only turns a hang into a
# failure on a loaded machine.
SWEEP_TIMEOUT = 180.0
CANVAS = "document.getElementById('boundary')"
SWEEP_STATUS = "document.body.dataset.sweepStatus"
TERMINAL = ["succeeded", "failed", "cancelled"]
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]

# Records the progress line each time it changes, so a test can see the board filling in.
RECORD_PROGRESS = """() => {
  window.sweepProgress = [];
  const line = document.getElementById('sweep-progress');
  new MutationObserver(() => window.sweepProgress.push(line.textContent))
    .observe(line, {childList: true, characterData: true, subtree: true});
}"""


def open_xor_page(open_page: OpenPage, viewport: dict[str, int], epochs: int) -> tuple[Any, Any]:
    """The page on the XOR data, `epochs` epochs, and the sweep panel open."""
    page, problems = open_page(viewport)
    wait_until(page, "document.getElementById('dataset-info').textContent", "the dataset")
    page.select_option("#dataset", "gen:xor")  # Start stores and plots it if not done yet
    page.fill("#epochs", str(epochs))
    page.click("#sweep-panel > summary")
    page.evaluate(RECORD_PROGRESS)
    return page, problems


def start_sweep(page: Any, *, cv: str = "", metric: str = "", parallel: int = 1) -> str:
    """Fill the 2 x 2 grid, press Start; -> the sweep's ID."""
    page.select_option("#sweep-param-0", "learning_rate")
    page.fill("#sweep-values-0", "0.05, 0.001")
    page.select_option("#sweep-param-1", "hidden_layers")
    page.fill("#sweep-values-1", "2, 8-8")
    page.fill("#sweep-values-2", "")
    page.select_option("#sweep-cv", cv)
    page.select_option("#sweep-metric", metric)
    page.fill("#sweep-parallel", str(parallel))
    page.click("#sweep-start")
    sweep_id: str = wait_until(page, "document.body.dataset.sweepId", "the sweep to start")
    return sweep_id


def wait_for_end(page: Any) -> str:
    status: str = wait_until(
        page, f"{TERMINAL}.includes({SWEEP_STATUS}) && {SWEEP_STATUS}", "the sweep", SWEEP_TIMEOUT
    )
    return status


def board(page: Any) -> list[dict[str, str]]:
    """The leaderboard's rows as shown, top to bottom."""
    rows: list[dict[str, str]] = page.eval_on_selector_all(
        "#sweep-rows tr",
        """rows => rows.map(r => ({trial: r.dataset.trial, rank: r.cells[0].textContent,
            score: r.cells[2].textContent, status: r.cells[3].textContent}))""",
    )
    return rows


def panel_screenshot(page: Any, name: str) -> None:
    """The map (as shown) and the sweep panel, in two pictures."""
    page.locator("#boundary").scroll_into_view_if_needed()
    screenshot(page, f"map-{name}")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".panel-sweep").screenshot(path=str(ARTIFACTS / name))


def sweep_doc(server: Any, sweep_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/v1/sweeps/{sweep_id}", timeout=10)
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc


def check_board_matches(page: Any, doc: dict[str, Any]) -> None:
    """Ranked rows first in the API's leaderboard order, ranks 1..n, scores best first."""
    rows = board(page)
    ranked = [int(r["trial"]) for r in rows if r["rank"] != "–"]
    assert ranked == doc["leaderboard"]
    assert [r["rank"] for r in rows[: len(ranked)]] == [str(i + 1) for i in range(len(ranked))]
    scores = [doc["trials"][i]["score"] for i in ranked]
    expected = sorted(scores, reverse=doc["greater_is_better"])
    assert scores == expected
    assert len(rows) == len(doc["trials"]) == 4


def filled_in_live(page: Any) -> None:
    """The progress line said "k of 4 trials ended" for some 0 < k < 4 before the end."""
    seen = page.evaluate("() => window.sweepProgress")
    partial = [line for line in seen if any(f"{k} of 4 trials ended" in line for k in (1, 2, 3))]
    assert partial, seen


def show_row(page: Any, trial: int, *, keyboard: bool) -> None:
    """Show `trial` by clicking its row, or by focusing its button and pressing Enter."""
    before = painted(page)
    row = page.locator(f'#sweep-rows tr[data-trial="{trial}"]')
    if keyboard:
        row.locator(".sweep-show").focus()
        page.keyboard.press("Enter")
    else:
        row.locator("td").nth(2).click()
    wait_until(
        page,
        f"{CANVAS}.dataset.sweepTrial === '{trial}' && {CANVAS}.dataset.boundarySource === 'model'",
        f"trial {trial} on the map",
    )
    after = painted(page)
    assert after != before, "the map did not change"
    classes = page.get_attribute(f'#sweep-rows tr[data-trial="{trial}"]', "class")
    assert classes == "sweep-row active"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_grid_sweep_fills_the_leaderboard_and_shows_each_trial(
    open_page: OpenPage, server: Any, viewport: dict[str, int]
) -> None:
    page, problems = open_xor_page(open_page, viewport, epochs=15)
    sweep_id = start_sweep(page)
    assert wait_for_end(page) == "succeeded", page.inner_text("#error")
    filled_in_live(page)
    doc = sweep_doc(server, sweep_id)
    assert doc["metric"] == "log_loss" and not doc["greater_is_better"]
    check_board_matches(page, doc)
    assert page.inner_text("#sweep-progress").startswith("4 of 4 trials ended")
    assert "log_loss (lower is better, on the validation split)" in page.inner_text(
        "#sweep-caption"
    )

    best, worst = doc["leaderboard"][0], doc["leaderboard"][-1]
    show_row(page, best, keyboard=False)
    assert page.get_attribute("#sweep-shown", "data-model-id") == doc["trials"][best]["model_id"]
    assert f"Trial {best + 1}'s model" in page.inner_text("#sweep-shown")
    page.locator("#sweep-panel").scroll_into_view_if_needed()
    show_row(page, worst, keyboard=True)
    assert page.get_attribute("#sweep-shown", "data-model-id") == doc["trials"][worst]["model_id"]
    panel_screenshot(page, f"playground-sweep-{viewport['width']}.png")
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_cross_validated_sweep_shows_folds_and_the_refit(
    open_page: OpenPage, server: Any, viewport: dict[str, int]
) -> None:
    page, problems = open_xor_page(open_page, viewport, epochs=10)
    sweep_id = start_sweep(page, cv="2", metric="accuracy", parallel=2)
    assert wait_for_end(page) == "succeeded", page.inner_text("#error")
    doc = sweep_doc(server, sweep_id)
    assert doc["metric"] == "accuracy" and doc["greater_is_better"]
    assert doc["best"]["model_id"]
    check_board_matches(page, doc)
    rows = board(page)
    assert all("±" in r["score"] for r in rows if r["rank"] != "–")
    assert rows[0]["status"] == "succeeded · refit"
    assert "mean of 2 folds" in page.inner_text("#sweep-caption")

    best, other = doc["leaderboard"][0], doc["leaderboard"][-1]
    show_row(page, best, keyboard=True)
    assert page.get_attribute("#sweep-shown", "data-model-id") == doc["best"]["model_id"]
    assert "refit of the best settings on all the data" in page.inner_text("#sweep-shown")

    page.locator("#sweep-panel").scroll_into_view_if_needed()
    show_row(page, other, keyboard=False)
    first_fold = doc["trials"][other]["job_ids"][0]
    job = httpx.get(f"{server.base_url}/v1/jobs/{first_fold}", timeout=10).json()
    assert page.get_attribute("#sweep-shown", "data-model-id") == job["model_id"]
    assert "fold 1 of 2" in page.inner_text("#sweep-shown")
    panel_screenshot(page, f"playground-sweep-cv-{viewport['width']}.png")
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []


def refused(page: Any) -> None:
    """Values the page cannot read stop it before any request; a 422 is shown, not thrown."""
    page.fill("#sweep-values-0", "0.05, fast")
    page.click("#sweep-start")
    message = page.eval_on_selector("#sweep-values-0", "input => input.validationMessage")
    assert "“fast” is not a number" in message
    page.fill("#sweep-values-0", "0.05")
    page.select_option("#sweep-metric", "r2")  # a regression metric: the API says no
    page.click("#sweep-start")
    wait_until(page, "!document.getElementById('error').hidden", "the refusal")
    assert "The sweep was not started" in page.inner_text("#error")
    assert "is not a classification metric" in page.inner_text("#error")
    assert "sweepId" not in page.evaluate("() => ({...document.body.dataset})")
    assert page.is_enabled("#sweep-start")
    page.click("#error-close")


def test_cancel_stops_a_running_random_sweep(open_page: OpenPage, server: Any) -> None:
    # Endless trials (the server admits them): a sweep that merely takes a while could end
    # before the cancel.
    page, problems = open_xor_page(open_page, DESKTOP, epochs=FOREVER["epochs"])
    refused(page)
    page.select_option("#sweep-strategy", "random")
    page.fill("#sweep-max-trials", "3")
    sweep_id = start_sweep(page)
    wait_until(
        page,
        "document.querySelector('#sweep-rows tr[data-status=\"running\"]')",
        "a trial running",
        SWEEP_TIMEOUT,
    )
    assert page.is_enabled("#sweep-cancel") and page.is_disabled("#sweep-start")
    # A reloaded page follows the sweep that is still running (and can still cancel it).
    page.reload()
    wait_until(page, f"document.body.dataset.sweepId === '{sweep_id}'", "the sweep followed again")
    assert page.get_attribute("#sweep-panel", "open") is not None
    assert "still running from before" in page.inner_text("#status")
    wait_until(
        page,
        "document.querySelector('#sweep-rows tr[data-status=\"running\"]')",
        "the running trial after the reload",
        SWEEP_TIMEOUT,
    )
    assert page.is_enabled("#sweep-cancel") and page.is_disabled("#sweep-start")
    page.click("#sweep-cancel")
    assert wait_for_end(page) == "cancelled"
    doc = sweep_doc(server, sweep_id)
    assert doc["status"] == "cancelled"
    assert doc["strategy"] == "random" and len(doc["trials"]) == 3
    for trial in doc["trials"]:
        assert trial["status"] in ("cancelled", "succeeded"), trial
        for job_id in trial["job_ids"]:
            job = httpx.get(f"{server.base_url}/v1/jobs/{job_id}", timeout=10).json()
            assert job["status"] in TERMINAL, job
    assert [int(r["trial"]) for r in board(page) if r["rank"] != "–"] == doc["leaderboard"]
    assert page.is_enabled("#sweep-start") and page.is_disabled("#sweep-cancel")
    assert "Sweep cancelled" in page.inner_text("#status")
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []
