from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, BigIntId


class MetricPoint(Base):
    """One value of one metric at one step (the epoch, for the engine's metrics) of one run."""

    __tablename__ = "metrics"
    __table_args__ = (UniqueConstraint("run_id", "name", "step"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))  # indexed by the unique key
    name: Mapped[str] = mapped_column(String(100))
    step: Mapped[int] = mapped_column(Integer)
    # NaN and infinities are stored as NULL so that no JSON response ever carries them.
    value: Mapped[float | None] = mapped_column(Float)
    wall_time: Mapped[float] = mapped_column(Float)  # seconds since the epoch, when the value was measured


class _Extremes:
    """What both kept tables hold of a stretch of a metric's points (backend/crud/metric_rollups.py
    folds them as points arrive): its first and last step with the last value, and its lowest and
    highest finite value, each with the first step that holds it. NULL points are no extreme."""

    first_step: Mapped[int] = mapped_column(Integer)
    last_step: Mapped[int] = mapped_column(Integer)
    last_value: Mapped[float | None] = mapped_column(Float)
    min_value: Mapped[float | None] = mapped_column(Float)
    min_step: Mapped[int | None] = mapped_column(Integer)
    max_value: Mapped[float | None] = mapped_column(Float)
    max_step: Mapped[int | None] = mapped_column(Integer)


class MetricSummary(_Extremes, Base):
    """One metric of one run in a few figures, kept as its points arrive, so the runs list and the
    comparisons never read every point: how many points (NULLs included), and its extremes."""

    __tablename__ = "metric_summaries"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


# Steps per tile: a chart of a long curve reads a run's tiles (at most one row per 64 points)
# instead of its points.
TILE_STEPS = 64


class MetricTile(_Extremes, Base):
    """64 steps of one metric of one run (steps 64 * tile to 64 * tile + 63), kept as the points
    arrive like `MetricSummary`: its extremes and its first value. A chart of a long curve picks
    its points among the tiles' (M4, backend/services/downsample.py) without reading every point."""

    __tablename__ = "metric_tiles"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    tile: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_value: Mapped[float | None] = mapped_column(Float)
