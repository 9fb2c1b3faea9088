"""Compare at study size (issue 13): `GET /api/v1/compare` for one group of 100 runs x 400 epochs x
4 metrics, and of 1,000 runs x 400 epochs x 4 metrics, on SQLite and Postgres; and the Compare page
in Chromium, from navigation to its main chart drawn. Targets: the page's request at most 150 ms
p50 and the page drawn in at most 1 s for 100 runs; at most 1 s on the server for 1,000 runs.

    python -m bench.compare_scale [--runs 100,1000] [--epochs 400] [--requests 20] [--backends sqlite,postgres]
                                  [--no-browser]

The API runs in its own process (uvicorn, as `trainboard api` serves it) on a fresh store, filled
through the API as a script's client would (POST /runs/track, then the points of each run in one
batch). Requests, each timed from send to the last byte, over one kept-alive connection:

- "page": what the Compare page asks for (the metric it shows, at the chart's resolution), first
  right after the runs finished (the summaries computed from every point at each request), then,
  as for every other row, once the API keeps the finished runs' summaries (`--settle` seconds);
- "page in Chromium": from navigation to the page's main chart drawn (its performance mark);
- "full, all metrics": every point of every metric at full resolution (`max_points=0`), what the
  page fetched before issue 13 (at most 5 requests above 100 runs).

Bytes: on the wire with `Accept-Encoding: gzip`, and the JSON's own size.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import time

import httpx

from bench.common import (
    Processes,
    bench_env,
    free_port,
    main_wrapper,
    migrate,
    percentile,
    postgres_database,
    print_load,
    print_machine,
    print_table,
    start_api,
    temp_dir,
)

GROUP = "gtsrb-study"
METRICS = ("train_loss", "test_loss", "test_accuracy", "epoch_seconds")
LEARNING_RATES = (0.3, 0.1, 0.03, 0.01, 0.003)
WARMUP = 3


def run_points(rng: random.Random, epochs: int, lr: float) -> list[dict]:
    """A plausible 400-epoch run: a noisy loss falling, an accuracy rising to a plateau."""
    points, start = [], 1.7e9
    ceiling = 0.9 + 0.08 * rng.random() - abs(math.log10(lr) + 1.5) / 20
    for epoch in range(1, epochs + 1):
        progress = 1 - math.exp(-epoch / (epochs / 8))
        seconds = 3.0 + rng.gauss(0, 0.1)
        start += seconds
        values = {
            "train_loss": 2.5 * (1 - progress) + 0.05 + abs(rng.gauss(0, 0.03)),
            "test_loss": 2.5 * (1 - progress) + 0.2 + abs(rng.gauss(0, 0.05)),
            "test_accuracy": min(1.0, max(0.0, ceiling * progress + rng.gauss(0, 0.01))),
            "epoch_seconds": seconds,
        }
        points += [{"name": n, "step": epoch, "value": v, "wall_time": start} for n, v in values.items()]
    return points


def fill(api: httpx.Client, runs: int, epochs: int) -> None:
    rng = random.Random(13)
    for index in range(runs):
        lr, seed = LEARNING_RATES[index % len(LEARNING_RATES)], index // len(LEARNING_RATES)
        body = {"name": f"lr {lr} seed {seed}", "group": GROUP, "config": {"learning_rate": lr, "seed": seed}}
        run = api.post("/runs/track", json=body).raise_for_status().json()
        points = run_points(rng, epochs, lr)
        for start in range(0, len(points), 10_000):
            batch = {"attempt": run["attempt"], "points": points[start : start + 10_000]}
            api.post(f"/runs/{run['id']}/metrics", json=batch).raise_for_status()
        api.post(
            f"/runs/{run['id']}/finish", json={"attempt": run["attempt"], "status": "completed"}
        ).raise_for_status()


def timed_gets(api: httpx.Client, params: dict, count: int) -> dict:
    """Seconds per request (send to last byte, decompressed), bytes on the wire and of the JSON."""
    durations, wire, size = [], 0, 0
    for index in range(WARMUP + count):
        started = time.perf_counter()
        response = api.get("/compare", params=params)
        body = response.read()
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if index >= WARMUP:
            durations.append(elapsed)
        wire, size = response.num_bytes_downloaded, len(body)
    return {"p50": percentile(durations, 50), "p95": percentile(durations, 95), "wire": wire, "json": size}


REQUESTS = {
    "page": {"group": GROUP, "metric": "test_accuracy"},
    "page, grouped by lr": {"group": GROUP, "metric": "test_accuracy", "group_by": "config.learning_rate"},
    "full, all metrics": {"group": GROUP, "max_points": 0},
}


def page_seconds(base_url: str, count: int, query: str) -> list[float]:
    """Chromium (Debian's): from the start of navigation to the main chart drawn (the page's
    performance mark right after Plotly has built the chart with its curves, before the summary
    table and the other charts, which follow once it is painted), `count` times."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT

    mark = "() => performance.getEntriesByName('compare:main-chart-drawn').map((e) => e.startTime)[0]"
    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            for index in range(WARMUP + count):
                page = browser.new_page(viewport=VIEWPORT, base_url=base_url)
                page.goto(f"/compare.html?{query}")
                page.wait_for_function(mark, timeout=60_000)
                if page.evaluate("() => Number(document.getElementById('chart-main').dataset.traces)") < 1:
                    raise RuntimeError("the Compare page drew no curve")
                elapsed = page.evaluate(mark) / 1000
                page.close()
                if index >= WARMUP:
                    times.append(elapsed)
        finally:
            browser.close()
    return times


