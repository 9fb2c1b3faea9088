"""`trainboard.init()` and `Run`: a training script's run, as the dashboard shows it.

    run = trainboard.init(name="mlp", config={"lr": 0.1})
    for epoch in range(30):
        run.log({"train_loss": loss, "test_accuracy": accuracy})  # no I/O: queued for delivery
        if run.should_stop:  # someone pressed Cancel
            break
    run.finish()

`log()` only checks and queues; the run's delivery thread (trainboard.client.delivery) does the
rest. Environment: TRAINBOARD_API_URL, TRAINBOARD_API_TOKEN, TRAINBOARD_MODE=offline,
TRAINBOARD_CLIENT_DIR (run folders), TRAINBOARD_FLUSH_TIMEOUT (seconds `finish()` waits for the
delivery, 30), TRAINBOARD_CLIENT_MAX_BUFFER (points kept in memory while the API is unreachable,
100000) and TRAINBOARD_CLIENT_INTERVAL (seconds between deliveries, 0.5)."""

from __future__ import annotations

import atexit
import os
import sys
import time
import traceback
import uuid
from datetime import datetime, timezone
from pathlib import Path
from time import time as _now
from typing import Any

from trainboard.client import metadata
from trainboard.client.api import Api, ApiRefused, ApiUnreachable, default_token, default_url
from trainboard.client.delivery import Delivery, warn
from trainboard.client.folder import RunFolder, check_artifact_name, client_dir
from trainboard.client.points import STEP_KEY, TIME_KEY, check_name, check_step, held_value
from trainboard.limits import MAX_ARTIFACT_BYTES, MAX_STEP

STATUSES = ("completed", "failed", "cancelled")
RESUME_WAIT_S = 30.0  # how long init(resume=...) retries an unreachable API: it needs the last step


def _env_number(name: str, default: float, kind: type = float) -> Any:
    text = os.environ.get(name)
    try:
        return kind(text) if text else default
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None


def last_line(exc: BaseException) -> str:
    """The exception as the last line of its traceback shows it: `ValueError: bad shape`."""
    lines = traceback.format_exception_only(type(exc), exc)
    notes = len(getattr(exc, "__notes__", None) or [])
    text = lines[-1 - notes] if notes < len(lines) else lines[-1]
    return " ".join(text.strip().splitlines())


