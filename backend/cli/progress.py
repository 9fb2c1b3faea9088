"""Following a run live (`watch`, `submit --watch`): its Server-Sent Events read, reconnecting
after a drop, and shown as one line per epoch, or one live line rewritten in place on a terminal."""

from __future__ import annotations

import json
import shutil
import sys
import time
from typing import Any, NoReturn

import click
import httpx

from backend.cli.common import duration, load_settings, one_line, total_epochs
from backend.cli.http import api_client, error_message, not_the_api, unreachable
from trainboard.sse import NotAnEventStream, stream_events

# SSE streams: the server pings every 15 s, so a silent minute means the connection is dead.
STREAM_READ_TIMEOUT = 60.0
# The scores `watch` shows after the losses, when the run reports them: (metric, label, format).
SCORE_METRICS = (("test_accuracy", "test acc", ".2%"), ("test_dice", "dice", ".4f"), ("test_iou", "IoU", ".4f"))
WATCH_RECONNECTS = 5


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
        return total_epochs(self.run)

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
        return duration(sum(seconds) / len(seconds) * max(self.total - self.done, 0))

    def _metric_parts(self, step: int, *, compact: bool = False) -> list[str]:
        metrics = self.epochs.get(step, {})
        engine_names = {"train_loss", "test_loss", *(key for key, _, _ in SCORE_METRICS)}
        if metrics and not engine_names & set(metrics):  # a script's own names: loss, acc, val/loss...
            shown = sorted(metrics.items())[: 4 if compact else 8]
            return [f"{name} {value:.4g}" if value is not None else f"{name} n/a" for name, value in shown]

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
        unit = "step" if self.run.get("source") == "script" else "epoch"
        parts = [f"{unit} {step}/{total or '?'}", *self._metric_parts(step)]
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
    cursor: str | None = None  # id of the last event received: a reconnect resumes after it
    failures = 0
    final: str | None = None
    with api_client(settings, read_timeout=STREAM_READ_TIMEOUT) as client:
        while True:
            try:
                with stream_events(client, f"/runs/{run_id}/events", last_event_id=cursor) as events:
                    for event in events:
                        failures = 0
                        cursor = event.id or cursor
                        payload = json.loads(event.data)
                        if event.event == "state":
                            progress.on_state(payload)
                        elif event.event == "metrics":
                            progress.on_metrics(payload.get("points", []))
                        elif event.event == "heartbeat":
                            progress.on_heartbeat(payload)
                        elif event.event == "end":
                            final = payload.get("status", "?")
                            break
                if final is not None:
                    break
                problem: httpx.TransportError = httpx.RemoteProtocolError("the stream ended before the run did")
            except httpx.HTTPStatusError as exc:
                raise click.ClickException(error_message(exc.response)) from None
            except NotAnEventStream:
                raise not_the_api(settings) from None
            except httpx.TransportError as exc:
                problem = exc
            # A dropped stream (API restart, network): reconnect a few times, resuming after
            # the last metrics received, then give up. Unreachable from the start: give up now.
            failures += 1
            if failures > WATCH_RECONNECTS or (isinstance(problem, httpx.ConnectError) and not progress.run):
                progress.clear()
                raise unreachable(settings, problem)
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
        click.echo(f"error: run {run_id} failed: {one_line(summary)}{hint}", err=True)
        return 1
    click.echo(f"error: run {run_id} was {final}", err=True)
    return 1


def watch_and_exit(run_id: int) -> NoReturn:
    try:
        code = follow_run(run_id)
    except KeyboardInterrupt:
        click.echo(f"\nstopped watching run {run_id}; it goes on (trainboard watch {run_id})", err=True)
        code = 130
    sys.exit(code)