def measure(stack: contextlib.ExitStack, label: str, database_url: str | None, runs: int, args) -> list[list]:
    data_dir = temp_dir(stack, "trainboard-compare-scale-")
    database_url = database_url or f"sqlite:///{data_dir / 'trainboard.db'}"
    migrate(database_url)
    processes = Processes(stack, data_dir)
    port = free_port()
    env = bench_env(data_dir=data_dir, port=port, database_url=database_url, TRAINBOARD_HEARTBEAT_SECONDS="3600")
    base_url = start_api(processes, env)
    rows = []
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=300) as api:
        started = time.perf_counter()
        fill(api, runs, args.epochs)
        filled = time.perf_counter() - started
        points = runs * args.epochs * len(METRICS)
        print(f"{label}: {runs} runs, {points:,} points stored in {filled:.0f} s", flush=True)
        size = f"{runs} x {args.epochs} x {len(METRICS)}"
        found = timed_gets(api, REQUESTS["page"], args.requests)  # summaries read from the store each time
        rows.append([label, size, "page, runs just finished", 1000 * found["p50"], 1000 * found["p95"],
                     found["wire"] / 1e6, found["json"] / 1e6])  # fmt: skip
        time.sleep(args.settle)  # then finished runs' summaries are kept by the API
        for name, params in REQUESTS.items():
            count = args.requests if runs <= 100 or params.get("max_points") != 0 else min(args.requests, 5)
            found = timed_gets(api, params, count)
            rows.append([label, size, name, 1000 * found["p50"], 1000 * found["p95"], found["wire"] / 1e6,
                         found["json"] / 1e6])  # fmt: skip
    if args.browser and runs <= 100:
        for name, query in (("page in Chromium", f"group={GROUP}"),
                            ("page in Chromium, grouped", f"group={GROUP}&group_by=config.learning_rate")):  # fmt: skip
            times = page_seconds(base_url, args.page_loads, query)
            rows.append([label, size, name, 1000 * percentile(times, 50), 1000 * percentile(times, 95), math.nan,
                         math.nan])  # fmt: skip
    processes.stop_all()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="100,1000", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--epochs", type=int, default=400)
    parser.add_argument("--requests", type=int, default=20, help="timed requests of each kind (after 3 warm-up)")
    parser.add_argument("--page-loads", type=int, default=10, help="timed page loads (after 3 warm-up)")
    parser.add_argument(
        "--settle",
        type=float,
        default=61,
        help="seconds to wait after the fill, until the API keeps finished runs' "
        "summaries (backend/services/finished_summaries.py SETTLE_SECONDS); the first row is measured before",
    )
    parser.add_argument("--backends", default="sqlite,postgres", type=lambda s: s.split(","))
    parser.add_argument("--no-browser", dest="browser", action="store_false", help="skip the page in Chromium")
    args = parser.parse_args()
    if not set(args.backends) <= {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite,postgres")
    print_machine(postgres="postgres" in args.backends)
    rows = []
    for runs in args.runs:
        for backend in args.backends:
            with contextlib.ExitStack() as stack:
                url = stack.enter_context(postgres_database()) if backend == "postgres" else None
                rows += measure(stack, "Postgres" if url else "SQLite", url, runs, args)
    headers = ["store", "runs x epochs x metrics", "request", "p50 ms", "p95 ms", "MB on the wire", "MB of JSON"]
    print_table("GET /api/v1/compare, one group", headers, rows)
    print_load("at the end")


if __name__ == "__main__":
    raise SystemExit(main_wrapper(main))
