"""Script runs in a real browser: a run that the user's own script reports (POST /runs/track, then
its points, as the Python client sends them) is marked "script" in the Runs table beside a worker
run, shows its config and a chart for each of its own metric names on its run page, live, can be
cancelled from there, and compares with a worker run, grouped by a path of its config."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e import browser as fixtures
from tests.e2e.browser import screenshot, tiny_spec, wait_until
from tests.e2e.services import running_stack
from tests.utils.catalog import builtin_catalog
from tests.utils.live_server import free_port

browser, page = fixtures.browser, fixtures.page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CONFIG = {"lr": 0.01, "model": {"width": 64}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The API alone: worker runs are trained by hand through the REST API a worker uses, script
    runs reported through the routes the Python client uses. A long heartbeat, so that a script run
    the test leaves running is not given up for lost while the browser looks at it."""
    data_dir = tmp_path_factory.mktemp("browser-script-stack")
    port = free_port()
    env = {
        "TRAINBOARD_DATA_DIR": str(data_dir),
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
        "TRAINBOARD_HEARTBEAT_SECONDS": "30",
    }
    with running_stack(env, data_dir, workers=0) as started:
        httpx.post(f"{started.api_url}/api/v1/workers", json=builtin_catalog(), timeout=30).raise_for_status()
        yield started


def api(stack) -> httpx.Client:
    return httpx.Client(base_url=f"{stack.api_url}/api/v1", timeout=30)


def worker_run(stack, name: str, group: str, accuracy: list[float]) -> dict:
    """A run trained by hand as a worker trains it: submit, claim, its epochs' points, finish."""
    with api(stack) as client:
        spec = tiny_spec(epochs=len(accuracy))
        run = client.post("/runs", json={"name": name, "group": group, "spec": spec}).raise_for_status().json()
        lease = client.post(f"/runs/{run['id']}/start", json={"worker_host": "by-hand"}).raise_for_status().json()
        points = [
            {"name": metric, "step": epoch, "value": value if metric == "test_accuracy" else 1 - value}
            for epoch, value in enumerate(accuracy, start=1)
            for metric in ("test_accuracy", "test_loss")
        ]
        attempt = lease["attempt"]
        client.post(f"/runs/{run['id']}/metrics", json={"attempt": attempt, "points": points}).raise_for_status()
        body = {"attempt": attempt, "status": "completed", "epochs_completed": len(accuracy)}
        client.post(f"/runs/{run['id']}/finish", json=body).raise_for_status()
        return run


def script_run(stack, name: str, group: str, config: dict = CONFIG) -> dict:
    """A run as `trainboard.init(name=..., group=..., config=...)` creates it: running, lease 1."""
    with api(stack) as client:
        response = client.post("/runs/track", json={"name": name, "group": group, "config": config, "host": "laptop"})
        assert response.status_code == 201, response.text
        run = response.json()
    assert run["source"] == "script" and run["status"] == "running" and run["config"] == config
    return run


def log(stack, run: dict, points: dict[str, list[tuple[int, float]]]) -> None:
    """What the client's background thread sends for `run.log(...)` calls: name -> [(step, value)]."""
    body = {"attempt": run["attempt"], "points": [
        {"name": name, "step": step, "value": value} for name, pairs in points.items() for step, value in pairs
    ]}  # fmt: skip
    with api(stack) as client:
        client.post(f"/runs/{run['id']}/metrics", json=body).raise_for_status()


def finish(stack, run: dict, status: str = "completed") -> None:
    with api(stack) as client:
        client.post(f"/runs/{run['id']}/finish", json={"attempt": run["attempt"], "status": status}).raise_for_status()


def chart_traces(page, selector: str) -> dict[str, int]:
    """Curve name -> number of points, of the Plotly chart at `selector` (bands left out); {} before
    the chart exists."""
    return page.evaluate(
        """(s) => Object.fromEntries((document.querySelector(s)?.data || [])
            .filter((t) => t.meta !== "band").map((t) => [t.name, t.x.length]))""",
        selector,
    )


def metric_chart(name: str) -> str:
    return f'#metric-charts section[data-chart="{name}"] .chart'


def test_the_runs_table_marks_a_script_run_beside_a_worker_run(page, stack):
    trained = worker_run(stack, "engine run", "table-mix", [0.5, 0.7])
    script = script_run(stack, "my script", "table-mix")
    log(stack, script, {"loss": [(0, 1.0), (1, 0.6)], "val/acc": [(1, 0.8)]})
    finish(stack, script)

    page.goto("/?group=table-mix")
    script_row = page.locator(f'tr[data-run-id="{script["id"]}"]')
    worker_row = page.locator(f'tr[data-run-id="{trained["id"]}"]')
    script_row.wait_for()
    assert script_row.locator("td.model .source-badge").inner_text() == "script"
    assert script_row.locator("td.hyper").inner_text() == "lr=0.01 · model.width=64"
    assert "val/acc" in script_row.locator("td.num .sub").first.inner_text()
    assert "step 1" in script_row.locator(".progress").inner_text()
    assert script_row.get_by_role("link", name="Clone").count() == 0
    assert worker_row.locator(".source-badge").count() == 0
    assert "mlp" in worker_row.locator("td.model").inner_text()
    assert worker_row.get_by_role("link", name="Clone").count() == 1
    screenshot(page, "runs-script-and-worker")

    page.locator("#filters select[name=source]").select_option("script")
    wait_until(lambda: page.locator(f'tr[data-run-id="{trained["id"]}"]').count() == 0, timeout=10,
               what="the worker run filtered out")  # fmt: skip
    assert "source=script" in page.url
    assert page.locator(f'tr[data-run-id="{script["id"]}"]').count() == 1


