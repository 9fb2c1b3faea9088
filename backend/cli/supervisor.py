"""The commands that run the service: `migrate`, `api`, `worker`, and `up`, which migrates and then
supervises the API and one local worker as child processes until Ctrl-C or SIGTERM: a worker that
dies (an OOM kill, a crash) is started again with backoff while the API keeps serving; the API's
death stops everything.

Imports of the backend, SQLAlchemy and uvicorn stay inside the commands: the client commands,
registered in the same group, start quickly."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import click
import httpx

from backend.cli.common import database_error, load_settings, one_line
from trainboard.settings import Settings, get_settings


def _override_listen_address(host: str | None, port: int | None) -> Settings:
    """Apply --host/--port through the environment, so that the app factory uvicorn calls (and
    any child process) sees them too."""
    if host is not None:
        os.environ["TRAINBOARD_HOST"] = host
    if port is not None:
        os.environ["TRAINBOARD_PORT"] = str(port)
    get_settings.cache_clear()
    return load_settings()


def _check_can_serve(settings: Settings) -> None:
    """Refuse, with the fix in the message, what `create_app` would refuse with a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from backend.core.db import get_engine
    from backend.core.migrate import DatabaseNotMigrated, check_migrated
    from backend.core.security import TokenRequired, check_exposure

    try:
        engine = get_engine(settings)
        check_migrated(engine)
        check_exposure(settings, engine)  # tokens made with `trainboard token create` count
    except (TokenRequired, DatabaseNotMigrated) as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise database_error(exc) from None


@click.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    from sqlalchemy.exc import SQLAlchemyError

    from backend.core.db import get_engine
    from backend.core.migrate import current_revision, upgrade

    settings = load_settings()
    engine = get_engine(settings)
    try:
        upgrade(engine)
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        raise database_error(exc) from None
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} is at schema revision {revision}")


@click.command()
@click.option("--host", help="Address to listen on [default: TRAINBOARD_HOST or 127.0.0.1]")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [default: TRAINBOARD_PORT or 8000]")
def api(host: str | None, port: int | None) -> None:
    """Serve the REST API and the web pages (uvicorn)."""
    settings = _override_listen_address(host, port)
    _check_can_serve(settings)
    import uvicorn

    uvicorn.run("backend.main:create_app", factory=True, host=settings.host, port=settings.port)


def visible_gpu_count() -> int:
    """CUDA GPUs this process may use, counted without importing torch or initialising CUDA:
    quick, and nothing touches CUDA before Celery forks its pool."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = 0
        for item in visible.split(","):
            item = item.strip()
            if not item or item.startswith("-"):  # CUDA stops at the first invalid entry; -1 hides all
                break
            count += 1
        return count
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def worker_argv(concurrency: int, loglevel: str, name: str = "trainboard@%h") -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
        "-P", "prefork",
        "--concurrency", str(concurrency),
        "-O", "fair",  # hand a run to an idle process only, no reservations behind a long run
        "--loglevel", loglevel,
        "--hostname", name,
    ]  # fmt: skip


@click.command()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Runs trained at once [default: visible GPUs, or 1 without]",
)
@click.option(
    "--loglevel",
    type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--name",
    default="trainboard@%h",
    show_default=True,
    help="The worker's name, unique per machine (%h: the host name); /catalog says which worker offers what",
)
def worker(concurrency: int | None, loglevel: str, name: str) -> None:
    """Start a Celery worker that trains queued runs, one per process. It loads the plugins
    installed beside it, consumes the queues of what it can train and publishes its catalog."""
    count = concurrency or max(visible_gpu_count(), 1)
    argv = worker_argv(count, loglevel.lower(), name)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(argv[0], argv)  # the worker takes this process over: signals reach Celery directly


def _local_url(host: str, port: int) -> str:
    """Where this machine reaches an API listening on host:port."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _wait_until_answering(url: str, api_process: subprocess.Popen, timeout: float = 90.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        if api_process.poll() is not None:
            raise click.ClickException(f"the API exited with code {api_process.returncode} before answering")
        try:
            return httpx.get(f"{url}/health", timeout=5.0)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise click.ClickException(f"the API did not answer at {url}/health within {timeout:.0f} s") from None
            time.sleep(0.3)


