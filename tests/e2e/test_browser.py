"""The dashboard in a real browser (Debian's Chromium, headless) against a real API and worker:
launch from the form, watch the curves grow live, compare a group of seeds with its band, summary
and statistics, export, use the runs table, and check that a hostile run name stays text."""

from __future__ import annotations

import csv
import io
import re
import time
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest

from tests.e2e import browser as fixtures
from tests.e2e.browser import create_run, runs_of_group, screenshot, wait_for_group, wait_until

# The fixtures: a module-wide API + worker and Chromium, and a fresh page per test.
browser, stack, page = fixtures.browser, fixtures.stack, fixtures.page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HOSTILE = "<img src=x onerror=alert(1)>"


def chip(page, section: str, label: str):
    """A choice chip of the new-run form (its label: the checkbox inside is visually hidden)."""
    return page.locator(f"#section-{section} label.chip").filter(has_text=re.compile(f"^{re.escape(label)}$"))


def field(page, key: str):
    return page.locator(f'[data-field="{key}"] input')


def open_form(page) -> None:
    page.goto("/new.html")
    page.wait_for_selector("#section-model label.chip")
    assert not page.locator("#submit").is_disabled()


def chart_points(page, chart_id: str) -> list[int]:
    """How many points each trace of a Plotly chart holds."""
    return page.evaluate("(id) => (document.getElementById(id).data || []).map((trace) => trace.x.length)", chart_id)


def test_launch_from_the_form_and_watch_the_curves_grow_live(page, stack):
    open_form(page)
    field(page, "name").fill("live mlp")
    assert chip(page, "model", "mlp").locator("input").is_checked()  # the form's default
    field(page, "dataset.synthetic_mnist.num_train").fill("3000")
    field(page, "dataset.synthetic_mnist.num_test").fill("200")
    field(page, "learning_rate").fill("0.1")
    field(page, "epochs").fill("8")
    field(page, "batch_size").fill("50")
    field(page, "device").fill("cpu")  # a few tenths of a second per epoch, even beside a GPU
    assert page.locator("#run-total").inner_text() == "1"
    screenshot(page, "new-run-form", full_page=False)
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/run\.html\?id=\d+"))
    run_id = int(parse_qs(urlparse(page.url).query)["id"][0])
    wait_until(lambda: page.locator("#run-name").inner_text() == "live mlp", timeout=10, what="the run's state")

    # Watch the loss chart while the worker trains: it must gain points while the run is running.
    seen_while_running: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = page.locator("#run-status").inner_text().strip().lower()
        points = sum(chart_points(page, "chart-loss"))
        if status == "running" and points:
            seen_while_running.add(points)
        if status == "completed":
            break
        time.sleep(0.05)
    assert status == "completed", f"the run ended {status}"
    assert len(seen_while_running) >= 2, f"no live growth seen while running: {sorted(seen_while_running)}"
    wait_until(lambda: chart_points(page, "chart-loss") == [8, 8], timeout=10, what="every epoch on the chart")
    assert chart_points(page, "chart-score") == [8, 8]
    assert chart_points(page, "chart-lr") == [8] and chart_points(page, "chart-time") == [8]
    assert "epoch 8 / 8" in page.locator("#status-strip").inner_text()
    assert "cpu" in page.locator("#details").inner_text()
    assert '"num_train": 3000' in page.locator("#spec").inner_text()
    assert "torch version" in page.locator("#environment").inner_text()
    run = httpx.get(f"{stack.api_url}/api/v1/runs/{run_id}").json()
    assert run["spec"]["dataset"]["num_train"] == 3000 and run["spec"]["epochs"] == 8 and run["spec"]["device"] == "cpu"
    screenshot(page, "run-page")


def test_the_form_shows_bounds_and_the_servers_422_next_to_the_field(page, stack):
    before = httpx.get(f"{stack.api_url}/api/v1/runs").json()["count"]
    open_form(page)
    field(page, "learning_rate").fill("0.1, 20")
    assert "out of bounds" in page.locator('[data-field="learning_rate"] .error').inner_text()
    page.locator("#submit").click()
    assert "highlighted field" in page.locator("#form-error").inner_text()
    field(page, "learning_rate").fill("0.1")

    # A rule only the server knows: the NumPy MLP is trained by SGD only.
    page.problems.allow(r"status of 422")
    chip(page, "model", "mlp").click()
    chip(page, "model", "mlp_numpy").click()
    chip(page, "optimizer", "sgd").click()
    chip(page, "optimizer", "adam").click()
    page.locator("#submit").click()
    error = page.locator("#section-optimizer .section-error")
    error.wait_for()
    assert "SGD only" in error.inner_text()
    assert "Nothing was created" in page.locator("#form-error").inner_text()
    assert httpx.get(f"{stack.api_url}/api/v1/runs").json()["count"] == before


