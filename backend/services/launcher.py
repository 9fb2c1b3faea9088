"""Hands runs to the broker, after they are committed to the database."""

from __future__ import annotations

from celery import Celery
from kombu.exceptions import OperationalError

from trainboard.queues import DEFAULT_QUEUE, TRAIN_RUN_TASK, resumed


class BrokerUnavailable(Exception):
    pass


def enqueue_run(celery: Celery, run_id: int, queue: str | None, *, resuming: bool = False) -> None:
    """Publish "train run X" on the run's queue (trainboard.queues), or, for a run `resuming` after
    an interrupted execution, on that queue's resumed twin, which workers consume first. Raises
    `BrokerUnavailable` within a few seconds instead of hanging."""
    queue = queue or DEFAULT_QUEUE
    try:
        celery.send_task(
            TRAIN_RUN_TASK,
            args=[run_id],
            queue=resumed(queue) if resuming else queue,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
        )
    except (OperationalError, ConnectionError, OSError) as exc:
        raise BrokerUnavailable(f"the broker is unreachable: {exc}") from exc


def broker_reachable(celery: Celery) -> str | None:
    """None when the broker answers, else the error."""
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return None
    except Exception as exc:  # any failure means "not reachable" to the health check
        return str(exc) or type(exc).__name__
