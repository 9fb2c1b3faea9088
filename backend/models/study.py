from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UtcDateTime, utcnow


class Study(Base):
    """A named set of runs: one base spec, a grid over some of its fields (a Cartesian product)
    and a number of seeds per grid cell. Its runs point back to it (`runs.study_id`) and keep
    their cell (`runs.cell`); its status and progress are derived from theirs."""

    __tablename__ = "studies"
    # As for runs: SQLite would otherwise give a deleted study's id to the next one.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Unique: the study's runs carry it as their `group`, so two studies of one name would mix.
    name: Mapped[str] = mapped_column(String(200), unique=True)
    base_spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # the normalised TrainSpec
    # Ordered mapping of dotted spec paths to their values, as submitted: {"model.norm": ["none", "batch"]}.
    grid: Mapped[dict[str, list[Any]]] = mapped_column(JSON)
    seeds: Mapped[list[int]] = mapped_column(JSON)  # every seed each cell was run with, in order
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