def test_a_script_runs_page_shows_its_config_and_draws_its_own_metrics_live_and_cancels(page, stack):
    run = script_run(stack, "live script", "page")
    log(stack, run, {"loss": [(step, 1 / (step + 1)) for step in range(10)], "val/acc": [(4, 0.6), (9, 0.7)]})

    page.goto(f"/run.html?id={run['id']}")
    wait_until(lambda: chart_traces(page, metric_chart("loss")) == {"loss": 10}, timeout=15, what="the loss curve")
    assert chart_traces(page, metric_chart("acc")) == {"val/acc": 2}
    assert page.locator("#spec-title").inner_text() == "Config"
    assert '"width": 64' in page.locator("#spec").inner_text()
    assert page.locator("#run-subtitle .source-badge").inner_text() == "script"
    assert page.locator("#clone-run").count() == 0
    for fixed in ("chart-loss", "chart-score", "chart-lr", "chart-time"):  # the engine's names: none reported
        assert page.locator(f"#{fixed}").is_hidden(), fixed
    x_title = page.evaluate(f"document.querySelector('{metric_chart('loss')}').layout.xaxis.title.text")
    assert x_title == "step"

    # Points logged while the page is open are drawn as they arrive, a new name in a new chart.
    log(stack, run, {"loss": [(10, 0.05), (11, 0.04)], "val/loss": [(9, 0.3), (11, 0.2)], "train/lr": [(11, 0.01)]})
    wait_until(lambda: chart_traces(page, metric_chart("loss")) == {"loss": 12, "val/loss": 2}, timeout=15,
               what="the new points and val/loss with loss")  # fmt: skip
    assert chart_traces(page, metric_chart("lr")) == {"train/lr": 1}
    wait_until(lambda: "step 11" in page.locator("#status-strip").inner_text(), timeout=5, what="the last step")
    assert "val/acc" in page.locator("#results").inner_text()
    screenshot(page, "run-page-script")

    page.locator("#cancel-run").click()
    wait_until(lambda: page.locator("#cancel-run").is_disabled(), timeout=10, what="the cancel to be requested")
    with api(stack) as client:
        beat = client.post(f"/runs/{run['id']}/heartbeat", json={"attempt": run["attempt"]}).raise_for_status().json()
    assert beat["cancel_requested"] is True  # what turns the script's run.should_stop True
    finish(stack, run, "cancelled")  # the script stops
    page.locator("#run-status .badge.status-cancelled").wait_for()


def test_compare_draws_a_script_run_beside_a_worker_run_and_groups_by_a_config_path(page, stack):
    trained = worker_run(stack, "engine", "compare-mix", [0.6, 0.8, 0.9])
    scripts = [script_run(stack, f"script lr {lr}", "compare-mix", {**CONFIG, "lr": lr}) for lr in (0.01, 0.1)]
    for index, run in enumerate(scripts):  # a script may report the engine's names too
        log(stack, run, {"test_accuracy": [(step, 0.5 + index / 10 + step / 100) for step in range(1, 6)],
                         "loss": [(step, 1 / step) for step in range(1, 6)]})  # fmt: skip
        finish(stack, run)

    ids = [trained["id"], *(run["id"] for run in scripts)]
    page.goto("/compare.html?" + "&".join(f"run_id={i}" for i in ids) + "&metric=test_accuracy")
    wait_until(lambda: page.locator("#chart-main").get_attribute("data-traces") == "3", timeout=15, what="3 curves")
    assert sorted(chart_traces(page, "#chart-main")) == ["engine", "script lr 0.01", "script lr 0.1"]
    assert page.locator("#x-axis option[value=epoch]").inner_text() == "epoch / step"
    assert "config.lr" in page.locator("#compare-runs thead").inner_text()
    assert page.locator("#compare-runs summary").all_inner_texts() == ["spec", "config", "config"]
    assert page.locator("#group-by label.chip", has_text="config.lr").count() == 1
    assert page.locator("#group-by label.chip", has_text="learning_rate").count() == 1

    page.locator("#group-by label.chip", has_text="config.lr").click()
    wait_until(lambda: "group_by=config.lr" in page.url, timeout=5, what="the grouping in the URL")
    wait_until(lambda: any("config.lr=0.1" in name for name in chart_traces(page, "#chart-main")), timeout=15,
               what="curves grouped by config.lr")  # fmt: skip
    names = list(chart_traces(page, "#chart-main"))
    assert len([n for n in names if n.startswith("config.lr=")]) == 3, names  # 0.01, 0.1 and the worker run's none
    screenshot(page, "compare-script-and-worker")
