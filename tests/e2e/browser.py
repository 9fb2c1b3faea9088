"""Fixtures for tests in a real browser: Debian's Chromium driven by Playwright (never a browser
Playwright downloads), against a real API and worker (`services.running_stack`) on a temporary
data folder. Every page records console errors, uncaught exceptions, Content-Security-Policy
violations and dialogs (an `alert` from injected markup); a test fails on any it did not expect.
Screenshots go to test-output/screenshots/.

Chromium: `apt-get install chromium` (.ci/run does it). Missing, the tests are skipped on a
developer's machine and fail in CI (TRAINBOARD_REQUIRE_SERVICES), like the other services.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.services import Stack, running_stack, with_example_plugin
from tests.utils.live_server import free_port

CHROMIUM = Path(os.environ.get("TRAINBOARD_CHROMIUM", "/usr/bin/chromium"))
# The machine may have no network: without the background-networking flags Chromium's update
# and sync connection attempts pile up.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}

# Reports CSP violations to the test (an init script runs outside the page's CSP).
CSP_PROBE = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`));
"""


def browser_missing(message: str) -> None:
    """Skip without a browser on a developer's machine; fail in CI, where it must run."""
    if os.environ.get("TRAINBOARD_REQUIRE_SERVICES"):
        pytest.fail(message + " (TRAINBOARD_REQUIRE_SERVICES is set, so this is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        browser_missing(f"Chromium is not installed at {CHROMIUM}: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        browser_missing(f"Playwright is not installed ({exc}): pip install -e '.[test]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    """One API and one worker for the module's tests (starting them costs seconds); the worker
    has the example plugin (examples/plugin), as a user's worker would have theirs."""
    data_dir = tmp_path_factory.mktemp("browser-stack")
    port = free_port()
    env = {
        "TRAINBOARD_DATA_DIR": str(data_dir),
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
        "TRAINBOARD_HEARTBEAT_SECONDS": "1",
        **with_example_plugin(),
    }
    with running_stack(env, data_dir) as started:
        yield started


class PageProblems:
    """What went wrong in a page: console errors, uncaught exceptions, CSP violations, dialogs."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        self.exceptions: list[str] = []
        self.dialogs: list[str] = []
        self.allowed: list[re.Pattern] = []
        page.on("console", lambda message: message.type == "error" and self.console.append(message.text))
        page.on("pageerror", lambda error: self.exceptions.append(str(error)))
        page.on("dialog", self._dialog)
        page.add_init_script(CSP_PROBE)

    def _dialog(self, dialog) -> None:
        if dialog.type == "confirm" and dialog.message.startswith("Delete run"):
            dialog.accept()  # the page's own delete confirmation
            return
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def allow(self, pattern: str) -> None:
        """A console error this test expects (a 422 the page shows to the user)."""
        self.allowed.append(re.compile(pattern))

    def csp_violations(self) -> list[str]:
        try:
            return self.page.evaluate("window.__cspViolations || []")
        except Exception:  # the page is gone or navigating
            return []

    def check(self) -> None:
        console = [text for text in self.console if not any(p.search(text) for p in self.allowed)]
        problems = {
            "console errors": console,
            "uncaught exceptions": self.exceptions,
            "dialogs (injected script?)": self.dialogs,
            "CSP violations": self.csp_violations(),
        }
        found = {kind: items for kind, items in problems.items() if items}
        assert not found, f"the page reported problems: {found}"


@pytest.fixture
def page(browser, stack):
    """A fresh browser context on the stack's API; fails the test on any page problem."""
    context = browser.new_context(base_url=stack.api_url, viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(20_000)
    opened = context.new_page()
    opened.problems = PageProblems(opened)
    try:
        yield opened
        opened.problems.check()
    finally:
        context.close()


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


# --- API helpers ---------------------------------------------------------------------------------


def tiny_spec(**overrides) -> dict:
    """A run that trains in about a second on a CPU."""
    spec = {
        "model": {"name": "mlp", "hidden_sizes": [32]},
        "dataset": {"name": "synthetic_mnist", "num_train": 300, "num_test": 100},
        "learning_rate": 0.3,
        "epochs": 3,
        "batch_size": 50,
    }
    spec.update(overrides)
    return spec


def create_run(stack: Stack, name: str, group: str | None = None, **spec_overrides) -> dict:
    response = httpx.post(
        f"{stack.api_url}/api/v1/runs", json={"name": name, "group": group, "spec": tiny_spec(**spec_overrides)}
    )
    assert response.status_code == 201, response.text
    return response.json()


def runs_of_group(stack: Stack, group: str) -> list[dict]:
    response = httpx.get(f"{stack.api_url}/api/v1/runs", params={"group": group, "limit": 500})
    response.raise_for_status()
    return response.json()["data"]


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_group(stack: Stack, group: str, count: int, timeout: float = 120) -> list[dict]:
    """Wait until the group has `count` runs, all ended; returns them."""
    found: list[dict] = []

    def ended() -> bool:
        nonlocal found
        found = runs_of_group(stack, group)
        return len(found) == count and all(r["status"] in ("completed", "failed", "cancelled") for r in found)

    wait_until(ended, timeout=timeout, what=f"the {count} runs of group {group!r} to end")
    failed = [r for r in found if r["status"] != "completed"]
    assert not failed, f"runs did not complete: {[(r['id'], r['status'], r['error']) for r in failed]}"
    return found
