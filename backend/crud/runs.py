"""Runs: create, list, read, and the state changes of their life cycle."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from backend.models import Run, RunSource, RunStatus, Study
from backend.models.base import utcnow
from trainboard.limits import SCRIPT_LOST
from trainboard.spec_paths import get_path

# The error of a script run the recovery sweep gave up for lost; its script's next heartbeat revives it.

SORTABLE = {"id", "name", "group", "status", "created_at", "started_at", "finished_at", "param_count", "macs"}


class InvalidTransition(Exception):
    """The run is not in a state that allows the change; the message says why."""


def create_run(*, session: Session, name: str, group: str | None, spec: dict, queue: str) -> Run:
    run = Run(name=name, group=group, spec=spec, status=RunStatus.queued.value, queue=queue)
    session.add(run)
    session.flush()
    return run


def config_cell(config: dict, grid_paths: list[str]) -> dict:
    """A script run's cell in a study: the value of each grid path in its config (a leading
    `config.` left out; None where the path leads nowhere)."""
    return {path: get_path(config, path.removeprefix("config.")) for path in grid_paths}


def create_script_run(
    *, session: Session, name: str, group: str | None, config: dict, client_key: str | None,
    host: str | None, environment: dict | None, study: Study | None = None,
) -> Run:
    """A run its own script reports on: running from now on, holding lease 1, never queued.
    In `study`, it takes the cell its config gives."""
    now = utcnow()
    run = Run(
        name=name, group=group, source=RunSource.script.value, spec={}, config=config, queue=None,
        client_key=client_key, status=RunStatus.running.value, started_at=now, heartbeat_at=now, attempt=1,
        worker_host=host, environment=environment,
        study_id=study.id if study is not None else None,
        cell=config_cell(config, list(study.grid)) if study is not None else None,
    )  # fmt: skip
    session.add(run)
    session.flush()
    return run


def resume_script_run(*, session: Session, run_id: int, host: str | None) -> Run:
    """A new lease for a script run, whatever its status, atomically (two resumes get two
    attempts): its script restarted, or `trainboard sync` sends what it kept. Reports of the
    earlier attempt are refused from now on."""
    now = utcnow()
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.source == RunSource.script.value)
        .values(
            attempt=Run.attempt + 1, status=RunStatus.running.value, heartbeat_at=now, finished_at=None, error=None,
            cancel_requested=False, worker_host=host, updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    run = session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise LookupError(run_id)
    if run.source != RunSource.script.value:
        raise InvalidTransition(f"run {run_id} is trained by a worker; only script runs are resumed by their script")
    return run


def get_run_by_client_key(*, session: Session, client_key: str) -> Run | None:
    return session.scalar(select(Run).where(Run.client_key == client_key))


def get_run(*, session: Session, run_id: int) -> Run | None:
    return session.get(Run, run_id)


def get_runs(*, session: Session, run_ids: list[int]) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.id.in_(run_ids))))


def list_runs(
    *,
    session: Session,
    status: list[str] | None = None,
    group: str | None = None,
    name_contains: str | None = None,
    model: str | None = None,
    dataset: str | None = None,
    study_id: int | None = None,
    source: str | None = None,
    sort: str = "-created_at",
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Run], int]:
    query: Select = select(Run)
    if status:
        query = query.where(Run.status.in_(status))
    if group is not None:
        query = query.where(Run.group == group)
    if name_contains:
        query = query.where(Run.name.contains(name_contains, autoescape=True))
    if model is not None:
        query = query.where(Run.spec["model"]["name"].as_string() == model)
    if dataset is not None:
        query = query.where(Run.spec["dataset"]["name"].as_string() == dataset)
    if study_id is not None:
        query = query.where(Run.study_id == study_id)
    if source is not None:
        query = query.where(Run.source == source)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    descending = sort.startswith("-")
    column = getattr(Run, sort.lstrip("-"))
    order = column.desc() if descending else column.asc()
    if column.expression.nullable:
        # Runs lacking the value (not started, no group...) last either way, as on every database.
        order = order.nulls_last()
    runs = session.scalars(query.order_by(order, Run.id.desc() if descending else Run.id).offset(offset).limit(limit))
    return list(runs), int(total or 0)


def start_run(*, session: Session, run_id: int, worker_host: str, stale_after: timedelta) -> Run:
    """A worker claims the run, atomically: a queued run, or a running one whose heartbeat went stale
    (its worker died). Two live executions never hold one run. A script run is its script's alone."""
    now = utcnow()
    claimable = or_(
        Run.status == RunStatus.queued.value,
        and_(Run.status == RunStatus.running.value, Run.heartbeat_at < now - stale_after),
    )
    claimed = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.source == RunSource.worker.value, claimable)
        .values(
            status=RunStatus.running.value,
            worker_host=worker_host,
            started_at=func.coalesce(Run.started_at, now),
            heartbeat_at=now,
            attempt=Run.attempt + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    run = session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise LookupError(run_id)
    if claimed != 1:
        if run.source == RunSource.script.value:
            raise InvalidTransition(_reported_by_its_script(run))
        if run.status == RunStatus.running.value:
            raise InvalidTransition(f"run {run_id} is already running on {run.worker_host}")
        raise InvalidTransition(f"run {run_id} is {run.status}, not queued")
    return run


def _reported_by_its_script(run: Run) -> str:
    return f"run {run.id} is reported by its own script: no worker takes it"


def check_lease(run: Run, attempt: int) -> None:
    """A report from an execution that is no longer the run's current one is refused: after a
    worker was given up for dead and the run handed to another, the first may still be alive."""
    if attempt != run.attempt:
        raise InvalidTransition(f"run {run.id} is now attempt {run.attempt}: attempt {attempt} lost its lease")


def check_results(run: Run, attempt: int) -> None:
    """Results (metric points, artifacts) are taken only from the lease holder of a running run: a
    finished run's results stay as they were when it ended, and a stale execution's points cannot
    take the (name, step) places of the current one's."""
    if run.status != RunStatus.running.value:
        raise InvalidTransition(f"run {run.id} is {run.status}, not running: its results are closed")
    check_lease(run, attempt)


def heartbeat(
    *, session: Session, run: Run, epochs_completed: int | None, device_name: str | None, environment: dict | None,
    attempt: int, worker_host: str | None = None, param_count: int | None = None,
    macs: int | None = None,
) -> Run:
    if run.status == RunStatus.queued.value and attempt == run.attempt:
        # Given up for lost (its heartbeats could not arrive: the API or the network was down), yet the
        # lease holder is alive: it carries on. A copy of the run's message claimed meanwhile gets a 409.
        run.status = RunStatus.running.value
        run.worker_host = worker_host or run.worker_host
    elif script_lost(run) and attempt == run.attempt:
        # Likewise a script given up for lost: it was only cut off (the network, the API was down).
        run.status = RunStatus.running.value
        run.error = None
        run.finished_at = None
        run.worker_host = worker_host or run.worker_host
    if run.status != RunStatus.running.value:
        return run  # a late heartbeat of a finished run changes nothing; the reply tells the worker
    run.heartbeat_at = utcnow()
    if epochs_completed is not None:
        run.epochs_completed = max(run.epochs_completed, epochs_completed)
    if device_name:
        run.device_name = device_name
    if environment:
        run.environment = environment
    if param_count is not None:  # measured by the worker, on the meta device
        run.param_count, run.macs = param_count, macs
    return run


def script_lost(run: Run) -> bool:
    """A script run the recovery sweep failed for want of heartbeats."""
    return (
        run.source == RunSource.script.value
        and run.status == RunStatus.failed.value
        and (run.error or "").startswith(SCRIPT_LOST)
    )


def finish_run(
    *, session: Session, run: Run, status: str, error: str | None, epochs_completed: int | None
) -> Run:
    if RunStatus(run.status).is_terminal:
        if run.status == status:
            return run  # a retried report: idempotent
        raise InvalidTransition(f"run {run.id} is already {run.status}")
    run.status = status
    run.error = error
    run.finished_at = utcnow()
    if epochs_completed is not None:
        run.epochs_completed = max(run.epochs_completed, epochs_completed)
    return run


def release_run(*, session: Session, run: Run) -> Run:
    """Back to the queue with its progress kept; the next worker resumes from the last checkpoint.
    Counted as a handback, which uses none of the run's attempts."""
    if run.source == RunSource.script.value:
        raise InvalidTransition(_reported_by_its_script(run))
    if run.status != RunStatus.running.value:
        raise InvalidTransition(f"run {run.id} is {run.status}, not running")
    run.status = RunStatus.queued.value
    run.worker_host = None
    run.handbacks = Run.handbacks + 1  # atomic; a handback costs no attempt (the recovery sweep)
    session.flush()
    session.refresh(run, ["handbacks"])
    return run


def request_cancel(*, session: Session, run: Run) -> Run:
    """A queued run is cancelled at once; a running one is flagged and its worker stops at the next batch."""
    if run.status == RunStatus.queued.value:
        run.status = RunStatus.cancelled.value
        run.finished_at = utcnow()
    elif run.status == RunStatus.running.value:
        run.cancel_requested = True
    else:
        raise InvalidTransition(f"run {run.id} is already {run.status}")
    return run


def delete_run(*, session: Session, run: Run) -> None:
    if run.status == RunStatus.running.value:
        raise InvalidTransition(f"run {run.id} is running: cancel it first")
    session.delete(run)

