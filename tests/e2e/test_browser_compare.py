"""The compare page in a real browser names each group as the server does: the chart's curves and
legend, the summary table and the statistics table all show `optimizer=sgd(momentum=0.9)` for runs
grouped by a registry entry (GET /compare?group_by=... gives the groups and their labels)."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.e2e import browser as fixtures
from tests.e2e.browser import screenshot, tiny_spec
from tests.e2e.services import running_stack
from tests.utils.catalog import builtin_catalog
from tests.utils.live_server import free_port

browser, page = fixtures.browser, fixtures.page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SGD = "optimizer=sgd(momentum=0.9)"
ADAM = "optimizer=adam"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """The API alone: the runs below are trained by hand, through the REST API a worker uses
    (starting with the catalog a worker with the built-in zoo publishes)."""
    data_dir = tmp_path_factory.mktemp("browser-compare-stack")
    port = free_port()
    env = {
        "TRAINBOARD_DATA_DIR": str(data_dir),
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
    }
    with running_stack(env, data_dir, workers=0) as started:
        httpx.post(f"{started.api_url}/api/v1/workers", json=builtin_catalog(), timeout=30).raise_for_status()
        yield started


def trained_run(stack, name: str, optimizer, seed: int, accuracy: list[float]) -> None:
    """Submit a run and report its epochs as its worker would: claim, points, finish."""
    with httpx.Client(base_url=f"{stack.api_url}/api/v1", timeout=30) as api:
        spec = tiny_spec(optimizer=optimizer, seed=seed, epochs=len(accuracy))
        run = api.post("/runs", json={"name": name, "group": "optimizers", "spec": spec}).raise_for_status().json()
        lease = api.post(f"/runs/{run['id']}/start", json={"worker_host": "by-hand"}).raise_for_status().json()
        points = [
            {"name": metric, "step": epoch, "value": value if metric == "test_accuracy" else 1 - value}
            for epoch, value in enumerate(accuracy, start=1)
            for metric in ("test_accuracy", "test_loss")
        ]
        api.post(f"/runs/{run['id']}/metrics", json={"attempt": lease["attempt"], "points": points}).raise_for_status()
        body = {"attempt": lease["attempt"], "status": "completed", "epochs_completed": len(accuracy)}
        api.post(f"/runs/{run['id']}/finish", json=body).raise_for_status()


def test_chart_summary_and_statistics_name_the_groups_alike(page, stack):
    for seed in range(3):
        trained_run(stack, f"sgd {seed}", {"name": "sgd", "momentum": 0.9}, seed, [0.6, 0.9 + seed / 50])
        trained_run(stack, f"adam {seed}", "adam", seed, [0.5, 0.8 + seed / 50])

    page.goto("/compare.html?group=optimizers&group_by=optimizer")
    page.locator("#stats-groups tbody tr").first.wait_for()

    traces = page.evaluate("document.getElementById('chart-main').data.map((t) => ({name: t.name, fill: t.fill}))")
    curves = [t["name"] for t in traces if t["fill"] != "toself"]
    assert curves == [f"{SGD} (n=3)", f"{ADAM} (n=3)"]
    assert page.locator("#chart-main .legendtext").all_text_contents() == curves

    summary = [text.replace("★", "").strip() for text in page.locator("#summary tbody td.label").all_inner_texts()]
    assert summary == [SGD, ADAM]
    statistics = page.locator("#stats-groups tbody td.label").all_inner_texts()
    assert sorted(statistics) == sorted(summary)
    assert SGD in page.locator("#stats-verdict").inner_text()  # ranked first by the server
    screenshot(page, "compare-grouped-by-optimizer")


def test_long_runs_are_drawn_thinned_with_their_exact_best_and_exported_whole(page, stack):
    """Two script runs of 3,000 steps: the chart gets at most 500 points a curve (the spike that
    is each run's best among them), the summary shows the exact selected and final values, and the
    CSV has every step."""
    steps = 3000
    with httpx.Client(base_url=f"{stack.api_url}/api/v1", timeout=60) as api:
        for index, spike_at in enumerate((1234, 2345)):
            body = {"name": f"long {index}", "group": "long runs", "config": {"seed": index}}
            run = api.post("/runs/track", json=body).raise_for_status().json()
            points = [  # val_accuracy is best at the spike: the selected step
                {"name": name, "step": s, "value": 0.99 if s == spike_at else 0.5 + (s % 50) / 1000}
                for s in range(1, steps + 1) for name in ("val_accuracy", "test_accuracy")
            ]
            api.post(f"/runs/{run['id']}/metrics", json={"attempt": 1, "points": points}).raise_for_status()
            api.post(f"/runs/{run['id']}/finish", json={"attempt": 1, "status": "completed"}).raise_for_status()

    page.goto("/compare.html?group=long+runs")
    page.locator("#summary tbody tr").first.wait_for()
    traces = page.evaluate("document.getElementById('chart-main').data.map((t) => ({x: t.x, y: t.y}))")
    assert len(traces) == 2
    for trace, spike_at in zip(traces, (1234, 2345), strict=True):
        assert len(trace["x"]) <= 502 and trace["x"][0] == 1 and trace["x"][-1] == steps
        assert trace["y"][trace["x"].index(spike_at)] == 0.99  # the best point is drawn
    cells = page.locator("#summary tbody tr").first.locator("td.num").all_inner_texts()
    assert cells[1:3] == ["99.00%", "50.00%"]  # test accuracy at the selected step and final, over every step
    assert page.locator("#summary-note").inner_text().startswith("selected: at each run's best val accuracy epoch")

    with page.expect_download() as csv_download:
        page.locator("#export-csv").click()
    table = list(csv.DictReader(io.StringIO(csv_download.value.path().read_text())))
    assert len(table) == 2 * steps  # every point, not the chart's


def test_many_runs_are_drawn_without_a_legend_and_named_on_hover(page, stack):
    """31 runs: a legend of 31 names would cover the chart; none is drawn, the note says why, each
    curve still carries its run's name (its hover), and the summary table lists every run."""
    with httpx.Client(base_url=f"{stack.api_url}/api/v1", timeout=60) as api:
        for index in range(31):
            body = {"name": f"many {index}", "group": "many runs", "config": {"seed": index}}
            run = api.post("/runs/track", json=body).raise_for_status().json()
            points = [{"name": "test_accuracy", "step": s, "value": 0.5 + index / 100 + s / 1000} for s in range(1, 6)]
            api.post(f"/runs/{run['id']}/metrics", json={"attempt": 1, "points": points}).raise_for_status()
            api.post(f"/runs/{run['id']}/finish", json={"attempt": 1, "status": "completed"}).raise_for_status()

    page.goto("/compare.html?group=many+runs")
    page.locator("#summary tbody tr").first.wait_for()
    names = page.evaluate("document.getElementById('chart-main').data.map((t) => t.name)")
    assert sorted(names) == sorted(f"many {index}" for index in range(31))
    assert page.locator("#chart-main .legendtext").count() == 0
    assert "No legend for 31 lines: hover a line for its name." in page.locator("#main-note").inner_text()
    assert page.locator("#summary tbody tr").count() == 31
