"""Real processes for end-to-end tests: the API (`trainboard api`) and a Celery worker
(`trainboard worker`), each in its own process, sharing one environment."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


EXAMPLE_PLUGIN = Path(__file__).resolve().parents[2] / "examples" / "plugin"


@functools.cache
def example_plugin_path() -> str:
    """A folder holding the example plugin as pip installs it (once per test session): what a
    user does on a worker's machine. A worker with this folder on its PYTHONPATH has the plugin."""
    root = Path(tempfile.mkdtemp(prefix="trainboard-plugin-"))
    source = root / "source"  # pip builds in the source folder: build a copy
    shutil.copytree(EXAMPLE_PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(root / "site"), str(source)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return str(root / "site")


def with_example_plugin() -> dict[str, str]:
    """The environment of a worker that has the example plugin installed."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [example_plugin_path(), os.environ.get("PYTHONPATH")]))}


def stack_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The TRAINBOARD_* environment of an API (and its workers) on a free port, keeping its data in
    `data_dir`, beating every second (lost runs are noticed in seconds); `extra` adds or replaces."""
    from tests.utils.live_server import free_port

    port = free_port()
    return {
        "TRAINBOARD_DATA_DIR": str(data_dir),
        "TRAINBOARD_API_URL": f"http://127.0.0.1:{port}",
        "TRAINBOARD_PORT": str(port),
        "TRAINBOARD_HEARTBEAT_SECONDS": "1",
        **extra,
    }


class Stack:
    """An API and workers started with `env`; logs go to files in `log_dir`."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("TRAINBOARD_")}
        self.env = {**inherited, **env, "PYTHONUNBUFFERED": "1"}
        self.api_url = env["TRAINBOARD_API_URL"]
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the whole worker (parent and pool) can be signalled at once
        )
        self.processes[name] = process
        return process

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "backend.cli", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the API did not become healthy in {timeout}s:\n{self.logs()}")

    def start_worker(self, name: str, *, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A worker named `name`@host; it publishes its catalog once it is ready (`wait_for_workers`)."""
        return self.start(name, "worker", "--concurrency", "1", "--name", f"{name}@%h", env=env)

    def online_workers(self) -> dict[str, dict]:
        token = self.env.get("TRAINBOARD_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(f"{self.api_url}/api/v1/workers", headers=headers, timeout=5)
        response.raise_for_status()
        return {w["name"].split("@")[0]: w for w in response.json()["data"] if w["online"]}

    def wait_for_workers(self, *names: str, timeout: float = 90) -> dict[str, dict]:
        """Until each named worker has published its catalog (so runs of what it offers are accepted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.logs()}")
            online = self.online_workers()
            if all(name in online for name in names):
                return online
            time.sleep(0.2)
        raise TimeoutError(f"workers {names} did not publish their catalog in {timeout}s:\n{self.logs()}")

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """SIGTERM goes to the process alone, as `trainboard up` and `docker stop` send it: a worker's
        main process then stops its pool itself. Any other signal (SIGKILL: a crash, an OOM kill)
        goes to the whole process group, pool included."""
        process = self.processes.pop(name)
        if process.poll() is None:
            if sig == signal.SIGTERM:
                process.send_signal(sig)
            else:
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-4000:]}" for path in self.log_dir.glob("*.log")
        )


@contextmanager
def running_stack(env: dict[str, str], log_dir: Path, workers: int = 1) -> Iterator[Stack]:
    stack = Stack(env, log_dir)
    try:
        assert stack.cli("migrate").returncode == 0, stack.logs()
        stack.start("api", "api", "--port", env["TRAINBOARD_PORT"])
        for index in range(workers):
            stack.start_worker(f"worker{index}")
        stack.wait_healthy()
        stack.wait_for_workers(*(f"worker{index}" for index in range(workers)))
        yield stack
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop_all()
