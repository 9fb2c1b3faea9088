"""Metric points: idempotent batch insert, and reads by name and step."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping

from sqlalchemy import Integer, String, and_, bindparam, case, column, func, or_, select, text, values
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.models import MetricPoint, MetricSummary
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
        # One statement over arrays (psycopg need not parse a 10,000-row VALUES list), returning the
        # points that were new: a point already stored changes nothing, not even the summary.
        params = {"run_id": run_id, "names": names, "steps": steps, "values": values, "wall_times": wall_times}
        new = connection.execute(_PG_INSERT_ARRAYS, params).all()
    else:
        rows = [(run_id, *row) for row in zip(names, steps, values, wall_times, strict=True)]
        new = []
        for start in range(0, len(rows), _SQLITE_ROWS):
            chunk = rows[start : start + _SQLITE_ROWS]
            statement = _SQLITE_INSERT + ", ".join(["(?, ?, ?, ?, ?)"] * len(chunk)) + _SQLITE_RETURNING
            new += connection.exec_driver_sql(statement, tuple(v for row in chunk for v in row)).fetchall()
    _update_summaries(connection, run_id, new)
    return len(new)


_PG_INSERT_ARRAYS = text(
    "INSERT INTO metrics (run_id, name, step, value, wall_time) "
    "SELECT :run_id, * FROM unnest(CAST(:names AS varchar[]), CAST(:steps AS integer[]), "
    "CAST(:values AS double precision[]), CAST(:wall_times AS double precision[])) "
    "ON CONFLICT (run_id, name, step) DO NOTHING RETURNING name, step, value"
)
# sqlite3's executemany returns no rows: a multi-row VALUES per statement instead, under SQLite's
# 32,766 bound parameters.
_SQLITE_ROWS = 6000
_SQLITE_INSERT = "INSERT INTO metrics (run_id, name, step, value, wall_time) VALUES "
_SQLITE_RETURNING = " ON CONFLICT (run_id, name, step) DO NOTHING RETURNING name, step, value"


def _update_summaries(connection, run_id: int, new_points: list[tuple]) -> None:
    """Fold new points (name, step, value) into their metrics' summaries: one upsert for the batch."""
    found: dict[str, dict] = {}
    for name, step, value in new_points:
        entry = found.get(name)
        if entry is None:
            entry = found[name] = {
                "run_id": run_id, "name": name, "count": 0, "first_step": step, "last_step": step,
                "last_value": value, "min_value": None, "min_step": None, "max_value": None, "max_step": None,
            }  # fmt: skip
        entry["count"] += 1
        entry["first_step"] = min(entry["first_step"], step)
        if step > entry["last_step"]:
            entry["last_step"], entry["last_value"] = step, value
        if value is None:
            continue
        low, high = entry["min_value"], entry["max_value"]
        if low is None or value < low or (value == low and step < entry["min_step"]):
            entry["min_value"], entry["min_step"] = value, step
        if high is None or value > high or (value == high and step < entry["max_step"]):
            entry["max_value"], entry["max_step"] = value, step
    if not found:
        return
    insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = insert(MetricSummary).values(list(found.values()))
    old, new = MetricSummary, statement.excluded
    # Every right-hand side reads the row as it was before this update.
    later = new.last_step > old.last_step
    lower = or_(
        old.min_value.is_(None),
        and_(new.min_value.is_not(None), or_(new.min_value < old.min_value,
                                              and_(new.min_value == old.min_value, new.min_step < old.min_step))),
    )  # fmt: skip
    higher = or_(
        old.max_value.is_(None),
        and_(new.max_value.is_not(None), or_(new.max_value > old.max_value,
                                              and_(new.max_value == old.max_value, new.max_step < old.max_step))),
    )  # fmt: skip
    statement = statement.on_conflict_do_update(
        index_elements=[MetricSummary.run_id, MetricSummary.name],
        set_={
            "count": old.count + new.count,
            "first_step": case((new.first_step < old.first_step, new.first_step), else_=old.first_step),
            "last_step": case((later, new.last_step), else_=old.last_step),
            "last_value": case((later, new.last_value), else_=old.last_value),
            "min_value": case((lower, new.min_value), else_=old.min_value),
            "min_step": case((lower, new.min_step), else_=old.min_step),
            "max_value": case((higher, new.max_value), else_=old.max_value),
            "max_step": case((higher, new.max_step), else_=old.max_step),
        },
    )
    connection.execute(statement)


