"""Comparison data: several runs (chosen by id, or a whole group) with their curves, in one
request, so a comparison view costs one round trip whatever the number of runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from backend.api.deps import GroupBy, ReadAuth, RunIdValue, SessionDep, selected_runs
from backend.api.routes.runs import with_summaries
from backend.crud import metrics as metrics_crud
from backend.schemas.compare import Comparison, RunGroup
from backend.services.catalog import published_defaults
from backend.services.grouping import group_runs

router = APIRouter(prefix="/compare", tags=["compare"])

MAX_RUNS = 500


@router.get("", dependencies=[ReadAuth])
def compare(
    session: SessionDep,
    run_id: Annotated[list[RunIdValue] | None, Query(description="Runs to compare (repeat the parameter)")] = None,
    group: Annotated[str | None, Query(max_length=200, description="Or every run of this group")] = None,
    metric: Annotated[list[str] | None, Query(description="Only these metrics (default: all)")] = None,
    group_by: GroupBy = (),
) -> Comparison:
    """The runs, their curves, and their groups by `group_by` with the labels every view shows
    (one group per run, labelled with its name, without group_by)."""
    runs = selected_runs(session, run_id, group, MAX_RUNS)
    ids = [run.id for run in runs]
    groups = [
        RunGroup(key=g.key, label=g.label, cell=g.cell, run_ids=[run.id for run in g.runs])
        for g in group_runs(runs, group_by, defaults=published_defaults(session))
    ]
    return Comparison(
        runs=with_summaries(session, runs),
        series=metrics_crud.series(session=session, run_ids=ids, names=metric),
        group_by=list(group_by),
        groups=groups,
    )
