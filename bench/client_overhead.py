"""What the Python client costs a training loop (issue 10): `run.log()` with 4 metrics, timed call
by call over 100,000 calls, with the API up and with it down. Targets: p50 at most 5 µs, p99 at
most 50 µs, no call over 1 ms while the API is down. Beside it, in the same run: a synchronous
`httpx.post` per call (what logging without a client costs), and the epoch time of an MNIST-sized
MLP trained on the CPU with `log()` called every batch vs without (target: at most 2 % slower),
offline and with the API up (here in a process on the same cores: its CPU time is shown).

    python -m bench.client_overhead [--calls 100000] [--post-calls 2000] [--epochs 6] [--no-mlp]

The API runs in its own process on a fresh SQLite file. Each measurement runs in a process of its
own (`--child ...`), which prints its figures as JSON: a fresh heap, its own delivery thread. "API
down": the run is created, then the API process is stopped before the calls; finish() then writes
the points to the run folder. Full garbage collections (CPython's, over the whole heap) that fall
inside the calls are counted, since a call that triggers one waits for it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import (
    REPO_ROOT,
    Processes,
    bench_env,
    cpu_seconds,
    free_port,
    main_wrapper,
    migrate,
    percentile,
    print_load,
    print_machine,
    print_table,
    start_api,
    temp_dir,
)

WARMUP_CALLS = 1_000


# --- the measured side (a child process) -------------------------------------------------------


class FullCollections:
    """Counts CPython's full (generation 2) collections and the time they take."""

    def __init__(self):
        self.count, self.seconds, self._started = 0, 0.0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._started = time.perf_counter()
            else:
                self.count += 1
                self.seconds += time.perf_counter() - self._started