def _wait_for_worker_catalog(url: str, token: str, worker: subprocess.Popen, timeout: float = 180.0) -> bool:
    """Until the local worker has published what it can train (it loads torch and the plugins
    first): before that, the form would offer nothing and every run would be refused."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            return False
        try:
            response = httpx.get(f"{url}/api/v1/workers", headers=headers, timeout=5.0)
            if response.status_code == 200 and any(w["online"] for w in response.json()["data"]):
                return True
        except (httpx.TransportError, ValueError, KeyError):
            pass
        time.sleep(0.3)
    return False


def _stop_children(children: list[tuple[str, subprocess.Popen, int]], grace: float = 10.0) -> None:
    """SIGTERM first (uvicorn closes, Celery stops warm); whoever is still up after `grace`
    seconds gets its hard signal (a cold Celery stop puts an unfinished run back in the
    queue), and SIGKILL as a last resort."""
    for step, wait in (("term", grace), ("hard", 5.0), ("kill", 5.0)):
        alive = [(proc, hard) for _, proc, hard in children if proc.poll() is None]
        if not alive:
            return
        for proc, hard in alive:
            proc.send_signal({"term": signal.SIGTERM, "hard": hard, "kill": signal.SIGKILL}[step])
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(proc.poll() is None for proc, _ in alive):
            time.sleep(0.1)


class SupervisedWorker:
    """`up`'s local worker: started again when it dies, after 1, 2, 4... up to 60 s (back to 1 s once
    it has run a minute), each restart said on stderr. Its interrupted run resumes as after any
    lost worker: the recovery sweep requeues it and the new worker takes it from its checkpoint."""

    STEADY_S, MAX_BACKOFF_S = 60.0, 60.0

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.argv, self.env = argv, env
        self.restarts, self.backoff, self.restart_at = 0, 1.0, None
        self.process = self._start()

    def _start(self) -> subprocess.Popen:
        self.started = time.monotonic()
        return subprocess.Popen(self.argv, env=self.env)

    def check(self) -> None:
        """Called every half second: notices a death, restarts when its backoff is over."""
        if self.restart_at is None and self.process.poll() is not None:
            if time.monotonic() - self.started >= self.STEADY_S:
                self.backoff = 1.0
            self.restart_at = time.monotonic() + self.backoff
            click.echo(f"warning: the worker exited with code {self.process.returncode}; starting it again in "
                       f"{self.backoff:.0f} s (the API keeps serving)", err=True)  # fmt: skip
            self.backoff = min(self.backoff * 2, self.MAX_BACKOFF_S)
        elif self.restart_at is not None and time.monotonic() >= self.restart_at:
            self.restart_at, self.restarts = None, self.restarts + 1
            self.process = self._start()
            click.echo(f"worker started again (restart {self.restarts})", err=True)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.create_server((host, port), family=family).close()
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}: is trainboard already running? "
            "(--port picks another port)"
        ) from None


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--host", help="Address the API listens on [default: TRAINBOARD_HOST or 127.0.0.1]")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [default: TRAINBOARD_PORT or 8000]")
def up(host: str | None, port: int | None) -> None:
    """Migrate, then run the API and one local worker until Ctrl-C."""
    from sqlalchemy.exc import SQLAlchemyError

    from backend.core.db import get_engine
    from backend.core.migrate import upgrade
    from backend.core.security import TokenRequired, check_exposure

    settings = _override_listen_address(host, port)
    try:
        check_exposure(settings, get_engine(settings))  # before migrating: a new database has no tokens
    except TokenRequired as exc:
        raise click.ClickException(str(exc)) from None
    _check_port_free(settings.host, settings.port)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        upgrade(get_engine(settings))
    except SQLAlchemyError as exc:
        raise database_error(exc) from None

    url = _local_url(settings.host, settings.port)
    # The local worker always authenticates, whatever tokens the user made: with the user's token
    # when one is set, else with one minted for this run of `up` (taken by the API, yet not a
    # configured token: writes stay open on localhost when the user made none).
    worker_token = settings.api_token or secrets.token_urlsafe(32)
    env = {**os.environ, "TRAINBOARD_API_URL": url, "TRAINBOARD_WORKER_TOKEN": worker_token}
    worker_env = {**env, "TRAINBOARD_API_TOKEN": worker_token}
    base = [sys.executable, "-m", "backend.cli"]
    children: list[tuple[str, subprocess.Popen, int]] = []
    worker: SupervisedWorker | None = None
    previous_sigint = signal.getsignal(signal.SIGINT)
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops like Ctrl-C
    try:
        api_process = subprocess.Popen([*base, "api", "--host", settings.host, "--port", str(settings.port)], env=env)
        children.append(("API", api_process, signal.SIGKILL))
        health = _wait_until_answering(url, api_process)
        if health.status_code != 200:
            click.echo(f"warning: the API answers but is degraded: {one_line(health.text)}", err=True)
        # The worker starts once the API is up: the two do not race to create the broker's tables.
        worker = SupervisedWorker([*base, "worker"], worker_env)
        if not _wait_for_worker_catalog(url, worker_token, worker.process):
            click.echo("warning: the worker has not published what it can train yet", err=True)
        click.echo(f"trainboard is running at {url}  (API docs: {url}/docs)")
        click.echo("press Ctrl-C to stop")
        while True:
            if api_process.poll() is not None:
                raise click.ClickException(f"the API exited with code {api_process.returncode}; stopping trainboard")
            worker.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping trainboard...", err=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the shutdown below finish
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if worker is not None:  # the one running now, after any restart
                children.append(("worker", worker.process, getattr(signal, "SIGQUIT", signal.SIGKILL)))
            _stop_children(children)
        finally:
            signal.signal(signal.SIGTERM, previous_sigterm)
            signal.signal(signal.SIGINT, previous_sigint)