def point_count(*, session: Session, run_id: int) -> int:
    """How many points the run holds, over all its metrics."""
    return session.scalar(select(func.sum(MetricSummary.count)).where(MetricSummary.run_id == run_id)) or 0


def get_points(
    *,
    session: Session,
    run_id: int,
    names: list[str] | None = None,
    since_step: int | None = None,
    after_id: int | None = None,
    after: tuple[int, str] | None = None,
    limit: int | None = None,
) -> list[MetricPoint]:
    """A run's points by step and name, `limit` at most: those after the (step, name) `after` (a
    page's cursor), or, in the order they were stored, those after the point id `after_id` (the
    live stream's cursor)."""
    query = select(MetricPoint).where(MetricPoint.run_id == run_id)
    if names:
        query = query.where(MetricPoint.name.in_(names))
    if since_step is not None:
        query = query.where(MetricPoint.step >= since_step)
    if after_id is not None:
        query = query.where(MetricPoint.id > after_id)
    if after is not None:
        step, name = after
        query = query.where(or_(MetricPoint.step > step, and_(MetricPoint.step == step, MetricPoint.name > name)))
    order = (MetricPoint.id,) if after_id is not None else (MetricPoint.step, MetricPoint.name)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def last_point_id(*, session: Session) -> int:
    """The highest point id of the store (0 when empty): where a live stream's cursor starts."""
    return session.scalar(select(func.max(MetricPoint.id))) or 0


