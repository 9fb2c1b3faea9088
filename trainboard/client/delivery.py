"""A run's delivery thread: everything `Run` hands over without waiting, delivered to the API.

Every `interval` seconds it takes the points `log()` queued, sends them in batches with the lease's
`attempt`, uploads artifacts and beats the heart at the API's `heartbeat_seconds`. While the API is
unreachable it keeps the points in memory up to `max_buffer`, moves the oldest beyond that to the
run folder's points.jsonl (the spool), and retries with backoff; when the API is back it delivers
the spool first, then memory, so points arrive in the order they were logged. Points the API
refuses for good (a 409: the run is closed or another attempt holds it) stay in the spool for
`trainboard sync`: nothing is dropped. Offline, everything goes to the run folder.

The thread holds the GIL in short pieces only (SEGMENT_S, then a short sleep), so the training
loop's thread never waits long for it."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainboard.client.api import Api, ApiRefused, ApiUnreachable
from trainboard.client.backlog import CHUNK_POINTS, Backlog
from trainboard.client.folder import RunFolder
from trainboard.client.points import api_points, lines_of
from trainboard.limits import MAX_POINTS_PER_BATCH

PIECE = 250  # points turned into the API's JSON between two pauses
SEGMENT_S = 0.0003  # the longest this thread holds the GIL before it gives it up for PAUSE_S
PAUSE_S = 0.001  # long enough for a waiting thread to wake up and take the GIL, even on a busy machine
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 4.0
MAX_ERROR_CHARS = 20_000  # the API's limit for a run's error


def warn(message: str) -> None:
    print(f"trainboard: {message}", file=sys.stderr, flush=True)


@dataclass
class Outcome:
    """How the end went: whether the API has the run's end, and what is left in the run folder."""

    finished: bool = False
    remaining: int = 0  # points written to the folder for `trainboard sync`
    folder: Path | None = None  # set when the folder holds something to sync