def timed_calls(call, calls: int) -> dict:
    """Each call of `call(i, metrics)` timed alone, in nanoseconds; the metrics dict is built before."""
    clock = time.perf_counter_ns
    durations = [0] * calls
    collections = FullCollections()
    for i in range(calls):
        metrics = {"train_loss": 1.0 / (i + 1), "train_accuracy": 0.5, "learning_rate": 0.1, "epoch": i // 1000}
        start = clock()
        call(i, metrics)
        durations[i] = clock() - start
    gc.callbacks.remove(collections._callback)
    micros = [d / 1000 for d in durations]
    return {
        "calls": calls,
        "p50_us": percentile(micros, 50),
        "p99_us": percentile(micros, 99),
        "max_us": max(micros),
        "over_1ms": sum(d > 1_000_000 for d in durations),
        "full_gcs": collections.count,
        "full_gc_ms": collections.seconds * 1000,
    }


def child_log(mode: str, calls: int) -> dict:
    import trainboard

    run = trainboard.init(name=f"bench-{mode}", config={"calls": calls})
    for _ in range(WARMUP_CALLS):
        run.log({"train_loss": 1.0, "train_accuracy": 0.5, "learning_rate": 0.1, "epoch": 0})
    time.sleep(1.0)  # the warm-up delivered, the delivery thread idle again
    gc.collect()
    if mode == "down":
        print("ready", flush=True)
        sys.stdin.readline()  # the API is stopped now
        time.sleep(2.0)  # the delivery thread has found it out
    figures = timed_calls(lambda i, metrics: run.log(metrics), calls)
    start = time.perf_counter()
    run.finish()
    figures.update(run_id=run.id, finish_s=time.perf_counter() - start, folder=str(run.folder))
    return figures


def child_post(calls: int) -> dict:
    url = os.environ["TRAINBOARD_API_URL"] + "/api/v1"
    with httpx.Client(base_url=url, timeout=30) as client:
        run = client.post("/runs/track", json={"name": "bench-post"}).json()

        def post(step: int, metrics: dict) -> None:
            points = [{"name": name, "step": step, "value": float(value)} for name, value in metrics.items()]
            client.post(f"/runs/{run['id']}/metrics", json={"attempt": run["attempt"], "points": points})

        figures = timed_calls(post, calls)
        client.post(f"/runs/{run['id']}/finish", json={"attempt": run["attempt"], "status": "completed"})
    return figures


def child_mlp(epochs: int) -> dict:
    """An MNIST-sized MLP (784-256-10, SGD, batches of 64, 60,000 random images) on the CPU: epochs
    without and with run.log() every batch, alternated, so that drifts of the machine hit both."""
    import torch
    from torch import nn
    from torch.nn import functional

    import trainboard

    torch.manual_seed(0)
    images, labels = torch.randn(60_000, 784), torch.randint(0, 10, (60_000,))
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run = trainboard.init(name="bench-mlp", config={"model": "mlp", "batch_size": 64})

    def epoch(logging: bool) -> tuple[float, float]:
        """Wall seconds and CPU seconds of the process (all its threads: the delivery thread's work too)."""
        order = torch.randperm(60_000)
        start, cpu_start = time.perf_counter(), time.process_time()
        for first in range(0, 60_000, 64):
            batch = order[first : first + 64]
            loss = functional.cross_entropy(model(images[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if logging:
                run.log({"train_loss": loss.detach(), "learning_rate": 0.1})
        return time.perf_counter() - start, time.process_time() - cpu_start

    epoch(False)  # warm-up
    without, with_log = [], []
    for _ in range(epochs):
        without.append(epoch(False))
        with_log.append(epoch(True))
    run.finish()
    return {
        "without_s": statistics.median(wall for wall, _ in without),
        "with_s": statistics.median(wall for wall, _ in with_log),
        "without_cpu_s": statistics.median(cpu for _, cpu in without),
        "with_cpu_s": statistics.median(cpu for _, cpu in with_log),
    }


def child_main(argv: list[str]) -> None:
    mode, count = argv[0], int(argv[1])
    figures = {"up": lambda: child_log("up", count), "down": lambda: child_log("down", count),
               "post": lambda: child_post(count), "mlp": lambda: child_mlp(count)}[mode]()  # fmt: skip
    print(json.dumps(figures), flush=True)


# --- the orchestration ---------------------------------------------------------------------------


def start_child(mode: str, count: int, env: dict[str, str]) -> subprocess.Popen:
    argv = [sys.executable, "-m", "bench.client_overhead", "--child", mode, str(count)]
    return subprocess.Popen(
        argv, env=env, cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def child_result(child: subprocess.Popen, timeout: float = 600) -> dict:
    out, err = child.communicate(timeout=timeout)
    if child.returncode != 0:
        raise RuntimeError(f"the measuring process failed ({child.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def stored_points(url: str, run_id: int) -> int:
    return len(httpx.get(f"{url}/api/v1/runs/{run_id}/metrics", timeout=60).json()["points"])


def mlp_row(case: str, figures: dict, api_cpu: str) -> list:
    slower = 100 * (figures["with_s"] / figures["without_s"] - 1)
    more_cpu = 100 * (figures["with_cpu_s"] / figures["without_cpu_s"] - 1)
    return [case, figures["without_s"], figures["with_s"], f"{slower:+.1f} %", f"{more_cpu:+.1f} %", api_cpu]


def row(case: str, figures: dict, note: str) -> list:
    return [case, figures["calls"], figures["p50_us"], figures["p99_us"], figures["max_us"], figures["over_1ms"],
            f"{figures['full_gcs']} ({figures['full_gc_ms']:.1f} ms)", note]  # fmt: skip


IMPORT_PROBE = (
    "import sys, time; started = time.perf_counter(); import trainboard; elapsed = time.perf_counter() - started; "
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'httpx', 'pydantic', 'fastapi', 'sqlalchemy', "
    "'celery', 'numpy', 'torch'}); print(elapsed * 1000, *heavy)"
)


def import_time(repeats: int = 15) -> list:
    """`import trainboard` in fresh interpreters: the median and the slowest, in ms (target: 150 ms)."""
    times, heavy = [], set()
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True,
                             cwd=REPO_ROOT).stdout.split()  # fmt: skip
        times.append(float(out[0]))
        heavy.update(out[1:])
    return [repeats, statistics.median(times), max(times), ", ".join(sorted(heavy)) or "none"]


def run_benchmark(args: argparse.Namespace) -> None:
    print_machine()
    print_table(
        "import trainboard in a fresh interpreter (ms)",
        ["imports", "median ms", "slowest ms", "heavy modules loaded"],
        [import_time()],
    )
    with contextlib.ExitStack() as stack:
        data_dir = temp_dir(stack, "bench-client-")
        processes = Processes(stack, data_dir)
        port = free_port()
        env = bench_env(data_dir=data_dir, port=port, TRAINBOARD_CLIENT_DIR=str(data_dir / "runs"))
        migrate(f"sqlite:///{data_dir / 'trainboard.db'}")
        url = start_api(processes, env)
        rows = []

        up = child_result(start_child("up", args.calls, env))
        delivered = stored_points(url, up["run_id"])
        rows.append(row("log(), API up", up, f"finish {up['finish_s']:.1f} s; {delivered:,} points stored"))

        post = child_result(start_child("post", args.post_calls, env))
        rows.append(row("httpx.post per call, API up", post, "the baseline: a synchronous request a call"))

        down_child = start_child("down", args.calls, {**env, "TRAINBOARD_FLUSH_TIMEOUT": "2"})
        if down_child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the measuring process did not start:\n{down_child.communicate()[1][-3000:]}")
        processes.stop("api")
        down_child.stdin.write("go\n")
        down_child.stdin.flush()
        down = child_result(down_child)
        spooled = sum(1 for _ in open(Path(down["folder"]) / "points.jsonl"))
        rows.append(row("log(), API down", down, f"{spooled:,} points left in the run folder for trainboard sync"))

        print_table(
            "run.log() with 4 metrics: microseconds per call (after 1,000 calls of warm-up)",
            ["case", "calls", "p50 µs", "p99 µs", "max µs", "calls > 1 ms", "full GCs in the calls", "note"],
            rows,
        )
        if not args.no_mlp:
            mlp_rows = []
            offline = child_result(start_child("mlp", args.epochs, {**env, "TRAINBOARD_MODE": "offline"}))
            mlp_rows.append(mlp_row("offline (points to the run folder)", offline, "-"))
            start_api(processes, env)
            api_cpu = cpu_seconds(processes.running["api"].pid)
            online = child_result(start_child("mlp", args.epochs, env))
            api_cpu = cpu_seconds(processes.running["api"].pid) - api_cpu
            mlp_rows.append(mlp_row("API up, in a process on the same 2 cores", online, f"{api_cpu:.2f} s"))
            print_table(
                f"MNIST-sized MLP on the CPU: seconds per epoch (938 batches; median of {args.epochs}, alternated)",
                ["client", "without log()", "with log() every batch", "slower by", "more CPU by", "API CPU time"],
                mlp_rows,
            )
    print_load("at the end")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100_000, help="log() calls measured (API up, API down)")
    parser.add_argument("--post-calls", type=int, default=2_000, help="synchronous posts measured")
    parser.add_argument("--epochs", type=int, default=6, help="MLP epochs with and without log(), each")
    parser.add_argument("--no-mlp", action="store_true", help="skip the MLP epochs (torch not installed)")
    args = parser.parse_args()
    return main_wrapper(lambda: run_benchmark(args))


if __name__ == "__main__":
    raise SystemExit(main())
