"""One big run (issue 12, bounded reads): a run of 1,000,000 points (4 metrics x 250,000 steps, sent
as 100 batches of 10,000), then what a dashboard asks of it. Targets: `GET /runs?limit=50` under
200 ms, a chart read (the run's curves thinned, `GET /runs/{id}/metrics?max_points=2000`) under 1 s,
and the API process under 500 MB resident with 5 live streams of the run open.

    python -m bench.big_run [--steps 250000] [--requests 10] [--clients 5] [--backends sqlite,postgres]

The API runs in its own process (uvicorn) on a fresh store; the run is a script's (POST /runs/track)
and stays running, so its streams stay open. Each stream is timed to its headers and to its first
metrics event (the backlog); the API's resident memory is sampled while they connect and hold.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import threading
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
from trainboard.sse import stream_events

METRICS = ("train_loss", "val_loss", "val_accuracy", "lr")
BATCH = 10_000


def fill(api: httpx.Client, steps: int) -> int:
    run = api.post("/runs/track", json={"name": "big run", "group": "big"}).raise_for_status().json()
    batch = []
    for step in range(steps):
        decay = math.exp(-step / (steps / 5))
        values = (2.5 * decay + 0.1, 2.6 * decay + 0.2 + 0.01 * math.sin(step), 0.95 - 0.8 * decay, 0.1 * decay)
        batch += [
            {"name": n, "step": step, "value": v, "wall_time": 1.7e9 + step}
            for n, v in zip(METRICS, values, strict=True)
        ]
        if len(batch) >= BATCH:
            api.post(f"/runs/{run['id']}/metrics", json={"attempt": run["attempt"], "points": batch}).raise_for_status()
            batch = []
    if batch:
        api.post(f"/runs/{run['id']}/metrics", json={"attempt": run["attempt"], "points": batch}).raise_for_status()
    return run["id"]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def timed(api: httpx.Client, path: str, params: dict, count: int) -> list[float]:
    times = []
    for _ in range(count + 2):  # 2 warm-up
        started = time.perf_counter()
        api.get(path, params=params).raise_for_status()
        times.append(time.perf_counter() - started)
    return times[2:]


def streams(base: str, run_id: int, clients: int, pid: int) -> tuple[list[float], list[float], float]:
    """Open `clients` streams of the run at once: each one's seconds to headers and to its backlog,
    and the API's highest resident memory until all hold their backlog (and 2 s more)."""
    headers, backlog, errors = [], [], []
    done = threading.Barrier(clients + 1)

    def follow() -> None:
        try:
            with httpx.Client(base_url=base, timeout=120) as client:
                started = time.perf_counter()
                with stream_events(client, f"/runs/{run_id}/events") as events:
                    headers.append(time.perf_counter() - started)
                    events.until(lambda e: e.event == "metrics")
                    backlog.append(time.perf_counter() - started)
                    done.wait()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            done.abort()

    threads = [threading.Thread(target=follow, daemon=True) for _ in range(clients)]
    peak = rss_mb(pid)
    for thread in threads:
        thread.start()
    while len(backlog) < clients and not errors:
        peak = max(peak, rss_mb(pid))
        time.sleep(0.02)
    held_until = time.monotonic() + 2
    while time.monotonic() < held_until:
        peak = max(peak, rss_mb(pid))
        time.sleep(0.05)
    if errors:
        raise errors[0]
    done.wait()
    for thread in threads:
        thread.join(10)
    return headers, backlog, peak


def measure(stack: contextlib.ExitStack, label: str, database_url: str | None, args) -> list[list]:
    data_dir = temp_dir(stack, "trainboard-big-run-")
    database_url = database_url or f"sqlite:///{data_dir / 'trainboard.db'}"
    migrate(database_url)
    processes = Processes(stack, data_dir)
    env = bench_env(data_dir=data_dir, port=free_port(), database_url=database_url,
                    TRAINBOARD_HEARTBEAT_SECONDS="3600")  # fmt: skip
    base_url = start_api(processes, env)
    pid = processes.running["api"].pid
    base = f"{base_url}/api/v1"
    with httpx.Client(base_url=base, timeout=600) as api:
        started = time.perf_counter()
        run_id = fill(api, args.steps)
        points = args.steps * len(METRICS)
        print(f"{label}: {points:,} points stored in {time.perf_counter() - started:.0f} s; "
              f"API {rss_mb(pid):.0f} MB", flush=True)  # fmt: skip
        rows = []
        for name, path, params in (
            ("GET /runs?limit=50", "/runs", {"limit": 50}),
            ("GET /runs/{id}", f"/runs/{run_id}", {}),
            ("chart read: metrics?max_points=2000", f"/runs/{run_id}/metrics", {"max_points": 2000}),
            ("one page: metrics?limit=100000", f"/runs/{run_id}/metrics", {"limit": 100_000}),
        ):
            times = timed(api, path, params, args.requests)
            rows.append([label, name, 1000 * percentile(times, 50), 1000 * percentile(times, 95)])
        started = time.perf_counter()
        api.get("/compare/report", params={"run_id": run_id}).raise_for_status()
        rows.append([label, "GET /compare/report (one request)", 1000 * (time.perf_counter() - started), math.nan])
        report_rss = rss_mb(pid)
        before = rss_mb(pid)
        headers, backlog, peak = streams(base, run_id, args.clients, pid)
        rows.append([label, f"{args.clients} streams: to headers", 1000 * percentile(headers, 50), 1000 * max(headers)])
        rows.append([label, f"{args.clients} streams: to the backlog", 1000 * percentile(backlog, 50),
                     1000 * max(backlog)])  # fmt: skip
        print(f"{label}: API resident {before:.0f} MB before the streams (after the report: {report_rss:.0f} MB), "
              f"at most {peak:.0f} MB with {args.clients} streams", flush=True)  # fmt: skip
    processes.stop_all()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=250_000, help="steps of each of the 4 metrics")
    parser.add_argument("--requests", type=int, default=10, help="timed requests of each kind (after 2 warm-up)")
    parser.add_argument("--clients", type=int, default=5, help="live streams opened at once")
    parser.add_argument("--backends", default="sqlite,postgres", type=lambda s: s.split(","))
    args = parser.parse_args()
    print_machine(postgres="postgres" in args.backends)
    rows = []
    for backend in args.backends:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(postgres_database()) if backend == "postgres" else None
            rows += measure(stack, "Postgres" if url else "SQLite", url, args)
    print_table("One run of 1,000,000 points", ["store", "request", "p50 ms", "p95 (max) ms"], rows)
    print_load("at the end")


if __name__ == "__main__":
    raise SystemExit(main_wrapper(main))
