"""Metric points of a run: batch ingestion (the worker's and any script's) and reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from backend.api.deps import HubDep, ReadAuth, RunDep, SessionDep, SettingsDep, WriteAuth
from backend.crud import metrics as metrics_crud
from backend.crud import runs as runs_crud
from backend.crud.runs import InvalidTransition
from trainboard.limits import MAX_STEP
from backend.schemas.metric import MetricBatch, MetricBatchResult, MetricPointPublic, MetricSeries

router = APIRouter(prefix="/runs/{run_id}/metrics", tags=["metrics"])


@router.post("", dependencies=[WriteAuth])
def add_metrics(
    run: RunDep, batch: MetricBatch, session: SessionDep, hub: HubDep, settings: SettingsDep
) -> MetricBatchResult:
    """Store a batch of points from the holder of the run's lease (`attempt`). A point whose
    (name, step) is already stored is ignored, so a batch can be retried safely. 409, and nothing
    stored, when the run is not running or the attempt lost its lease; 413, and nothing stored,
    when the batch's new points would take the run beyond TRAINBOARD_MAX_POINTS_PER_RUN."""
    try:
        runs_crud.check_results(run, batch["attempt"])
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    inserted = metrics_crud.add_points(session=session, run_id=run.id, points=batch["points"])
    cap = settings.max_points_per_run
    if inserted and (count := metrics_crud.point_count(session=session, run_id=run.id)) > cap:
        session.rollback()
        raise HTTPException(
            status_code=413,
            detail=f"run {run.id} holds {count - inserted:,} metric points and this batch adds {inserted:,}: "
            f"beyond the {cap:,} points a run may hold (TRAINBOARD_MAX_POINTS_PER_RUN); nothing of it was stored",
        )
    session.commit()
    if inserted:
        hub.notify(run.id)
    return MetricBatchResult(received=len(batch["points"]), inserted=inserted)


@router.get("", dependencies=[ReadAuth])
def read_metrics(
    run: RunDep,
    session: SessionDep,
    name: Annotated[list[str] | None, Query(description="Only these metrics (repeat the parameter)")] = None,
    since_step: Annotated[int | None, Query(ge=0, le=MAX_STEP, description="Only steps at or after this one")] = None,
) -> MetricSeries:
    points = metrics_crud.get_points(session=session, run_id=run.id, names=name, since_step=since_step)
    return MetricSeries(
        run_id=run.id,
        points=[MetricPointPublic(name=p.name, step=p.step, value=p.value, wall_time=p.wall_time) for p in points],
    )
