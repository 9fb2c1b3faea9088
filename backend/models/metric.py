from sqlalchemy import Float, ForeignKey, Integer, String, UniqueConstraint
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
