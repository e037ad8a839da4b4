"""The playground as a teaching tool (issue 16), in a real browser against the real service:
replay, a setup shared as a link, reattaching after a reload, "my runs", feature crosses, L1,
"discretize output", neuron previews and readable figures. Desktop (1280 x 800) and phone
(390 x 844) where layout matters. Screenshots go to ``test-artifacts/playground-teaching-*``.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.specs import FOREVER, LONG_JOB_ENV
from test_playground import (
    DESKTOP,
    PHONE,
    TRAINING_TIMEOUT,
    OpenPage,
    painted,
    screenshot,
    wait_for_data,
    wait_for_success,
    wait_listed,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CANVAS = "document.getElementById('boundary')"
FIRST_NEURON = "document.querySelector('#neurons canvas.neuron')"
STATUS = "document.body.dataset.jobStatus"
VIEWPORTS = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


def text_of(element_id: str) -> str:
    return f"document.getElementById({element_id!r}).textContent"


def train(page: Any, *, epochs: int, dataset: str | None = None) -> dict[str, Any]:
    """The Fast preset for ``epochs`` epochs (on ``dataset``, a generator), then Train; returns
    the job request the page sent (the job is left running)."""
    wait_for_data(page)
    if dataset:
        page.select_option("#dataset", f"gen:{dataset}")
        wait_until(page, f"{text_of('dataset-info')}.includes('rows')", "the new dataset")
    page.click("#preset-fast")
    page.fill("#epochs", str(epochs))
    before = page.evaluate("() => document.body.dataset.jobId ?? ''")
    with page.expect_request("**/v1/jobs") as sent:
        page.click("#train")
    wait_until(page, f"(document.body.dataset.jobId ?? '') !== {before!r}", "the new job")
    body: dict[str, Any] = json.loads(sent.value.post_data or "{}")
    return body


def model_of(server: Any, page: Any) -> str:
    job_id = page.evaluate("() => document.body.dataset.jobId")
    with httpx.Client(base_url=server.base_url) as api:
        job = api.get(f"/v1/jobs/{job_id}").raise_for_status().json()
    model_id: str = job["model_id"]
    return model_id


def cancel_discarding(page: Any) -> None:
    page.click("#cancel")
    page.click("#cancel-discard")
    wait_until(page, f"{STATUS} === 'cancelled'", "the job cancelled", TRAINING_TIMEOUT)


# ----------------------------------------------------------------------------------- replay


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_replay_scrubbing_changes_the_map_and_moves_the_curve_marker(
    open_page: OpenPage, server: Any, viewport: dict[str, int]
) -> None:
    page, problems = open_page(viewport)
    train(page, epochs=30, dataset="moons")
    wait_for_success(page)
    frames = int(page.get_attribute("#replay", "data-frames") or "0")
    assert frames == 30  # min(epochs, 100) frames, the first and the last epoch among them
    assert page.is_enabled("#replay-scrubber")
    final = painted(page)
    assert page.inner_text("#replay-epoch") == "epoch 30"

    page.locator("#replay-scrubber").scroll_into_view_if_needed()
    page.fill("#replay-scrubber", "0")  # the first frame: epoch 1
    wait_until(page, f"{CANVAS}.dataset.boundaryEpoch === '1'", "the first frame")
    wait_until(page, f"{CANVAS}.dataset.boundarySource === 'snapshot'", "a replayed frame")
    assert painted(page) != final
    assert "Replay · epoch 1" in page.inner_text("#map-source")
    assert page.get_attribute("#loss-chart", "data-marker") == "1"
    assert page.get_attribute("#accuracy-chart", "data-marker") == "1"

    page.click("#replay-next")  # one step on
    wait_until(page, f"{CANVAS}.dataset.boundaryEpoch === '2'", "the second frame")
    page.focus("#replay-scrubber")
    page.keyboard.press("End")  # the keyboard works the scrubber too: the final model
    wait_until(page, f"{CANVAS}.dataset.boundarySource === 'model'", "the final boundary")
    assert page.get_attribute("#loss-chart", "data-marker") == "30"

    page.click("#replay-play")  # at the end, play starts again from the first frame
    wait_until(page, "document.getElementById('replay').dataset.playing === 'true'", "playing")
    page.click("#replay-play")
    wait_until(page, "document.getElementById('replay').dataset.playing === 'false'", "paused")
    screenshot(page, f"playground-teaching-replay-{viewport['width']}.png")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"], "the page scrolls sideways"

    model_id = model_of(server, page)
    with page.expect_download() as download:
        page.click("#download-gif")
    assert download.value.suggested_filename.endswith(".gif")
    with open(download.value.path(), "rb") as gif:
        assert gif.read(6) in (b"GIF87a", b"GIF89a")
    assert model_id
    assert problems.errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_map_stays_in_view_below_the_top_bar_after_train(
    open_page: OpenPage, viewport: dict[str, int]
) -> None:
    page, problems = open_page(viewport)
    wait_for_data(page)
    page.locator("#epochs").scroll_into_view_if_needed()  # down at the training settings
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    train(page, epochs=20)
    in_view = (
        "(() => { const bar = document.querySelector('.topbar').getBoundingClientRect();"
        f" const box = {CANVAS}.getBoundingClientRect();"
        " return box.top >= bar.bottom - 1 && box.bottom <= window.innerHeight + 1; })()"
    )
    # The page scrolls (smoothly) to the map: wait for it to be wholly below the top bar.
    wait_until(page, in_view, "the map in view below the top bar", 15)
    wait_for_success(page)
    assert page.evaluate(f"() => {in_view}"), "the map left the view while training"
    assert problems.errors == []


# ---------------------------------------------------------------------- state that survives


def test_a_shared_url_reproduces_the_setup(open_page: OpenPage) -> None:
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.select_option("#dataset", "gen:circles")
    wait_until(page, f"{text_of('dataset-info')}.includes('rows')", "the circles")
    page.fill("#noise", "0.05")
    page.dispatch_event("#noise", "change")
    page.fill("#layer-units-0", "3")
    page.dispatch_event("#layer-units-0", "change")
    page.click("#layer-remove-1")
    page.select_option("#activation", "sigmoid")
    page.fill("#learning-rate", "0.03")
    page.fill("#epochs", "77")
    page.fill("#l1", "0.001")
    page.check("#cross-square")
    page.check("#discretize")
    page.check("#loss-log")
    wait_until(page, "window.location.hash.includes('log_loss=1')", "the hash to follow")
    assert "epochs=77" in page.url and "feature_crosses=square" in page.url
    assert page.get_attribute("#preset-fast", "aria-pressed") == "false"  # no longer the preset
    url = page.url
    page.click("#copy-link")
    wait_until(
        page, f"{text_of('status')}.includes('link') || {text_of('status')}.includes('Link')", ""
    )

    shared, shared_problems = open_page(DESKTOP)  # another browser: nothing stored locally
    shared.goto(url)
    wait_until(shared, f"{text_of('dataset-info')}.includes('rows')", "the shared dataset")
    assert shared.input_value("#dataset") == "gen:circles"
    assert shared.input_value("#noise") == "0.05"
    units = shared.eval_on_selector_all("#layers input", "inputs => inputs.map(i => i.value)")
    assert units == ["3"]
    assert shared.input_value("#activation") == "sigmoid"
    assert shared.input_value("#learning-rate") == "0.03"
    assert shared.input_value("#epochs") == "77"
    assert shared.input_value("#l1") == "0.001"
    assert shared.is_checked("#cross-square") and not shared.is_checked("#cross-sin")
    assert shared.is_checked("#discretize") and shared.is_checked("#loss-log")
    assert shared.input_value("#test-fraction") == "0.2"
    assert problems.errors == [] and shared_problems.errors == []


def test_a_link_can_name_a_stored_dataset(open_page: OpenPage, server: Any) -> None:
    """A link holding a stored dataset's id shows it, though this browser did not make it."""
    with httpx.Client(base_url=server.base_url) as api:
        body = {"name": "shared set", "X": [[0, 0], [1, 1], [0, 1], [1, 0]] * 5, "y": [0, 1] * 10}
        dataset_id = api.post("/v1/datasets", json=body).raise_for_status().json()["id"]
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.goto(f"{server.base_url}/#dataset={dataset_id}&layers=4&activation=relu")  # pasted
    for reload in (False, True):  # in the open tab, then as a fresh load
        if reload:
            page.reload()
        wait_until(page, f"{text_of('dataset-info')}.includes('20 rows')", "the shared dataset")
        assert page.input_value("#dataset") == f"stored:{dataset_id}"
        units = page.eval_on_selector_all("#layers input", "inputs => inputs.map(i => i.value)")
        assert units == ["4"] and page.input_value("#activation") == "relu"
    assert problems.errors == []


