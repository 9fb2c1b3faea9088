"""Celery tasks (thin): fetch the run, train it with the engine, report through the REST API."""

from __future__ import annotations

import logging
import socket
import traceback

from billiard.process import current_process
from celery.signals import worker_process_init

from backend.core.config import get_settings
from worker.celery_app import TRAIN_RUN_TASK, app
from worker.devices import assign_device, assigned_device
from worker.reporter import Reporter, RunRejected
from worker.run_callback import ReportingCallback

log = logging.getLogger(__name__)


@worker_process_init.connect
def _pin_device(**_kwargs) -> None:
    index = getattr(current_process(), "index", 0) or 0
    log.info("worker process %s trains on %s", index, assign_device(index))


@app.task(name=TRAIN_RUN_TASK)
def train_run(run_id: int) -> str:
    """Train run `run_id`; returns its final status."""
    # Imported here so that the API, which imports this app to enqueue, never loads torch for it.
    from worker.datasets.errors import DatasetUnavailable
    from worker.engine.loop import TrainingCancelled, TrainingDiverged, train
    from worker.engine.spec import TrainSpec

    settings = get_settings()
    with Reporter(settings.api_url, run_id, token=settings.api_token) as reporter:
        try:
            run = reporter.claim(socket.gethostname())
        except RunRejected as exc:
            log.info("run %s not started: %s", run_id, exc.detail)
            return "skipped"
        callback = ReportingCallback(reporter, heartbeat_seconds=settings.heartbeat_seconds)
        callback.start()
        error = None
        try:
            spec = TrainSpec.model_validate(run["spec"])
            checkpoint_dir = settings.resolved_artifacts_dir / "runs" / str(run_id) / "checkpoints"
            train(spec, callback, data_dir=settings.data_dir, checkpoint_dir=checkpoint_dir,
                  assigned_device=assigned_device())
            status = "completed"
        except TrainingCancelled:
            status = "cancelled"
        except (TrainingDiverged, DatasetUnavailable) as exc:
            status, error = "failed", str(exc)  # the message says it all (where to put the files)
        except Exception as exc:  # any crash of the training is the run's failure, reported with its cause
            status = "failed"
            error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=20)}"
            log.exception("run %s failed", run_id)
        finally:
            callback.close()
        reporter.flush(retry_for=600)  # every finished epoch reaches the store before the final status
        reporter.finish(status, error=error, epochs_completed=callback.epochs_completed)
        return status
