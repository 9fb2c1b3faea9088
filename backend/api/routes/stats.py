"""Statistics over any selection of runs (by id, or a whole group), grouped by their group, their
study cell or a spec path; the same table as a study's (`GET /studies/{id}/stats`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from backend.api.deps import GroupBy, ReadAuth, SelectedGroup, SelectedRunIds, SessionDep, selected_runs
from backend.api.errors import errors
from backend.schemas.stats import CiMethod, Pairs, StatsOptions, StatsPublic, Summary, TestName
from backend.services import study_stats as stats_service
from backend.services.study_stats import StatsRefused
from trainboard.limits import METRIC_NAME_PATTERN

router = APIRouter(prefix="/stats", tags=["stats"])

MAX_RUNS = 1000


def stats_options(
    metric: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=METRIC_NAME_PATTERN,
            description="Default: the test counterpart of the runs' selection metric: test_accuracy, test_dice...",
        ),
    ] = None,
    summary: Annotated[
        Summary,
        Query(
            description="Each run's value at its selected epoch (best validation epoch), its final value, its best "
            "over all epochs (on a test_* metric: selected on the test set, optimistic), or its value at `epoch`; "
            "auto: selected when the runs hold out a validation split, else final"
        ),
    ] = "auto",
    epoch: Annotated[int | None, Query(ge=0, le=2**31 - 1, description="With summary=at_epoch")] = None,
    ci: Annotated[CiMethod, Query(description="t-interval, or percentile bootstrap (fixed seed)")] = "t",
    confidence: Annotated[float, Query(ge=0.5, le=0.999)] = 0.95,
    test: Annotated[TestName, Query(description="Two-sided; wilcoxon pairs runs by seed")] = "mannwhitney",
    alpha: Annotated[float, Query(gt=0.0, le=0.5, description="Significance level, after Holm's correction")] = 0.05,
    pairs: Annotated[Pairs, Query(description="Compare all pairs of groups, or the best with each other")] = "all",
    include_running: Annotated[bool, Query(description="Count running runs with their values so far")] = False,
    group_by: GroupBy = (),
) -> StatsOptions:
    if summary == "at_epoch" and epoch is None:
        raise HTTPException(
            status_code=422,
            detail=[{"type": "missing", "loc": ["query", "epoch"], "msg": "summary=at_epoch needs epoch=K"}],
        )
    return StatsOptions(
        metric=metric, summary=summary, epoch=epoch, ci=ci, confidence=confidence, test=test, alpha=alpha,
        pairs=pairs, include_running=include_running, group_by=group_by,
    )  # fmt: skip


StatsOptionsDep = Annotated[StatsOptions, Depends(stats_options)]


def refused(exc: StatsRefused) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"type": "value_error", "loc": exc.loc, "msg": str(exc)}])


@router.get("", dependencies=[ReadAuth], responses=errors(404))
def runs_stats(
    session: SessionDep,
    options: StatsOptionsDep,
    run_id: SelectedRunIds = None,
    group: SelectedGroup = None,
) -> StatsPublic:
    """Describe, rank and compare groups of any runs. Groups are the runs' `group` by default;
    group_by=cell or a spec path (model.norm, optimizer.name...) regroups them."""
    runs = selected_runs(session, run_id, group, MAX_RUNS)
    try:
        return stats_service.runs_stats(session=session, runs=runs, options=options)
    except StatsRefused as exc:
        raise refused(exc) from exc