def test_reload_reattaches_to_the_running_job(open_page: OpenPage, server: Any) -> None:
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.click("#preset-notebook")  # one row per step, endless: it runs until cancelled
    page.fill("#epochs", str(FOREVER["epochs"]))
    page.click("#train")
    wait_until(page, f"{STATUS} === 'running'", "the job to run", TRAINING_TIMEOUT)
    job_id = page.evaluate("() => document.body.dataset.jobId")
    page.reload()
    wait_until(page, f"document.body.dataset.jobId === {job_id!r}", "the page to reattach")
    wait_until(page, f"{STATUS} === 'running'", "the reattached job's progress")
    assert "Reattached" in page.inner_text("#status") or "Training" in page.inner_text("#status")
    assert page.is_enabled("#cancel") and page.is_disabled("#train")
    wait_until(page, f"{CANVAS}.dataset.boundarySource === 'snapshot'", "the live map again")
    wait_until(page, f"!{text_of('epoch')}.startsWith('0 /')", "the progress again")
    cancel_discarding(page)
    with httpx.Client(base_url=server.base_url) as api:
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    page.reload()  # a finished job is not followed again
    wait_for_data(page)
    assert page.is_enabled("#train")
    assert problems.errors == []


@pytest.fixture
def one_slot_server(tmp_path: Path) -> Iterator[Any]:
    """A service that runs one job at a time (so a second one waits in the queue)."""
    path = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_teaching_server_support", path)
    assert spec is not None and spec.loader is not None
    support = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(support)
    (tmp_path / "logs").mkdir()
    long_jobs = {k.upper(): v for k, v in LONG_JOB_ENV.items()}  # the blocker is endless
    env = {"MLP_MAX_CONCURRENT_JOBS": "1", **long_jobs}
    live = support.Server(tmp_path / "data", tmp_path / "logs", env)
    live.start()
    yield live
    live.stop()


