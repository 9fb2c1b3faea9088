"""Studies: submit a grid of runs with several seeds per cell, follow its progress, extend it with
more seeds, cancel or delete it as a whole, and compare its cells statistically."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from backend.api.deps import CeleryDep, HubDep, Offset, ReadAuth, SessionDep, SettingsDep, StudyId, WriteAuth
from backend.api.errors import errors
from backend.api.routes.stats import StatsOptionsDep, refused
from backend.crud import studies as studies_crud
from backend.crud.runs import InvalidTransition
from backend.models import Study
from backend.schemas.stats import StatsPublic
from backend.schemas.study import StudiesPublic, StudyCreate, StudyExtend, StudyPublic
from backend.services import artifacts, studies
from backend.services.catalog import current_catalog
from backend.services.launcher import BrokerUnavailable
from backend.services.studies import GridInvalid, StudyNameTaken
from backend.services import study_stats as stats_service
from backend.services.study_stats import StatsRefused

router = APIRouter(prefix="/studies", tags=["studies"])


def get_study_or_404(study_id: StudyId, session: SessionDep) -> Study:
    study = studies_crud.get_study(session=session, study_id=study_id)
    if study is None:
        raise HTTPException(status_code=404, detail=f"study {study_id} not found")
    return study


StudyDep = Annotated[Study, Depends(get_study_or_404)]


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[WriteAuth], responses=errors(409, 503))
def create_study(study_in: StudyCreate, session: SessionDep, celery: CeleryDep, settings: SettingsDep) -> StudyPublic:
    """Expand the grid, validate every run's spec, store the study and all its runs in one
    transaction, then queue them. A bad grid value is a 422 naming its path and index
    (["body", "grid", "model.norm", 1]), and then nothing is stored or queued."""
    try:
        study = studies.submit_study(
            session=session, celery=celery, study_in=study_in, catalog=current_catalog(session, settings)
        )
    except GridInvalid as exc:
        raise HTTPException(status_code=422, detail=exc.errors) from exc
    except StudyNameTaken as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    except BrokerUnavailable as exc:
        raise HTTPException(status_code=503, detail=f"study not submitted: {exc}") from exc
    return studies.detail(session=session, study=study)


@router.get("", dependencies=[ReadAuth])
def list_studies(
    session: SessionDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> StudiesPublic:
    """Studies, newest first, each with its progress."""
    found, total = studies_crud.list_studies(session=session, offset=offset, limit=limit)
    return StudiesPublic(data=studies.summaries(session=session, studies=found), count=total)


@router.get("/{study_id}", dependencies=[ReadAuth], responses=errors(404))
def read_study(study: StudyDep, session: SessionDep) -> StudyPublic:
    """The study: its base spec, grid, seeds, progress, and each cell with its runs."""
    return studies.detail(session=session, study=study)


@router.post("/{study_id}/extend", dependencies=[WriteAuth], responses=errors(404, 503))
def extend_study(
    study: StudyDep, body: StudyExtend, session: SessionDep, celery: CeleryDep, settings: SettingsDep
) -> StudyPublic:
    """Run every cell with `seeds` more seeds, numbered on from the largest one used."""
    try:
        studies.extend_study(session=session, celery=celery, study=study, more_seeds=body.seeds,
                             catalog=current_catalog(session, settings))
    except GridInvalid as exc:
        raise HTTPException(status_code=422, detail=exc.errors) from exc
    except BrokerUnavailable as exc:
        raise HTTPException(status_code=503, detail=f"study not extended: {exc}") from exc
    return studies.detail(session=session, study=study)


@router.post("/{study_id}/cancel", dependencies=[WriteAuth], responses=errors(404))
def cancel_study(study: StudyDep, session: SessionDep, hub: HubDep) -> StudyPublic:
    """Cancel every queued run of the study at once; every running one stops at its next batch."""
    for run in studies.cancel_study(session=session, study=study):
        hub.notify(run.id)
    return studies.detail(session=session, study=study)


@router.delete(
    "/{study_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[WriteAuth], responses=errors(404, 409)
)
def delete_study(study: StudyDep, session: SessionDep, hub: HubDep, settings: SettingsDep) -> Response:
    """Delete a study with nothing running, with all its runs, their metrics and artifacts."""
    try:
        run_ids = studies.delete_study(session=session, study=study)
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    for run_id in run_ids:
        artifacts.delete_all(settings.resolved_artifacts_dir, run_id)
        hub.notify(run_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{study_id}/stats", dependencies=[ReadAuth], responses=errors(404))
def study_stats(study: StudyDep, session: SessionDep, options: StatsOptionsDep) -> StatsPublic:
    """Each cell's runs described (n, mean, median, std, min, max, CI of the mean), the cells
    ranked, every pair compared (p-value, Holm-adjusted p, Cliff's delta, Cohen's d, winner), and
    warnings. Only completed runs count unless include_running=true. group_by=model.norm (any
    spec path) pools the cells by one value instead."""
    try:
        return stats_service.study_stats(session=session, study=study, options=options)
    except StatsRefused as exc:
        raise refused(exc) from exc
