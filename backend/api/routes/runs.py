"""Runs: submit, list, read, cancel, delete; runs that the user's own script reports on (track,
resume); and the life-cycle reports of the worker or script training them."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.api.deps import (
    CeleryDep,
    HubDep,
    Offset,
    ReadAuth,
    RunDep,
    RunId,
    RunIdValue,
    SessionDep,
    SettingsDep,
    WriteAuth,
)
from backend.api.errors import errors
from backend.crud import metrics as metrics_crud
from backend.crud import runs as runs_crud
from backend.crud import studies as studies_crud
from backend.crud.runs import SORTABLE, InvalidTransition
from backend.models import Run, RunSource, RunStatus
from backend.schemas.run import (
    MetricSummary,
    RunClaimed,
    RunCreate,
    RunFinish,
    RunHeartbeat,
    RunHeartbeatReply,
    RunPublic,
    RunRelease,
    RunResume,
    RunsPublic,
    RunStart,
    RunTrack,
    RunTracked,
)
from backend.services import artifacts, selection
from backend.services.catalog import current_catalog
from backend.services.finished_summaries import finished_summaries
from backend.services.launcher import BrokerUnavailable, enqueue_run
from backend.services.routing import with_reasons
from trainboard.catalog import SpecInvalid
from trainboard.settings import Settings

router = APIRouter(prefix="/runs", tags=["runs"])

SORT_PATTERN = "^-?(" + "|".join(sorted(SORTABLE)) + ")$"


def _commit_and_notify(session: Session, hub, run: Run) -> RunPublic:
    session.commit()
    hub.notify(run.id)
    return RunPublic.model_validate(run)


def with_summaries(session: Session, runs: list[Run]) -> list[RunPublic]:
    """Runs as returned by the API, each with the final, best and selected value of its metrics
    and its selected epoch (a finished run's kept in memory: backend/services/finished_summaries.py)."""
    by_id = {run.id: run for run in runs}
    found = finished_summaries.get(
        session, runs, lambda ids: selection.run_summaries(session, [by_id[i] for i in ids]), default={}
    )
    public = []
    for run in runs:
        item = RunPublic.model_validate(run)
        figures = found.get(run.id, {})
        item.summary = {name: MetricSummary(**values) for name, values in figures.get("metrics", {}).items()}
        item.selection_metric, item.selected_epoch = figures.get("selection_metric"), figures.get("selected_epoch")
        public.append(item)
    return public


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[WriteAuth], responses=errors(503))
def create_run(run_in: RunCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep) -> RunPublic:
    """Validate the spec against what the workers offer, store and commit the run, then queue it
    where only workers with its model and dataset take it. Any bad value is a 422 naming the
    field, and then nothing is stored or queued. Its size is measured by the worker that trains it."""
    catalog = current_catalog(session, settings)
    try:
        spec = catalog.check(run_in.spec)
    except SpecInvalid as exc:
        raise RequestValidationError([{**e, "loc": ["body", "spec", *e["loc"]]} for e in exc.errors]) from None
    run = runs_crud.create_run(
        session=session,
        name=run_in.name or f"{spec.model.name} on {spec.dataset.name}",
        group=run_in.group,
        spec=spec.model_dump(mode="json"),
        queue=catalog.queue_of(spec),
    )
    session.commit()
    try:
        enqueue_run(celery, run.id, run.queue)
    except BrokerUnavailable as exc:
        session.delete(run)
        session.commit()
        raise HTTPException(status_code=503, detail=f"run not submitted: {exc}") from exc
    return with_reasons(session, settings, [run], with_summaries(session, [run]))[0]


