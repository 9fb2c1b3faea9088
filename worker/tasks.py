"""Celery tasks (thin): fetch the run, train it with the engine, report through the REST API."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import traceback
from pathlib import Path

from billiard.process import current_process
from celery.app.amqp import Queues
from celery.exceptions import Reject
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready, worker_shutdown, worker_shutting_down

from trainboard.queues import TRAIN_RUN_TASK, consumed_in_order
from trainboard.settings import get_settings
from worker.catalog import CatalogPublisher, worker_catalog, worker_queues
from worker.celery_app import app
from worker.devices import assign_device, assigned_device
from worker.reporter import ApiUnavailable, Reporter, RunRejected
from worker.run_callback import SHUTDOWN, ReportingCallback

log = logging.getLogger(__name__)

# How long the download of a run's last checkpoint retries while the API is unreachable.
CHECKPOINT_DOWNLOAD_RETRY_SECONDS = 60.0

# Sent by the worker's main process to its pool processes when it shuts down (SIGTERM).
SHUTDOWN_SIGNAL = signal.SIGUSR2


@celeryd_after_setup.connect
def _consume_the_queues_of_loaded_packages(sender, instance, **_kwargs) -> None:
    """Loads the plugins (built-in zoo included), then consumes the queue of each package and pair
    of packages loaded: runs reach only workers that have their model and their dataset. Resumed
    runs' queues first: the broker hands out a resumed run before any new one."""
    queues = instance.app.amqp.queues
    consume_in_order(queues, consumed_in_order(worker_queues()))
    log.info("worker %s consumes, in this order: %s", sender, ", ".join(queues.consume_from))


def consume_in_order(queues: Queues, names: list[str]) -> None:
    """Consume exactly these queues, in this order (Celery's consumer declares them so; Celery's
    default queue, added first, would otherwise stay ahead of the resumed queues)."""
    for name in names:
        queues.select_add(name)
    queues.select(names)


_publisher: CatalogPublisher | None = None


@worker_ready.connect
def _publish_catalog(sender, **_kwargs) -> None:
    global _publisher
    settings = get_settings()
    _publisher = CatalogPublisher(
        settings.api_url, worker_catalog(sender.hostname), token=settings.api_token,
        on_unauthorised=lambda why: stop_unauthorised(why, os.getpid()),
    )  # fmt: skip
    _publisher.start()


@worker_shutdown.connect
def _stop_publishing(**_kwargs) -> None:
    if _publisher is not None:
        _publisher.stop()  # tells the API this worker stopped


@worker_process_init.connect
def _init_pool_process(**_kwargs) -> None:
    index = getattr(current_process(), "index", 0) or 0
    log.info("worker process %s trains on %s", index, assign_device(index))


@worker_shutting_down.connect
def _tell_pool_processes(**_kwargs) -> None:
    """On the worker's shutdown, each pool process stops its run at the next batch and hands it
    back to the queue (with its checkpoints), instead of the shutdown waiting for the run's end."""
    for pid in _child_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, SHUTDOWN_SIGNAL)


def _child_pids() -> list[int]:
    """Linux: the children of every thread of this process (the pool may respawn from a thread)."""
    pids = []
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            pids += [int(pid) for pid in children.read_text().split()]
    return pids


def stop_unauthorised(why: str, main_pid: int) -> None:
    """The API refuses this worker's token: it could claim no run and report nothing, so it stops
    (warm shutdown of its main process) instead of taking runs it would skip, and says why."""
    log.error(
        "worker not authorised: %s: set TRAINBOARD_API_TOKEN to a valid token (`trainboard token create NAME`); "
        "the worker stops", why,
    )  # fmt: skip
    os.kill(main_pid, signal.SIGTERM)


