"""What `trainboard api` costs before it does anything: the time from starting the command to
its first answer on /health, and its resident memory once idle. Targets (issue 9): at most
1.5 s and 200 MB on 2 cores. Also says whether torch got into the process (it must not).

    python -m bench.api_footprint [--repeats 5] [--idle-seconds 5]

Each repetition migrates a fresh SQLite store first (not timed), then starts the real command
(`python -m backend.cli api`) on the embedded defaults and polls /health every 10 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import (
    Processes,
    bench_env,
    free_port,
    main_wrapper,
    print_load,
    print_machine,
    print_table,
    temp_dir,
)


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def loaded(pid: int, library: str) -> bool:
    """Whether a shared object whose path holds `library` is mapped into the process."""
    return any(library in line for line in Path(f"/proc/{pid}/maps").read_text().splitlines())


def one_start(stack: contextlib.ExitStack, idle_seconds: float) -> tuple[float, float, bool]:
    data_dir = temp_dir(stack, "bench-footprint-")
    port = free_port()
    env = bench_env(data_dir=data_dir, port=port)
    subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], env=env, check=True, capture_output=True)
    processes = Processes(stack, data_dir)
    started = time.monotonic()
    process = processes.start("api", [sys.executable, "-m", "backend.cli", "api", "--port", str(port)], env)
    url = f"http://127.0.0.1:{port}/health"
    with httpx.Client(timeout=2) as client:
        while True:
            processes.check_alive()
            with contextlib.suppress(httpx.TransportError):
                if client.get(url).status_code == 200:
                    break
            if time.monotonic() - started > 60:
                raise TimeoutError(processes.log_tail("api"))
            time.sleep(0.01)
    answering = time.monotonic() - started
    time.sleep(idle_seconds)  # idle: the recovery sweep has run, nothing else happens
    rss = resident_mib(process.pid)
    torch_loaded = loaded(process.pid, "libtorch")
    processes.stop("api")
    return answering, rss, torch_loaded


def run(args: argparse.Namespace) -> None:
    print_machine()
    print_load("before")
    rows, times, sizes = [], [], []
    for index in range(args.repeats):
        with contextlib.ExitStack() as stack:
            answering, rss, torch_loaded = one_start(stack, args.idle_seconds)
        times.append(answering)
        sizes.append(rss)
        rows.append([index + 1, f"{answering:.2f}", f"{rss:.0f}", "yes" if torch_loaded else "no"])
    print_table("trainboard api: start to /health, idle resident memory",
                ["start", "to /health (s)", "idle RSS (MiB)", "torch loaded"], rows)
    print(f"median: {statistics.median(times):.2f} s to /health (target 1.5 s), "
          f"{statistics.median(sizes):.0f} MiB idle (target 200 MB)")
    print_load("after")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    return main_wrapper(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