def test_a_queued_job_says_how_many_are_ahead(browser: Any, one_slot_server: Any) -> None:
    base = one_slot_server.base_url
    with httpx.Client(base_url=base) as api:
        dataset = api.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 400})
        body = {
            "dataset_id": dataset.raise_for_status().json()["id"],
            "training": {**FOREVER, "seed": 0},  # holds the slot until cancelled
        }
        blocker = api.post("/v1/jobs", json=body).raise_for_status().json()["id"]
        context = browser.new_context(viewport=DESKTOP)
        try:
            page = context.new_page()
            page.goto(f"{base}/")
            train(page, epochs=5)
            wait_until(page, f"{text_of('status')}.includes('queued, 0 ahead')", "the wording")
            assert page.inner_text("#epoch") == "queued"
            page.reload()  # still queued after a reload, and still said
            wait_until(page, f"{text_of('status')}.includes('queued, 0 ahead')", "it again")
            api.post(f"/v1/jobs/{blocker}/cancel").raise_for_status()
            wait_for_success(page)
        finally:
            context.close()


def test_cancel_can_keep_what_was_learnt(open_page: OpenPage, server: Any) -> None:
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.click("#preset-notebook")
    page.fill("#epochs", str(FOREVER["epochs"]))  # endless: it must still run at the cancel
    page.click("#train")
    wait_until(
        page, f"{CANVAS}.dataset.boundarySource === 'snapshot'", "a live frame", TRAINING_TIMEOUT
    )
    page.click("#cancel")
    page.click("#cancel-keep")
    wait_until(page, f"{STATUS} === 'cancelled'", "the job cancelled", TRAINING_TIMEOUT)
    wait_until(page, f"{text_of('status')}.includes('kept')", "the kept model")
    model_id = model_of(server, page)
    assert model_id
    wait_until(page, f"{CANVAS}.dataset.boundarySource === 'model'", "the kept model's map")
    wait_listed(page, model_id)
    assert page.locator(f'.model[data-model-id="{model_id}"]').is_visible()
    assert page.is_enabled("#download-model")
    assert problems.errors == []


# --------------------------------------------------------------------------------- my runs


def test_only_my_runs_are_listed_and_can_be_deleted(open_page: OpenPage, server: Any) -> None:
    with httpx.Client(base_url=server.base_url) as api:
        other = api.post("/v1/datasets/generate", json={"kind": "xor", "n_samples": 60})
        other_id = other.raise_for_status().json()["id"]
        page, problems = open_page(DESKTOP)
        train(page, epochs=5, dataset="xor")
        wait_for_success(page)
        mine = model_of(server, page)
        train(page, epochs=5)
        wait_for_success(page)
        second = model_of(server, page)
        wait_listed(page, mine)
        wait_listed(page, second)
        listed = page.eval_on_selector_all(".model", "items => items.map(i => i.dataset.modelId)")
        assert sorted(listed) == sorted([mine, second])
        options = page.eval_on_selector_all("#stored-datasets option", "os => os.map(o => o.value)")
        assert f"stored:{other_id}" not in options  # not made here
        page.check("#show-all")
        wait_until(
            page,
            f"[...document.querySelectorAll('#stored-datasets option')]"
            f".some(o => o.value === 'stored:{other_id}')",
            "every stored dataset listed",
        )
        page.uncheck("#show-all")

        page.click(f'.model[data-model-id="{mine}"] button[aria-label^="Delete"]')
        wait_until(page, f"!document.querySelector('.model[data-model-id=\"{mine}\"]')", "gone")
        assert api.get(f"/v1/models/{mine}").status_code == 404

        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#clear-runs")
        wait_until(page, f"{text_of('status')}.startsWith('Cleared')", "my runs cleared")
        assert api.get(f"/v1/models/{second}").status_code == 404
        wait_until(page, "!document.querySelector('.model')", "an empty list")
        assert api.get(f"/v1/datasets/{other_id}").status_code == 200  # not mine: kept
    assert problems.errors == []


