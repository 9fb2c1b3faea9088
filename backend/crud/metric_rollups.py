"""What is kept of a run's points as they arrive, so that reads never rescan them all (issue 12):
per metric its summary (`MetricSummary`: the runs list, comparisons, selected epochs) and per 64
steps its tile (`MetricTile`: charts of long curves). Both are folded from the points a batch
added (never from a re-sent point), in one upsert per table."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from sqlalchemy import and_, case, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.models import MetricSummary, MetricTile
from backend.models.metric import TILE_STEPS


def fold_new_points(connection, run_id: int, new_points: list[tuple]) -> None:
    """Fold new points (name, step, value) into their metrics' summaries and tiles."""
    if not new_points:
        return
    _upsert(connection, MetricSummary, ("run_id", "name"), _folded(run_id, new_points, lambda step: None))
    _upsert(connection, MetricTile, ("run_id", "name", "tile"), _folded(run_id, new_points, _tile_of))


def _tile_of(step: int) -> int:
    return step // TILE_STEPS


def _folded(run_id: int, points: Iterable[tuple], tile_of) -> list[dict]:
    """Per metric (and tile): count, first and last point, and the lowest and highest finite value
    each with its earliest step. NULL values count but are no extreme."""
    found: dict[tuple, dict] = {}
    for name, step, value in points:
        tile = tile_of(step)
        entry = found.get((name, tile))
        if entry is None:
            entry = found[(name, tile)] = {
                "run_id": run_id, "name": name, "tile": tile, "count": 0, "first_step": step, "first_value": value,
                "last_step": step, "last_value": value, "min_value": None, "min_step": None, "max_value": None,
                "max_step": None,
            }  # fmt: skip
        entry["count"] += 1
        if step < entry["first_step"]:
            entry["first_step"], entry["first_value"] = step, value
        if step > entry["last_step"]:
            entry["last_step"], entry["last_value"] = step, value
        if value is None:
            continue
        low, high = entry["min_value"], entry["max_value"]
        if low is None or value < low or (value == low and step < entry["min_step"]):
            entry["min_value"], entry["min_step"] = value, step
        if high is None or value > high or (value == high and step < entry["max_step"]):
            entry["max_value"], entry["max_step"] = value, step
    return list(found.values())


def _upsert(connection, table, keys: tuple[str, ...], entries: list[dict]) -> None:
    """Insert the entries, or merge each into the row it meets: one statement, executed for all."""
    columns = table.__table__.columns.keys()
    rows = [{column: entry[column] for column in columns} for entry in entries]
    connection.execute(_upsert_statement(connection.dialect.name, table, keys), rows)


@functools.cache
def _upsert_statement(dialect: str, table, keys: tuple[str, ...]):
    """The upsert of one row of `table`, built once per dialect (a statement of many rows would be
    compiled anew for every batch: 4 ms of each 1,000-point batch on SQLite). Every right-hand side
    reads the row as it was before this update."""
    columns = set(table.__table__.columns.keys())
    statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
    old, new = table.__table__.c, statement.excluded
    earlier = new["first_step"] < old["first_step"]
    later = new["last_step"] > old["last_step"]
    lower = _beats(old, new, "min", lambda a, b: a < b)
    higher = _beats(old, new, "max", lambda a, b: a > b)
    merged = {
        "first_step": case((earlier, new["first_step"]), else_=old["first_step"]),
        "last_step": case((later, new["last_step"]), else_=old["last_step"]),
        "last_value": case((later, new["last_value"]), else_=old["last_value"]),
        "min_value": case((lower, new["min_value"]), else_=old["min_value"]),
        "min_step": case((lower, new["min_step"]), else_=old["min_step"]),
        "max_value": case((higher, new["max_value"]), else_=old["max_value"]),
        "max_step": case((higher, new["max_step"]), else_=old["max_step"]),
    }
    if "count" in columns:
        merged["count"] = old["count"] + new["count"]
    if "first_value" in columns:
        merged["first_value"] = case((earlier, new["first_value"]), else_=old["first_value"])
    return statement.on_conflict_do_update(index_elements=[old[key] for key in keys], set_=merged)


def _beats(old, new, extreme: str, better):
    """Whether the new extreme replaces the old one: the row has none, or the new one is finite and
    better, or equal at an earlier step."""
    value, step = f"{extreme}_value", f"{extreme}_step"
    return or_(
        old[value].is_(None),
        and_(new[value].is_not(None), or_(better(new[value], old[value]),
                                          and_(new[value] == old[value], new[step] < old[step]))),
    )  # fmt: skip


def tiles(*, session: Session, run_id: int, names: list[str]) -> dict[str, list[tuple]]:
    """Per metric, its tiles in step order as (first_step, first_value, last_step, last_value,
    min_step, min_value, max_step, max_value)."""
    query = (
        select(MetricTile.name, MetricTile.first_step, MetricTile.first_value, MetricTile.last_step,
               MetricTile.last_value, MetricTile.min_step, MetricTile.min_value, MetricTile.max_step,
               MetricTile.max_value)  # fmt: skip
        .where(MetricTile.run_id == run_id, MetricTile.name.in_(names))
        .order_by(MetricTile.name, MetricTile.tile)
    )
    found: dict[str, list[tuple]] = {name: [] for name in names}
    for name, *figures in session.execute(query):
        found[name].append(tuple(figures))
    return found
