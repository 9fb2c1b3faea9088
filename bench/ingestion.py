"""Metric ingestion: points per second through POST /api/v1/runs/{id}/metrics, in batches of
1,000 points (the worker's batch size), against the real API served by uvicorn in its own
process, on SQLite (WAL, a file in a temporary folder) and on Postgres (a throwaway database).
The client keeps one connection alive per thread and sends pre-serialised JSON, so the time is
the server's. In the same run, the raw insert rate of the same rows without HTTP: the route's
own `add_points`, the bare SQLAlchemy statement it executes, and plain sqlite3 for reference.

    .venv/bin/python -m bench.ingestion [--batches 200] [--clients 1,4] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from trainboard.queues import DEFAULT_QUEUE
from bench.common import (
    Processes,
    bench_env,
    cpu_seconds,
    free_port,
    main_wrapper,
    migrate,
    percentile,
    postgres_database,
    print_load,
    print_machine,
    print_table,
    publish_builtin_catalog,
    start_api,
    temp_dir,
)

NAMES = [
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
    "lr",
    "epoch_seconds",
    "samples_per_second",
    "grad_norm",
    "weight_norm",
    "momentum",
]
TINY_SPEC = {
    "model": "mlp",
    "dataset": {"name": "synthetic_mnist", "num_train": 100, "num_test": 20},
    "learning_rate": 0.1,
    "epochs": 1,
    "batch_size": 50,
}
WALL_TIME = 1_750_000_000.0


def batch_points(index: int, size: int) -> list[dict]:
    """Batch `index`: `size` new points, len(NAMES) metrics per step, steps following the last batch's."""
    steps = size // len(NAMES)
    rng = random.Random(index)
    return [
        {"name": name, "step": step, "value": rng.random(), "wall_time": WALL_TIME + step}
        for step in range(index * steps, (index + 1) * steps)
        for name in NAMES
    ]


def check_batch_size(size: int) -> None:
    if size % len(NAMES):
        raise SystemExit(f"--batch-size must be a multiple of {len(NAMES)} (metrics per step)")


# --- through the API -------------------------------------------------------------------------


def create_run(client: httpx.Client, name: str) -> int:
    """A run submitted and claimed as attempt 1 (points are taken only from a running run's lease holder)."""
    response = client.post("/api/v1/runs", json={"name": name, "spec": TINY_SPEC})
    response.raise_for_status()
    run_id = response.json()["id"]
    client.post(f"/api/v1/runs/{run_id}/start", json={"worker_host": "bench"}).raise_for_status()
    return run_id


def batch_body(index: int, size: int) -> bytes:
    """A POST /metrics body of batch `index`, reported by attempt 1 of its run."""
    return json.dumps({"attempt": 1, "points": batch_points(index, size)}).encode()


def send(client: httpx.Client, run_id: int, bodies: list[bytes], expect: int, deadline: float) -> list[float]:
    """POST each body; returns each request's seconds. Every point must be new to the store."""
    seconds = []
    for body in bodies:
        if time.monotonic() > deadline:
            raise TimeoutError("the ingestion did not finish in time")
        start = time.perf_counter()
        response = client.post(
            f"/api/v1/runs/{run_id}/metrics", content=body, headers={"content-type": "application/json"}
        )
        seconds.append(time.perf_counter() - start)
        if response.status_code != 200 or response.json()["inserted"] != expect:
            raise RuntimeError(f"unexpected answer {response.status_code}: {response.text[:300]}")
    return seconds


def api_rate(
    base_url: str,
    *,
    clients: int,
    batches: int,
    batch_size: int,
    warmup: int,
    timeout: float,
    server_pid: int | None = None,
) -> dict:
    """`batches` batches in all, split over `clients` threads, each on a run of its own."""
    per_client = batches // clients
    http = [httpx.Client(base_url=base_url, timeout=60) for _ in range(clients)]
    try:
        runs = [create_run(http[0], f"ingest x{clients} #{i}") for i in range(clients)]
        bodies = [
            [batch_body(b, batch_size) for b in range(per_client)]
            for _ in range(clients)
        ]
        # Warm-up on a run of its own: connections open, code paths and caches warm.
        warm_run = create_run(http[0], f"ingest warm-up x{clients}")
        deadline = time.monotonic() + timeout
        send(
            http[0],
            warm_run,
            [batch_body(b, batch_size) for b in range(warmup)],
            batch_size,
            deadline,
        )
        for client in http:
            client.get("/health").raise_for_status()  # every client's connection open before the clock starts

        latencies: list[list[float]] = [[] for _ in range(clients)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(clients + 1)

        def client_thread(c: int) -> None:
            try:
                barrier.wait(timeout=30)
                latencies[c] = send(http[c], runs[c], bodies[c], batch_size, deadline)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=client_thread, args=(c,), daemon=True) for c in range(clients)]
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        start = time.perf_counter()
        cpu_start = cpu_seconds(server_pid) if server_pid else math.nan
        for thread in threads:
            thread.join(max(1.0, deadline - time.monotonic()))
        elapsed = time.perf_counter() - start
        server_cpu = (cpu_seconds(server_pid) if server_pid else math.nan) - cpu_start
        if errors:
            raise errors[0]
        if any(thread.is_alive() for thread in threads):
            raise TimeoutError("a client thread did not finish in time")
    finally:
        for client in http:
            client.close()
    every = [s for per in latencies for s in per]
    points = per_client * clients * batch_size
    return {
        "points": points,
        "seconds": elapsed,
        "rate": points / elapsed,
        "p50_ms": percentile(every, 50) * 1000,
        "p95_ms": percentile(every, 95) * 1000,
        "cpu_ms": server_cpu * 1000 / (per_client * clients),
    }