@router.get("", dependencies=[ReadAuth])
def list_runs(
    session: SessionDep,
    settings: SettingsDep,
    status: Annotated[list[RunStatus] | None, Query(description="Any of these statuses")] = None,
    group: Annotated[str | None, Query(max_length=200)] = None,
    name: Annotated[str | None, Query(max_length=200, description="Name contains")] = None,
    model: Annotated[str | None, Query(max_length=100, description="Model name, e.g. resnet")] = None,
    dataset: Annotated[str | None, Query(max_length=100, description="Dataset name, e.g. cifar10")] = None,
    study_id: Annotated[RunIdValue | None, Query(description="Runs of this study")] = None,
    source: Annotated[RunSource | None, Query(description="Runs trained by a worker, or reported by a script")] = None,
    sort: Annotated[str, Query(pattern=SORT_PATTERN, description="Column, '-' first for descending")] = "-created_at",
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RunsPublic:
    runs, total = runs_crud.list_runs(
        session=session,
        status=[s.value for s in status] if status else None,
        group=group,
        name_contains=name,
        model=model,
        dataset=dataset,
        study_id=study_id,
        source=source.value if source else None,
        sort=sort,
        offset=offset,
        limit=limit,
    )
    return RunsPublic(data=with_reasons(session, settings, runs, with_summaries(session, runs)), count=total)


# Script runs: created and reported by the user's own script (the Python client), never queued.


def _tracked(session: Session, settings: Settings, run: Run, *, created: bool) -> RunTracked:
    return RunTracked(
        **with_summaries(session, [run])[0].model_dump(),
        heartbeat_seconds=settings.heartbeat_seconds,
        last_step=metrics_crud.last_step(session=session, run_id=run.id),
        created=created,
    )


@router.post(
    "/track",
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriteAuth],
    responses={200: {"model": RunTracked, "description": "The run its client_key made before, unchanged"}},
)
def track_run(
    body: RunTrack, response: Response, session: SessionDep, hub: HubDep, settings: SettingsDep
) -> RunTracked:
    """Create a run that its own script reports on: running at once, holding lease (`attempt`) 1,
    never queued. A `client_key` sent before returns the run it made, unchanged, whatever its status
    (200, `created: false`): a retried request or a second `trainboard sync` stores one run. A
    `group` naming a study puts the run in it, in the cell its config gives at the grid's paths."""
    if body.client_key is not None:
        known = runs_crud.get_run_by_client_key(session=session, client_key=body.client_key)
        if known is not None:
            response.status_code = status.HTTP_200_OK
            return _tracked(session, settings, known, created=False)
    study = studies_crud.get_study_by_name(session=session, name=body.group) if body.group is not None else None
    try:
        run = runs_crud.create_script_run(
            session=session, name=body.name or "script run", group=body.group, config=body.config,
            client_key=body.client_key, host=body.host, environment=body.environment, study=study,
        )  # fmt: skip
        session.commit()
    except IntegrityError:  # the same key, sent at the same moment: that run is the one
        session.rollback()
        if body.client_key is None:
            raise
        known = runs_crud.get_run_by_client_key(session=session, client_key=body.client_key)
        if known is None:
            raise
        response.status_code = status.HTTP_200_OK
        return _tracked(session, settings, known, created=False)
    hub.notify(run.id)
    return _tracked(session, settings, run, created=True)


@router.post("/{run_id}/resume", dependencies=[WriteAuth], responses=errors(404, 409))
def resume_run(run_id: RunId, body: RunResume, session: SessionDep, hub: HubDep, settings: SettingsDep) -> RunTracked:
    """A script run's script takes a new lease (`attempt`), whatever the run's status: it runs
    again, and `last_step` says where the script's step numbering carries on. 409 for a worker run."""
    try:
        run = runs_crud.resume_script_run(session=session, run_id=run_id, host=body.host)
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found") from exc
    except InvalidTransition as exc:
        session.rollback()
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    session.commit()
    hub.notify(run.id)
    return _tracked(session, settings, run, created=False)


@router.get("/{run_id}", dependencies=[ReadAuth], responses=errors(404))
def read_run(run: RunDep, session: SessionDep, settings: SettingsDep) -> RunPublic:
    """The run, with its metrics' summary and, queued, why no online worker takes it (if none can)."""
    return with_reasons(session, settings, [run], with_summaries(session, [run]))[0]