def test_a_slider_move_makes_no_dataset_until_train(open_page: OpenPage, server: Any) -> None:
    with httpx.Client(base_url=server.base_url) as api:
        page, problems = open_page(DESKTOP)
        wait_for_data(page)
        count = api.get("/v1/datasets").json()["count"]
        page.focus("#noise")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        wait_until(page, f"{text_of('generate-note')}.includes('Train')", "the note")
        assert api.get("/v1/datasets").json()["count"] == count
        page.keyboard.press("ArrowLeft")  # back to one the page made already: shown again
        page.keyboard.press("ArrowLeft")
        wait_until(page, f"{text_of('dataset-info')}.startsWith('1000 rows')", "the old points")
        assert api.get("/v1/datasets").json()["count"] == count
        page.keyboard.press("ArrowRight")
        train(page, epochs=3)
        wait_for_success(page)
        assert api.get("/v1/datasets").json()["count"] == count + 1
    assert problems.errors == []


# ---------------------------------------------------------------- TensorFlow's controls


def test_feature_crosses_train_circles_without_a_hidden_layer(
    open_page: OpenPage, server: Any
) -> None:
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.select_option("#dataset", "gen:circles")
    wait_until(page, f"{text_of('dataset-info')}.includes('rows')", "the circles")
    page.click("#preset-fast")
    page.click("#layer-remove-1")
    page.click("#layer-remove-0")  # no hidden layer: a linear model of the inputs
    page.check("#cross-square")
    assert "2 of the inputs are feature crosses" in page.inner_text("#network-summary")
    page.fill("#epochs", "60")
    with page.expect_request("**/v1/jobs") as sent:
        page.click("#train")
    body = json.loads(sent.value.post_data or "{}")
    assert body["architecture"]["hidden_layers"] == []
    assert body["training"]["feature_crosses"] == ["square"]
    wait_for_success(page)
    accuracy = float(page.get_attribute("#final-accuracy", "data-value") or "nan")
    assert accuracy >= 0.95
    test_accuracy = float(page.get_attribute("#metric-test-accuracy", "data-value") or "nan")
    assert test_accuracy >= 0.95
    assert problems.errors == []


def test_discretize_changes_the_map_and_l1_is_sent(open_page: OpenPage) -> None:
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    page.click("#preset-fast")
    page.fill("#l1", "0.0005")
    page.fill("#epochs", "15")
    with page.expect_request("**/v1/jobs") as sent:
        page.click("#train")
    assert json.loads(sent.value.post_data or "{}")["training"]["l1"] == 0.0005
    wait_for_success(page)
    # The held-out rows are drawn hollow once their own request answers: before the capture.
    wait_until(page, f"Number({CANVAS}.dataset.testPoints) > 0", "the held-out rows drawn")
    gradient = painted(page)
    page.check("#discretize")
    wait_until(page, f"{CANVAS}.dataset.discrete === 'true'", "the switch")
    wait_until(page, f"{CANVAS}.toDataURL() !== {gradient!r}", "the class regions drawn")
    page.uncheck("#discretize")
    wait_until(page, f"{CANVAS}.toDataURL() === {gradient!r}", "the gradient again")
    assert problems.errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_neuron_previews_render_beside_the_network(
    open_page: OpenPage, viewport: dict[str, int]
) -> None:
    page, problems = open_page(viewport)
    train(page, epochs=10, dataset="xor")
    wait_for_success(page)
    wait_until(page, "!document.getElementById('neurons').hidden", "the previews")
    count = page.locator("#neurons canvas.neuron").count()
    assert count == 16  # the Fast preset: two hidden layers of 8
    wait_until(
        page,
        "document.querySelectorAll('#neurons canvas.neuron[data-drawn=\"true\"]').length === 16",
        "every preview drawn",
    )
    label = page.get_attribute("#neurons canvas.neuron", "aria-label") or ""
    assert label.startswith("Layer 1, unit 1: activation from")
    final = painted(page, FIRST_NEURON)
    page.fill("#replay-scrubber", "0")  # the previews follow the replayed frame
    wait_until(
        page,
        "[...document.querySelectorAll('#neurons canvas.neuron')]"
        ".every(c => c.dataset.epoch === '1')",
        "the previews at epoch 1",
    )
    first = painted(page, FIRST_NEURON)
    assert first != final
    page.locator("#neurons").scroll_into_view_if_needed()
    screenshot(page, f"playground-teaching-neurons-{viewport['width']}.png")
    assert problems.errors == []


