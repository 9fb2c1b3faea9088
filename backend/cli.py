"""The `trainboard` command line: run the service, and submit, list, watch and cancel runs.

    trainboard up                        # migrate, then the API and one local worker
    trainboard migrate | api | worker    # the same pieces one by one (scaled setups)
    trainboard submit spec.yaml --set learning_rate=0.1 --set model.hidden_sizes=[256,128] --watch
    trainboard ls --group sweep | show 12 | watch 12 | cancel 12
    trainboard study create study.yaml | show 3 | stats 3 --metric test_accuracy | extend 3 --seeds 2

Client commands talk to the REST API at TRAINBOARD_API_URL (with TRAINBOARD_API_TOKEN when set).
Every failure prints one line on stderr, `error: ...`, and exits non-zero.

Imports of the backend, the worker and uvicorn stay inside the commands that need them, so the
client commands start quickly (no torch, no Celery).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from typing import Any, NoReturn

import click
import httpx
import yaml
from pydantic import ValidationError

from trainboard.settings import Settings, get_settings

API_PREFIX = "/api/v1"
STATUSES = ("queued", "running", "completed", "failed", "cancelled")
# Spec fields that pick a registry entry by `name`; a bare string is shorthand for {"name": ...}.
NAMED_FIELDS = ("model", "dataset", "optimizer", "scheduler")
# SSE streams: the server pings every 15 s, so a silent minute means the connection is dead.
STREAM_READ_TIMEOUT = 60.0
# The scores `watch` shows after the losses, when the run reports them: (metric, label, format).
SCORE_METRICS = (("test_accuracy", "test acc", ".2%"), ("test_dice", "dice", ".4f"), ("test_iou", "IoU", ".4f"))
WATCH_RECONNECTS = 5


# --- errors and settings -----------------------------------------------------------------------


class TrainboardGroup(click.Group):
    """A click group whose every failure, click's own usage errors included, is one line on stderr."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # `trainboard` alone prints the help
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            message = _one_line(exc.format_message())
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                message += f" (see '{exc.ctx.command_path} --help')"
            click.echo(f"error: {message}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            sys.exit(130)  # Ctrl-C; click has already ended the ^C line
        sys.exit(result if isinstance(result, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_settings() -> Settings:
    """The settings from the environment, with a bad variable reported as a one-line error."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"TRAINBOARD_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise click.ClickException(f"invalid settings: {problems}") from None


def _override_listen_address(host: str | None, port: int | None) -> Settings:
    """Apply --host/--port through the environment, so that the app factory uvicorn calls (and
    any child process) sees them too."""
    if host is not None:
        os.environ["TRAINBOARD_HOST"] = host
    if port is not None:
        os.environ["TRAINBOARD_PORT"] = str(port)
    get_settings.cache_clear()
    return load_settings()


def _database_error(exc: Exception) -> click.ClickException:
    reason = str(getattr(exc, "orig", None) or exc)  # SQLAlchemy wraps the driver's error
    return click.ClickException(
        f"cannot use the database: {_one_line(reason.splitlines()[0] if reason else repr(exc))}"
    )


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
        raise _database_error(exc) from None


# --- HTTP client -------------------------------------------------------------------------------


def _client(settings: Settings, *, read_timeout: float = 60.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    return httpx.Client(
        base_url=settings.api_url.rstrip("/") + API_PREFIX,
        headers=headers,
        timeout=httpx.Timeout(10.0, read=read_timeout),
    )


def _unreachable(settings: Settings, exc: httpx.TransportError) -> click.ClickException:
    if isinstance(exc, httpx.ConnectError):
        return click.ClickException(
            f"cannot reach the trainboard API at {settings.api_url}: is it running? (trainboard up)"
        )
    reason = _one_line(str(exc)) or type(exc).__name__
    return click.ClickException(f"lost the connection to the trainboard API at {settings.api_url}: {reason}")


def _format_location(loc: list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    # pydantic puts the union tag in the path (spec.model.mlp.hidden_sizes): drop it.
    if len(parts) >= 3 and parts[0] == "spec" and parts[1] in NAMED_FIELDS:
        del parts[2]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def error_message(response: httpx.Response) -> str:
    """One line saying what the API refused: its `detail`, FastAPI's 422 list as `field: message; ...`."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if response.status_code == 422 and isinstance(detail, list):
        problems = []
        for item in detail:
            where = _format_location(item.get("loc", []))
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        return _one_line("; ".join(problems))
    if isinstance(detail, str):
        message = detail
    else:
        body = _one_line(response.text)[:200]
        message = f"the API answered {response.status_code} {response.reason_phrase}" + (f": {body}" if body else "")
    if response.status_code == 401:
        message += " (set TRAINBOARD_API_TOKEN)"
    return _one_line(message)


def api_call(method: str, path: str, **kwargs: Any) -> Any:
    """Send one request to the API and return its JSON; any failure becomes a one-line ClickException."""
    settings = load_settings()
    try:
        with _client(settings) as client:
            response = client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise _unreachable(settings, exc) from None
    if response.is_error:
        raise click.ClickException(error_message(response))
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise click.ClickException(
            f"{settings.api_url} did not answer like the trainboard API: is TRAINBOARD_API_URL right?"
        ) from None


# --- formatting --------------------------------------------------------------------------------


def _entry_name(value: Any) -> str:
    """`mlp` from "mlp" or {"name": "mlp", ...}."""
    if isinstance(value, dict):
        return str(value.get("name", "?"))
    return str(value) if value is not None else "?"


def _human_count(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def _local_time(value: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # the API stores UTC
    return moment.astimezone().strftime(fmt)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _total_epochs(run: dict[str, Any]) -> int | None:
    epochs = (run.get("spec") or {}).get("epochs")
    return epochs if isinstance(epochs, int) else None


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# --- building a submission ---------------------------------------------------------------------

_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _json_ready(item: Any) -> Any:
    """What YAML read, as JSON means it: 1e-3 as a number (YAML 1.1, which PyYAML follows, wants
    a dot: 1.0e-3), dates as text."""
    if isinstance(item, str) and _SCIENTIFIC.match(item):
        return float(item)
    if isinstance(item, (date, datetime)):  # YAML reads 2024-05-01 as a date; JSON has none
        return item.isoformat()
    if isinstance(item, list):
        return [_json_ready(x) for x in item]
    if isinstance(item, dict):
        return {k: _json_ready(v) for k, v in item.items()}
    return item


def _yaml_value(text: str) -> Any:
    """A --set value as YAML (0.1, 30, true, [256,128], adam), reading 1e-3 as a number too."""
    return _json_ready(yaml.safe_load(text) if text.strip() else "")


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """`model.hidden_sizes=[256,128]` -> (["model", "hidden_sizes"], [256, 128])."""
    key, sep, raw = text.partition("=")
    keys = key.strip().split(".")
    if keys and keys[0] == "spec" and len(keys) > 1:
        keys = keys[1:]  # spec.learning_rate means learning_rate
    if not sep or not all(k.strip() for k in keys):
        raise click.UsageError(
            f"bad --set {text!r}: expected KEY=VALUE, e.g. learning_rate=0.1 or model.hidden_sizes=[256,128]"
        )
    try:
        value = _yaml_value(raw)
    except yaml.YAMLError as exc:
        reason = getattr(exc, "problem", None) or exc
        raise click.UsageError(f"bad --set value for {key.strip()}: {_one_line(str(reason))}") from None
    return [k.strip() for k in keys], value


def set_path(spec: dict[str, Any], keys: list[str], value: Any) -> None:
    """Set spec[keys[0]][keys[1]]... = value, creating objects on the way; a bare entry name
    ("model": "mlp") becomes {"name": "mlp"} so that its options can be added."""
    node = spec
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        elif isinstance(child, str) and depth == 0 and key in NAMED_FIELDS:
            child = node[key] = {"name": child}
        elif not isinstance(child, dict):
            where = ".".join(keys[: depth + 1])
            raise click.UsageError(f"cannot set {'.'.join(keys)}: {where} is {child!r}, not an object")
        node = child
    node[keys[-1]] = value


def set_entry_name(spec: dict[str, Any], field: str, name: str) -> None:
    """--model NAME and friends: set the entry's name and keep the options given with it."""
    current = spec.get(field)
    if isinstance(current, dict):
        current["name"] = name
    else:
        spec[field] = {"name": name}


def read_spec_file(path: str) -> dict[str, Any]:
    """A YAML or JSON file (JSON is YAML), `-` for stdin, holding a mapping."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read spec file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or exc
        raise click.ClickException(f"invalid YAML in {path}{where}: {_one_line(str(reason))}") from None
    if document is None:
        raise click.ClickException(f"spec file {path} is empty")
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise click.ClickException(
            f"spec file {path} must hold a mapping (a TrainSpec, or name/group/spec), not a {kind}"
        )
    return document


def build_submission(
    spec_file: str | None,
    *,
    entries: dict[str, str | None],
    assignments: Iterable[str],
    name: str | None,
    group: str | None,
) -> dict[str, Any]:
    """The body of POST /runs from a spec file, --model/--dataset/..., --set and --name/--group.
    The API validates it (one source of truth); here it is only assembled."""
    body: dict[str, Any] = {"name": None, "group": None, "spec": {}}
    if spec_file is not None:
        document = read_spec_file(spec_file)
        if "spec" in document:  # {"name", "group", "spec"}; a TrainSpec has no field "spec"
            body.update(document)
        else:
            body["spec"] = document
    if not isinstance(body["spec"], dict):
        raise click.ClickException(f"spec file {spec_file}: 'spec' must be a mapping")
    spec = body["spec"]
    for field, entry in entries.items():
        if entry is not None:
            set_entry_name(spec, field, entry)
    for text in assignments:
        keys, value = parse_assignment(text)
        set_path(spec, keys, value)
    if name is not None:
        body["name"] = name
    if group is not None:
        body["group"] = group
    return body


# --- following a run (Server-Sent Events) ------------------------------------------------------


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str, str, str | None]]:
    """(event, data, id) for each event of a text/event-stream, given its lines."""
    event, data, event_id = "message", [], None
    for line in lines:
        if not line:  # a blank line ends an event
            if data:
                yield event, "\n".join(data), event_id
            event, data, event_id = "message", [], None
            continue
        if line.startswith(":"):  # comment (the server's keep-alive ping)
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
    if data:
        yield event, "\n".join(data), event_id


class RunProgress:
    """What `watch` shows: one line per epoch, or one live line rewritten in place on a terminal."""

    BAR_WIDTH = 10

    def __init__(self, run_id: int, *, live: bool) -> None:
        self.run_id = run_id
        self.live = live
        self.run: dict[str, Any] = {}
        self.epochs: dict[int, dict[str, float | None]] = {}
        self.printed: set[int] = set()
        self.done = 0
        self.shown = ""  # the live line as it is on screen

    @property
    def total(self) -> int | None:
        return _total_epochs(self.run)

    # events

    def on_state(self, run: dict[str, Any]) -> None:
        previous = self.run.get("status")
        self.run = run
        self.done = max(self.done, run.get("epochs_completed") or 0)
        if run.get("status") != previous and run.get("status") not in ("completed", "failed", "cancelled"):
            self.say(self._status_line())
        self.redraw()

    def on_metrics(self, points: list[dict[str, Any]]) -> None:
        new_steps = []
        for point in points:
            step = point["step"]
            if step not in self.epochs:
                new_steps.append(step)
            self.epochs.setdefault(step, {})[point["name"]] = point.get("value")
        if self.epochs:
            self.done = max(self.done, max(self.epochs))
        if not self.live:
            for step in sorted(set(new_steps) - self.printed):
                self.printed.add(step)
                click.echo(self._epoch_text(step))
        self.redraw()

    def on_heartbeat(self, beat: dict[str, Any]) -> None:
        self.done = max(self.done, beat.get("epochs_completed") or 0)
        self.redraw()

    # text

    def _status_line(self) -> str:
        run = self.run
        status = run.get("status", "?")
        text = f"run {self.run_id} ({run.get('name', '?')}): {status}"
        if status == "running" and run.get("worker_host"):
            device = f", {run['device_name']}" if run.get("device_name") else ""
            text += f" on {run['worker_host']}{device}"
        return text

    def _eta(self) -> str | None:
        seconds = [m["epoch_seconds"] for m in self.epochs.values() if m.get("epoch_seconds") is not None]
        if not seconds or self.total is None:
            return None
        return _duration(sum(seconds) / len(seconds) * max(self.total - self.done, 0))

    def _metric_parts(self, step: int, *, compact: bool = False) -> list[str]:
        metrics = self.epochs.get(step, {})

        def number(key: str, fmt: str) -> str:
            value = metrics.get(key)
            return format(value, fmt) if value is not None else "n/a"

        train, test = number("train_loss", ".4f"), number("test_loss", ".4f")
        # compact: the live line has to fit an 80-column terminal
        parts = [f"loss train {train} test {test}"] if compact else [f"train loss {train}", f"test loss {test}"]
        # Classification reports test_accuracy, segmentation test_dice and test_iou.
        scores = [(key, label, fmt) for key, label, fmt in SCORE_METRICS if key in metrics]
        for key, label, fmt in scores or SCORE_METRICS[:1]:
            parts.append(f"{label.removeprefix('test ') if compact else label} {number(key, fmt)}")
        return parts

    def _epoch_text(self, step: int) -> str:
        total = self.total
        parts = [f"epoch {step}/{total or '?'}", *self._metric_parts(step)]
        seconds = self.epochs.get(step, {}).get("epoch_seconds")
        if seconds is not None:
            parts.append(f"{seconds:.1f}s")
        eta = self._eta()
        if eta is not None and total is not None and step < total:
            parts.append(f"ETA {eta}")
        return "  ".join(parts)

    def _live_text(self) -> str:
        total = self.total
        filled = min(int(self.BAR_WIDTH * self.done / total), self.BAR_WIDTH) if total else 0
        parts = [f"epoch {self.done}/{total or '?'} [" + "#" * filled + "-" * (self.BAR_WIDTH - filled) + "]"]
        if not self.epochs:
            return "  ".join([*parts, str(self.run.get("status", ""))])
        parts += self._metric_parts(max(self.epochs), compact=True)
        eta = self._eta()
        if eta is not None and total is not None and self.done < total:
            parts.append(f"ETA {eta}")
        return "  ".join(parts)

    # output

    def clear(self) -> None:
        if self.live and self.shown:
            click.echo("\r" + " " * len(self.shown) + "\r", nl=False)
            self.shown = ""

    def redraw(self) -> None:
        if not self.live:
            return
        # A line wider than the terminal wraps, and \r could no longer rewrite it.
        text = self._live_text()[: shutil.get_terminal_size().columns - 1]
        if text != self.shown:
            click.echo("\r" + text.ljust(len(self.shown)), nl=False)
            self.shown = text

    def finish(self) -> None:
        """Leave the live line on screen, ended."""
        if self.live and self.shown:
            click.echo()
            self.shown = ""

    def say(self, text: str) -> None:
        """A line of its own, above the live line."""
        self.clear()
        click.echo(text)


def follow_run(run_id: int) -> int:
    """Follow a run until it ends: 0 when it completed, 1 when it failed, was cancelled or deleted."""
    settings = load_settings()
    progress = RunProgress(run_id, live=sys.stdout.isatty())
    cursor: str | None = None  # id of the last metrics event: a reconnect resumes after it
    failures = 0
    final: str | None = None
    with _client(settings, read_timeout=STREAM_READ_TIMEOUT) as client:
        while True:
            headers = {"Last-Event-ID": cursor} if cursor else {}
            try:
                with client.stream("GET", f"/runs/{run_id}/events", headers=headers) as response:
                    if response.is_error:
                        response.read()
                        raise click.ClickException(error_message(response))
                    for event, data, event_id in iter_sse(response.iter_lines()):
                        failures = 0
                        payload = json.loads(data)
                        if event == "state":
                            progress.on_state(payload)
                        elif event == "metrics":
                            progress.on_metrics(payload.get("points", []))
                            cursor = event_id or cursor
                        elif event == "heartbeat":
                            progress.on_heartbeat(payload)
                        elif event == "end":
                            final = payload.get("status", "?")
                            break
                if final is not None:
                    break
                problem: httpx.TransportError = httpx.RemoteProtocolError("the stream ended before the run did")
            except httpx.TransportError as exc:
                problem = exc
            # A dropped stream (API restart, network): reconnect a few times, resuming after
            # the last metrics received, then give up. Unreachable from the start: give up now.
            failures += 1
            if failures > WATCH_RECONNECTS or (isinstance(problem, httpx.ConnectError) and not progress.run):
                progress.clear()
                raise _unreachable(settings, problem)
            time.sleep(min(2.0**failures, 10.0))
    progress.finish()
    run = progress.run
    if final == "completed":
        done = run.get("epochs_completed", progress.done)
        click.echo(f"run {run_id} completed: {done}/{progress.total or '?'} epochs")
        return 0
    if final == "failed":
        error = (run.get("error") or "no error recorded").strip()
        lines = [line for line in error.splitlines() if line.strip()]
        summary = lines[-1] if lines else error
        hint = f" (full error: trainboard show {run_id})" if len(lines) > 1 else ""
        click.echo(f"error: run {run_id} failed: {_one_line(summary)}{hint}", err=True)
        return 1
    click.echo(f"error: run {run_id} was {final}", err=True)
    return 1


def _watch_and_exit(run_id: int) -> NoReturn:
    try:
        code = follow_run(run_id)
    except KeyboardInterrupt:
        click.echo(f"\nstopped watching run {run_id}; it goes on (trainboard watch {run_id})", err=True)
        code = 130
    sys.exit(code)


# --- commands ----------------------------------------------------------------------------------


@click.group(cls=TrainboardGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Launch, watch and compare PyTorch training runs.

    Settings come from TRAINBOARD_* environment variables (TRAINBOARD_API_URL,
    TRAINBOARD_API_TOKEN, TRAINBOARD_DATA_DIR, TRAINBOARD_DATABASE_URL, ...)."""


@cli.command()
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
        raise _database_error(exc) from None
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} is at schema revision {revision}")


@cli.command()
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


@cli.command()
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


@cli.command()
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
        raise _database_error(exc) from None

    url = _local_url(settings.host, settings.port)
    env = {**os.environ, "TRAINBOARD_API_URL": url}  # the local worker reports to this API
    base = [sys.executable, "-m", "backend.cli"]
    children: list[tuple[str, subprocess.Popen, int]] = []
    previous_sigint = signal.getsignal(signal.SIGINT)
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops like Ctrl-C
    try:
        api_process = subprocess.Popen([*base, "api", "--host", settings.host, "--port", str(settings.port)], env=env)
        children.append(("API", api_process, signal.SIGKILL))
        health = _wait_until_answering(url, api_process)
        if health.status_code != 200:
            click.echo(f"warning: the API answers but is degraded: {_one_line(health.text)}", err=True)
        # The worker starts once the API is up: the two do not race to create the broker's tables.
        worker_process = subprocess.Popen([*base, "worker"], env=env)
        children.append(("worker", worker_process, getattr(signal, "SIGQUIT", signal.SIGKILL)))
        click.echo(f"trainboard is running at {url}  (API docs: {url}/docs)")
        click.echo("press Ctrl-C to stop")
        while True:
            for name, proc, _ in children:
                if proc.poll() is not None:
                    raise click.ClickException(f"the {name} exited with code {proc.returncode}; stopping trainboard")
            time.sleep(0.5)
    except KeyboardInterrupt:
        click.echo("stopping trainboard...", err=True)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the shutdown below finish
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            _stop_children(children)
        finally:
            signal.signal(signal.SIGTERM, previous_sigterm)
            signal.signal(signal.SIGINT, previous_sigint)


@cli.command()
@click.argument("spec_file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--model", help="Model name (spec.model.name)")
@click.option("--dataset", help="Dataset name (spec.dataset.name)")
@click.option("--optimizer", help="Optimizer name (spec.optimizer.name)")
@click.option("--scheduler", help="Scheduler name (spec.scheduler.name)")
@click.option(
    "--set", "assignments", multiple=True, metavar="KEY=VALUE",
    help="Set a spec field by dotted path, value as YAML: learning_rate=0.1, model.hidden_sizes=[64,32]",
)  # fmt: skip
@click.option("--name", help="Run name [default: '<model> on <dataset>']")
@click.option("--group", help="Group or study of the run")
@click.option("--watch", is_flag=True, help="Then follow the run until it ends")
def submit(
    spec_file: str | None,
    model: str | None,
    dataset: str | None,
    optimizer: str | None,
    scheduler: str | None,
    assignments: tuple[str, ...],
    name: str | None,
    group: str | None,
    watch: bool,
) -> None:
    """Submit a run. SPEC_FILE (YAML or JSON, - for stdin) holds a TrainSpec, or
    {name, group, spec}; options and --set apply on top of it, in that order.

    \b
    trainboard submit --model mlp --dataset synthetic_mnist --set learning_rate=0.1 \\
        --set epochs=30 --set batch_size=64 --set model.hidden_sizes=[256,128]
    """
    body = build_submission(
        spec_file,
        entries={"model": model, "dataset": dataset, "optimizer": optimizer, "scheduler": scheduler},
        assignments=assignments,
        name=name,
        group=group,
    )
    run = api_call("POST", "/runs", json=body)
    click.echo(f"submitted run {run['id']}: {run['name']} ({run['status']})")
    if watch:
        _watch_and_exit(run["id"])


@cli.command("ls")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Only these (repeatable)")
@click.option("--group", help="Only this group")
@click.option("--name", help="Name contains")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def list_runs(statuses: tuple[str, ...], group: str | None, name: str | None, limit: int) -> None:
    """List runs, newest first."""
    params: dict[str, Any] = {"limit": limit, "status": list(statuses)}
    if group is not None:
        params["group"] = group
    if name is not None:
        params["name"] = name
    page = api_call("GET", "/runs", params=params)
    rows = []
    for run in page["data"]:
        spec = run.get("spec") or {}
        rows.append([
            str(run["id"]),
            _shorten(run["name"], 40),
            run["status"] + ("*" if run.get("cancel_requested") and run["status"] == "running" else ""),
            _entry_name(spec.get("model")),
            _entry_name(spec.get("dataset")),
            f"{run.get('epochs_completed', 0)}/{_total_epochs(run) or '?'}",
            _human_count(run.get("param_count")),
            _human_count(run.get("macs")),
            _local_time(run.get("created_at"), "%Y-%m-%d %H:%M"),
        ])  # fmt: skip
    if rows:
        click.echo(_table(["ID", "NAME", "STATUS", "MODEL", "DATASET", "EPOCH", "PARAMS", "MACS", "CREATED"], rows))
    click.echo(f"{len(rows)} of {page['count']} runs")


@cli.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the run as the API returns it")
def show(run_id: int, as_json: bool) -> None:
    """Show a run: its fields and its full spec."""
    run = api_call("GET", f"/runs/{run_id}")
    if as_json:
        click.echo(json.dumps(run, indent=2))
        return
    status = run["status"] + (
        " (cancel requested)" if run.get("cancel_requested") and run["status"] == "running" else ""
    )
    fields = [
        ("status", status),
        ("group", run.get("group") or "-"),
        ("epochs", f"{run.get('epochs_completed', 0)}/{_total_epochs(run) or '?'}"),
        ("params", _human_count(run.get("param_count"))),
        ("MACs", _human_count(run.get("macs"))),
        ("created", _local_time(run.get("created_at"))),
        ("started", _local_time(run.get("started_at"))),
        ("finished", _local_time(run.get("finished_at"))),
        ("worker", run.get("worker_host") or "-"),
        ("device", run.get("device_name") or "-"),
        ("attempt", str(run.get("attempt", 0))),
    ]
    click.echo(f"run {run['id']}: {run['name']}")
    for label, value in fields:
        click.echo(f"  {label:<10}{value}")
    if run.get("error"):
        click.echo("  error")
        for line in run["error"].rstrip().splitlines():
            click.echo(f"    {line}")
    click.echo("spec:")
    click.echo(_indent(yaml.safe_dump(run.get("spec") or {}, sort_keys=False, default_flow_style=None)))
    if run.get("environment"):
        click.echo("environment:")
        click.echo(_indent(yaml.safe_dump(run["environment"], sort_keys=False, default_flow_style=None)))


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.rstrip().splitlines())


@cli.command()
@click.argument("run_id", metavar="RUN", type=int)
def watch(run_id: int) -> None:
    """Follow a run live: epoch, losses, accuracy, ETA. Exits 0 if it completes, 1 otherwise."""
    _watch_and_exit(run_id)


@cli.command()
@click.argument("run_id", metavar="RUN", type=int)
def cancel(run_id: int) -> None:
    """Cancel a run.

    A queued run is cancelled at once; a running one stops at its next batch."""
    run = api_call("POST", f"/runs/{run_id}/cancel")
    if run["status"] == "running":
        click.echo(f"run {run_id}: cancel requested (it stops at its next batch)")
    else:
        click.echo(f"run {run_id}: {run['status']}")


# --- API tokens --------------------------------------------------------------------------------


@cli.group()
def token() -> None:
    """API tokens, kept hashed in the database (the command acts on it directly, like `migrate`).

    \b
    trainboard token create laptop     # prints the secret once: send it as 'Authorization: Bearer ...'
    trainboard token ls
    trainboard token revoke laptop
    """


@contextmanager
def _token_session() -> Iterator[Any]:
    """A session on the migrated database, committed at the end; failures as one-line errors."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from backend.core.db import get_engine
    from backend.core.migrate import DatabaseNotMigrated, check_migrated

    settings = load_settings()
    try:
        engine = get_engine(settings)
        check_migrated(engine)
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    except DatabaseNotMigrated as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise _database_error(exc) from None


@token.command("create")
@click.argument("name")
def token_create(name: str) -> None:
    """Create a token NAME and print its secret (shown this once only)."""
    from backend.crud import tokens as tokens_crud

    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise click.UsageError("the token name must have 1 to 100 characters")
    with _token_session() as session:
        existing = tokens_crud.get_token_by_name(session=session, name=name)
        if existing is not None:
            state = " (revoked)" if existing.revoked_at is not None else ""
            raise click.ClickException(f"a token named {name!r} already exists{state}: choose another name")
        _, secret = tokens_crud.create_token(session=session, name=name)
    click.echo(f"created token {name!r}; its secret, shown only this once:", err=True)
    click.echo(secret)


@token.command("ls")
def token_list() -> None:
    """List the tokens: name, prefix, created, last used, revoked."""
    from backend.crud import tokens as tokens_crud

    with _token_session() as session:
        found = tokens_crud.list_tokens(session=session)

    def when(moment: datetime | None) -> str:
        return _local_time(moment.isoformat(), "%Y-%m-%d %H:%M") if moment else "-"

    rows = [
        [item.name, item.prefix + "…", when(item.created_at), when(item.last_used_at), when(item.revoked_at)]
        for item in found
    ]
    if rows:
        click.echo(_table(["NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"], rows))
    click.echo(f"{len(rows)} token{'s' if len(rows) != 1 else ''}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke token NAME: requests with it are refused from now on."""
    from backend.crud import tokens as tokens_crud

    with _token_session() as session:
        found = tokens_crud.get_token_by_name(session=session, name=name)
        if found is None:
            raise click.ClickException(f"no token named {name!r} (see 'trainboard token ls')")
        already = found.revoked_at is not None
        tokens_crud.revoke_token(session=session, token=found)
    click.echo(f"token {name!r} {'was already' if already else 'is now'} revoked")


# --- studies -----------------------------------------------------------------------------------


@cli.group()
def study() -> None:
    """Studies: a grid of runs with several seeds per cell, compared statistically.

    \b
    trainboard study create study.yaml      # {name, base_spec, grid, seeds}
    trainboard study show 1 | stats 1 --metric test_accuracy --test welch
    trainboard study extend 1 --seeds 2 | cancel 1
    """


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value >= 0.001 else f"{value:.1e}"


def _number(value: float | None, fmt: str = ".4g") -> str:
    return "-" if value is None else format(value, fmt)


def _progress_text(progress: dict[str, Any]) -> str:
    parts = [f"{progress[status]} {status}" for status in STATUSES if progress.get(status)]
    return f"{progress.get('total', 0)} runs" + (": " + ", ".join(parts) if parts else "")


@study.command("create")
@click.argument("spec_file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--name", help="Study name (also the group of its runs) [default: the file's name]")
@click.option("--seeds", type=click.IntRange(1, 50), help="Seeds per cell [default: the file's seeds, or 3]")
def study_create(spec_file: str, name: str | None, seeds: int | None) -> None:
    """Create a study and queue all its runs. SPEC_FILE (YAML or JSON, - for stdin) holds its
    name, base_spec (a TrainSpec), grid (spec path: [values], every combination is run) and seeds.

    \b
    name: gtsrb-bn-optimizer
    base_spec: {model: traffic_sign_cnn, dataset: gtsrb, optimizer: adam,
                learning_rate: 1.0e-3, epochs: 400, batch_size: 128}
    grid:
      model.batch_norm: [false, true]
      optimizer: [adam, sgd]
    seeds: 3
    """
    body = _json_ready(read_spec_file(spec_file))
    if "base_spec" not in body and isinstance(body.get("spec"), dict):
        body["base_spec"] = body.pop("spec")
    if name is not None:
        body["name"] = name
    if seeds is not None:
        body["seeds"] = seeds
    if not body.get("name"):
        raise click.ClickException(f"the study needs a name: give name: in {spec_file} or --name")
    created = api_call("POST", "/studies", json=body)
    cells = len(created["cells"])
    click.echo(
        f"created study {created['id']}: {created['name']} ({cells} cell{'s' if cells != 1 else ''} x "
        f"{len(created['seeds'])} seeds, {created['progress']['total']} runs queued)"
    )


@study.command("ls")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
def study_list(limit: int) -> None:
    """List studies, newest first."""
    page = api_call("GET", "/studies", params={"limit": limit})
    rows = [
        [
            str(item["id"]),
            _shorten(item["name"], 40),
            item["status"],
            " x ".join(str(len(values)) for values in item["grid"].values()) or "1",
            str(len(item["seeds"])),
            f"{item['progress']['completed']}/{item['progress']['total']}",
            _local_time(item.get("created_at"), "%Y-%m-%d %H:%M"),
        ]
        for item in page["data"]
    ]
    if rows:
        click.echo(_table(["ID", "NAME", "STATUS", "GRID", "SEEDS", "DONE", "CREATED"], rows))
    click.echo(f"{len(rows)} of {page['count']} studies")


@study.command("show")
@click.argument("study_id", metavar="STUDY", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the study as the API returns it")
def study_show(study_id: int, as_json: bool) -> None:
    """Show a study: its grid, seeds, progress, and each cell's runs."""
    found = api_call("GET", f"/studies/{study_id}")
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"study {found['id']}: {found['name']} ({found['status']})")
    click.echo(f"  {'created':<10}{_local_time(found.get('created_at'))}")
    click.echo(f"  {'seeds':<10}{', '.join(map(str, found['seeds']))}")
    click.echo(f"  {'progress':<10}{_progress_text(found['progress'])}")
    click.echo("grid:")
    if found["grid"]:
        click.echo(_indent(yaml.safe_dump(found["grid"], sort_keys=False, default_flow_style=None)))
    else:
        click.echo("  (none: every run is the base spec with another seed)")
    rows = []
    for cell in found["cells"]:
        progress = cell["progress"]
        runs = ", ".join(
            f"{run['id']}" + ("" if run["status"] == "completed" else f" ({run['status']})") for run in cell["runs"]
        )
        rows.append([_shorten(cell["label"], 60), f"{progress['completed']}/{progress['total']}", runs or "-"])
    click.echo(_table(["CELL", "DONE", "RUNS"], rows))


@study.command("stats")
@click.argument("study_id", metavar="STUDY", type=int)
@click.option("--metric", help="Metric to compare [default: test_accuracy, test_dice or the early-stopping metric]")
@click.option("--summary", type=click.Choice(["best", "final", "at_epoch"]), default="best", show_default=True,
              help="Each run's best or final value, or its value at --epoch")  # fmt: skip
@click.option("--epoch", type=click.IntRange(min=0), help="With --summary at_epoch")
@click.option("--ci", type=click.Choice(["t", "bootstrap"]), default="t", show_default=True,
              help="Confidence interval of each group's mean")  # fmt: skip
@click.option("--test", "test_name", type=click.Choice(["mannwhitney", "welch", "wilcoxon"]), default="mannwhitney",
              show_default=True, help="Two-sided test; wilcoxon pairs runs by seed")  # fmt: skip
@click.option("--alpha", type=click.FloatRange(0, 0.5, min_open=True), default=0.05, show_default=True)
@click.option("--group-by", "group_by", multiple=True, metavar="PATH",
              help="Pool the cells by spec paths (repeatable) instead of comparing every cell")  # fmt: skip
@click.option("--include-running", is_flag=True, help="Count running runs with their values so far")
@click.option("--json", "as_json", is_flag=True, help="Print the table as the API returns it")
def study_stats(
    study_id: int,
    metric: str | None,
    summary: str,
    epoch: int | None,
    ci: str,
    test_name: str,
    alpha: float,
    group_by: tuple[str, ...],
    include_running: bool,
    as_json: bool,
) -> None:
    """Compare a study's cells: each cell's runs described, ranked, and every pair tested, with
    Holm's correction; warnings say what the numbers cannot show."""
    params: dict[str, Any] = {"summary": summary, "ci": ci, "test": test_name, "alpha": alpha}
    if metric is not None:
        params["metric"] = metric
    if epoch is not None:
        params["epoch"] = epoch
    if group_by:
        params["group_by"] = list(group_by)
    if include_running:
        params["include_running"] = "true"
    table = api_call("GET", f"/studies/{study_id}/stats", params=params)
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    value = {"best": "best value", "final": "final value", "at_epoch": f"value at epoch {table['epoch']}"}
    better = "higher" if table["direction"] == "max" else "lower"
    interval = f"{table['confidence']:.0%} CI"
    click.echo(f"{table['metric']}: each run's {value[table['summary']]}, {better} is better")
    rows = []
    for group in sorted(table["groups"], key=lambda g: (g["rank"] is None, g["rank"] or 0)):
        ci_text = (
            f"[{_number(group['ci_low'])}, {_number(group['ci_high'])}]" if group["ci_low"] is not None else "-"
        )
        rows.append([
            str(group["rank"] or "-"), _shorten(group["label"], 50), str(group["n"]), _number(group["mean"]),
            _number(group["median"]), _number(group["std"], ".2g"), ci_text,
            str(group["incomplete_runs"]) if group["incomplete_runs"] else "",
        ])  # fmt: skip
    click.echo(_table(["RANK", "GROUP", "N", "MEAN", "MEDIAN", "STD", interval, "LEFT OUT"], rows))
    if table["comparisons"]:
        titles = {"mannwhitney": "Mann–Whitney U", "welch": "Welch's t-test", "wilcoxon": "Wilcoxon signed-rank"}
        count = len(table["comparisons"])
        click.echo(
            f"\n{titles[table['test']]}, two-sided; p adjusted by Holm over {count} comparison"
            f"{'s' if count != 1 else ''}; significant if < {table['alpha']:g}"
        )
        rows = []
        for item in table["comparisons"]:
            better = {item["a"]: "A", item["b"]: "B"}.get(item["better"], "-")
            rows.append([
                _shorten(item["a"], 40), _shorten(item["b"], 40), _p(item["p_value"]), _p(item["p_holm"]),
                _number(item["cliffs_delta"], ".2f"), _number(item["cohens_d"], ".2f"), better,
                "yes" if item["significant"] else "no",
            ])  # fmt: skip
        headers = ["A", "B", "P", "P HOLM", "CLIFF'S DELTA", "COHEN'S D", "BETTER", "SIGNIFICANT"]
        click.echo(_table(headers, rows))
    for warning in table["warnings"]:
        click.echo(f"warning: {warning}")


@study.command("extend")
@click.argument("study_id", metavar="STUDY", type=int)
@click.option("--seeds", type=click.IntRange(1, 50), required=True, help="How many more seeds per cell")
def study_extend(study_id: int, seeds: int) -> None:
    """Run every cell of a study with more seeds, numbered on from the largest one used."""
    before = api_call("GET", f"/studies/{study_id}")
    after = api_call("POST", f"/studies/{study_id}/extend", json={"seeds": seeds})
    added = after["progress"]["total"] - before["progress"]["total"]
    new_seeds = [seed for seed in after["seeds"] if seed not in before["seeds"]]
    click.echo(
        f"study {study_id}: {added} runs queued (seed{'s' if len(new_seeds) != 1 else ''} "
        f"{', '.join(map(str, new_seeds))}); {after['progress']['total']} runs in all"
    )


@study.command("cancel")
@click.argument("study_id", metavar="STUDY", type=int)
def study_cancel(study_id: int) -> None:
    """Cancel every run of a study: queued ones at once, running ones at their next batch."""
    found = api_call("POST", f"/studies/{study_id}/cancel")
    stopping = sum(1 for cell in found["cells"] for run in cell["runs"] if run["status"] == "running")
    text = f"study {study_id}: {found['progress']['cancelled']} runs cancelled"
    if stopping:
        runs = f"{stopping} running run{'s stop' if stopping > 1 else ' stops'}"
        text += f", {runs} at its next batch" if stopping == 1 else f", {runs} at their next batch"
    click.echo(text)


def main() -> None:
    """Entry point of the `trainboard` script."""
    cli(prog_name="trainboard")


if __name__ == "__main__":
    main()
