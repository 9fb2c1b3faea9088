"""Comparison data: several runs (chosen by id, or a whole group) with their curves, in one
request, so a comparison view costs one round trip whatever the number of runs.

At study size (hundreds of runs of hundreds of epochs) the curves are thinned to the chart's
resolution (`max_points`, backend/services/downsample.py) while the summaries stay exact (computed
in the database over every point), and the response is written as plain JSON by orjson (and gzipped
when the client takes it) rather than validated point by point through pydantic: the standard
library's encoder took 55 ms of a 100-run comparison's 1.8 MB, orjson 3 ms."""

from __future__ import annotations

import gzip
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from backend.api.deps import GroupBy, ReadAuth, SelectedGroup, SelectedRunIds, SessionDep, selected_runs
from backend.api.errors import errors
from backend.api.routes.runs import with_summaries
from backend.crud import metrics as metrics_crud
from backend.schemas.compare import Comparison
from backend.models import Run
from backend.schemas.run import RunPublic
from backend.services.catalog import published_defaults
from backend.services.finished_summaries import finished_summaries
from backend.services.grouping import group_runs
from backend.services.report_data import PREFERRED_METRICS, SETTING_METRICS

router = APIRouter(prefix="/compare", tags=["compare"])

MAX_RUNS = 1000
CHART_POINTS = 500  # per curve: about the width of a chart in pixels
CHART_BUDGET = 100_000  # points in all: a thousand curves on one chart get 100 each
GZIP_FROM_BYTES = 4096


def comparison_data(
    session: Session,
    *,
    run_id: list[int] | None,
    group: str | None,
    metric: list[str] | None,
    group_by: tuple[str, ...],
    max_points: int = 0,
    curves: str = "all",
) -> dict:
    """GET /compare's answer as plain data (a `Comparison` once validated)."""
    runs = selected_runs(session, run_id, group, MAX_RUNS)
    ids = [run.id for run in runs]
    public = with_summaries(session, runs)
    metrics = sorted({name for run in public for name in run.summary})
    if curves == "main" and not metric:
        metric = main_metric(metrics)
    groups = [
        {"key": g.key, "label": g.label, "cell": g.cell, "run_ids": [run.id for run in g.runs]}
        for g in group_runs(runs, group_by, defaults=published_defaults(session))
    ]
    if max_points > 0:
        curves_asked = len(runs) * len(metric or metrics)
        max_points = min(max_points, max(CHART_BUDGET // max(curves_asked, 1), 20))
    series = metrics_crud.series(
        session=session, run_ids=ids, names=metric, max_points=max_points, aligned=bool(group_by)
    )
    return {
        "runs": [run.model_dump(mode="json") for run in public],
        "series": series,
        "metrics": metrics,
        "max_points": max_points,
        "time_origins": time_origins(session, runs, public),
        "seconds_per_epoch": {
            run_id: mean
            for run_id, mean in finished_summaries.get(
                session,
                runs,
                lambda ids: metrics_crud.means(session=session, run_ids=ids, name="epoch_seconds"),
                kind="seconds_per_epoch",
            ).items()
            if mean is not None
        },
        "group_by": list(group_by),
        "groups": groups,
    }


def main_metric(metrics: list[str]) -> list[str]:
    """The metric a comparison shows first: the first the runs report in the preferred order."""
    results = [m for m in metrics if m not in SETTING_METRICS]
    ordered = [m for m in PREFERRED_METRICS if m in results] + [m for m in results if m not in PREFERRED_METRICS]
    return (ordered or metrics)[:1]


def time_origins(session: Session, runs: list[Run], public: list[RunPublic]) -> dict[int, float]:
    """Where each run's relative time starts: when a worker started it, or the start of its first
    reported epoch if earlier (as backend/services/report_data.time_origin, over every metric)."""
    found = finished_summaries.get(
        session, runs, lambda ids: metrics_crud.first_points(session=session, run_ids=ids), kind="first_points"
    )
    origins = {}
    for run in public:
        firsts = found.get(run.id)
        if not firsts:
            continue
        first = min(wall_time for wall_time, _ in firsts.values())
        epoch_seconds = firsts.get("epoch_seconds", (None, None))[1]
        if epoch_seconds is not None:
            first -= epoch_seconds
        origins[run.id] = min(first, run.started_at.timestamp()) if run.started_at else first
    return origins


@router.get("", dependencies=[ReadAuth], response_model=Comparison, responses=errors(404))
def compare(
    request: Request,
    session: SessionDep,
    run_id: SelectedRunIds = None,
    group: SelectedGroup = None,
    metric: Annotated[list[str] | None, Query(description="Only these metrics (default: all)")] = None,
    group_by: GroupBy = (),
    max_points: Annotated[
        int,
        Query(
            ge=0,
            le=1_000_000,
            description="Points per curve at most (fewer when the curves hold over 100,000 in all), "
            "keeping each stretch's first, last, lowest and highest (with group_by: the same steps in every "
            "run); 0: every point (exports). The answer's max_points says what was applied",
        ),
    ] = CHART_POINTS,
    curves: Annotated[
        Literal["all", "main"],
        Query(description="'main': without `metric`, only the curves of the metric a comparison shows first"),
    ] = "all",
) -> Response:
    """The runs (with their exact best and final values), their curves, and their groups by
    `group_by` with the labels every view shows (one group per run, labelled with its name,
    without group_by); `metrics` names every metric the runs report."""
    data = comparison_data(
        session, run_id=run_id, group=group, metric=metric, group_by=group_by, max_points=max_points, curves=curves
    )
    body = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    headers = {"Vary": "Accept-Encoding"}
    if len(body) >= GZIP_FROM_BYTES and "gzip" in request.headers.get("accept-encoding", ""):
        body = gzip.compress(body, compresslevel=1, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type="application/json", headers=headers)