class Run:
    """A run being reported. Made by `trainboard.init()`; use it as a context manager, or call
    `finish()` (at exit, a run not finished is finished for you)."""

    def __init__(self, *, delivery: Delivery, folder: RunFolder, api: Api | None, next_step: int):
        self._delivery = delivery
        self._folder = folder
        self._api = api
        self._next_step = next_step
        self._checked_names: set[str] = set()
        self._queue_append = delivery.queue.append
        self._finished = False
        self._uncaught: str | None = None  # set by the excepthook: the script died of it

    @property
    def id(self) -> int | None:
        """The run's id on the API; None offline, or until the API could be reached."""
        return self._delivery.run_id

    @property
    def url(self) -> str | None:
        """The run's page in the dashboard."""
        return self._api.run_page(self.id) if self._api is not None and self.id is not None else None

    @property
    def should_stop(self) -> bool:
        """True once someone asked to cancel the run (dashboard or CLI), a heartbeat later."""
        return self._delivery.cancel_requested

    @property
    def folder(self) -> Path:
        """Where the run is written offline, or its undelivered points and artifacts online."""
        return self._folder.path

    def __repr__(self) -> str:
        return f"<trainboard.Run id={self.id} name={self._folder.meta.get('name')!r}>"

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Record `metrics` ({name: number}) at `step` (by default the step after the last one
        logged: 0 first, or after the last stored step of a resumed run). Numbers can be ints,
        floats, NumPy scalars or one-element tensors; NaN and infinities are stored as null. No
        I/O and no lock: the call is queued for the delivery thread. A tensor on a GPU is kept
        (detached) and read by that thread, so logging never waits for the device: do not change
        it in place afterwards. ValueError or TypeError, naming the metric, for a bad name or value."""
        if step is None:
            step = self._next_step
        elif type(step) is not int or step < 0 or step > MAX_STEP:
            step = check_step(step)
        if self._finished:
            raise RuntimeError("run.log() after run.finish(): start another run with trainboard.init()")
        values = dict(metrics)  # the caller may change its dict later
        checked = self._checked_names
        for name, value in values.items():
            if name not in checked:
                checked.add(check_name(name))
            if type(value) is not float and type(value) is not int:
                values[name] = held_value(name, value)
        values[STEP_KEY] = step  # one dict a call, which the garbage collector does not track
        values[TIME_KEY] = _now()
        self._queue_append(values)
        self._next_step = step + 1

    def log_artifact(self, name: str, data_or_path: bytes | str | os.PathLike) -> None:
        """Attach a file to the run: `data_or_path` is its content (bytes) or a path to read now.
        `name` may hold up to 4 '/'-separated parts (`plots/loss.png`). Uploaded in the background."""
        check_artifact_name(name)
        if isinstance(data_or_path, bytes | bytearray | memoryview):
            data = bytes(data_or_path)
        elif isinstance(data_or_path, str | os.PathLike):
            data = Path(data_or_path).read_bytes()
        else:
            raise TypeError(f"artifact {name!r}: give bytes or a path, not a {type(data_or_path).__name__}")
        if len(data) > MAX_ARTIFACT_BYTES:
            raise ValueError(f"artifact {name!r} has {len(data)} bytes, more than the API's {MAX_ARTIFACT_BYTES}")
        if self._finished:
            raise RuntimeError("run.log_artifact() after run.finish()")
        self._delivery.artifacts.append((name, data))

    def finish(self, status: str = "completed", error: str | None = None) -> None:
        """End the run: deliver what is left (waiting TRAINBOARD_FLUSH_TIMEOUT seconds at most), then
        its end. What could not be delivered is written to the run folder, and a message on stderr
        says how to send it (`trainboard sync FOLDER`). A second call does nothing."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if self._finished:
            return
        self._finished = True
        _unfinished.pop(id(self), None)
        outcome = self._delivery.close(status, error, _env_number("TRAINBOARD_FLUSH_TIMEOUT", 30.0))
        if outcome.folder is None:
            return
        where = outcome.folder
        if self._api is None:
            warn(f"offline run saved in {where} ({outcome.remaining} points); send it with: trainboard sync {where}")
        elif outcome.remaining:
            warn(
                f"{outcome.remaining} points of {self._named()} were not delivered; they are in {where}: "
                f"send them with: trainboard sync {where}"
            )
        else:
            warn(
                f"the end of {self._named()} was not delivered; it is in {where}: send it with: trainboard sync {where}"
            )

    def _named(self) -> str:
        return f"run {self.id}" if self.id is not None else "the run"

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: Any) -> None:
        """A clean exit completes the run (or cancels it, if a cancel was asked); an exception fails
        it with the exception's last line, and goes on."""
        if exc is None:
            self.finish("cancelled" if self.should_stop else "completed")
        else:
            self.finish("failed", error=last_line(exc))

    def _finish_at_exit(self) -> None:
        if self._uncaught is not None:
            self.finish("failed", error=self._uncaught)
        else:
            self.finish("cancelled" if self.should_stop else "completed")


# --- finishing runs the script forgot ------------------------------------------------------------

_unfinished: dict[int, Run] = {}


def _finish_all_at_exit() -> None:
    for run in list(_unfinished.values()):
        try:
            run._finish_at_exit()
        except Exception as exc:
            warn(f"could not finish {run!r} at exit: {exc}")


def _note_uncaught(kind: type, exc: BaseException, tb: Any) -> None:
    for run in _unfinished.values():
        run._uncaught = last_line(exc)
    _previous_excepthook(kind, exc, tb)


