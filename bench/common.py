"""What the benchmarks share: the machine's description, real API and worker processes, a
throwaway Postgres database, a Redis database number emptied before and after, Server-Sent
Events parsing, percentiles and a plain results table.

Everything a benchmark starts is registered on a `contextlib.ExitStack` so that it is stopped
(processes) or removed (databases, temporary folders) on the way out, error and Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
# The test suite's Redis fixture picks a database number from 9 to 14: 15 stays out of its way.
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/15")


# --- the machine -----------------------------------------------------------------------------


def cpu_model() -> str:
    """The model name from /proc/cpuinfo, with family, model, clock and 'virtual' when it says so."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "unknown"
    details = [
        f"family {fields[k]}" if k == "cpu family" else f"model {fields[k]}"
        for k in ("cpu family", "model")
        if k in fields
    ]
    with contextlib.suppress(KeyError, ValueError):
        details.append(f"{float(fields['cpu MHz']):.0f} MHz")
    if "hypervisor" in fields.get("flags", "").split():
        details.append("virtual machine")
    name = fields.get("model name") or platform.processor() or "unknown"
    return f"{name} ({', '.join(details)})" if details else name


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def postgres_version(url: str = POSTGRES_ADMIN_URL) -> str:
    import psycopg

    try:
        with psycopg.connect(_conninfo(url), connect_timeout=3) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        return f"unreachable ({exc.__class__.__name__})"


def redis_version(url: str = REDIS_URL) -> str:
    import redis

    try:
        return redis.Redis.from_url(url, socket_connect_timeout=3).info("server")["redis_version"]
    except redis.RedisError as exc:
        return f"unreachable ({exc.__class__.__name__})"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "-"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit or 'unknown'}{' + uncommitted changes' if dirty else ''}"


def print_load(when: str) -> None:
    """The load average at the end, this benchmark's own processes included."""
    print(f"Load average {when}: {load_average()} (this benchmark's own processes included)", flush=True)


def _busy_warning() -> str:
    with contextlib.suppress(ValueError, IndexError):
        if float(load_average().split()[0]) > usable_cores() / 2:
            return "  (other work is running: figures will be lower and noisier)"
    return ""


def print_machine(*, postgres: bool = False, redis: bool = False) -> None:
    rows = [
        ("CPU", f"{cpu_model()}; {usable_cores()} usable cores of {os.cpu_count()} online"),
        ("Memory", memory_gib()),
        ("Code", code_version()),
        ("Load avg", load_average() + _busy_warning()),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("SQLite", sqlite3.sqlite_version),
    ]
    if postgres:
        rows.append(("PostgreSQL", postgres_version()))
    if redis:
        rows.append(("Redis", redis_version()))
    packages = ("fastapi", "uvicorn", "pydantic", "sqlalchemy", "psycopg", "sse-starlette", "celery", "kombu")
    rows.append(("Packages", ", ".join(f"{name} {_version(name)}" for name in packages)))
    print("Machine")
    for key, value in rows:
        print(f"  {key:<11} {value}")
    print()


# --- output ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def print_table(title: str, headers: list[str], rows: list[list]) -> None:
    cells = [[str(h) for h in headers]] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    # Text left, numbers right (a column is text when any of its values is).
    text = [any(isinstance(row[i], str) for row in rows) for i in range(len(headers))]
    print(title)
    for index, row in enumerate(cells):
        line = "  ".join(c.ljust(w) if t else c.rjust(w) for c, w, t in zip(row, widths, text, strict=True))
        print("  " + line.rstrip())
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
    print()


def _cell(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --- signals ---------------------------------------------------------------------------------


def exit_on_sigterm() -> None:
    """SIGTERM and SIGINT unwind as Ctrl-C does, so the `finally` clauses stop what was started."""

    def _raise(_signum, _frame):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, _raise)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background


def main_wrapper(run) -> int:
    exit_on_sigterm()
    try:
        run()
    except KeyboardInterrupt:
        print("\ninterrupted: everything started was stopped", file=sys.stderr)
        return 130
    return 0


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Child processes, each in a session of its own (so a worker and its pool are stopped
    together), logging to files in `log_dir`. `stop_all` is registered on the ExitStack."""

    def __init__(self, stack: contextlib.ExitStack, log_dir: Path):
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}
        stack.callback(self.stop_all)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        try:
            process = subprocess.Popen(
                argv, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()  # the child holds its own copy
        self.running[name] = process
        return process

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def stop(self, name: str, timeout: float = 15) -> None:
        process = self.running.pop(name)
        if process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def bench_env(
    *, data_dir: Path, port: int, database_url: str | None = None, broker_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of the API and worker processes: this one's without any TRAINBOARD_*
    variable, plus the benchmark's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINBOARD_")}
    env.update(
        PYTHONUNBUFFERED="1",
        TRAINBOARD_DATA_DIR=str(data_dir),
        TRAINBOARD_API_URL=f"http://127.0.0.1:{port}",
        TRAINBOARD_HOST="127.0.0.1",
        TRAINBOARD_PORT=str(port),
    )
    if database_url:
        env["TRAINBOARD_DATABASE_URL"] = database_url
    if broker_url:
        env["TRAINBOARD_BROKER_URL"] = broker_url
    env.update(extra)
    return env


def migrate(database_url: str) -> None:
    from backend.core.db import make_engine
    from backend.core.migrate import upgrade

    engine = make_engine(database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def uvicorn_argv(port: int) -> list[str]:
    """The API as `trainboard api` serves it: one uvicorn process (uvloop and httptools when installed)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "backend.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def start_api(processes: Processes, env: dict[str, str], *, name: str = "api", timeout: float = 60) -> str:
    """Start the API in its own process; returns its base URL once /health answers 200."""
    port = int(env["TRAINBOARD_PORT"])
    processes.start(name, uvicorn_argv(port), env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the API did not answer /health in {timeout}s:\n{processes.log_tail(name)}")


def publish_builtin_catalog(base_url: str) -> None:
    """For benchmarks that drive runs by hand, without a worker: publish what a worker with the
    built-in zoo offers, as that worker would, so that runs of it are accepted."""
    from worker.catalog import worker_catalog

    body = worker_catalog("bench@by-hand").model_dump(mode="json")
    httpx.post(f"{base_url}/api/v1/workers", json=body, timeout=30).raise_for_status()


def wait_for_workers(base_url: str, count: int, processes: Processes, timeout: float = 180) -> None:
    """Until `count` workers have published their catalog (each loads torch and its plugins first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check_alive()
        with contextlib.suppress(httpx.TransportError):
            found = httpx.get(f"{base_url}/api/v1/workers", timeout=5).json()["data"]
            if sum(worker["online"] for worker in found) >= count:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{count} workers did not publish their catalog within {timeout} s")


def temp_dir(stack: contextlib.ExitStack, prefix: str) -> Path:
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, all its threads included (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- services --------------------------------------------------------------------------------


def _conninfo(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return (
        f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} user={parsed.username or 'postgres'} "
        f"dbname={database or parsed.database or 'postgres'}"
        + (f" password={parsed.password}" if parsed.password else "")
    )


@contextlib.contextmanager
def postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A new, empty Postgres database; dropped on the way out (connections still open included)."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"trainboard_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_conninfo(admin_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(admin_url), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def redis_database(url: str = REDIS_URL) -> Iterator[str]:
    """A Redis database number for the benchmark alone, emptied before and after."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    client.flushdb()
    try:
        yield url
    finally:
        with contextlib.suppress(redis.RedisError):
            client.flushdb()
        client.close()
