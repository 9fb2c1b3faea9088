"""Metric points of a run: batch ingestion (the worker's and any script's) and reads."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from backend.api.deps import HubDep, ReadAuth, RunDep, SessionDep, WriteAuth
from backend.api.errors import errors
from backend.crud import metrics as metrics_crud
from backend.crud import runs as runs_crud
from backend.crud.runs import InvalidTransition
from trainboard.limits import MAX_STEP
from backend.schemas.metric import MetricBatch, MetricBatchResult, MetricPointPublic, MetricSeries

router = APIRouter(prefix="/runs/{run_id}/metrics", tags=["metrics"], responses=errors(404))


@router.post("", dependencies=[WriteAuth], responses=errors(409))
def add_metrics(run: RunDep, batch: MetricBatch, session: SessionDep, hub: HubDep) -> MetricBatchResult:
    """Store a batch of points from the holder of the run's lease (`attempt`). A point whose
    (name, step) is already stored is ignored, so a batch can be retried safely. 409, and nothing
    stored, when the run is not running or the attempt lost its lease."""
    try:
        runs_crud.check_results(run, batch["attempt"])
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    inserted = metrics_crud.add_points(session=session, run_id=run.id, points=batch["points"])
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
