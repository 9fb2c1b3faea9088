"""Soak: many short runs through two workers on Redis and Postgres while a worker is killed
(SIGKILL, pool included) every `--kill-every` seconds and Redis is restarted once. Reports the
runs completed, epochs lost (target 0), duplicate points (target 0) and, for each kill, the time
until the interrupted run is given back to the queue (detected) and until a worker resumes it.

Redis here is a server of the benchmark's own, without persistence, so that its restart loses
every queued message, as a crashed Redis would.

    python -m bench.soak [--runs 200] [--epochs 3] [--kill-every 30] [--timeout 1500]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time

import httpx

from bench.common import (
    Processes,
    bench_env,
    free_port,
    main_wrapper,
    migrate,
    postgres_database,
    print_machine,
    print_table,
    start_api,
    wait_for_workers,
    temp_dir,
)


class OwnRedis:
    def __init__(self, stack: contextlib.ExitStack, data_dir):
        self.port = free_port()
        self.data_dir = data_dir
        self.process: subprocess.Popen | None = None
        stack.callback(self.stop)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


def _median_max(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {max(values):.1f}" if values else "-"


def worker_argv(name: str) -> list[str]:
    return [sys.executable, "-m", "backend.cli", "worker", "--concurrency", "1", "--loglevel", "warning",
            "--name", f"{name}@%h"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=1500.0, help="give up after this many seconds")
    args = parser.parse_args()
    print_machine(postgres=True)
    spec = {"model": {"name": "mlp", "hidden_sizes": [64]},
            "dataset": {"name": "synthetic_mnist", "num_train": 2000, "num_test": 200},
            "learning_rate": 0.3, "epochs": args.epochs, "batch_size": 50}

    with contextlib.ExitStack() as stack:
        data_dir = temp_dir(stack, "trainboard-soak-")
        database_url = stack.enter_context(postgres_database())
        migrate(database_url)
        redis_server = OwnRedis(stack, data_dir)
        redis_server.start()
        processes = Processes(stack, data_dir)
        env = bench_env(data_dir=data_dir, port=free_port(), database_url=database_url, broker_url=redis_server.url,
                        TRAINBOARD_HEARTBEAT_SECONDS="1", TRAINBOARD_RECOVERY_SECONDS="1")
        api = start_api(processes, env)
        workers = ["worker-a", "worker-b"]
        for name in workers:
            processes.start(name, worker_argv(name), env)
        wait_for_workers(api, len(workers), processes)
        http = stack.enter_context(httpx.Client(base_url=f"{api}/api/v1", timeout=30))

        started = time.monotonic()
        run_ids = [http.post("/runs", json={"name": f"soak {i}", "group": "soak", "spec": spec}).json()["id"]
                   for i in range(args.runs)]
        print(f"submitted {len(run_ids)} runs in {time.monotonic() - started:.1f} s")

        kills: list[dict] = []  # each: when, which run was running on the killed worker
        redis_restarted = False
        next_kill = time.monotonic() + args.kill_every
        deadline = started + args.timeout
        victim = 0
        while time.monotonic() < deadline:
            runs = http.get("/runs", params={"group": "soak", "limit": 500}).json()["data"]
            by_status: dict[str, int] = {}
            for run in runs:
                by_status[run["status"]] = by_status.get(run["status"], 0) + 1
            for kill in kills:
                for run in runs:
                    if run["id"] not in kill["running"]:
                        continue
                    attempt = kill["running"][run["id"]]
                    requeued = run["attempt"] > attempt or (run["status"] == "queued")
                    if kill["detected_after"] is None and requeued:
                        kill["detected_after"] = time.monotonic() - kill["at"]
                        kill["victim"] = run["id"]
                    if kill.get("victim") == run["id"] and kill["resumed_after"] is None and run["attempt"] > attempt:
                        kill["resumed_after"] = time.monotonic() - kill["at"]
            if by_status.get("queued", 0) + by_status.get("running", 0) == 0:
                break
            now = time.monotonic()
            if not redis_restarted and now - started > args.kill_every * 1.5:
                redis_server.restart()
                redis_restarted = True
                print(f"{now - started:6.0f} s  Redis restarted (queued messages lost)")
            if now >= next_kill:
                name = workers[victim % 2]
                victim += 1
                running = {r["id"]: r["attempt"] for r in runs if r["status"] == "running"}
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(processes.running[name].pid, signal.SIGKILL)  # its pool too
                processes.running[name].wait()
                processes.running.pop(name)
                processes.start(name, worker_argv(name), env)
                kills.append({"at": now, "running": running, "detected_after": None, "resumed_after": None})
                print(f"{now - started:6.0f} s  killed {name}; runs {by_status}")
                next_kill = now + args.kill_every
            time.sleep(1)
        elapsed = time.monotonic() - started

        runs = http.get("/runs", params={"group": "soak", "limit": 500}).json()["data"]
        statuses = {s: sum(r["status"] == s for r in runs) for s in ("completed", "failed", "queued", "running")}
        lost = duplicates = 0
        for run in runs:
            points = http.get(f"/runs/{run['id']}/metrics", params={"name": "train_loss"}).json()["points"]
            steps = [p["step"] for p in points]
            duplicates += len(steps) - len(set(steps))
            if run["status"] == "completed":
                lost += args.epochs - len(set(steps))
        detected = [k["detected_after"] for k in kills if k["detected_after"] is not None]
        resumed = [k["resumed_after"] for k in kills if k["resumed_after"] is not None]
        print_table(
            f"Soak: {args.runs} runs x {args.epochs} epochs, 2 workers, Redis + Postgres, a worker SIGKILLed "
            f"every {args.kill_every:.0f} s, Redis restarted once",
            ["measure", "value"],
            [
                ["wall time (s)", elapsed],
                ["runs completed", statuses["completed"]],
                ["runs failed", statuses["failed"]],
                ["runs not finished at the end", statuses["queued"] + statuses["running"]],
                ["workers killed", len(kills)],
                ["kills that interrupted a run", len(detected)],
                ["epochs lost (completed runs)", lost],
                ["duplicate points", duplicates],
                ["kill -> run back in the queue, median / max (s)", _median_max(detected)],
                ["kill -> run resumed by a worker, median / max (s)", _median_max(resumed)],
                ["runs resumed (attempt > 1)", sum(r["attempt"] > 1 for r in runs)],
            ],
        )
        failed = [r for r in runs if r["status"] == "failed"]
        for run in failed[:5]:
            print(f"failed run {run['id']}: {run['error']}")


if __name__ == "__main__":
    raise SystemExit(main_wrapper(main))
