"""Metric points: idempotent batch insert, and reads by name and step."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from backend.models import MetricPoint


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def add_points(*, session: Session, run_id: int, points: Iterable) -> int:
    """Insert points, ignoring any (run, name, step) already stored; returns how many were new."""
    now = time.time()
    rows, seen = [], set()
    for point in points:
        key = (point.name, point.step)
        if key in seen:
            continue  # the same point twice in one batch: the first one counts, as across batches
        seen.add(key)
        rows.append(
            {
                "run_id": run_id,
                "name": point.name,
                "step": point.step,
                "value": _finite_or_none(point.value),
                "wall_time": point.wall_time if point.wall_time is not None and math.isfinite(point.wall_time) else now,
            }
        )
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    statement = insert(MetricPoint).on_conflict_do_nothing(index_elements=["run_id", "name", "step"])
    result = session.connection().execute(statement, rows)
    return result.rowcount if result.rowcount is not None and result.rowcount >= 0 else len(rows)


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


def last_point_id(*, session: Session, run_id: int) -> int:
    return session.scalar(select(func.max(MetricPoint.id)).where(MetricPoint.run_id == run_id)) or 0