# ---------------------------------------------------------------------- readable figures


def test_presets_show_which_is_active_in_plain_words(open_page: OpenPage) -> None:
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    assert page.get_attribute("#preset-fast", "aria-pressed") == "true"  # the default
    assert page.get_attribute("#preset-notebook", "aria-pressed") == "false"
    page.click("#preset-notebook")
    assert page.get_attribute("#preset-notebook", "aria-pressed") == "true"
    help_text = page.inner_text("#preset-help")
    assert "notebook" not in help_text.lower() and "one point at a time" in help_text
    page.fill("#epochs", "201")
    wait_until(
        page,
        "document.getElementById('preset-notebook').getAttribute('aria-pressed') === 'false'",
        "the preset released",
    )
    assert problems.errors == []


def test_charts_read_out_values_scale_and_zoom(open_page: OpenPage) -> None:
    page, problems = open_page(DESKTOP)
    train(page, epochs=20)
    wait_for_success(page)
    y_min = float(page.get_attribute("#accuracy-chart", "data-y-min") or "nan")
    assert 0 < y_min < 1  # the accuracy axis zooms to the data
    page.check("#loss-log")
    wait_until(page, "document.getElementById('loss-chart').dataset.scale === 'log'", "log scale")
    box = page.locator("#loss-chart").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    readout = wait_until(page, "document.getElementById('loss-chart').dataset.readout", "hover")
    assert readout.startswith("epoch ") and "train" in readout
    box = page.locator("#boundary").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    readout = wait_until(page, text_of("map-readout"), "the map's readout")
    assert "P(class" in readout
    assert problems.errors == []


def test_a_full_queue_is_worded_honestly(open_page: OpenPage) -> None:
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    detail = "the job queue is full (32 running or queued jobs); retry in 2 s"
    message = page.evaluate(
        """async (detail) => {
            const { describe } = await import("/static/api.js");
            return describe(429, { detail }, 40).message;
        }""",
        detail,
    )
    assert "32 running or waiting jobs" in message and "about 40 s" in message
    assert "estimate" in message
    assert problems.errors == []


TEXT_EXTENTS = """async ([module, name, width]) => {
    const classes = await import(module);
    const canvas = document.createElement("canvas");
    canvas.style.cssText = `width: ${width}px; height: 170px; display: block`;
    document.body.append(canvas);
    const chart = new classes[name](canvas, {});
    const texts = [];
    const fillText = chart.ctx.fillText.bind(chart.ctx);
    chart.ctx.fillText = (text, x, y, ...rest) => {
        const w = chart.ctx.measureText(text).width;
        const align = chart.ctx.textAlign;
        const left = align === "center" ? x - w / 2 : align === "right" ? x - w : x;
        texts.push([text, left, left + w]);
        fillText(text, x, y, ...rest);
    };
    return { chart, canvas, texts };
}"""


@pytest.mark.parametrize("width", [180, 260, 333])
def test_tick_labels_fit_inside_the_chart(open_page: OpenPage, width: int) -> None:
    """Every label a curve chart draws (the last x tick among them) lies inside its canvas."""
    page, problems = open_page(DESKTOP)
    wait_for_data(page)
    texts = page.evaluate(
        f"""async (args) => {{
            const {{ chart, canvas, texts }} = await ({TEXT_EXTENTS})(args);
            const points = [[1, 2.5], [1000, 0.01]];
            chart.setSeries([{{ label: "train", colour: "#000", points }}], 1000);
            chart.renderNow();
            canvas.remove();
            return texts;
        }}""",
        ["/static/charts.js", "LineChart", width],
    )
    labels = [text for text, _, _ in texts]
    assert "1000" in labels  # the last x tick is drawn...
    for text, left, right in texts:
        assert left >= 0 and right <= width, f"{text!r} spans {left:.1f}..{right:.1f} of {width}"
    assert problems.errors == []
