"""Comparison data: several runs (chosen by id, or a whole group) with their curves, in one
request, so a comparison view costs one round trip whatever the number of runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from backend.api.deps import ReadAuth, RunIdValue, SessionDep
from backend.api.routes.runs import with_summaries
from backend.crud import metrics as metrics_crud
from backend.crud import runs as runs_crud
from backend.schemas.compare import Comparison

router = APIRouter(prefix="/compare", tags=["compare"])

MAX_RUNS = 500


@router.get("", dependencies=[ReadAuth])
def compare(
    session: SessionDep,
    run_id: Annotated[list[RunIdValue] | None, Query(description="Runs to compare (repeat the parameter)")] = None,
    group: Annotated[str | None, Query(max_length=200, description="Or every run of this group")] = None,
    metric: Annotated[list[str] | None, Query(description="Only these metrics (default: all)")] = None,
) -> Comparison:
    if not run_id and group is None:
        raise HTTPException(status_code=422, detail=[{"loc": ["query", "run_id"], "msg": "give run_id or group",
                                                      "type": "missing"}])
    runs = []
    if run_id:
        found = {run.id: run for run in runs_crud.get_runs(session=session, run_ids=run_id[:MAX_RUNS])}
        missing = [i for i in run_id if i not in found]
        if missing:
            raise HTTPException(status_code=404, detail=f"runs not found: {', '.join(map(str, missing))}")
        runs = [found[i] for i in dict.fromkeys(run_id)]
    if group is not None:
        in_group, _ = runs_crud.list_runs(session=session, group=group, sort="id", limit=MAX_RUNS)
        runs += [run for run in in_group if run not in runs]
    ids = [run.id for run in runs]
    return Comparison(
        runs=with_summaries(session, runs),
        series=metrics_crud.series(session=session, run_ids=ids, names=metric),
    )