def thinned_points(*, session: Session, run_id: int, names: list[str] | None, max_points: int) -> list[tuple]:
    """A run's points as a chart draws them, by step and name, as (name, step, value, wall_time):
    every point of a metric with at most `max_points`, and of a longer one its M4 thinning
    (backend/services/downsample.py: per stretch of steps its first, last, lowest and highest
    point, the earliest of equals), computed in the database so that a run of millions of points
    is never read into memory."""
    query = select(MetricSummary.name, MetricSummary.count).where(MetricSummary.run_id == run_id)
    if names:
        query = query.where(MetricSummary.name.in_(names))
    counts = dict(session.execute(query).all())
    whole = [name for name, count in counts.items() if count <= max_points]
    long = [name for name, count in counts.items() if count > max_points]
    found = []
    if whole:
        points = get_points(session=session, run_id=run_id, names=whole)
        found += [(p.name, p.step, p.value, p.wall_time) for p in points]
    if long:
        params = {"run_id": run_id, "buckets": max(1, max_points // 4), "names": long}
        found += session.execute(_M4.bindparams(bindparam("names", expanding=True)), params).all()
    return sorted(found, key=lambda point: (point[1], point[0]))


_M4 = text("""
WITH curves AS (
    SELECT name, first_step, last_step - first_step + 1 AS span FROM metric_summaries
    WHERE run_id = :run_id AND name IN :names),
points AS (
    SELECT m.name, m.step, m.value, CAST(m.step - c.first_step AS BIGINT) * :buckets / c.span AS bucket
    FROM metrics m JOIN curves c ON m.name = c.name WHERE m.run_id = :run_id),
stretches AS (
    SELECT name, bucket, min(step) AS first, max(step) AS last, min(value) AS low, max(value) AS high
    FROM points GROUP BY name, bucket),
extremes AS (
    SELECT p.name, min(CASE WHEN p.value = s.low THEN p.step END) AS low_step,
           min(CASE WHEN p.value = s.high THEN p.step END) AS high_step
    FROM points p JOIN stretches s ON p.name = s.name AND p.bucket = s.bucket GROUP BY p.name, p.bucket),
kept AS (
    SELECT name, first AS step FROM stretches UNION SELECT name, last FROM stretches
    UNION SELECT name, low_step FROM extremes WHERE low_step IS NOT NULL
    UNION SELECT name, high_step FROM extremes WHERE high_step IS NOT NULL)
SELECT m.name, m.step, m.value, m.wall_time FROM kept k
JOIN metrics m ON m.run_id = :run_id AND m.name = k.name AND m.step = k.step
""")


def last_step(*, session: Session, run_id: int) -> int | None:
    """The highest step stored for any metric of the run (None without points): where a resumed
    script carries on numbering its steps."""
    return session.scalar(select(func.max(MetricSummary.last_step)).where(MetricSummary.run_id == run_id))


def summaries(*, session: Session, run_ids: list[int]) -> dict[int, dict[str, dict[str, float | int | None]]]:
    """Per run and metric: the final value (at the last step) and the best value with its step,
    best being the lowest for losses and times and the highest otherwise, the earliest of equals.
    Read from the summaries kept at ingestion, never from the points."""
    if not run_ids:
        return {}
    result: dict[int, dict[str, dict[str, float | int | None]]] = {}
    query = select(MetricSummary).where(MetricSummary.run_id.in_(run_ids)).order_by(MetricSummary.name)
    for row in session.scalars(query):
        entry: dict[str, float | int | None] = {"final": row.last_value, "final_step": row.last_step}
        best = {"min": (row.min_value, row.min_step), "max": (row.max_value, row.max_step)}.get(direction(row.name))
        if best is not None and best[0] is not None:
            entry["best"], entry["best_step"] = best
        result.setdefault(row.run_id, {})[row.name] = entry
    return result


def reported_names(*, session: Session, run_ids: list[int], names: list[str]) -> dict[int, set[str]]:
    """Per run, which of `names` it reported."""
    if not run_ids:
        return {}
    query = select(MetricSummary.run_id, MetricSummary.name).where(
        MetricSummary.run_id.in_(run_ids), MetricSummary.name.in_(names)
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
        best_step = MetricSummary.min_step if direction(metric) == "min" else MetricSummary.max_step
        query = select(MetricSummary.run_id, best_step).where(
            MetricSummary.run_id.in_(run_ids), MetricSummary.name == metric, best_step.is_not(None)
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
    # Each (run, name, step) spelled out, so that every point is found by the unique key's index.
    reported = select(MetricSummary.run_id, MetricSummary.name).where(MetricSummary.run_id.in_(list(steps)))
    if names:
        reported = reported.where(MetricSummary.name.in_(names))
    keys = [(run_id, name, steps[run_id]) for run_id, name in session.execute(reported)]
    if not keys:
        return {}
    # A join with the keys as a VALUES common table: each is looked up in the (run, name, step) index on
    # both stores (SQLite scans every point of the runs for a row-value IN list: 200 ms at 1e6).
    wanted = values(
        column("run_id", Integer), column("name", String), column("step", Integer), name="wanted"
    ).data(keys).cte("wanted")
    query = select(MetricPoint.run_id, MetricPoint.name, MetricPoint.value).join(
        wanted,
        (MetricPoint.run_id == wanted.c.run_id) & (MetricPoint.name == wanted.c.name)
        & (MetricPoint.step == wanted.c.step),
    )
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
    if not names:
        reported = select(MetricSummary.name).where(MetricSummary.run_id.in_(run_ids)).distinct()
        names = sorted(session.scalars(reported))
        if not names:
            return {}
    # Each point's metric comes as its index in `names`: a string per point cost the driver a third
    # of the read (1,000 runs x 400 points: 630 ms, 410 ms so).
    name_index = case({name: index for index, name in enumerate(names)}, value=MetricPoint.name)
    query = select(MetricPoint.run_id, name_index, MetricPoint.step, MetricPoint.value, MetricPoint.wall_time)
    query = query.where(MetricPoint.run_id.in_(run_ids), MetricPoint.name.in_(names))
    result: dict[int, dict[str, dict]] = {}
    current, steps, values, wall_times = None, [], [], []
    for run_id, index, step, value, wall_time in _driver_rows(
        session, query.order_by(MetricPoint.run_id, MetricPoint.name, MetricPoint.step)
    ):
        if (run_id, index) != current:
            current, steps, values, wall_times = (run_id, index), [], [], []
            result.setdefault(run_id, {})[names[index]] = {"steps": steps, "values": values, "wall_times": wall_times}
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
        select(MetricSummary.run_id, MetricSummary.name, MetricSummary.first_step.label("step"))
        .where(MetricSummary.run_id.in_(run_ids))
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