def measure_api(stack: contextlib.ExitStack, label: str, database_url: str | None, args) -> list[list]:
    data_dir = temp_dir(stack, f"bench-ingest-{label}-")
    database_url = database_url or f"sqlite:///{data_dir / 'trainboard.db'}"
    migrate(database_url)
    port = free_port()
    processes = Processes(stack, data_dir)
    # Runs are claimed by hand and never heartbeat: the recovery sweep must not take them back.
    env = bench_env(data_dir=data_dir, port=port, database_url=database_url, TRAINBOARD_HEARTBEAT_SECONDS="3600")
    base_url = start_api(processes, env)
    publish_builtin_catalog(base_url)
    api_pid = processes.running["api"].pid
    rows = []
    for clients in args.clients:
        results = []
        for repeat in range(args.repeat):
            results.append(
                api_rate(
                    base_url,
                    clients=clients,
                    batches=args.batches,
                    batch_size=args.batch_size,
                    warmup=args.warmup,
                    timeout=args.timeout,
                    server_pid=api_pid,
                )
            )
            processes.check_alive()
            print(
                f"  API on {label}, {clients} client(s), #{repeat + 1}: {results[-1]['rate']:,.0f} points/s", flush=True
            )
        results.sort(key=lambda r: r["rate"])
        median = results[len(results) // 2]
        spread = f"{results[0]['rate']:,.0f}-{results[-1]['rate']:,.0f}"
        rows.append(
            [
                label,
                clients,
                median["points"],
                median["seconds"],
                median["rate"],
                spread,
                median["p50_ms"],
                median["p95_ms"],
                median["cpu_ms"],
            ]
        )
    processes.stop_all()
    return rows


# --- without HTTP ----------------------------------------------------------------------------


def _new_run(session_factory) -> int:
    from backend.crud import runs as runs_crud

    with session_factory() as session:
        run = runs_crud.create_run(session=session, name="raw insert", group=None, spec=TINY_SPEC, queue=DEFAULT_QUEUE)
        session.commit()
        return run.id


def raw_rates(label: str, database_url: str, args) -> list[list]:
    """The rows of the API benchmark inserted in-process, 1,000 per transaction, each way on a fresh run."""
    from sqlalchemy.dialects import postgresql, sqlite

    from backend.core.db import make_engine, session_factory
    from backend.crud import metrics as metrics_crud
    from backend.models import MetricPoint
    from pydantic import TypeAdapter

    from backend.schemas.metric import MetricBatch

    batches = [batch_points(b, args.batch_size) for b in range(args.batches)]
    bodies = [json.dumps({"attempt": 1, "points": points}).encode() for points in batches]
    validated = [TypeAdapter(MetricBatch).validate_json(body)["points"] for body in bodies]
    points = args.batches * args.batch_size
    rows = []

    # Parsing and validating the request body, as the route's `MetricBatch` does (no database).
    start = time.perf_counter()
    for body in bodies:
        TypeAdapter(MetricBatch).validate_python(json.loads(body))
    elapsed = time.perf_counter() - start
    rows.append([f"MetricBatch parse + validate (no DB), {label}", points, elapsed, points / elapsed])

    engine = make_engine(database_url)
    try:
        factory = session_factory(engine)
        # 1. The route's own code: add_points (dedup, row dicts, the statement) and a commit per batch.
        run_id = _new_run(factory)
        start = time.perf_counter()
        for batch in validated:
            with factory() as session:
                inserted = metrics_crud.add_points(session=session, run_id=run_id, points=batch)
                session.commit()
            assert inserted == args.batch_size, inserted
        elapsed = time.perf_counter() - start
        rows.append([f"crud.add_points + commit, {label}", points, elapsed, points / elapsed])

        # 2. The bare statement add_points executes, on prepared row dicts, one transaction per batch.
        insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[engine.dialect.name]
        statement = insert(MetricPoint).on_conflict_do_nothing(index_elements=["run_id", "name", "step"])
        run_id = _new_run(factory)
        dicts = [[{"run_id": run_id, **p} for p in batch] for batch in batches]
        start = time.perf_counter()
        for batch in dicts:
            with engine.begin() as connection:
                connection.execute(statement, batch)
        elapsed = time.perf_counter() - start
        rows.append([f"SQLAlchemy insert..on_conflict_do_nothing, {label}", points, elapsed, points / elapsed])
    finally:
        engine.dispose()
    return rows


def sqlite3_rate(path: Path, args) -> list:
    """Plain sqlite3 executemany into a migrated file, with the API's pragmas (WAL, synchronous=NORMAL)."""
    from backend.core.db import make_engine, session_factory

    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    try:
        run_id = _new_run(session_factory(engine))
    finally:
        engine.dispose()
    batches = [batch_points(b, args.batch_size) for b in range(args.batches)]
    tuples = [[(run_id, p["name"], p["step"], p["value"], p["wall_time"]) for p in batch] for batch in batches]
    sql = (
        "INSERT INTO metrics (run_id, name, step, value, wall_time) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (run_id, name, step) DO NOTHING"
    )
    connection = sqlite3.connect(path)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        start = time.perf_counter()
        for batch in tuples:
            connection.executemany(sql, batch)
            connection.commit()
        elapsed = time.perf_counter() - start
    finally:
        connection.close()
    points = args.batches * args.batch_size
    return ["plain sqlite3 executemany, SQLite", points, elapsed, points / elapsed]


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingestion",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--batches", type=int, default=200, help="batches measured per configuration (200)")
    parser.add_argument("--batch-size", type=int, default=1000, help="points per batch (1000)")
    parser.add_argument("--warmup", type=int, default=20, help="batches sent first, not measured (20)")
    parser.add_argument(
        "--clients", default="1,4", help="concurrent clients (threads, one run each), comma-separated (1,4)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="measurements per API configuration, each on new runs; the median is shown (3)",
    )
    parser.add_argument("--backends", default="sqlite,postgres", help="sqlite and/or postgres (both)")
    parser.add_argument("--no-raw", action="store_true", help="skip the in-process insert rates")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per configuration (300)")
    args = parser.parse_args()
    check_batch_size(args.batch_size)
    args.clients = [int(c) for c in args.clients.split(",") if c]
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not set(args.backends) <= {"sqlite", "postgres"} or not args.clients or min(args.clients) < 1:
        parser.error("--backends takes sqlite,postgres; --clients positive integers")
    if not 1 <= args.repeat <= 20 or args.batches < 1 or args.warmup < 0:
        parser.error("--repeat 1..20, --batches >= 1, --warmup >= 0")
    if any(args.batches % c for c in args.clients):
        parser.error("--batches must be a multiple of every --clients value")
    return args