@app.task(name=TRAIN_RUN_TASK, bind=True)
def train_run(self, run_id: int) -> str:
    """Train run `run_id`; returns its final status."""
    # Imported here so that the API, which imports this app to enqueue, never loads torch for it.
    from worker.datasets.errors import DatasetUnavailable
    from worker.engine.interface import CheckpointFailed
    from pydantic import ValidationError

    from trainboard.plugins import load_plugins
    from worker.engine import checkpoints
    from worker.engine.loop import TrainingCancelled, TrainingDiverged, train
    from worker.engine.model_stats import ModelMisfit, check_budget, model_size
    from worker.engine.spec import EngineSpec

    load_plugins()

    # Set here, not at process start: billiard resets the pool process's signal handlers after
    # its initializer (SIGUSR2 would then end the process instead of stopping the run).
    signal.signal(SHUTDOWN_SIGNAL, lambda *_: SHUTDOWN.set())
    if SHUTDOWN.is_set():  # delivered while this worker shuts down: leave it to another worker
        raise Reject("worker shutting down", requeue=True)
    settings = get_settings()
    with Reporter(settings.api_url, run_id, token=settings.api_token) as reporter:
        try:
            # The worker's name (trainboard@host), which says which worker of a machine trains it.
            run = reporter.claim(self.request.hostname or socket.gethostname())
        except RunRejected as exc:
            if exc.status_code in (401, 403):  # no run can be reported: stop taking any, loudly
                stop_unauthorised(f"the API refused its claim of run {run_id} (HTTP {exc.status_code})", os.getppid())
                raise Reject("worker not authorised", requeue=True) from None
            log.info("run %s not started: %s", run_id, exc.detail)
            return "skipped"
        callback = ReportingCallback(reporter)  # beats at the interval the API gave with the claim
        callback.start()
        error = None
        try:
            spec = EngineSpec.model_validate(run["spec"])
            # Sized before any data is loaded or any weight allocated: a model that cannot take the
            # inputs, or is over the server's parameter budget, fails here, in seconds.
            params, macs = model_size(spec)
            callback.report_size(params, macs)
            check_budget(spec, params, reporter.max_model_parameters)
            checkpoint_dir = settings.resolved_artifacts_dir / "runs" / str(run_id) / "checkpoints"
            restore_last_checkpoint(reporter, checkpoint_dir / checkpoints.LAST)
            train(spec, callback, data_dir=settings.data_dir, checkpoint_dir=checkpoint_dir,
                  assigned_device=assigned_device())
            status = "completed"
        except TrainingCancelled:
            status = "released" if callback.shutting_down else "cancelled"
        except (TrainingDiverged, DatasetUnavailable, CheckpointFailed, ModelMisfit) as exc:
            status, error = "failed", str(exc)  # the message says it all (where to put the files)
        except ValidationError as exc:  # the spec does not fit this worker's options classes
            status, error = "failed", f"the spec is not valid on worker {reporter.worker_host}: {exc}"
        except Exception as exc:  # any crash of the training is the run's failure, reported with its cause
            status = "failed"
            error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=20)}"
            log.exception("run %s failed", run_id)
        # Heartbeats go on until the final report is delivered: after an outage of the API, a run
        # whose last epochs wait in the buffer is still alive, not lost.
        callback.training_ended()
        try:
            return _report_end(reporter, callback, status, error)
        finally:
            callback.close()


def restore_last_checkpoint(reporter: Reporter, path: Path) -> None:
    """Put the run's last checkpoint from the API's store at `path`, where the engine resumes from:
    the run may have been interrupted on another machine, or moved there and back. This machine's
    own copy is kept when it is the same, and used when the API has none or cannot be reached."""
    try:
        if reporter.download_checkpoint(path.name, path, retry_for=CHECKPOINT_DOWNLOAD_RETRY_SECONDS):
            log.info("run %s resumes from the API's checkpoint %s", reporter.run_id, path.name)
    except (ApiUnavailable, RunRejected, OSError) as exc:  # a lost lease is the heartbeat's to act on
        where = "this machine's copy" if path.exists() else "epoch 1"
        log.warning("run %s: checkpoint not fetched from the API, resuming from %s: %s", reporter.run_id, where, exc)


def _report_end(reporter: Reporter, callback: ReportingCallback, status: str, error: str | None) -> str:
    if callback.lease_lost:
        return "lease lost"  # the run belongs to another execution now: report nothing
    try:
        reporter.flush(retry_for=600)  # every finished epoch reaches the store before the final status
    except RunRejected as exc:
        if exc.status_code != 409:
            raise
        log.warning("run %s: results refused, lease lost: %s", reporter.run_id, exc.detail)
        return "lease lost"
    if status == "released":
        # No heartbeat may reach the API after the handback: one in flight would take the run back
        # from the queue (a heartbeat of the lease's attempt revives a queued run given up for lost).
        callback.close()
        reporter.release("worker shutting down")  # resumed elsewhere from the last checkpoint
    else:
        reporter.finish(status, error=error, epochs_completed=callback.epochs_completed)
    return status