def test_presets_fill_the_form_from_get_presets_and_count_the_runs(page, stack):
    presets = httpx.get(f"{stack.api_url}/api/v1/presets").json()["data"]
    open_form(page)
    page.wait_for_selector("button.preset")
    for preset in presets:
        cells = 1
        for values in preset["grid"].values():
            cells *= len(values)
        page.locator(f'button.preset[data-preset="{preset["name"]}"]').click()
        assert page.locator("#run-total").inner_text() == str(cells * preset["seeds"]), preset["name"]
        assert field(page, "group").input_value() == preset["name"]

    # GTSRB: BatchNorm off/on x Adam/SGD x both learning rates, 3 seeds each, deterministic.
    page.locator("button.preset", has_text="GTSRB").click()
    assert chip(page, "optimizer", "adam").locator("input").is_checked()
    assert chip(page, "optimizer", "sgd").locator("input").is_checked()
    assert field(page, "optimizer.sgd.momentum").input_value() == "0.9"
    assert field(page, "learning_rate").input_value() == "0.001, 0.01"
    assert field(page, "seeds").input_value() == "3"
    deterministic = page.locator('[data-field="deterministic"] label.chip')
    assert deterministic.filter(has_text=re.compile("^on$")).locator("input").is_checked()
    assert not deterministic.filter(has_text="off").locator("input").is_checked()
    assert page.locator("#run-total").inner_text() == "24"
    count = page.locator("#run-count").inner_text()
    assert "2 model.batch_norm values × 2 optimizers × 2 learning_rate values × 3 seeds" in count

    # The architectures: three models, the ConvNet with its flatten head and 4096 hidden units.
    page.locator("button.preset", has_text="ResNet vs VGG11").click()
    for name in ("resnet", "vgg11", "convnet"):
        assert chip(page, "model", name).locator("input").is_checked(), name
    head = page.locator('[data-field="model.convnet.head"] label.chip', has_text="flatten")
    assert head.locator("input").is_checked()
    assert field(page, "model.convnet.hidden").input_value() == "4096"

    page.locator("button.preset", has_text="MNIST NumPy MLP").click()
    assert field(page, "learning_rate").input_value() == "1, 0.3, 0.1, 0.01, 0.001"
    assert field(page, "epochs").input_value() == "30"
    assert "5 learning_rate values × 3 seeds" in page.locator("#run-count").inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "new-run-preset", full_page=False)


