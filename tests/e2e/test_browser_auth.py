"""The dashboard against a service that listens beyond localhost with a token: the runs page asks
to sign in, a wrong token is refused, the right one shows the runs, and a run page streams live
(the stream is read with fetch, so the token travels in a header, never in a URL or a cookie)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.e2e import browser as fixtures
from tests.e2e.browser import tiny_spec, wait_until
from tests.e2e.services import running_stack
from tests.utils.live_server import free_port

browser, page = fixtures.browser, fixtures.page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TOKEN = "e2e-browser-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """An API listening on all interfaces (so reads need the token too) and a worker that reports
    with the token."""
    data_dir = tmp_path_factory.mktemp("browser-auth-stack")
    port = free_port()
    env = {
        "TRAINBOARD_DATA_DIR": str(data_dir),
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
        "TRAINBOARD_HOST": "0.0.0.0",
        "TRAINBOARD_API_TOKEN": TOKEN,
        "TRAINBOARD_HEARTBEAT_SECONDS": "1",
    }
    with running_stack(env, data_dir) as started:
        yield started


def _create_run(stack, name: str, **overrides) -> dict:
    response = httpx.post(
        f"{stack.api_url}/api/v1/runs", json={"name": name, "spec": tiny_spec(**overrides)}, headers=AUTH
    )
    assert response.status_code == 201, response.text
    return response.json()


def _chart_points(page, chart_id: str) -> int:
    return page.evaluate(
        "(id) => (document.getElementById(id).data || []).reduce((n, t) => n + t.x.length, 0)", chart_id
    )


def test_sign_in_with_a_token_then_watch_a_run_live(page, stack):
    page.problems.allow(r"status of 401")  # the refused calls before signing in
    first = _create_run(stack, "signed-in run")
    assert httpx.get(f"{stack.api_url}/api/v1/runs").status_code == 401

    page.goto("/")
    bar = page.locator("#token-bar")
    bar.wait_for()
    assert "needs an API token" in bar.inner_text()
    assert page.locator("#runs tbody tr").count() == 0

    bar.locator("input").fill("not-the-token")
    bar.locator("button").click()
    page.wait_for_load_state()
    wait_until(lambda: "was refused" in page.locator("#token-bar").inner_text(), timeout=10, what="the refusal")
    assert page.evaluate("localStorage.getItem('trainboard.token')") is None

    page.locator("#token-bar input").fill(TOKEN)
    page.locator("#token-bar button").click()
    rows = page.locator("#runs tbody tr")
    wait_until(lambda: rows.count() >= 1, timeout=15, what="the runs after signing in")
    assert "signed-in run" in page.locator("#runs").inner_text()
    assert page.locator("#token-bar").count() == 0
    assert page.context.cookies() == []  # the token is never a cookie

    run = _create_run(
        stack, "live with token", epochs=8, device="cpu",
        dataset={"name": "synthetic_mnist", "num_train": 3000, "num_test": 200},
    )  # fmt: skip
    page.goto(f"/run.html?id={run['id']}")
    seen_while_running: set[int] = set()
    status = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = page.locator("#run-status").inner_text().strip().lower()
        points = _chart_points(page, "chart-loss")
        if status == "running" and points:
            seen_while_running.add(points)
        if status == "completed":
            break
        time.sleep(0.05)
    assert status == "completed", f"the run ended {status}"
    assert len(seen_while_running) >= 2, f"no live growth seen: {sorted(seen_while_running)}"
    wait_until(lambda: _chart_points(page, "chart-loss") == 16, timeout=10, what="every epoch on the chart")
    assert page.locator("#token-bar").count() == 0
    assert first["id"] != run["id"]
    assert not re.search(TOKEN, page.url)