_previous_excepthook = sys.excepthook
_watching = False


def _watch(run: Run) -> None:
    """Finish `run` at exit if the script does not, as failed if an uncaught exception ends it."""
    global _previous_excepthook, _watching
    if not _watching:
        atexit.register(_finish_all_at_exit)
        _previous_excepthook, sys.excepthook = sys.excepthook, _note_uncaught
        _watching = True
    _unfinished[id(run)] = run


# --- init ----------------------------------------------------------------------------------------


def _open(api: Api, body: dict[str, Any], resume: int | None) -> dict[str, Any]:
    """The API's reply creating (or resuming) the run; ApiUnreachable after the wait allowed."""
    if resume is None:
        return api.track(body)
    deadline = time.monotonic() + RESUME_WAIT_S
    delay = 0.5
    while True:
        try:
            return api.resume(resume, body["host"])
        except ApiUnreachable:
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 4.0)


def init(
    name: str | None = None,
    group: str | None = None,
    config: Any = None,
    url: str | None = None,
    token: str | None = None,
    resume: int | None = None,
) -> Run:
    """Start reporting a run: created on the API (`url`, default TRAINBOARD_API_URL) with `name`
    (default: the script's file name), `group` and `config` (a JSON-able dict, nested or flat; a
    dataclass or argparse.Namespace works too), or run `resume` continued after a restart.

    An unreachable API does not stop the script: a warning, and the run is created when the API
    answers (its points kept meanwhile). A refusal (a bad token, no run `resume`) raises ApiRefused;
    a config the API would refuse (over 64 KiB of JSON, deeper than 20) raises ValueError, offline too."""
    mode = os.environ.get("TRAINBOARD_MODE", "online").strip().lower() or "online"
    if mode not in ("online", "offline"):
        raise ValueError(f"TRAINBOARD_MODE={mode!r}: use online or offline")
    if resume is not None and (isinstance(resume, bool) or not isinstance(resume, int) or resume < 1):
        raise TypeError(f"resume must be a run id (an int from 1), not {resume!r}")
    config = metadata.config_of(config)
    url = (url or default_url()).rstrip("/")
    body = {
        "name": name if name is not None else metadata.default_name(),
        "group": group,
        "config": config,
        "client_key": uuid.uuid4().hex,
        "host": metadata.host(),
        "environment": metadata.environment(),
    }
    meta = {**body, "url": url, "run_id": resume, "created_at": datetime.now(timezone.utc).isoformat()}
    folder = RunFolder.for_run(client_dir(), meta)
    api = None if mode == "offline" else Api(url, token if token is not None else default_token())
    reply = None
    if api is None:
        folder.create()
    else:
        try:
            reply = _open(api, body, resume)
        except ApiUnreachable as exc:
            folder.create()
            warn(
                f"{exc}. The run goes on: it is kept in {folder.path} and sent when the API answers "
                f"(or later with: trainboard sync {folder.path})"
            )
        except ApiRefused as exc:
            api.close()
            what = f"resume run {resume}" if resume is not None else "create the run"
            raise ApiRefused(exc.status_code, f"the API at {url} refused to {what}: {exc.detail}") from None
    if reply is None and resume is not None:
        warn(
            f"run {resume} is resumed later (when the API answers, or by trainboard sync): log() does not know "
            "its last step and counts from 0; pass step= to go on from where it stopped"
        )
    next_step = reply["last_step"] + 1 if reply and reply.get("last_step") is not None else 0
    delivery = Delivery(
        api=api,
        folder=folder,
        run=reply,
        track=body,
        resume_id=resume if reply is None else None,
        interval=_env_number("TRAINBOARD_CLIENT_INTERVAL", 0.5),
        max_buffer=_env_number("TRAINBOARD_CLIENT_MAX_BUFFER", 100_000, int),
    )
    delivery.start()
    run = Run(delivery=delivery, folder=folder, api=api, next_step=next_step)
    _watch(run)
    return run