def test_a_seed_sweep_from_the_form_compares_as_a_group_with_band_summary_and_stats(page, stack, tmp_path):
    open_form(page)
    field(page, "name").fill("sweep")
    field(page, "group").fill("e2e-seeds")
    field(page, "learning_rate").fill("0.5, 0.02")
    field(page, "seeds").fill("3")
    field(page, "epochs").fill("3")
    field(page, "batch_size").fill("50")
    field(page, "dataset.synthetic_mnist.num_train").fill("300")
    field(page, "dataset.synthetic_mnist.num_test").fill("100")
    field(page, "model.mlp.hidden_sizes").fill("32")
    assert page.locator("#run-total").inner_text() == "6"
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/compare\.html\?"))
    query = parse_qs(urlparse(page.url).query)
    assert query["group"] == ["e2e-seeds"] and query["group_by"] == ["learning_rate"] and query["band"] == ["std"]

    runs = wait_for_group(stack, "e2e-seeds", 6)
    assert sorted(r["spec"]["seed"] for r in runs) == [0, 0, 1, 1, 2, 2]
    page.reload()
    page.wait_for_selector("#summary tbody tr")

    # The chart: per learning rate, a mean line and a shaded band across the 3 seeds.
    traces = page.evaluate("document.getElementById('chart-main').data.map((t) => ({name: t.name, fill: t.fill}))")
    bands = [t for t in traces if t["fill"] == "toself"]
    means = sorted(t["name"] for t in traces if t["fill"] != "toself")
    assert len(bands) == 2
    assert means == ["learning_rate=0.02 (n=3)", "learning_rate=0.5 (n=3)"]
    legend = page.locator("#chart-main .legendtext").all_text_contents()
    assert sorted(legend) == means

    # The summary: one row per learning rate, n = 3, mean ± std.
    rows = page.locator("#summary tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).locator("td").all_inner_texts()
    assert first[0].replace("★", "").strip().endswith("learning_rate=0.02") and first[1] == "3"
    assert "±" in first[2]
    assert "test accuracy" in page.locator("#summary thead").inner_text()

    # The statistics of the server: both groups, a pairwise test, a verdict.
    page.locator("#stats-verdict").wait_for()
    assert page.locator("#stats-groups tbody tr").count() == 2
    assert "learning_rate=0.5" in page.locator("#stats-pairs").inner_text()
    assert "p (Holm)" in page.locator("#stats-pairs thead").inner_text()
    screenshot(page, "compare-group")

    # The band choice goes into the URL, and the URL restores the view.
    page.locator("#band").select_option("ci")
    assert parse_qs(urlparse(page.url).query)["band"] == ["ci"]
    page.locator("#x-axis").select_option("time")
    shared = page.url
    other = page.context.new_page()
    other.goto(shared)
    other.wait_for_selector("#summary tbody tr")
    assert other.locator("#band").input_value() == "ci" and other.locator("#x-axis").input_value() == "time"
    assert other.locator('#group-by input[value="learning_rate"]').is_checked()
    assert other.locator("#main-title").inner_text().startswith("test accuracy vs relative time")
    other.close()

    # Exports: the plotted data as CSV, and an HTML report that opens offline.
    with page.expect_download() as csv_download:
        page.locator("#export-csv").click()
    table = list(csv.DictReader(io.StringIO(csv_download.value.path().read_text())))
    assert {row["series"] for row in table} == {"learning_rate=0.02", "learning_rate=0.5"}
    assert len(table) == 6 and all(row["band_lower"] and row["n"] == "3" for row in table)
    with page.expect_download() as report_download:
        page.locator("#export-report").click()
    assert report_download.value.suggested_filename.endswith(".html")
    report = tmp_path / "report.html"
    report_download.value.save_as(report)
    offline = page.context.browser.new_context(offline=True)
    try:
        viewer = offline.new_page()
        viewer.goto(report.as_uri())
        viewer.wait_for_selector(".js-plotly-plot .legendtext")
        assert viewer.evaluate("typeof Plotly") == "object"
        assert viewer.locator(".js-plotly-plot").count() >= 3
        assert "e2e-seeds" in viewer.locator("header").inner_text()
        assert "Pairwise comparisons" in viewer.locator("body").inner_text()
    finally:
        offline.close()


def test_runs_table_filters_sorts_selects_cancels_deletes_and_clones(page, stack):
    done = [create_run(stack, f"table run {n}", "e2e-table", learning_rate=lr) for n, lr in (("b", 0.2), ("a", 0.4))]
    wait_for_group(stack, "e2e-table", 2)
    slow = create_run(stack, "table slow run", "e2e-table", epochs=500)

    page.goto("/?group=e2e-table")
    rows = page.locator("#runs tbody tr")
    wait_until(lambda: rows.count() == 3, timeout=10, what="the group's 3 runs")
    assert page.locator("#filters input[name=group]").input_value() == "e2e-table"
    assert "3 runs" in page.locator("#runs-count").inner_text()

    # Sort by name (server side), ascending then descending.
    page.locator('th[data-column="name"]').click()
    wait_until(lambda: rows.nth(0).locator("td.name").inner_text() == "table run a", timeout=10, what="sorted rows")
    assert "sort=name" in page.url
    page.locator('th[data-column="name"]').click()
    wait_until(lambda: rows.nth(0).locator("td.name").inner_text() == "table slow run", timeout=10, what="desc")

    # Sort by the test metric (within the page): ascending, runs without a value last, ties newest first.
    finished = [r for r in runs_of_group(stack, "e2e-table") if r["status"] == "completed"]
    def result(run):  # at the selected epoch, else the final one
        summary = run["summary"]["test_accuracy"]
        return summary["selected"] if summary["selected"] is not None else summary["final"]

    by_accuracy = sorted(finished, key=lambda r: (result(r), -r["id"]))
    page.locator('th[data-column="result"]').click()
    assert "sort=%7Eresult" in page.url or "sort=~result" in page.url
    wait_until(
        lambda: (
            [rows.nth(i).locator("td.name").inner_text() for i in range(3)]
            == [r["name"] for r in by_accuracy] + ["table slow run"]
        ),
        timeout=10,
        what="rows sorted by accuracy",
    )

    # Cancel the slow run, then delete it.
    slow_row = page.locator(f'tr[data-run-id="{slow["id"]}"]')
    wait_until(lambda: "running" in slow_row.locator(".badge").inner_text().lower(), timeout=60, what="slow run start")
    screenshot(page, "runs-table")
    slow_row.get_by_role("button", name="Cancel").click()
    wait_until(lambda: "cancelled" in slow_row.locator(".badge").inner_text().lower(), timeout=30, what="cancel")
    slow_row.get_by_role("button", name="Delete").click()
    wait_until(lambda: rows.count() == 2, timeout=10, what="the deleted row to go")
    assert httpx.get(f"{stack.api_url}/api/v1/runs/{slow['id']}").status_code == 404

    # Filter by status, select both runs and compare them.
    page.locator("#status-filter label.chip", has_text="completed").click()
    assert "status=completed" in page.url
    for run in done:
        page.locator(f'tr[data-run-id="{run["id"]}"] input[type=checkbox]').check()
    compare = page.locator("#compare-selected")
    assert compare.inner_text() == "Compare 2 selected"
    compare.click()
    page.wait_for_url(re.compile(r"/compare\.html\?run_id="))
    assert sorted(map(int, parse_qs(urlparse(page.url).query)["run_id"])) == sorted(r["id"] for r in done)
    page.wait_for_selector("#summary tbody tr")
    assert page.locator("#summary tbody tr").count() == 2

    # Clone: the form filled with the run's spec.
    page.goto(f"/new.html?clone={done[1]['id']}")
    wait_until(lambda: field(page, "name").input_value() == "table run a (clone)", timeout=10, what="clone")
    assert field(page, "learning_rate").input_value() == "0.4"
    assert field(page, "model.mlp.hidden_sizes").input_value() == "32"
    assert field(page, "group").input_value() == "e2e-table"

    page.goto("/")  # every run of the module so far, for the README
    page.locator("#runs tbody tr[data-run-id]").first.wait_for()
    screenshot(page, "runs-all", full_page=False)


def test_a_hostile_run_name_shows_as_text_everywhere(page, stack):
    group = "<b>xss</b> group"
    hostile = create_run(stack, HOSTILE, group)
    create_run(stack, "plain neighbour", group, learning_rate=0.1)
    wait_for_group(stack, group, 2)

    def no_injected_markup() -> None:
        assert page.locator('img[src="x"]').count() == 0
        assert "xss" not in page.locator("b").all_inner_texts()

    page.goto("/?" + urlencode({"name": HOSTILE}))
    cell = page.locator(f'tr[data-run-id="{hostile["id"]}"] td.name')
    cell.wait_for()
    assert cell.inner_text() == HOSTILE
    assert page.locator(f'tr[data-run-id="{hostile["id"]}"] .group-tag').inner_text() == group
    no_injected_markup()

    page.goto(f"/run.html?id={hostile['id']}")
    wait_until(lambda: page.locator("#run-name").inner_text() == HOSTILE, timeout=10, what="the run page")
    assert page.title().startswith(HOSTILE)
    assert group in page.locator("#run-subtitle").inner_text()
    no_injected_markup()
    screenshot(page, "run-page-hostile-name")

    page.goto("/compare.html?" + urlencode({"group": group}))
    page.wait_for_selector("#chart-main .legendtext")
    legend = page.locator("#chart-main .legendtext").all_text_contents()
    assert HOSTILE in legend
    assert HOSTILE in page.locator("#summary tbody").inner_text()
    # One architecture: both runs label one point of the architecture chart.
    assert page.locator("#chart-arch .textpoint").all_text_contents() == [f"{HOSTILE} · plain neighbour"]
    assert HOSTILE in page.locator("#chart-time .ytick").all_text_contents()
    assert group in page.locator("#compare-title").inner_text()
    no_injected_markup()
    # The hover label of the hostile run's first point: the name as text too.
    hover = page.evaluate(
        """() => {
          const chart = document.getElementById("chart-main");
          const index = chart.data.findIndex((trace) => trace.name.startsWith("&lt;img"));
          Plotly.Fx.hover(chart, [{ curveNumber: index, pointNumber: 0 }]);
          return chart.querySelector(".hoverlayer .hovertext")?.textContent ?? "";
        }"""
    )
    assert hover.startswith(HOSTILE)
    no_injected_markup()
    screenshot(page, "compare-hostile-name")


def test_a_plugins_model_and_dataset_train_from_the_form_and_compare_with_a_built_in(page, stack):
    """The example plugin is installed on the stack's worker: its entries come in the form with
    fields from their published schema, train from there, and compare with a built-in model."""
    open_form(page)
    chip(page, "model", "mlp").click()
    chip(page, "model", "tiny_cnn").click()
    chip(page, "dataset", "synthetic_mnist").click()
    chip(page, "dataset", "stripes").click()
    card = page.locator('#section-model .entry-card[data-entry="tiny_cnn"]')
    assert "from trainboard-example-plugin 0.1.0 · 1 worker, 1 online" in card.inner_text()
    assert field(page, "model.tiny_cnn.width").input_value() == "8"  # the default, from the worker's schema
    activation = page.locator('[data-field="model.tiny_cnn.activation"] label.chip')
    assert activation.all_inner_texts() == ["relu", "elu"]  # its choices, from the plugin's Literal
    assert activation.nth(0).locator("input").is_checked()
    field(page, "name").fill("plugin from the form")
    field(page, "group").fill("plugin-vs-builtin")
    field(page, "model.tiny_cnn.width").fill("4")
    field(page, "dataset.stripes.num_train").fill("300")
    field(page, "learning_rate").fill("0.05")
    field(page, "epochs").fill("2")
    field(page, "batch_size").fill("50")
    page.locator("#submit").click()
    page.wait_for_url(re.compile(r"/run\.html\?id=\d+"))
    run_id = int(parse_qs(urlparse(page.url).query)["id"][0])
    wait_until(lambda: page.locator("#run-status").inner_text().strip().lower() == "completed", timeout=120,
               what="the plugin's run to complete")
    details = page.locator("#details").inner_text()
    assert "worker0@" in details
    assert re.search(r"parameters\s+[\d,]+ \(", details), details  # sized by the worker that trained it
    plugin_run = httpx.get(f"{stack.api_url}/api/v1/runs/{run_id}").json()
    assert plugin_run["spec"]["model"] == {"name": "tiny_cnn", "width": 4, "activation": "relu"}
    assert plugin_run["param_count"] > 0

    # A built-in model on the plugin's dataset (a run of two packages), then both in one Compare.
    builtin = create_run(stack, "mlp on stripes", group="plugin-vs-builtin", dataset={"name": "stripes"}, epochs=2)
    assert builtin["queue"] == "trainboard.trainboard+trainboard-example-plugin"
    wait_for_group(stack, "plugin-vs-builtin", 2)
    page.goto(f"/compare.html?{urlencode({'run_id': [run_id, builtin['id']]}, doseq=True)}")
    page.wait_for_selector("#summary tbody tr")
    assert page.locator("#summary tbody tr").count() == 2
    summary = page.locator("#summary").inner_text()
    assert "plugin from the form" in summary and "mlp on stripes" in summary
    wait_until(lambda: len(page.evaluate("document.getElementById('chart-arch').data || []")) > 0, timeout=10,
               what="the architecture chart")
    points = page.evaluate("document.getElementById('chart-arch').data.reduce((n, t) => n + t.x.length, 0)")
    assert points == 2  # parameters and MACs of both, as their workers measured them
    screenshot(page, "compare-plugin")


def test_a_run_no_worker_can_take_says_why_in_the_table_and_on_its_page(page, stack):
    """The stack's worker has no GPU: a cuda run waits for one, and the UI says so."""
    run = create_run(stack, "needs a gpu", "e2e-gpu", device="cuda")
    try:
        page.goto("/?group=e2e-gpu")
        row = page.locator("#runs tbody tr")
        wait_until(lambda: row.count() == 1, timeout=10, what="the run's row")
        assert row.locator(".waiting-for").inner_text() == "waiting for a worker with a GPU"
        screenshot(page, "runs-waiting-for-gpu", full_page=False)

        page.goto(f"/run.html?id={run['id']}")
        waiting = page.locator("#status-strip #run-waiting")
        wait_until(lambda: waiting.count() == 1, timeout=10, what="the reason in the status strip")
        assert waiting.inner_text() == "waiting for a worker with a GPU"
        assert page.locator("#run-status").inner_text().strip().lower() == "queued"
        screenshot(page, "run-waiting-for-gpu", full_page=False)
    finally:
        httpx.post(f"{stack.api_url}/api/v1/runs/{run['id']}/cancel")


def test_the_api_docs_render_offline(page, stack):
    """Issue 12, row 11: /docs draws Swagger UI from this server alone: every request the page makes
    goes to the API's own origin, and the operations are listed."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/docs")
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 20
    assert "/api/v1/runs/track" in page.content()
    assert requested and all(url.startswith(stack.api_url) for url in requested), requested
