"""The Studies page in a real browser against a real API and worker: the studies table, one study's
cells and runs followed live until its runs complete, the forest plot and ranking of its cells, a
cancel confirmed by a second click, and a hostile study name that stays text."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e import browser as fixtures
from tests.e2e.browser import screenshot, wait_until

browser, stack, page = fixtures.browser, fixtures.stack, fixtures.page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

HOSTILE = "<img src=x onerror=alert(1)>"
BASE_SPEC = {
    "model": "mlp",
    "dataset": {"name": "synthetic_mnist", "num_train": 300, "num_test": 100},
    "learning_rate": 0.1,
    "epochs": 2,
    "batch_size": 50,
}


def create_study(stack, name: str, grid: dict, seeds: int, **spec) -> dict:
    body = {"name": name, "base_spec": {**BASE_SPEC, **spec}, "grid": grid, "seeds": seeds}
    response = httpx.post(f"{stack.api_url}/api/v1/studies", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def forest_rows(page) -> list[dict]:
    """Per trace of the forest plot: its y labels and whether it has horizontal error bars."""
    return page.evaluate(
        """() => (document.getElementById("chart-forest").data || []).map((t) => ({
            y: t.y, errors: Boolean(t.error_x && t.error_x.visible !== false && t.error_x.array),
            plus: t.error_x ? t.error_x.array : [], minus: t.error_x ? t.error_x.arrayminus : []}))"""
    )


def test_a_study_list_and_page_follow_its_runs_to_the_forest_plot(page, stack):
    study = create_study(stack, "lr study", {"learning_rate": [0.5, 0.01]}, 2)

    page.goto("/studies.html")
    row = page.locator(f'#studies tr[data-study-id="{study["id"]}"]')
    row.wait_for()
    assert row.locator("a").inner_text() == "lr study"
    assert "learning_rate" in row.inner_text()
    assert page.locator("nav a.active").inner_text() == "Studies"
    row.locator("a").click()
    page.wait_for_url(f"**/studies.html?id={study['id']}")

    # The page refreshes itself until the 4 runs have completed.
    wait_until(
        lambda: page.locator("#study-strip .badge").inner_text().strip().lower() == "completed",
        timeout=90,
        what="the study to complete on the page",
        interval=0.5,
    )
    assert page.locator("#study-title").inner_text() == "lr study"
    cells = page.locator("#cells tbody tr")
    assert cells.count() == 2
    assert sorted(cells.nth(i).locator(".cell-label").inner_text() for i in range(2)) == [
        "learning_rate=0.01",
        "learning_rate=0.5",
    ]
    runs = page.locator("#cells .study-run")
    assert runs.count() == 4
    for i in range(4):
        assert runs.nth(i).locator("a").get_attribute("href").startswith("/run.html?id=")
        assert "epoch 2 / 2" in runs.nth(i).inner_text()
        assert runs.nth(i).locator(".badge").inner_text().strip().lower() == "completed"
    assert "4 / 4 completed" in page.locator("#study-strip").inner_text()
    assert '"learning_rate": 0.1' in page.locator("#base-spec").text_content()

    compare = page.locator("#compare-study").get_attribute("href")
    assert compare == "/compare.html?group=lr+study&group_by=learning_rate"

    # The forest plot: one row per cell, each with its error bar; the ranking table.
    wait_until(lambda: page.locator("#chart-forest").get_attribute("data-rows") == "2", timeout=15, what="forest plot")
    traces = forest_rows(page)
    labels = [label for trace in traces for label in trace["y"]]
    assert sorted(labels) == ["learning_rate=0.01", "learning_rate=0.5"]
    assert all(trace["errors"] for trace in traces)
    assert all(v > 0 for trace in traces for v in trace["plus"] + trace["minus"])
    assert page.locator("#chart-forest .errorbar").count() == 2
    ranking = page.locator("#ranking tbody tr")
    assert ranking.count() == 2
    assert ranking.nth(0).locator("td").first.inner_text() == "1"
    assert "%" in ranking.nth(0).locator("td").nth(3).inner_text()  # accuracy by default
    # The caption names the summary in words: never the best of the test values, unless asked
    table = httpx.get(f"{stack.api_url}/api/v1/studies/{study['id']}/stats").raise_for_status().json()
    assert table["summary"] in ("selected", "final")
    note = page.locator("#stats-note").inner_text()
    assert note.startswith(table["summary_description"]) and "highest" not in note
    assert note.startswith(
        ("test_accuracy at each run's best val_accuracy epoch", "test_accuracy at each run's last step")
    )
    page.locator("#summary").select_option("best")
    wait_until(lambda: "selected on the test set" in page.locator("#stats-note").inner_text(), timeout=10, what="best")
    screenshot(page, "studies-detail")

    # Another metric and summary: the plot and table follow.
    page.locator("#metric").select_option("test_loss")
    page.locator("#summary").select_option("final")
    wait_until(
        lambda: "test_loss at each run's last step" in page.locator("#stats-note").inner_text(), timeout=10, what="loss"
    )
    assert page.locator("#ranking tbody tr").count() == 2

    page.goto("/studies.html")
    page.locator(f'#studies tr[data-study-id="{study["id"]}"] .badge').wait_for()
    wait_until(lambda: "4 / 4 completed" in row.inner_text(), timeout=10, what="the list's progress")
    screenshot(page, "studies-list")


def test_a_hostile_study_name_is_text_and_cancel_needs_a_second_click(page, stack):
    slow_data = {"name": "synthetic_mnist", "num_train": 3000, "num_test": 100}
    study = create_study(stack, HOSTILE, {}, 1, epochs=50, dataset=slow_data)

    page.goto("/studies.html")
    link = page.locator(f'#studies tr[data-study-id="{study["id"]}"] a')
    link.wait_for()
    assert link.inner_text() == HOSTILE
    assert page.locator("main img").count() == 0

    page.goto(f"/studies.html?id={study['id']}")
    wait_until(lambda: page.locator("#study-title").inner_text() == HOSTILE, timeout=10, what="the study's name")
    assert page.locator("main img").count() == 0
    assert page.locator("#cells .study-run").count() == 1

    # Add seeds: one more run per cell, listed after the refresh.
    page.locator("#extend-seeds").fill("1")
    page.locator("#extend-button").click()
    wait_until(lambda: page.locator("#cells .study-run").count() == 2, timeout=10, what="the added seed's run")
    assert httpx.get(f"{stack.api_url}/api/v1/studies/{study['id']}").json()["seeds"] == [0, 1]

    cancel = page.locator("#cancel-study")
    cancel.wait_for()
    wait_until(lambda: not cancel.is_disabled(), timeout=10, what="the cancel button")
    cancel.click()
    assert "again" in cancel.inner_text()
    assert httpx.get(f"{stack.api_url}/api/v1/studies/{study['id']}").json()["progress"]["cancelled"] == 0
    cancel.click()
    wait_until(
        lambda: httpx.get(f"{stack.api_url}/api/v1/studies/{study['id']}").json()["status"] == "cancelled",
        timeout=30,
        what="the study to be cancelled",
    )
    wait_until(
        lambda: page.locator("#study-strip .badge").inner_text().strip().lower() == "cancelled",
        timeout=15,
        what="the page to show the cancel",
    )
    assert page.locator("main img").count() == 0
    screenshot(page, "studies-hostile-cancelled")
