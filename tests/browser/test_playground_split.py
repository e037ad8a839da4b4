"""The "Show test data" switch, as TensorFlow Playground's, in a real browser against the real
service: after training with the test slider at 20 %, the rows the model held out are drawn
hollow on the map (the map says how many in ``data-test-points``), the box hides and shows them.
Desktop (1280 x 800) and phone (390 x 844). Screenshots go to
``test-artifacts/playground-split-*.png``."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from test_playground import (
    DESKTOP,
    PHONE,
    OpenPage,
    screenshot,
    wait_for_data,
    wait_for_success,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CANVAS = "document.getElementById('boundary')"
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


def hollow_points(page: Any) -> int:
    return int(page.evaluate(f"() => Number({CANVAS}.dataset.testPoints ?? -1)"))


def wait_for_test_points(page: Any, count: int, what: str) -> None:
    wait_until(page, f"Number({CANVAS}.dataset.testPoints) === {count}", what)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_held_out_rows_are_drawn_hollow_and_can_be_hidden(
    open_page: OpenPage, server: Any, viewport: dict[str, int]
) -> None:
    page, problems = open_page(viewport)
    wait_for_data(page)
    page.select_option("#dataset", "gen:gaussians")
    wait_until(page, "document.getElementById('dataset-info').textContent.includes('300 rows')", "")
    assert page.is_disabled("#show-test")  # nothing held out yet
    assert hollow_points(page) == 0
    page.click("#preset-fast")
    page.fill("#test-fraction", "0.2")
    page.fill("#epochs", "30")
    with page.expect_request("**/v1/jobs") as sent:
        page.click("#train")
    assert json.loads(sent.value.post_data or "{}")["training"]["test_fraction"] == 0.2
    wait_for_success(page)
    job_id = page.evaluate("() => document.body.dataset.jobId")
    with httpx.Client(base_url=server.base_url) as api:
        job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        split = api.get(f"/v1/models/{job['model_id']}/split").raise_for_status().json()
    held = len(split["test"])
    assert held == 60 and split["n_rows"] == 300  # a fifth of each class

    wait_until(page, "!document.getElementById('show-test').disabled", "the switch enabled")
    assert page.is_checked("#show-test")
    wait_for_test_points(page, held, "the test rows drawn hollow")
    page.locator("#boundary").scroll_into_view_if_needed()
    screenshot(page, f"playground-split-{viewport['width']}.png")
    page.locator("#show-test").scroll_into_view_if_needed()
    page.uncheck("#show-test")
    wait_for_test_points(page, 0, "the test rows hidden")
    page.check("#show-test")
    wait_for_test_points(page, held, "the test rows shown again")

    # Another dataset takes the model, and its marks, away.
    page.select_option("#dataset", "gen:xor")
    wait_until(page, "document.getElementById('show-test').disabled", "the switch disabled")
    wait_for_test_points(page, 0, "no test rows on another dataset")
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []
