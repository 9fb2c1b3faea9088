"""Launch latency: from POST /api/v1/runs to the worker's claim of the run (POST /runs/{id}/start,
which is also its first heartbeat: the run's `started_at`), with a real, warm Celery worker
process (`trainboard worker --concurrency 1`) and the API in its own process. Two setups: Redis
as the broker with Postgres as the store, and the embedded default (SQLite store, kombu's
SQLAlchemy transport on a SQLite file, which polls for messages once per second). Tiny runs are
submitted one after another, each once the previous one has ended and a random pause of up to
a second has passed.

    .venv/bin/python -m bench.launch_latency [--runs 10] [--setups redis,embedded]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import sys
import time
from datetime import datetime

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
    redis_database,
    start_api,
    wait_for_workers,
    temp_dir,
)
from bench.ingestion import TINY_SPEC
from trainboard.sse import stream_events

SETUPS = {"redis": "Redis broker + Postgres store", "embedded": "embedded: SQLite store + SQLite broker"}


def worker_argv() -> list[str]:
    """The worker as `trainboard worker --concurrency 1` starts it."""
    return [sys.executable, "-m", "backend.cli", "worker", "--concurrency", "1"]


def _timestamp(value: str | None) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else float("nan")


def launch_one(api: httpx.Client, base_url: str, name: str, timeout: float, processes: Processes) -> dict:
    """Submit a run and follow its events to the end; times are seconds after the POST was sent."""
    sent = time.time()
    response = api.post("/runs", json={"name": name, "spec": TINY_SPEC})
    response.raise_for_status()
    run_id = response.json()["id"]
    seen_running = float("nan")
    deadline = time.monotonic() + timeout
    with (
        httpx.Client(timeout=httpx.Timeout(min(timeout, 30), connect=5)) as client,
        stream_events(client, f"{base_url}/api/v1/runs/{run_id}/events") as events,
    ):
        for event in events:
            if event.event == "state" and event.json()["status"] != "queued" and math.isnan(seen_running):
                seen_running = time.time() - sent
            if event.event == "end":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not end within {timeout:.0f}s:\n{processes.log_tail('worker')}")
            processes.check_alive()
    run = api.get(f"/runs/{run_id}").json()
    if run["status"] != "completed":
        raise RuntimeError(f"run {run_id} ended {run['status']}: {run['error']}\n{processes.log_tail('worker')}")
    return {
        "claim": _timestamp(run["started_at"]) - sent,
        "seen_running": seen_running,
        "finished": _timestamp(run["finished_at"]) - sent,
    }


def measure(stack: contextlib.ExitStack, setup: str, args: argparse.Namespace) -> dict[str, list[float]]:
    data_dir = temp_dir(stack, f"bench-launch-{setup}-")
    port = free_port()
    if setup == "redis":
        database_url = stack.enter_context(postgres_database())
        env = bench_env(
            data_dir=data_dir, port=port, database_url=database_url, broker_url=stack.enter_context(redis_database())
        )
    else:
        database_url = f"sqlite:///{data_dir.resolve() / 'trainboard.db'}"
        env = bench_env(data_dir=data_dir, port=port)
    migrate(database_url)
    processes = Processes(stack, data_dir)
    base_url = start_api(processes, env)
    processes.start("worker", worker_argv(), env)
    wait_for_workers(base_url, 1, processes)
    results: dict[str, list[float]] = {"claim": [], "seen_running": [], "finished": []}
    pauses = random.Random(args.seed)
    with httpx.Client(base_url=f"{base_url}/api/v1", timeout=30) as api:
        # The first run warms the worker (its pool process imports torch and builds the dataset).
        launch_one(api, base_url, f"{setup} warm-up", args.warmup_timeout, processes)
        for index in range(args.runs):
            # A random pause first, so that submissions do not lock in step with a polling broker
            # (the embedded one looks once a second): each run meets the poll at a random phase.
            time.sleep(pauses.uniform(0, args.max_pause))
            result = launch_one(api, base_url, f"{setup} #{index}", args.timeout, processes)
            for key, value in result.items():
                results[key].append(value)
            print(f"  {SETUPS[setup]}, run {index + 1}/{args.runs}: claimed after {result['claim']:.3f}s", flush=True)
    processes.stop_all()
    return results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.launch_latency",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=10, help="runs measured per setup, one after another (10)")
    parser.add_argument("--setups", default="redis,embedded", help="redis and/or embedded (both)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds allowed per run (120)")
    parser.add_argument(
        "--max-pause",
        type=float,
        default=1.0,
        help="a random pause of 0 to this many seconds before each submission (1.0)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pauses (0)")
    parser.add_argument(
        "--warmup-timeout",
        type=float,
        default=300,
        help="seconds allowed for the first, unmeasured run, worker start included (300)",
    )
    args = parser.parse_args()
    args.setups = [s.strip() for s in args.setups.split(",") if s.strip()]
    if not args.setups or not set(args.setups) <= set(SETUPS) or not 1 <= args.runs <= 1000:
        parser.error("--setups takes redis,embedded; --runs 1..1000")
    if not 0 <= args.max_pause <= 60:
        parser.error("--max-pause 0..60")
    return args


def run(args: argparse.Namespace) -> None:
    print_machine(postgres="redis" in args.setups, redis="redis" in args.setups)
    print(
        f"{args.runs} runs per setup after one warm-up run, each after a random pause of 0-{args.max_pause:g} s; "
        f"spec {json.dumps(TINY_SPEC)}\n",
        flush=True,
    )
    rows = []
    for setup in args.setups:
        with contextlib.ExitStack() as stack:
            results = measure(stack, setup, args)
        for key, label in (
            ("claim", "POST -> claimed (started_at)"),
            ("seen_running", "POST -> 'running' on the SSE stream"),
            ("finished", "POST -> finished (finished_at)"),
        ):
            values = results[key]
            rows.append(
                [SETUPS[setup], label, len(values), percentile(values, 50), percentile(values, 95), max(values)]
            )
    print()
    print_table("Seconds from POST /api/v1/runs", ["setup", "to", "runs", "p50 s", "p95 s", "max s"], rows)
    print_load("at the end")


if __name__ == "__main__":
    raise SystemExit(main_wrapper(lambda: run(parse_args())))
