"""Studies: create, list, read and delete them with their runs, and read the one value per run
that their statistics compare."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from backend.models import MetricPoint, Run, RunStatus, Study


def create_study(
    *, session: Session, name: str, base_spec: dict[str, Any], grid: dict[str, list[Any]], seeds: list[int]
) -> Study:
    study = Study(name=name, base_spec=base_spec, grid=grid, seeds=seeds)
    session.add(study)
    session.flush()
    return study


def get_study(*, session: Session, study_id: int) -> Study | None:
    return session.get(Study, study_id)


def get_study_by_name(*, session: Session, name: str) -> Study | None:
    return session.scalar(select(Study).where(Study.name == name))


def list_studies(*, session: Session, offset: int = 0, limit: int = 50) -> tuple[list[Study], int]:
    """Newest first."""
    total = session.scalar(select(func.count()).select_from(Study))
    studies = session.scalars(
        select(Study).order_by(Study.created_at.desc(), Study.id.desc()).offset(offset).limit(limit)
    )
    return list(studies), int(total or 0)


def add_runs(*, session: Session, study: Study, runs: list[dict[str, Any]]) -> list[Run]:
    """Queued runs of the study, in the order given; each dict holds name, spec, cell, param_count
    and macs. One flush: the rows go in batches, not one round trip each."""
    rows = [Run(group=study.name, study_id=study.id, status=RunStatus.queued.value, **fields) for fields in runs]
    session.add_all(rows)
    session.flush()
    return rows


def study_runs(*, session: Session, study_id: int) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.study_id == study_id).order_by(Run.id)))


def progress(*, session: Session, study_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per study: how many of its runs are in each status."""
    if not study_ids:
        return {}
    rows = session.execute(
        select(Run.study_id, Run.status, func.count())
        .where(Run.study_id.in_(study_ids))
        .group_by(Run.study_id, Run.status)
    )
    counts: dict[int, dict[str, int]] = {study_id: {} for study_id in study_ids}
    for study_id, status, count in rows:
        counts[study_id][status] = count
    return counts


def delete_study(*, session: Session, study: Study) -> list[int]:
    """Delete the study with its runs (their metric points go with them) and return the runs' ids.
    A running run is left alone, and then the foreign key refuses to delete the study: the caller
    checks for running runs first, so that only a run started meanwhile makes the flush fail."""
    ids = list(session.scalars(select(Run.id).where(Run.study_id == study.id, Run.status != RunStatus.running.value)))
    session.execute(
        delete(Run)
        .where(Run.study_id == study.id, Run.status != RunStatus.running.value)
        .execution_options(synchronize_session=False)
    )
    session.delete(study)
    session.flush()
    return ids


def metric_values(
    *, session: Session, run_ids: list[int], name: str, summary: str, lower_is_better: bool, step: int | None = None
) -> dict[int, float | None]:
    """One value of metric `name` per run: its best (lowest or highest non-null value), its final
    (at the last step) or its value at `step`. A run without such a point is absent; a run whose
    point is null (NaN, infinity) maps to None."""
    if not run_ids:
        return {}
    of_runs = and_(MetricPoint.run_id.in_(run_ids), MetricPoint.name == name)
    if summary == "at_epoch":
        query = select(MetricPoint.run_id, MetricPoint.value).where(of_runs, MetricPoint.step == step)
    elif summary == "final":
        last = (
            select(MetricPoint.run_id, func.max(MetricPoint.step).label("step"))
            .where(of_runs)
            .group_by(MetricPoint.run_id)
            .subquery()
        )
        query = (
            select(MetricPoint.run_id, MetricPoint.value)
            .join(last, and_(MetricPoint.run_id == last.c.run_id, MetricPoint.step == last.c.step))
            .where(MetricPoint.name == name)
        )
    else:
        best = func.min(MetricPoint.value) if lower_is_better else func.max(MetricPoint.value)
        query = select(MetricPoint.run_id, best).where(of_runs).group_by(MetricPoint.run_id)
    return {run_id: value for run_id, value in session.execute(query)}


def metric_names(*, session: Session, run_ids: list[int]) -> list[str]:
    """The names of the metrics these runs reported."""
    if not run_ids:
        return []
    query = select(MetricPoint.name).where(MetricPoint.run_id.in_(run_ids)).distinct().order_by(MetricPoint.name)
    return list(session.scalars(query))
