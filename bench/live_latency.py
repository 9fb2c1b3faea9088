"""Live latency: from a metric POST to its `metrics` Server-Sent Event at a client, on loopback.
The API runs in its own process (uvicorn, SQLite by default); a run is created and claimed as a
worker would (POST /runs/{id}/start); a reader thread follows GET /runs/{id}/events and notes
when each point arrives, while a writer posts one point per step at a fixed interval.

    .venv/bin/python -m bench.live_latency [--samples 300] [--interval 0.05] [--store sqlite|postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
    publish_builtin_catalog,
    start_api,
    temp_dir,
)
from bench.ingestion import TINY_SPEC
from trainboard.sse import stream_events

PROBE = "latency_probe"


class Reader(threading.Thread):
    """Follows a run's event stream; `arrivals[step]` is when the probe point of `step` arrived."""

    def __init__(self, url: str, timeout: float):
        super().__init__(name="sse-reader", daemon=True)
        self.url = url
        self.timeout = timeout
        self.arrivals: dict[int, float] = {}
        self.points_per_event: list[int] = []
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._response: httpx.Response | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        try:
            with httpx.Client(timeout=httpx.Timeout(30, connect=5)) as client:
                with stream_events(client, self.url) as events:
                    self._response = events.response
                    for event in events:
                        now = time.perf_counter()
                        if event.event == "state":
                            self.connected.set()
                        elif event.event == "metrics":
                            points = event.json()["points"]
                            self.points_per_event.append(len(points))
                            for point in points:
                                if point["name"] == PROBE:
                                    self.arrivals.setdefault(point["step"], now)
                        if event.event == "end" or self._stopping.is_set() or time.monotonic() > deadline:
                            return
        except BaseException as exc:  # reported by the main thread
            if not self._stopping.is_set():
                self.error = exc
        finally:
            self.connected.set()  # never leave the main thread waiting

    def stop(self) -> None:
        self._stopping.set()
        if self._response is not None:
            with contextlib.suppress(Exception):
                self._response.close()


def measure(base_url: str, args: argparse.Namespace) -> dict:
    api = httpx.Client(base_url=f"{base_url}/api/v1", timeout=30)
    reader = None
    try:
        response = api.post("/runs", json={"name": "live latency", "spec": TINY_SPEC})
        response.raise_for_status()
        run_id = response.json()["id"]
        lease = api.post(f"/runs/{run_id}/start", json={"worker_host": "bench"}).raise_for_status().json()["attempt"]

        reader = Reader(
            f"{base_url}/api/v1/runs/{run_id}/events", timeout=args.samples * args.interval + args.settle + 60
        )
        reader.start()
        if not reader.connected.wait(30) or reader.error:
            raise RuntimeError(f"the event stream did not open: {reader.error}")

        sent: dict[int, float] = {}
        round_trips: list[float] = []
        # A few points first, not measured: the connection and the route's code paths warm up.
        for step in range(args.warmup):
            api.post(
                f"/runs/{run_id}/metrics",
                json={"attempt": lease, "points": [{"name": "warmup", "step": step, "value": 0.0,
                                                    "wall_time": time.time()}]},
            ).raise_for_status()
            time.sleep(args.interval)
        start = time.perf_counter()
        for step in range(args.samples):
            target = start + step * args.interval
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            body = json.dumps(
                {"attempt": lease, "points": [{"name": PROBE, "step": step, "value": float(step),
                                                "wall_time": time.time()}]}
            ).encode()
            sent[step] = time.perf_counter()
            reply = api.post(f"/runs/{run_id}/metrics", content=body, headers={"content-type": "application/json"})
            round_trips.append(time.perf_counter() - sent[step])
            reply.raise_for_status()
            if reader.error:
                raise RuntimeError(f"the event stream failed: {reader.error!r}")
        settle_until = time.monotonic() + args.settle
        while len(reader.arrivals) < len(sent) and time.monotonic() < settle_until:
            time.sleep(0.05)
        api.post(f"/runs/{run_id}/finish", json={"attempt": lease, "status": "completed"}).raise_for_status()
        reader.join(5)
    finally:
        if reader is not None:
            reader.stop()
            reader.join(5)
        api.close()

    latencies = [(reader.arrivals[step] - sent[step]) * 1000 for step in sent if step in reader.arrivals]
    return {
        "sent": len(sent),
        "received": len(latencies),
        "latency": latencies,
        "round_trip": [s * 1000 for s in round_trips],
        "multi_point_events": sum(1 for n in reader.points_per_event if n > 1),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.live_latency",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--samples", type=int, default=300, help="points posted and measured (300)")
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between two posts (0.05)")
    parser.add_argument("--warmup", type=int, default=10, help="points posted first, not measured (10)")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite", help="the API's database")
    parser.add_argument(
        "--settle", type=float, default=10.0, help="seconds to wait for the last events after the last post (10)"
    )
    args = parser.parse_args()
    if not 1 <= args.samples <= 100_000 or not 0 < args.interval <= 10:
        parser.error("--samples 1..100000, --interval in (0, 10]")
    return args


def run(args: argparse.Namespace) -> None:
    print_machine(postgres=args.store == "postgres")
    print(f"{args.samples} points, one every {args.interval * 1000:.0f} ms, store {args.store}\n", flush=True)
    with contextlib.ExitStack() as stack:
        data_dir = temp_dir(stack, "bench-live-")
        database_url = (
            stack.enter_context(postgres_database())
            if args.store == "postgres"
            else f"sqlite:///{data_dir.resolve() / 'trainboard.db'}"
        )
        migrate(database_url)
        port = free_port()
        processes = Processes(stack, data_dir)
        # The run is claimed by hand and never heartbeats: the recovery sweep must not take it back.
        env = bench_env(data_dir=data_dir, port=port, database_url=database_url if args.store == "postgres" else None,
                        TRAINBOARD_HEARTBEAT_SECONDS="3600")
        base_url = start_api(processes, env)
        publish_builtin_catalog(base_url)
        result = measure(base_url, args)
        processes.check_alive()
    latency, round_trip = result["latency"], result["round_trip"]
    rows = [
        ["POST -> SSE event at the client", len(latency)]
        + [percentile(latency, q) for q in (50, 95, 99)]
        + [max(latency, default=float("nan"))],
        ["POST round trip (for reference)", len(round_trip)]
        + [percentile(round_trip, q) for q in (50, 95, 99)]
        + [max(round_trip, default=float("nan"))],
    ]
    print_table(
        f"Latency in ms (store {args.store}; {result['received']} of {result['sent']} points arrived; "
        f"{result['multi_point_events']} events carried more than one point)",
        ["what", "samples", "p50", "p95", "p99", "max"],
        rows,
    )
    print_load("at the end")
    if result["received"] < result["sent"]:
        raise SystemExit(f"{result['sent'] - result['received']} points never arrived on the stream")


if __name__ == "__main__":
    raise SystemExit(main_wrapper(lambda: run(parse_args())))
