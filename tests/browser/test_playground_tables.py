"""The playground with real tables and honest metrics, in a real browser against the real service.

A CSV with a text column and empty cells is uploaded, trained on and asked about (its column
names on the map's axes and in the prediction form); the test-data slider holds rows out, the job
records the share, and the page shows the test figures and a confusion matrix. Desktop (1280 x
800) and phone (390 x 844). Screenshots go to ``test-artifacts/playground-tables-*.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from test_playground import (
    DESKTOP,
    PHONE,
    OpenPage,
    predict_with_the_form,
    screenshot,
    wait_for_data,
    wait_for_success,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CANVAS = "document.getElementById('boundary')"
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


def penguin_csv(path: Path, n: int = 150) -> Path:
    """A small penguin-like table: an id to ignore, a text column, gaps, a text label."""
    rng = np.random.default_rng(7)
    species = ["Adelie", "Gentoo", "Chinstrap"]
    islands = ["Biscoe", "Dream", "Torgersen"]
    lines = ["id,island,bill_mm,flipper_mm,mass_g,species"]
    for i in range(n):
        k = i % 3
        bill = 38 + 6 * k + rng.normal(0, 1.5)
        flipper = 190 + 12 * (k == 1) + 4 * k + rng.normal(0, 3)
        mass = "" if i % 11 == 0 else f"{3500 + 600 * (k == 1) + rng.normal(0, 200):.0f}"
        bill_cell = "NA" if i % 17 == 5 else f"{bill:.1f}"
        island = "" if i % 13 == 4 else islands[(k + (i % 5 == 0)) % 3]
        lines.append(f"{i},{island},{bill_cell},{flipper:.1f},{mass},{species[k]}")
    lines.append(f"{n},Dream,40.0,190.0,3600,")  # no label: left out, and said so
    path.write_text("\n".join(lines) + "\n")
    return path


def no_sideways_scroll(page: Any, viewport: dict[str, int]) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"], "the page scrolls sideways"


def upload(page: Any, csv: Path, *, label: str, ignore: str) -> None:
    page.click("#upload > summary")
    page.set_input_files("#csv-file", str(csv))
    page.fill("#csv-label", label)
    page.fill("#csv-ignore", ignore)
    page.click("#csv-upload")
    wait_until(
        page,
        "document.getElementById('status').textContent.startsWith('Uploaded')",
        "the upload",
    )
    wait_until(
        page,
        f"document.getElementById('dataset-info').textContent.includes('label {label}')",
        "the uploaded dataset on the map",
    )


def train_quickly(page: Any, epochs: int = 40) -> dict[str, Any]:
    """Train with the Fast preset (20 % test data); returns the job request the page sent."""
    page.click("#preset-fast")
    page.fill("#epochs", str(epochs))
    with page.expect_request("**/v1/jobs") as sent:
        page.click("#train")
    wait_for_success(page)
    body: dict[str, Any] = json.loads(sent.value.post_data or "{}")
    return body


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_csv_with_text_and_gaps_trains_and_names_the_axes(
    open_page: OpenPage, server: Any, tmp_path: Path, viewport: dict[str, int]
) -> None:
    page, problems = open_page(viewport)
    wait_for_data(page)
    upload(page, penguin_csv(tmp_path / "penguins.csv"), label="species", ignore="id")
    info = page.inner_text("#dataset-info")
    assert "150 rows" in info and "1 row without a label left out" in info
    assert "4 features (1 categorical)" in info and "label species" in info
    # The map's axes are the first two numeric columns, named on the canvas and in the form.
    assert page.evaluate(f"() => [{CANVAS}.dataset.axisX, {CANVAS}.dataset.axisY]") == [
        "bill_mm",
        "flipper_mm",
    ]
    assert "horizontal: bill_mm, vertical: flipper_mm" in page.get_attribute(
        "#boundary", "aria-label"
    )
    assert page.inner_text("#predict-x-label") == "bill_mm"
    assert page.inner_text("#predict-y-label") == "flipper_mm"
    held = page.eval_on_selector_all(
        "#predict-held-fields label", "labels => labels.map(l => l.textContent)"
    )
    assert held == ["island", "mass_g"]
    islands = page.eval_on_selector_all("#predict-held-0 option", "os => os.map(o => o.value)")
    assert islands == ["", "Biscoe", "Dream", "Torgersen"]
    no_sideways_scroll(page, viewport)

    assert train_quickly(page)["training"]["test_fraction"] == 0.2
    assert page.get_attribute("#confusion", "data-split") == "test"
    dataset_id = page.evaluate("() => document.getElementById('dataset').value").split(":")[1]
    job_id = page.evaluate("() => document.body.dataset.jobId")

    # Ask about a point with the form: a category chosen, the mass left missing.
    page.fill("#predict-x", "50")
    page.fill("#predict-y", "215")
    draws = page.evaluate(f"() => Number({CANVAS}.dataset.boundaryDraws)")
    page.select_option("#predict-held-0", "Biscoe")  # the map is redrawn at the new value
    wait_until(
        page,
        f"Number({CANVAS}.dataset.boundaryDraws) > {draws} && "
        f"{CANVAS}.dataset.boundarySource === 'model'",
        "the boundary redrawn for Biscoe",
    )
    with page.expect_request("**/v1/models/*/predict") as sent:
        page.click("#predict-button")
    wait_until(page, "document.getElementById('prediction').dataset.label", "a prediction")
    instance = {"island": "Biscoe", "bill_mm": 50, "flipper_mm": 215, "mass_g": None}
    assert json.loads(sent.value.post_data or "{}") == {"instances": [instance]}
    with httpx.Client(base_url=server.base_url) as api:
        job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        assert job["dataset_id"] == dataset_id
        answer = api.post(f"/v1/models/{job['model_id']}/predict", json={"instances": [instance]})
        expected = answer.raise_for_status().json()
    label = str(expected["predictions"][0])
    assert page.get_attribute("#prediction", "data-label") == label
    assert f"class {label} with probability" in page.inner_text("#prediction")
    no_sideways_scroll(page, viewport)
    screenshot(page, f"playground-tables-csv-{viewport['width']}.png", full_page=True)
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []


def confusion_counts(page: Any) -> list[list[int]]:
    return page.eval_on_selector_all(
        "#confusion-table tbody tr",
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => Number(c.textContent)))",
    )


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_test_data_slider_holds_rows_out_and_shows_test_figures(
    open_page: OpenPage, server: Any, viewport: dict[str, int]
) -> None:
    page, problems = open_page(viewport)
    wait_for_data(page)
    page.select_option("#dataset", "gen:gaussians")
    wait_until(page, "document.getElementById('dataset-info').textContent.includes('300 rows')", "")
    page.click("#preset-notebook")  # the notebook's exact setup holds nothing out
    assert page.inner_text("#test-fraction-value") == "none"
    page.click("#preset-fast")  # the page's default: a fifth of the rows for testing
    assert page.inner_text("#test-fraction-value") == "80 : 20"
    page.fill("#test-fraction", "0.3")
    assert page.inner_text("#test-fraction-value") == "70 : 30"
    page.fill("#epochs", "40")
    with page.expect_request("**/v1/jobs") as sent:
        page.click("#train")
    assert json.loads(sent.value.post_data or "{}")["training"]["test_fraction"] == 0.3
    wait_for_success(page)
    job_id = page.evaluate("() => document.body.dataset.jobId")
    with httpx.Client(base_url=server.base_url) as api:
        job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        model = api.get(f"/v1/models/{job['model_id']}").raise_for_status().json()
        data = api.get(f"/v1/datasets/{job['dataset_id']}/data").raise_for_status().json()
    assert job["training"]["test_fraction"] == 0.3
    test = model["evaluation"]["test"]

    # The test figures sit beside the training ones and are the model's own.
    assert page.is_visible("#metric-test-loss") and page.is_visible("#metric-test-accuracy")
    shown_loss = float(page.get_attribute("#metric-test-loss", "data-value") or "nan")
    shown_accuracy = float(page.get_attribute("#metric-test-accuracy", "data-value") or "nan")
    assert shown_loss == pytest.approx(test["log_loss"])
    assert shown_accuracy == pytest.approx(test["accuracy"])
    assert page.inner_text("#metric-test-accuracy").endswith("%")

    # The confusion matrix of the test rows, as a table with row and column headers.
    page.locator("#confusion").scroll_into_view_if_needed()
    assert page.is_visible("#confusion-table")
    assert page.get_attribute("#confusion", "data-split") == "test"
    labels = [str(label) for label in test["confusion_matrix"]["labels"]]
    headers = page.eval_on_selector_all(
        "#confusion-table thead th[scope=col]", "cells => cells.map(c => c.textContent)"
    )
    assert headers == labels
    rows = page.eval_on_selector_all(
        "#confusion-table tbody th[scope=row]", "cells => cells.map(c => c.textContent)"
    )
    assert rows == labels
    assert confusion_counts(page) == test["confusion_matrix"]["matrix"]
    # Stratified: each class gives round(30 % of its rows) to the test split.
    held = [round(0.3 * data["y"].count(label)) for label in test["confusion_matrix"]["labels"]]
    assert [sum(row) for row in test["confusion_matrix"]["matrix"]] == held
    n_test = sum(held)
    assert f"test rows ({n_test} rows)" in page.inner_text("#confusion-caption")
    no_sideways_scroll(page, viewport)
    screenshot(page, f"playground-tables-test-split-{viewport['width']}.png", full_page=True)

    # A stored model shown from the models panel brings its own evaluation back.
    page.select_option("#dataset", "gen:notebook")
    wait_until(page, "document.getElementById('confusion').hidden", "the matrix to go")
    page.click("#refresh-models")
    show = f'.model[data-model-id="{model["id"]}"] button[aria-label^="Show on the map"]'
    page.click(show)
    wait_until(page, "!document.getElementById('confusion').hidden", "the stored model's matrix")
    assert confusion_counts(page) == test["confusion_matrix"]["matrix"]
    assert page.is_visible("#metric-test-accuracy")
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []


def test_a_table_with_one_numeric_column_trains_and_predicts_without_a_map(
    open_page: OpenPage, server: Any, tmp_path: Path
) -> None:
    csv = tmp_path / "colours.csv"
    rows = [
        f"{'red' if i % 2 else 'blue'},{i % 7 + (i % 2) * 5},{'a' if i % 2 else 'b'}"
        for i in range(60)
    ]
    csv.write_text("colour,size,label\n" + "\n".join(rows) + "\n")
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    upload(page, csv, label="label", ignore="")
    assert page.is_hidden("#predict-x") and page.is_hidden("#predict-y")
    held = page.eval_on_selector_all(
        "#predict-held-fields label", "labels => labels.map(l => l.textContent)"
    )
    assert held == ["colour", "size"]
    train_quickly(page, epochs=20)
    page.select_option("#predict-held-0", "red")
    page.fill("#predict-held-1", "8")
    with page.expect_request("**/v1/models/*/predict") as sent:
        page.click("#predict-button")
    wait_until(page, "document.getElementById('prediction').dataset.label", "a prediction")
    instance = {"colour": "red", "size": 8}
    assert json.loads(sent.value.post_data or "{}") == {"instances": [instance]}
    assert page.inner_text("#prediction").startswith("These values → class ")
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []


def train_table_model(api: httpx.Client, csv: Path) -> dict[str, Any]:
    """A small model on the penguin table, made through the API; returns the model document."""
    upload = api.post(
        "/v1/datasets?label=species&ignore=id",
        content=csv.read_bytes(),
        headers={"Content-Type": "text/csv"},
    )
    body = {
        "dataset_id": upload.raise_for_status().json()["id"],
        "architecture": {"hidden_layers": [4], "activation": "tanh"},
        "training": {"epochs": 5, "batch_size": 16, "seed": 0, "test_fraction": 0.2},
    }
    job = api.post("/v1/jobs", json=body).raise_for_status().json()
    deadline = time.monotonic() + 120
    while job["status"] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.1)
        job = api.get(f"/v1/jobs/{job['id']}").raise_for_status().json()
    assert job["status"] == "succeeded", job
    return dict(api.get(f"/v1/models/{job['model_id']}").raise_for_status().json())


def test_a_table_model_without_its_dataset_names_its_columns(
    open_page: OpenPage, server: Any, tmp_path: Path
) -> None:
    with httpx.Client(base_url=server.base_url) as api:
        model = train_table_model(api, penguin_csv(tmp_path / "penguins.csv"))
        api.delete(f"/v1/datasets/{model['dataset_id']}").raise_for_status()
        page, problems = open_page(DESKTOP)
        wait_for_data(page)
        page.check("#show-all")  # made through the API, not by this browser
        page.click(f'.model[data-model-id="{model["id"]}"] button[aria-label^="Show on the map"]')
        wait_until(page, "document.getElementById('status').textContent.startsWith('Showing')", "")
        axes = page.evaluate(f"() => [{CANVAS}.dataset.axisX, {CANVAS}.dataset.axisY]")
        assert axes == ["bill_mm", "flipper_mm"]  # the server's default: the first two numeric
        assert page.inner_text("#predict-x-label") == "bill_mm"
        # The other columns sit where the server held them for the map.
        grid = api.get(f"/v1/models/{model['id']}/boundary?resolution=5").json()
        island = page.input_value("#predict-held-0")
        assert island == grid["fixed_columns"]["island"]
        with page.expect_request("**/v1/models/*/predict") as sent:
            predict_with_the_form(page, 45, 200)
        wait_until(page, "document.getElementById('prediction').dataset.label", "a prediction")
        instance = json.loads(sent.value.post_data or "{}")["instances"][0]
        assert instance["bill_mm"] == 45 and instance["flipper_mm"] == 200
        assert instance["island"] == island
        assert page.get_attribute("#confusion", "data-split") == "test"
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []


def test_a_regression_table_shows_its_test_error(
    open_page: OpenPage, server: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    csv = tmp_path / "houses.csv"
    lines = ["area,rooms,district,price"]
    for i in range(120):
        area, rooms = rng.uniform(40, 160), int(rng.integers(1, 6))
        district = ["north", "south", ""][i % 3]  # every third district missing
        price = 2.5 * area + 10 * rooms + (30 if district == "north" else 0) + rng.normal(0, 5)
        lines.append(f"{area:.1f},{rooms},{district},{price:.1f}")
    csv.write_text("\n".join(lines) + "\n")
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    upload(page, csv, label="price", ignore="")
    assert "regression" in page.inner_text("#dataset-info")
    assert train_quickly(page, epochs=30)["training"]["test_fraction"] == 0.2
    job_id = page.evaluate("() => document.body.dataset.jobId")
    with httpx.Client(base_url=server.base_url) as api:
        model_id = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()["model_id"]
        test = api.get(f"/v1/models/{model_id}").json()["evaluation"]["test"]
    assert page.inner_text("#metric-test-loss-name") == "Test MSE"
    shown = float(page.get_attribute("#metric-test-loss", "data-value") or "nan")
    assert shown == pytest.approx(test["mse"])
    assert page.inner_text("#metric-test-accuracy-name") == "Test R²"
    assert page.is_hidden("#confusion")  # no classes, no confusion matrix
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []


def test_a_wide_x_y_dataset_holds_its_other_features_by_position(
    open_page: OpenPage, server: Any
) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(90, 3)).round(3)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    with httpx.Client(base_url=server.base_url) as api:
        body = {"name": "three features", "X": X.tolist(), "y": y.tolist()}
        api.post("/v1/datasets", json=body).raise_for_status()
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.check("#show-all")  # stored through the API, not by this browser
    page.select_option("#dataset", label="three features (90 × 3)")
    wait_until(page, "document.getElementById('dataset-info').textContent.includes('90 rows')", "")
    assert page.inner_text("#predict-x-label") == "x0"
    assert page.eval_on_selector_all(
        "#predict-held-fields label", "labels => labels.map(l => l.textContent)"
    ) == ["x2"]
    train_quickly(page, epochs=10)
    page.fill("#predict-held-2", "0.25")
    page.dispatch_event("#predict-held-2", "change")
    with page.expect_request("**/v1/models/*/predict") as sent:
        predict_with_the_form(page, 0.5, -0.5)
    wait_until(page, "document.getElementById('prediction').dataset.label", "a prediction")
    assert json.loads(sent.value.post_data or "{}") == {"X": [[0.5, -0.5, 0.25]]}
    assert page.is_hidden("#error"), page.inner_text("#error")
    assert problems.errors == []
