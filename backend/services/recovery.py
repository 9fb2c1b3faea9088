"""The recovery sweep: the database is the source of truth, the broker only a messenger.

Every few seconds (and at start-up) the API
- gives back to the queue each running run whose worker stopped heart-beating (killed, machine
  lost), up to `max_attempts` such crashes (a handback on SIGTERM costs none), after which the
  run fails with the reason; the next worker resumes it from its last checkpoint; a run reported
  by its own script is never queued: lost, it fails ("the script stopped reporting"), and its
  script's next heartbeat revives it;
- enqueues again each queued run the broker does not hold (a restarted Redis without
  persistence, a message lost with a killed worker).
A run that was started before goes to its queue's resumed twin: workers take it before new runs.
A second message for a run is harmless: only one worker can claim it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from celery import Celery
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from trainboard.queues import DEFAULT_QUEUE, resumed
from trainboard.settings import Settings
from trainboard.limits import SCRIPT_LOST
from backend.models import Run, RunSource, RunStatus
from backend.models.base import utcnow
from backend.services import broker_queue
from backend.services.launcher import BrokerUnavailable, enqueue_run

log = logging.getLogger(__name__)

# A run queued this recently may still be on its way to the broker (committed, not yet sent).
ENQUEUE_GRACE = timedelta(seconds=10)


@dataclass
class RecoveryReport:
    requeued: list[int] = field(default_factory=list)  # stale running runs given back to the queue
    failed: list[int] = field(default_factory=list)  # stale runs past their attempts, and lost scripts
    cancelled: list[int] = field(default_factory=list)  # stale runs whose cancel was never honoured
    reenqueued: list[int] = field(default_factory=list)  # queued runs the broker did not hold


def crashes(run: Run) -> int:
    """Executions that used up an attempt, this one included: all but those its worker handed back
    on a graceful stop (SIGTERM), which are routine restarts, not failures."""
    return run.attempt - (run.handbacks or 0)


def release_stale_runs(session: Session, settings: Settings) -> RecoveryReport:
    report = RecoveryReport()
    now = utcnow()
    stale_before = now - timedelta(seconds=3 * settings.heartbeat_seconds)
    stale = session.scalars(
        select(Run).where(Run.status == RunStatus.running.value, Run.heartbeat_at < stale_before)
    ).all()
    for run in stale:
        last_seen = run.heartbeat_at
        still_stale = (Run.id == run.id, Run.status == RunStatus.running.value, Run.heartbeat_at == last_seen)
        script = run.source == RunSource.script.value
        if script and run.cancel_requested:  # its script died before honouring the cancel
            values = dict(status=RunStatus.cancelled.value, finished_at=now, updated_at=now)
            target = report.cancelled
        elif script:  # never queued, whatever its attempt: only its script can go on with it
            values = dict(status=RunStatus.failed.value, finished_at=now, updated_at=now, error=(
                f"{SCRIPT_LOST}: no heartbeat from {run.worker_host or 'its host'} "
                f"since {last_seen:%Y-%m-%d %H:%M:%S} UTC"))
            target = report.failed
        elif crashes(run) >= settings.max_attempts:
            values = dict(status=RunStatus.failed.value, finished_at=now, updated_at=now, error=(
                f"worker lost: no heartbeat from {run.worker_host} since {last_seen:%Y-%m-%d %H:%M:%S} UTC, "
                f"and all {settings.max_attempts} attempts are used"))
            target = report.failed
        elif run.cancel_requested:  # its worker died before honouring the cancel
            values = dict(status=RunStatus.cancelled.value, finished_at=now, updated_at=now)
            target = report.cancelled
        else:
            values = dict(status=RunStatus.queued.value, worker_host=None, updated_at=now)
            target = report.requeued
        # Conditional on the heartbeat not having moved: a worker that comes back in between wins.
        if session.execute(update(Run).where(*still_stale).values(**values)).rowcount == 1:
            target.append(run.id)
    session.commit()
    return report


async def run_periodically(factory: sessionmaker[Session], celery: Celery, settings: Settings, hub) -> None:
    """The API's background task: a sweep at start-up, then every `recovery_seconds`. Heartbeats
    that could not arrive while this API was down prove nothing: lost runs are judged only once it
    has been up for three heartbeat intervals."""
    judge_from = time.monotonic() + 3 * settings.heartbeat_seconds
    while True:
        try:
            judge = time.monotonic() >= judge_from
            report = await run_in_threadpool(sweep, factory, celery, settings, release_stale=judge)
            for run_id in {*report.requeued, *report.failed, *report.cancelled}:
                hub.notify(run_id)
        except Exception:  # a failed sweep (database restarting...) is retried at the next tick
            log.exception("recovery sweep failed")
        await asyncio.sleep(settings.recovery_seconds)


def sweep(
    factory: sessionmaker[Session], celery: Celery, settings: Settings, *, release_stale: bool = True
) -> RecoveryReport:
    with factory() as session:
        report = release_stale_runs(session, settings) if release_stale else RecoveryReport()
        queued = session.execute(
            select(Run.id, Run.updated_at, Run.queue, Run.attempt).where(
                Run.status == RunStatus.queued.value, Run.source == RunSource.worker.value
            )
        ).all()
    queues = {name for *_, queue, _ in queued for name in (queue or DEFAULT_QUEUE, resumed(queue or DEFAULT_QUEUE))}
    held = broker_queue.queued_run_ids(settings.resolved_broker_url, queues) if queued else set()
    now = utcnow()
    for run_id, updated_at, queue, attempt in queued:
        if run_id in report.requeued or (held is not None and run_id not in held and now - updated_at > ENQUEUE_GRACE):
            try:
                enqueue_run(celery, run_id, queue, resuming=attempt > 0)
                report.reenqueued.append(run_id)
            except BrokerUnavailable as exc:
                log.warning("recovery: cannot enqueue run %s yet: %s", run_id, exc)
                break
    broker_queue.prune_delivered(settings.resolved_broker_url)
    if report.requeued or report.failed or report.cancelled or report.reenqueued:
        log.warning("recovery: requeued %s, failed %s, cancelled %s, enqueued again %s",
                    report.requeued, report.failed, report.cancelled, report.reenqueued)
    return report