def run(args: argparse.Namespace) -> None:
    print_machine(postgres="postgres" in args.backends)
    print(
        f"{args.batches} batches of {args.batch_size} points ({len(NAMES)} metrics x "
        f"{args.batch_size // len(NAMES)} steps) per configuration, after {args.warmup} warm-up batches\n",
        flush=True,
    )
    api_rows, raw_rows = [], []
    with contextlib.ExitStack() as stack:
        if "sqlite" in args.backends:
            api_rows += measure_api(stack, "SQLite", None, args)
            if not args.no_raw:
                scratch = temp_dir(stack, "bench-ingest-raw-")
                url = f"sqlite:///{scratch / 'raw.db'}"
                migrate(url)
                raw_rows += raw_rates("SQLite", url, args)
                raw_rows.append(sqlite3_rate(scratch / "plain.db", args))
        if "postgres" in args.backends:
            url = stack.enter_context(postgres_database())
            api_rows += measure_api(stack, "Postgres", url, args)
            if not args.no_raw:
                raw_rows += raw_rates("Postgres", url, args)
    print()
    print_table(
        f"Through the API (POST /api/v1/runs/{{id}}/metrics, uvicorn in its own process; median of {args.repeat})",
        [
            "store",
            "clients",
            "points",
            "seconds",
            "points/s",
            "range points/s",
            "p50 ms/batch",
            "p95 ms/batch",
            "API CPU ms/batch",
        ],
        api_rows,
    )
    if raw_rows:
        print_table(
            "Without HTTP (in this process, one transaction per batch)",
            ["what", "points", "seconds", "points/s"],
            raw_rows,
        )
    print_load("at the end")


if __name__ == "__main__":
    raise SystemExit(main_wrapper(lambda: run(parse_args())))
