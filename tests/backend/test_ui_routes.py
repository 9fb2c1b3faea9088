"""What the browser dashboard gets from the app besides the REST resources: plotly.js from the
installed package, a Content-Security-Policy on every response, pages without inline scripts,
and the self-contained HTML report of a comparison (plotly.js and the data inlined, hostile
names escaped), with the grouping statistics it shares with the compare page."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from importlib import resources

import pytest
from scipy import stats as scipy_stats

from backend.main import CONTENT_SECURITY_POLICY, FRONTEND_DIR
from backend.services.report_data import Curve, clip_band, format_metric, group_curve, plotly_text
from tests.utils.factories import API, create_run, finish_run, post_points, start_run, valid_spec

HOSTILE = "<img src=x onerror=alert(1)>"
PLOTLY_JS = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
PLOTLY_BASIC = (FRONTEND_DIR / "vendor" / "plotly-basic.min.js").read_bytes()
PAGES = sorted(path.name for path in FRONTEND_DIR.glob("*.html"))


# --- plotly.js ------------------------------------------------------------------------------------


def test_plotly_js_is_served_from_the_app(client):
    response = client.get("/vendor/plotly-basic.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["content-encoding"] == "gzip"  # 1.2 MB, sent as about a third
    assert response.content == PLOTLY_BASIC
    assert "max-age" in response.headers["cache-control"]

    plain = client.get("/vendor/plotly-basic.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == PLOTLY_BASIC

    cached = client.get("/vendor/plotly-basic.min.js", headers={"If-None-Match": response.headers["etag"]})
    assert cached.status_code == 304 and not cached.content


def _plotly_version(bundle: bytes) -> str:
    """From the banner: "plotly.js v4.1.1" (full) or "plotly.js (basic - minified) v4.1.1"."""
    return re.search(rb"plotly\.js (?:\(basic - minified\) )?v(\d+\.\d+\.\d+)", bundle[:500])[1].decode()


def test_the_vendored_basic_bundle_is_the_plotly_js_of_the_installed_plotly_and_draws_every_trace_the_pages_use():
    # The report (Python plotly) and the dashboard (the basic bundle) draw with one plotly.js version.
    assert _plotly_version(PLOTLY_BASIC) == _plotly_version(PLOTLY_JS)
    assert len(PLOTLY_BASIC) < len(PLOTLY_JS) / 3
    # The basic bundle has scatter, bar and pie traces only: a page drawing another would show nothing.
    used = set()
    for script in FRONTEND_DIR.glob("*.js"):
        text = script.read_text()
        used |= set(re.findall(r'type: "(scatter\w*|bar\w*|pie|box|violin|heatmap\w*|histogram\w*|contour\w*|'
                               r'surface|mesh3d|parcoords|sankey|table|indicator|scatterpolar\w*)"', text))
    assert used and used <= {"scatter", "bar", "pie"}, used


def test_pages_load_plotly_from_the_app_not_a_cdn():
    assert '<script src="/vendor/plotly-basic.min.js"></script>' in (FRONTEND_DIR / "run.html").read_text()
    # The compare page fetches it early and evaluates it once its request is sent (charts.js loadPlotly).
    compare_page = (FRONTEND_DIR / "compare.html").read_text()
    assert '<link rel="preload" href="/vendor/plotly-basic.min.js" as="script">' in compare_page
    assert 'PLOTLY_SRC = "/vendor/plotly-basic.min.js"' in (FRONTEND_DIR / "charts.js").read_text()
    for name in PAGES:
        assert "http://" not in (FRONTEND_DIR / name).read_text().replace("http://www.w3.org", "")
        assert "https://" not in (FRONTEND_DIR / name).read_text()


# --- Content-Security-Policy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/", "/index.html", "/new.html", "/run.html", "/compare.html", "/style.css", "/runs.js",
     "/vendor/plotly-basic.min.js",
     f"{API}/runs", f"{API}/catalog", f"{API}/runs/999", "/health"],
)  # fmt: skip
def test_every_page_and_api_response_carries_the_policy(client, path):
    response = client.get(path)
    assert response.status_code in (200, 404)
    policy = response.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no eval, no CDN
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_api_docs_page_is_served_from_installed_files(client):
    """Issue 12, row 11: /docs loads Swagger UI from this server (the fastapi-offline package), never
    a CDN, and its policy allows no other host."""
    page = client.get("/docs")
    policy = page.headers["content-security-policy"]
    assert "https:" not in policy and "object-src 'none'" in policy and "form-action 'self'" in policy
    assert client.get("/").headers["content-security-policy"] != policy  # its inline start-up script
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', page.text))
    for name, kind in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        asset = client.get(f"/vendor/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert f"/vendor/{name}" in page.text
    assert client.get("/vendor/nothing.js").status_code == 404


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.problems += [f"<{tag} {name}=...>" for name in attributes if name.startswith("on")]
        if tag == "script":
            self.in_script = True
            if not attributes.get("src"):
                self.problems.append("<script> without src")

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.problems.append(f"inline script: {data.strip()[:40]}")


@pytest.mark.parametrize("name", PAGES)
def test_pages_have_no_inline_script_or_event_handler(name):
    parser = _Scripts()
    parser.feed((FRONTEND_DIR / name).read_text())
    assert parser.problems == []


def test_frontend_never_renders_data_as_html():
    for path in FRONTEND_DIR.glob("*.js"):
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{path.name} uses {sink}"


# --- the report -------------------------------------------------------------------------------------


def _trained_run(client, name: str, group: str, lr: float, seed: int, accuracy: list[float]) -> dict:
    run = create_run(client, name=name, group=group, spec=valid_spec(learning_rate=lr, seed=seed, epochs=len(accuracy)))
    start_run(client, run["id"])
    points = []
    for step, value in enumerate(accuracy, start=1):
        wall = 1_700_000_000.0 + 10 * step
        points += [
            {"name": "test_accuracy", "step": step, "value": value, "wall_time": wall},
            {"name": "test_loss", "step": step, "value": 2.0 - value, "wall_time": wall},
            {"name": "epoch_seconds", "step": step, "value": 10.0, "wall_time": wall},
            {"name": "val_accuracy", "step": step, "value": 1.0 - step / 10, "wall_time": wall},  # best at epoch 1
        ]
    post_points(client, run["id"], points)
    finish_run(client, run["id"], epochs_completed=len(accuracy))
    return run


@pytest.fixture
def sweep(client) -> list[dict]:
    """Two learning rates x three seeds (values exact in binary, so means are too); one run has a
    hostile name."""
    runs = []
    for seed in range(3):
        runs.append(_trained_run(client, f"fast {seed}", "report-sweep", 0.5, seed, [0.5, 0.75 + seed / 16]))
        name = HOSTILE if seed == 0 else f"slow {seed}"
        runs.append(_trained_run(client, name, "report-sweep", 0.01, seed, [0.25, 0.375 + seed / 16]))
    return runs


def test_the_report_is_one_self_contained_html_file(client, sweep):
    response = client.get(
        f"{API}/compare/report", params={"group": "report-sweep", "group_by": "learning_rate", "band": "ci"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and 'filename="trainboard-report-sweep-' in disposition
    document = response.text
    assert PLOTLY_BASIC.decode() in document  # plotly.js itself (the dashboard's basic bundle), inlined
    assert PLOTLY_JS.decode() not in document  # not the full bundle: four times the file
    rest = document.replace(PLOTLY_BASIC.decode(), "")
    assert "<script src=" not in rest and "://" not in rest  # nothing to fetch: it opens offline
    assert document.count("Plotly.newPlot") >= 3  # curves, architecture, time per epoch, other metrics
    # The data: the group means at epoch 2, the group labels, the specs.
    assert "learning_rate=0.5" in document and "learning_rate=0.01" in document
    assert '"y":[0.5,0.8125]' in document  # the mean curve of lr 0.5 (0.75, 0.8125, 0.875 at epoch 2)
    # The summary table: test accuracy at each run's selected epoch (its best val_accuracy, epoch 1),
    # then the final one, as mean ± std; never the best of the test values over epochs.
    assert "at selected epoch" in document and "epoch of best" not in document
    assert "50.00% ± 0.00%</td><td class='num'>81.25% ± 6.25%" in document
    assert "test_accuracy at each run&#x27;s best val_accuracy epoch" in document  # the statistics say so
    assert "&quot;learning_rate&quot;: 0.01" in document
    assert "Pairwise comparisons" in document and "mannwhitney" in document  # the statistics table
    # The hostile name: escaped in tables and in chart labels, never markup.
    assert HOSTILE not in document
    assert "&lt;img src=x onerror=alert(1)&gt;" in document


def test_the_report_per_run_against_time(client, sweep):
    ids = [sweep[0]["id"], sweep[1]["id"]]
    response = client.get(f"{API}/compare/report", params={"run_id": ids, "x": "time", "metric": "test_loss"})
    assert response.status_code == 200
    document = response.text
    assert "test loss vs time since start (s)" in document
    assert 'filename="trainboard-runs-' in response.headers["content-disposition"]
    assert "Pairwise comparisons" not in document  # runs are not grouped: no statistics
    assert HOSTILE not in document and "&lt;img src=x onerror=alert(1)&gt;" in document


def test_report_errors(client, sweep):
    assert client.get(f"{API}/compare/report").status_code == 422
    assert client.get(f"{API}/compare/report", params={"run_id": [999]}).status_code == 404
    bad = client.get(f"{API}/compare/report", params={"group": "report-sweep", "group_by": "model.<b>"})
    assert bad.status_code == 422
    assert client.get(f"{API}/compare/report", params={"group": "report-sweep", "x": "wall"}).status_code == 422
    empty = client.get(f"{API}/compare/report", params={"group": "no such group"})
    assert empty.status_code == 200 and "No runs to compare" in empty.text


# --- the statistics of the curves ------------------------------------------------------------------------


def test_group_curve_is_the_mean_with_a_t_interval_across_runs():
    runs = [Curve("a", [1], [1, 2], [1.0, 2.0], [0.2, 0.5]), Curve("b", [2], [1, 2], [1.0, 2.0], [0.4, 0.7]),
            Curve("c", [3], [1], [1.0], [0.3])]  # fmt: skip
    curve = group_curve("g", runs, "ci")
    assert curve.steps == [1, 2] and curve.n == [3, 2]
    assert curve.y == pytest.approx([0.3, 0.6])
    half = scipy_stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)  # std of 0.2, 0.4, 0.3 is 0.1
    assert curve.upper[0] - curve.y[0] == pytest.approx(half)
    assert group_curve("g", runs, "std").upper[1] == pytest.approx(0.6 + math.sqrt(0.02))
    assert group_curve("g", runs, "none").lower == [None, None]
    clipped = clip_band(group_curve("g", runs, "ci"), "test_accuracy")
    assert min(v for v in clipped.lower if v is not None) >= 0 and max(v for v in clipped.upper if v) <= 1


def test_the_report_of_a_long_run_draws_thinned_curves_and_tables_exact_values(client):
    """A run of 6,000 epochs: its curves come at a chart's resolution (the report no longer holds
    every point), while the table's values are the exact ones kept from every point."""
    run = create_run(client, name="long", group="long-run", spec=valid_spec(epochs=6000))
    start_run(client, run["id"])
    for first in range(1, 6001, 3000):
        points = []
        for step in range(first, first + 3000):
            val = 0.9 if step == 4321 else 0.5  # the selected epoch: a step thinning may well drop
            points += [{"name": "val_accuracy", "step": step, "value": val},
                       {"name": "test_accuracy", "step": step, "value": 0.25 + (step == 4321) * 0.5 + step / 1e5}]
        post_points(client, run["id"], points)
    finish_run(client, run["id"], epochs_completed=6000)
    document = client.get(f"{API}/compare/report", params={"run_id": [run["id"]], "metric": "test_accuracy"}).text
    curves = [json.loads(match) for match in re.findall(r'"x":(\[[^\]]*\])', document)]
    assert curves and max(len(x) for x in curves) <= 2000  # 6,000 points a curve, drawn from at most 2,000
    expected_selected = format_metric("test_accuracy", 0.25 + 0.5 + 4321 / 1e5)
    expected_final = format_metric("test_accuracy", 0.25 + 6000 / 1e5)
    assert f"{expected_selected}</td><td class='num'>{expected_final}" in document

def test_plotly_labels_show_markup_literally():
    assert plotly_text("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