@router.post("/{run_id}/cancel", dependencies=[WriteAuth], responses=errors(404, 409))
def cancel_run(run: RunDep, session: SessionDep, hub: HubDep) -> RunPublic:
    """A queued run is cancelled at once; a running one stops at its next batch and is then cancelled."""
    try:
        runs_crud.request_cancel(session=session, run=run)
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return _commit_and_notify(session, hub, run)


@router.delete(
    "/{run_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WriteAuth], responses=errors(404, 409)
)
def delete_run(run: RunDep, session: SessionDep, hub: HubDep, settings: SettingsDep) -> Response:
    """Delete a run that is not running, with its metrics and artifacts."""
    try:
        runs_crud.delete_run(session=session, run=run)
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    session.commit()
    artifacts.delete_all(settings.resolved_artifacts_dir, run.id)
    hub.notify(run.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Life-cycle reports: what a worker, or a script reporting on its own run, sends.


@router.post("/{run_id}/start", dependencies=[WriteAuth], responses=errors(404, 409))
def start_run(run_id: RunId, body: RunStart, session: SessionDep, hub: HubDep, settings: SettingsDep) -> RunClaimed:
    """Claim a queued run for training (409 if it is cancelled, finished or held by a live worker).
    The reply's `attempt` is the worker's lease, sent with every later report, and its
    `heartbeat_seconds` the interval the worker beats at: one setting, the API's, rules both sides."""
    try:
        run = runs_crud.start_run(
            session=session,
            run_id=run_id,
            worker_host=body.worker_host,
            stale_after=timedelta(seconds=3 * settings.heartbeat_seconds),
        )
    except LookupError as exc:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found") from exc
    except InvalidTransition as exc:
        session.rollback()
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    public = _commit_and_notify(session, hub, run)
    return RunClaimed(
        **public.model_dump(),
        heartbeat_seconds=settings.heartbeat_seconds,
        max_model_parameters=settings.max_model_parameters,
    )


@router.post("/{run_id}/heartbeat", dependencies=[WriteAuth], responses=errors(404, 409))
def heartbeat(run: RunDep, body: RunHeartbeat, session: SessionDep, hub: HubDep) -> RunHeartbeatReply:
    """Record that the run is alive; the reply says whether it should stop. 409 when the
    sender's attempt lost its lease (the run was handed to another worker)."""
    try:
        runs_crud.check_lease(run, body.attempt)
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    runs_crud.heartbeat(
        session=session,
        run=run,
        epochs_completed=body.epochs_completed,
        device_name=body.device_name,
        environment=body.environment,
        attempt=body.attempt,
        worker_host=body.worker_host,
        param_count=body.param_count,
        macs=body.macs,
    )
    _commit_and_notify(session, hub, run)
    stop = run.cancel_requested or run.status != RunStatus.running.value
    return RunHeartbeatReply(status=RunStatus(run.status), cancel_requested=stop)


@router.post("/{run_id}/finish", dependencies=[WriteAuth], responses=errors(404, 409))
def finish_run(run: RunDep, body: RunFinish, session: SessionDep, hub: HubDep) -> RunPublic:
    try:
        runs_crud.check_lease(run, body.attempt)
        runs_crud.finish_run(
            session=session, run=run, status=body.status, error=body.error, epochs_completed=body.epochs_completed
        )
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return _commit_and_notify(session, hub, run)


@router.post("/{run_id}/release", dependencies=[WriteAuth], responses=errors(404, 409))
def release_run(run: RunDep, body: RunRelease, session: SessionDep, hub: HubDep, celery: CeleryDep) -> RunPublic:
    """Give a running run back to the queue (its worker is shutting down): it is queued again at
    once and resumed by the next free worker from its last checkpoint."""
    try:
        runs_crud.check_lease(run, body.attempt)
        runs_crud.release_run(session=session, run=run)
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    public = _commit_and_notify(session, hub, run)
    try:
        enqueue_run(celery, run.id, run.queue, resuming=True)  # ahead of new runs
    except BrokerUnavailable:
        pass  # the run is queued in the database: the recovery sweep enqueues it when the broker is back
    return public
