"""Dependencies shared by the routers: the database session, settings, the broker, auth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, HTTPException, Path, Query, Request
from pydantic import Field
from sqlalchemy.orm import Session

from trainboard.settings import Settings
from backend.core.security import verify_token
from backend.crud import runs as runs_crud
from backend.models import Run
from backend.services.events import RunEventHub
from backend.services.grouping import InvalidGroupBy, check_group_by


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as session:
        yield session


def get_celery(request: Request) -> Celery:
    return request.app.state.celery


def get_hub(request: Request) -> RunEventHub:
    return request.app.state.hub


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
CeleryDep = Annotated[Celery, Depends(get_celery)]
HubDep = Annotated[RunEventHub, Depends(get_hub)]


def require_write_token(request: Request, settings: SettingsDep) -> None:
    verify_token(request, settings, request.app.state.session_factory)


def require_read_token(request: Request, settings: SettingsDep) -> None:
    if settings.listens_beyond_localhost:
        verify_token(request, settings, request.app.state.session_factory)


WriteAuth = Depends(require_write_token)
ReadAuth = Depends(require_read_token)


# Ids fit the databases' 64-bit integers: a larger one is a 422, not a crash.
MAX_ID = 2**63 - 1
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The run's id", examples=[1])]
RunIdValue = Annotated[int, Field(ge=1, le=MAX_ID)]  # a run id in a query list
StudyId = Annotated[int, Path(ge=1, le=MAX_ID, description="The study's id", examples=[1])]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Rows to skip")]


# Spec paths are identifiers; a script's config may name its keys more freely ("hidden-size", "0").
GROUP_BY_PATH = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*|config(\.[A-Za-z0-9_-]+)+)$")


def _group_by_refused(message: str) -> HTTPException:
    error = {"type": "value_error", "loc": ["query", "group_by"], "msg": message}
    return HTTPException(status_code=422, detail=[error])


def group_by_param(
    group_by: Annotated[
        list[str] | None,
        Query(
            max_length=8,
            description="cell, group, or spec paths such as model.norm and config paths such as config.lr "
            "(repeat the parameter)",
        ),
    ] = None,
) -> tuple[str, ...]:
    """What runs are grouped by, for compare, stats and the report alike (backend/services/grouping.py)."""
    paths = tuple(dict.fromkeys(group_by or ()))
    for path in paths:
        if len(path) > 200 or not GROUP_BY_PATH.match(path):
            raise _group_by_refused(f"not a spec or config path: {path!r}")
    try:
        check_group_by(paths)
    except InvalidGroupBy as exc:
        raise _group_by_refused(str(exc)) from exc
    return paths


GroupBy = Annotated[tuple[str, ...], Depends(group_by_param)]


def get_run_or_404(run_id: RunId, session: SessionDep) -> Run:
    run = runs_crud.get_run(session=session, run_id=run_id)
    if run is None:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")
    return run


RunDep = Annotated[Run, Depends(get_run_or_404)]


# The selection of GET /compare, /compare/report and /stats. OpenAPI cannot say "one of these two
# parameters": the descriptions do, and a request with neither is a 422.
SelectedRunIds = Annotated[
    list[RunIdValue] | None,
    Query(
        description="Runs to compare (repeat the parameter). Give run_id, group or both: with neither, a 422",
        examples=[[1, 2]],
    ),
]
SelectedGroup = Annotated[str | None, Query(max_length=200, description="Or every run of this group")]


def selected_runs(session: Session, run_ids: list[int] | None, group: str | None, max_runs: int) -> list[Run]:
    """The runs a comparison is about: these ids (in the order given, 404 naming any unknown one)
    and/or every run of a group; 422 when neither is given."""
    if not run_ids and group is None:
        raise HTTPException(
            status_code=422, detail=[{"loc": ["query", "run_id"], "msg": "give run_id or group", "type": "missing"}]
        )
    runs: list[Run] = []
    if run_ids:
        if len(set(run_ids)) > max_runs:
            raise HTTPException(status_code=422, detail=[{"loc": ["query", "run_id"], "type": "too_long",
                                                          "msg": f"at most {max_runs} runs"}])
        found = {run.id: run for run in runs_crud.get_runs(session=session, run_ids=run_ids)}
        missing = [i for i in run_ids if i not in found]
        if missing:
            raise HTTPException(status_code=404, detail=f"runs not found: {', '.join(map(str, missing))}")
        runs = [found[i] for i in dict.fromkeys(run_ids)]
    if group is not None:
        in_group, _ = runs_crud.list_runs(session=session, group=group, sort="id", limit=max_runs)
        runs += [run for run in in_group if run not in runs]
    return runs
