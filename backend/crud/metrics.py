"""Metric points: idempotent batch insert, and reads by name and step."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping

from sqlalchemy import and_, func, select, text, tuple_
from sqlalchemy.orm import Session

from backend.models import MetricPoint
from backend.services import downsample
from trainboard.metrics import direction


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def add_points(*, session: Session, run_id: int, points: Iterable[Mapping]) -> int:
    """Insert points (mappings with name, step, value and optionally wall_time), ignoring any
    (run, name, step) already stored; returns how many were new."""
    now = time.time()
    names, steps, values, wall_times, seen = [], [], [], [], set()
    for point in points:
        key = (point["name"], point["step"])
        if key in seen:
            continue  # the same point twice in one batch: the first one counts, as across batches
        seen.add(key)
        wall_time = point.get("wall_time")
        names.append(key[0])
        steps.append(key[1])
        values.append(_finite_or_none(point["value"]))
        wall_times.append(wall_time if wall_time is not None and math.isfinite(wall_time) else now)
    if not names:
        return 0
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # One statement over arrays: its rowcount is exact (an executemany's is not with psycopg),
        # and psycopg need not parse a 1,000-row VALUES list as insert..returning would make it.
        result = connection.execute(
            _PG_INSERT_ARRAYS,
            {"run_id": run_id, "names": names, "steps": steps, "values": values, "wall_times": wall_times},
        )
        return result.rowcount
    # sqlite3's executemany rowcount is the sum of the rows each execution changed: exact, and a
    # point ignored by ON CONFLICT DO NOTHING counts 0. Positional tuples through the driver skip
    # SQLAlchemy's per-row parameter processing.
    rows = [(run_id, *row) for row in zip(names, steps, values, wall_times, strict=True)]
    return connection.exec_driver_sql(_SQLITE_INSERT, rows).rowcount


_PG_INSERT_ARRAYS = text(
    "INSERT INTO metrics (run_id, name, step, value, wall_time) "
    "SELECT :run_id, * FROM unnest(CAST(:names AS varchar[]), CAST(:steps AS integer[]), "
    "CAST(:values AS double precision[]), CAST(:wall_times AS double precision[])) "
    "ON CONFLICT (run_id, name, step) DO NOTHING"
)
_SQLITE_INSERT = (
    "INSERT INTO metrics (run_id, name, step, value, wall_time) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, name, step) DO NOTHING"
)


def get_points(
    *,
    session: Session,
    run_id: int,
    names: list[str] | None = None,
    since_step: int | None = None,
    after_id: int | None = None,
) -> list[MetricPoint]:
    query = select(MetricPoint).where(MetricPoint.run_id == run_id)
    if names:
        query = query.where(MetricPoint.name.in_(names))
    if since_step is not None:
        query = query.where(MetricPoint.step >= since_step)
    if after_id is not None:
        query = query.where(MetricPoint.id > after_id)
    return list(session.scalars(query.order_by(MetricPoint.step, MetricPoint.name)))


def last_step(*, session: Session, run_id: int) -> int | None:
    """The highest step stored for any metric of the run (None without points): where a resumed
    script carries on numbering its steps."""
    return session.scalar(select(func.max(MetricPoint.step)).where(MetricPoint.run_id == run_id))


def summaries(*, session: Session, run_ids: list[int]) -> dict[int, dict[str, dict[str, float | int | None]]]:
    """Per run and metric: the final value (at the last step) and the best value with its step,
    best being the lowest for losses and times and the highest otherwise, the earliest of equals.
    One query for all runs: each metric's last step, lowest and highest value by aggregates (the
    (run, name, step) index serves them without sorting every point), then the few points that
    hold them."""
    if not run_ids:
        return {}
    extremes = (
        select(
            MetricPoint.run_id,
            MetricPoint.name,
            func.max(MetricPoint.step).label("last_step"),
            func.min(MetricPoint.value).label("lowest"),
            func.max(MetricPoint.value).label("highest"),
        )
        .where(MetricPoint.run_id.in_(run_ids))
        .group_by(MetricPoint.run_id, MetricPoint.name)
        .cte("extremes")
    )
    rows = session.execute(
        select(
            MetricPoint.run_id,
            MetricPoint.name,
            MetricPoint.step,
            MetricPoint.value,
            extremes.c.last_step,
            extremes.c.lowest,
            extremes.c.highest,
        )  # fmt: skip
        .join(extremes, (MetricPoint.run_id == extremes.c.run_id) & (MetricPoint.name == extremes.c.name))
        .where(
            (MetricPoint.step == extremes.c.last_step)
            | (MetricPoint.value == extremes.c.lowest)
            | (MetricPoint.value == extremes.c.highest)
        )
        .order_by(MetricPoint.run_id, MetricPoint.name, MetricPoint.step)
    )
    result: dict[int, dict[str, dict[str, float | int | None]]] = {}
    for run_id, name, step, value, last_step, lowest, highest in rows:
        entry = result.setdefault(run_id, {}).setdefault(name, {})
        if step == last_step:
            entry["final"], entry["final_step"] = value, step
        best = {"min": lowest, "max": highest}.get(direction(name) or "")
        if best is not None and value == best and "best" not in entry:  # in step order: the earliest
            entry["best"], entry["best_step"] = value, step
    return result


def reported_names(*, session: Session, run_ids: list[int], names: list[str]) -> dict[int, set[str]]:
    """Per run, which of `names` it reported."""
    if not run_ids:
        return {}
    query = (
        select(MetricPoint.run_id, MetricPoint.name)
        .where(MetricPoint.run_id.in_(run_ids), MetricPoint.name.in_(names))
        .distinct()
    )
    found: dict[int, set[str]] = {}
    for run_id, name in session.execute(query):
        found.setdefault(run_id, set()).add(name)
    return found


def selected_steps(*, session: Session, run_ids_by_metric: Mapping[str, list[int]]) -> dict[int, int]:
    """Per run, its selected step: the first step where its selection metric (the key it is listed
    under) is best, lowest for losses and highest otherwise, as trainboard.metrics.best_epoch. A
    run without a finite value of its selection metric is absent. One query per selection metric."""
    found: dict[int, int] = {}
    for metric, run_ids in run_ids_by_metric.items():
        if not run_ids or direction(metric) is None:
            continue
        best_value = func.min(MetricPoint.value) if direction(metric) == "min" else func.max(MetricPoint.value)
        of_runs = and_(MetricPoint.run_id.in_(run_ids), MetricPoint.name == metric)
        best = select(MetricPoint.run_id, best_value.label("value")).where(of_runs).group_by(MetricPoint.run_id)
        best = best.subquery()
        query = (
            select(MetricPoint.run_id, func.min(MetricPoint.step))
            .join(best, and_(MetricPoint.run_id == best.c.run_id, MetricPoint.value == best.c.value))
            .where(of_runs)
            .group_by(MetricPoint.run_id)
        )
        found.update(dict(session.execute(query).all()))
    return found


def values_at_steps(
    *, session: Session, steps: Mapping[int, int], names: list[str] | None = None
) -> dict[int, dict[str, float | None]]:
    """Per run, the value of each metric (or of `names`) at the run's step in `steps`; a metric
    without a point there is absent, one whose point is NaN or infinite maps to None."""
    if not steps:
        return {}
    query = select(MetricPoint.run_id, MetricPoint.name, MetricPoint.value).where(
        tuple_(MetricPoint.run_id, MetricPoint.step).in_(list(steps.items()))
    )
    if names:
        query = query.where(MetricPoint.name.in_(names))
    found: dict[int, dict[str, float | None]] = {}
    for run_id, name, value in session.execute(query):
        found.setdefault(run_id, {})[name] = value
    return found


def series(
    *, session: Session, run_ids: list[int], names: list[str] | None = None, max_points: int = 0, aligned: bool = False
) -> dict[int, dict[str, dict]]:
    """Points of several runs in one query, as columns per run and metric: all of them (max_points
    0), or thinned to about `max_points` per curve (backend/services/downsample.py), each curve by
    its own extremes, or `aligned` on steps shared by all the curves, for means across runs."""
    if not run_ids:
        return {}
    query = select(MetricPoint.run_id, MetricPoint.name, MetricPoint.step, MetricPoint.value, MetricPoint.wall_time)
    query = query.where(MetricPoint.run_id.in_(run_ids))
    if names:
        query = query.where(MetricPoint.name.in_(names))
    result: dict[int, dict[str, dict]] = {}
    current, steps, values, wall_times = None, [], [], []
    for run_id, name, step, value, wall_time in _driver_rows(
        session, query.order_by(MetricPoint.run_id, MetricPoint.name, MetricPoint.step)
    ):
        if (run_id, name) != current:
            current, steps, values, wall_times = (run_id, name), [], [], []
            result.setdefault(run_id, {})[name] = {"steps": steps, "values": values, "wall_times": wall_times}
        steps.append(step)
        values.append(value)
        wall_times.append(wall_time)
    if max_points > 0:
        _thin(result, max_points, aligned)
    return result


def _driver_rows(session: Session, query) -> list[tuple]:
    """The rows of a query of plain columns as the database driver gives them: for a comparison's
    hundreds of thousands of points, SQLAlchemy's Row objects cost as much as the query itself."""
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.params
    if compiled.positiontup is not None:
        params = tuple(params[key] for key in compiled.positiontup)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.execute(compiled.string, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _thin(result: dict[int, dict[str, dict]], max_points: int, aligned: bool) -> None:
    curves = [columns for per_run in result.values() for columns in per_run.values() if columns["steps"]]
    if aligned:
        first = min((c["steps"][0] for c in curves), default=0)
        stride = downsample.shared_stride(first, max((c["steps"][-1] for c in curves), default=0), max_points)
    for columns in curves:
        if len(columns["steps"]) <= max_points:
            continue
        if aligned:
            keep = downsample.stride_indices(columns["steps"], first, stride)
        else:
            keep = downsample.m4_indices(columns["steps"], columns["values"], max_points)
        for key in ("steps", "values", "wall_times"):
            column = columns[key]
            columns[key] = [column[i] for i in keep]


def first_points(*, session: Session, run_ids: list[int]) -> dict[int, dict[str, tuple[float, float | None]]]:
    """Per run and metric: the wall time and value of its first step (where a run's clock starts)."""
    if not run_ids:
        return {}
    firsts = (
        select(MetricPoint.run_id, MetricPoint.name, func.min(MetricPoint.step).label("step"))
        .where(MetricPoint.run_id.in_(run_ids))
        .group_by(MetricPoint.run_id, MetricPoint.name)
        .subquery()
    )
    query = select(MetricPoint.run_id, MetricPoint.name, MetricPoint.wall_time, MetricPoint.value).join(
        firsts,
        (MetricPoint.run_id == firsts.c.run_id)
        & (MetricPoint.name == firsts.c.name)
        & (MetricPoint.step == firsts.c.step),
    )
    result: dict[int, dict[str, tuple[float, float | None]]] = {}
    for run_id, name, wall_time, value in session.execute(query):
        result.setdefault(run_id, {})[name] = (wall_time, value)
    return result


def means(*, session: Session, run_ids: list[int], name: str) -> dict[int, float]:
    """Per run, the mean of one metric over its steps (the seconds an epoch took, on average)."""
    if not run_ids:
        return {}
    query = (
        select(MetricPoint.run_id, func.avg(MetricPoint.value))
        .where(MetricPoint.run_id.in_(run_ids), MetricPoint.name == name, MetricPoint.value.is_not(None))
        .group_by(MetricPoint.run_id)
    )
    return {run_id: float(mean) for run_id, mean in session.execute(query) if mean is not None}