class Delivery(threading.Thread):
    def __init__(
        self,
        *,
        api: Api | None,
        folder: RunFolder,
        run: dict[str, Any] | None,
        track: dict[str, Any],
        resume_id: int | None = None,
        interval: float = 0.5,
        max_buffer: int = 100_000,
    ):
        """`run`: the API's reply that created or resumed the run (None when the API could not be
        reached: the thread keeps trying, with `track` as the body, or resuming `resume_id`).
        `api` None: offline."""
        super().__init__(name="trainboard-delivery", daemon=True)
        self.queue: deque[dict[str, Any]] = deque()  # appended to by Run.log(): see points.STEP_KEY
        self.artifacts: deque[tuple[str, bytes]] = deque()
        self.api, self.folder, self.interval = api, folder, interval
        self._track, self._resume_id = track, resume_id
        self.run_id: int | None = None
        self.attempt = 1
        self.heartbeat_seconds = 10.0
        self.cancel_requested = False
        self.delivered = 0
        self.backlog = Backlog(folder, max_buffer, self._pace)
        self._refused: str | None = None  # why the API refuses this run's points: they all go to the spool
        self._down: str | None = None  # the last failure while the API is unreachable
        self._backoff = FIRST_BACKOFF_S
        self._retry_at = 0.0
        self._heartbeat_due = 0.0
        self._wake = threading.Event()
        self._segment_end = 0.0
        self._closing: tuple[str, str | None, float] | None = None
        self._done = threading.Event()
        self._crashed = False  # then close() saves everything in the run folder itself
        self.outcome = Outcome()
        if run is not None:
            self._opened(run)
        elif self.online:  # init() could not reach the API, and said so
            self.run_id = resume_id
            self._down = "unreachable when the script started"

    # --- what Run calls ------------------------------------------------------------------------

    def close(self, status: str, error: str | None, timeout: float) -> Outcome:
        """Deliver what is left within `timeout` seconds, then the run's end; whatever the API did
        not take is written to the run folder. Returns how it went."""
        self._closing = (status, error, time.monotonic() + timeout)
        self._wake.set()
        self._done.wait(timeout + 30)  # each request is bounded by the time left; this is a safety net
        if self._crashed:
            self._save_rest(status, error)
        return self.outcome

    @property
    def online(self) -> bool:
        return self.api is not None

    # --- the thread ----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while True:
                self._cycle()
                if self._closing is not None and self._may_end():
                    break
                self._wait()
            self._end()
        except BaseException as exc:  # a bug: say it, and keep the points in the run folder
            self._crashed = True
            warn(f"the delivery thread failed ({type(exc).__name__}: {exc}); the run's points go to {self.folder.path}")
        finally:
            self.folder.close()
            self._done.set()

    def _wait(self) -> None:
        now = time.monotonic()
        wake_at = now + self.interval
        if self.online and self._refused is None:
            wake_at = min(wake_at, self._retry_at if self._retry_at > now else self._heartbeat_due)
        if self._closing is not None:
            wake_at = min(wake_at, self._closing[2])
        self._wake.wait(max(0.01, wake_at - now))
        self._wake.clear()  # a wake-up lost here costs an interval at most: the loop reads _closing
        self._segment_end = time.perf_counter() + SEGMENT_S

    def _pace(self) -> None:
        """Give the GIL up for a moment once this thread has held it for SEGMENT_S: the training
        loop's thread, if it waits for it, takes it then (else it would wait for Python's switch
        interval, 5 ms)."""
        if time.perf_counter() >= self._segment_end:
            time.sleep(PAUSE_S)
            self._segment_end = time.perf_counter() + SEGMENT_S

    def _may_end(self) -> bool:
        if not self.online or self._refused is not None or time.monotonic() >= self._closing[2]:
            return True
        return self._opened_ok() and not self._left() and self._down is None

    def _opened_ok(self) -> bool:
        return self.run_id is not None and self._resume_id is None

    def _left(self) -> int:
        return len(self.queue) + len(self.backlog) + len(self.artifacts)

    def _cycle(self) -> None:
        self._take_logged()
        if not self.online or self._refused is not None:
            self.backlog.spill(0)
            self._save_artifacts()
            return
        self.backlog.spill()
        now = time.monotonic()
        if now < self._retry_at:
            return
        try:
            self._open()
            if self._down is not None or time.monotonic() >= self._heartbeat_due:
                self._heartbeat()
            self._send_points()
            self._send_artifacts()
        except ApiUnreachable as exc:
            if self._down is None:
                warn(f"{exc}; keeping the points and retrying")
            self._down = str(exc)
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
        except ApiRefused as exc:
            what = f"run {self.run_id}'s reports" if self._opened_ok() else "to open the run"
            self._refuse(f"the API refused {what} ({exc})")
        else:
            if self._down is not None:
                warn(f"the API is back: run {self.run_id} is delivered again")
            self._down, self._backoff = None, FIRST_BACKOFF_S

    def _take_logged(self) -> None:
        """The queued log() calls as chunks of lines in the backlog (offline: in the folder)."""
        queue = self.queue
        while queue:
            texts, count = [], 0
            while queue and count < CHUNK_POINTS:
                points, lines = lines_of(queue.popleft())
                texts.append(lines)
                count += points
                self._pace()
            self.backlog.add(count, "".join(texts), spool=not self.online or self._refused is not None)
            self._pace()

    # --- talking to the API --------------------------------------------------------------------

    def _opened(self, run: dict[str, Any]) -> None:
        self.run_id, self.attempt = run["id"], run["attempt"]
        self.heartbeat_seconds = float(run.get("heartbeat_seconds") or self.heartbeat_seconds)
        self._heartbeat_due = time.monotonic() + self.heartbeat_seconds
        self._resume_id = None
        self.folder.set_run_id(self.run_id)

    def _open(self) -> None:
        """Create (or resume) the run if the API could not be reached when the script started."""
        if self._resume_id is not None:
            self._opened(self.api.resume(self._resume_id, self._track.get("host")))
        elif self.run_id is None:
            self._opened(self.api.track(self._track))
        else:
            return
        warn(f"the API is back: run {self.run_id} is {self.api.run_page(self.run_id)}")
        self._down = None

    def _heartbeat(self) -> dict[str, Any]:
        reply = self.api.heartbeat(self.run_id, self.attempt)
        self._heartbeat_due = time.monotonic() + self.heartbeat_seconds
        if reply.get("cancel_requested"):
            self.cancel_requested = True
        return reply

    def _body(self, lines: list[str]) -> bytes:
        """The request's JSON, made a few hundred points at a time."""
        pieces = []
        for start in range(0, len(lines), PIECE):
            pieces.append(api_points(lines[start : start + PIECE]))
            self._pace()
        return f'{{"attempt":{self.attempt},"points":[{",".join(pieces)}]}}'.encode()

    def _send_points(self) -> None:
        while True:
            batch = self.backlog.next_batch(MAX_POINTS_PER_BATCH)
            if not batch.lines:
                return
            body = self._body(batch.lines)
            try:
                self.api.post_points(self.run_id, body)
            except ApiRefused as exc:
                if exc.status_code != 409:
                    raise
                # Closed or given up for lost while the API could not hear us: a heartbeat of the lease
                # holder revives a run the sweep failed as lost; then the batch is taken.
                if self._heartbeat().get("status") != "running":
                    raise
                self.api.post_points(self.run_id, body)
            self.backlog.delivered(batch)
            self.delivered += len(batch.lines)
            if time.monotonic() >= self._heartbeat_due:
                self._heartbeat()
            self._take_logged()
            self.backlog.spill()
            if self._closing is not None and time.monotonic() >= self._closing[2]:
                return

    def _send_artifacts(self) -> None:
        while self.artifacts:
            name, data = self.artifacts[0]
            try:
                self.api.put_artifact(self.run_id, name, self.attempt, data, timeout=60.0)
            except ApiRefused as exc:
                if exc.status_code == 409:
                    raise
                warn(f"artifact {name!r} of run {self.run_id} refused by the API: {exc}")
            self.artifacts.popleft()

    def _refuse(self, reason: str) -> None:
        """The API will not take this run's reports: from now on everything goes to the run folder."""
        self._refused = reason
        self.backlog.spill(0)  # before anything logged later: the folder keeps the points in order
        self.folder.create()
        warn(f"{reason}; keeping its points in {self.folder.path} (send them with: trainboard sync {self.folder.path})")

    # --- the end -------------------------------------------------------------------------------

    def _save_artifacts(self) -> None:
        while self.artifacts:
            self.folder.save_artifact(*self.artifacts.popleft())

    def _save_rest(self, status: str, error: str | None) -> None:
        """Whatever was not delivered, and the run's end, into the run folder."""
        self._take_logged()
        remaining = self.backlog.save()
        self._save_artifacts()
        self.folder.write_finish(status, error)
        self.outcome = Outcome(remaining=remaining, folder=self.folder.path)

    def _end(self) -> None:
        status, error, deadline = self._closing
        error = error[:MAX_ERROR_CHARS] if error else error
        self._take_logged()
        if self.online and self._refused is None and self._opened_ok() and not self._left():
            try:
                self.api.finish(self.run_id, self.attempt, status, error, timeout=max(3.0, deadline - time.monotonic()))
            except ApiUnreachable:
                pass
            except ApiRefused as exc:
                warn(f"the API refused the end of run {self.run_id} ({exc})")
                return  # nothing a sync could change
            else:
                if self.folder.path.exists():  # a spool used during an outage: all delivered now
                    self.folder.write_finish(status, error)
                    self.folder.write_synced(self.run_id, self.delivered)
                self.outcome = Outcome(finished=True)
                return
        self._save_rest(status, error)
