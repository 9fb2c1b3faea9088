"""The engine callback of a worker's run: reports each epoch, heartbeats in the background,
and turns a cancel request, a lost lease or the worker's shutdown into `should_stop()`."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from worker.reporter import ApiUnavailable, Reporter, RunRejected

log = logging.getLogger(__name__)


# Set in a pool process when its worker is shutting down (see worker.tasks): runs stop at the
# next batch and go back to the queue instead of running to their end.
SHUTDOWN = threading.Event()

# How long an upload of a checkpoint retries while the API is unreachable, holding up training.
CHECKPOINT_RETRY_SECONDS = 10.0


class ReportingCallback:
    def __init__(self, reporter: Reporter):
        if reporter.heartbeat_seconds is None:
            raise ValueError("claim the run first: the API's reply says how often to beat")
        self.reporter = reporter
        self.heartbeat_seconds = reporter.heartbeat_seconds  # the API's: it judges runs lost by it
        self.epochs_completed = 0
        self.facts: dict = {}
        self._stop_requested = threading.Event()
        self.lease_lost = False
        self._closing = threading.Event()
        self._training_ended = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat_loop, name=f"heartbeat-{reporter.run_id}", daemon=True)

    def start(self) -> None:
        """Begin heartbeats: from the claim on, also while the data is being loaded."""
        self._thread.start()

    # EngineCallback

    def report_size(self, param_count: int, macs: int) -> None:
        """The model's size, measured here (meta device): stored with the run."""
        self.facts.update(param_count=param_count, macs=macs)
        self._beat()

    def on_start(self, info: dict) -> None:
        self.facts.update(device_name=info.get("device_name"), environment=info)
        self._beat()

    def on_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.reporter.add_points(epoch, metrics, time.time())
        self.epochs_completed = epoch
        try:
            self.reporter.flush(retry_for=0)
        except (ApiUnavailable, RunRejected) as exc:
            # Kept in the buffer: the heartbeat thread and the final flush send it later.
            log.warning("run %s: metrics of epoch %s not delivered yet: %s", self.reporter.run_id, epoch, exc)
        self._beat()

    def on_artifact(self, name: str, content: bytes, media_type: str) -> None:
        try:
            self.reporter.upload_artifact(name, content, media_type, retry_for=10)
        except (ApiUnavailable, RunRejected) as exc:
            # An overlay is worth less than the run: note it and train on.
            log.warning("run %s: artifact %s not uploaded: %s", self.reporter.run_id, name, exc)

    def on_checkpoint(self, name: str, path: Path) -> None:
        """Send the checkpoint just saved here to the API's store, before the epoch is reported: the
        epochs the API shows as done can be resumed from on any machine. A failure costs only that."""
        try:
            self.reporter.upload_checkpoint(name, path, retry_for=CHECKPOINT_RETRY_SECONDS)
        except (ApiUnavailable, RunRejected, OSError) as exc:
            log.warning("run %s: checkpoint %s not uploaded (another machine would resume from an earlier "
                        "one): %s", self.reporter.run_id, name, exc)  # fmt: skip

    def should_stop(self) -> bool:
        return self._stop_requested.is_set() or SHUTDOWN.is_set()

    @property
    def shutting_down(self) -> bool:
        return SHUTDOWN.is_set() and not self._stop_requested.is_set()

    # Background heartbeat

    def _beat(self) -> None:
        try:
            if self.reporter.heartbeat(epochs_completed=self.epochs_completed, **self.facts):
                self._stop_requested.set()
        except RunRejected as exc:
            if exc.status_code == 409:  # another worker holds the run now: stop, report nothing more
                log.warning("run %s: %s", self.reporter.run_id, exc.detail)
                self.lease_lost = True
                self._stop_requested.set()
        except ApiUnavailable as exc:
            log.warning("run %s: heartbeat failed: %s", self.reporter.run_id, exc)

    def training_ended(self) -> None:
        """From now on the task's final flush delivers the buffer; this thread only beats."""
        self._training_ended.set()

    def _heartbeat_loop(self) -> None:
        while not self._closing.wait(self.heartbeat_seconds):
            self._beat()
            if self.reporter.pending_count() and not self._training_ended.is_set():
                try:
                    self.reporter.flush(retry_for=0)
                except (ApiUnavailable, RunRejected) as exc:
                    log.warning("run %s: buffered metrics not delivered yet: %s", self.reporter.run_id, exc)

    def close(self) -> None:
        self._closing.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.heartbeat_seconds + 15)
