from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UtcDateTime, utcnow


class Worker(Base):
    """A worker as it last published itself: what it can train (its catalog) and the queues it
    consumes. Kept across API restarts; `GET /catalog` is the union of the recent ones."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # Celery node name, trainboard@host
    hostname: Mapped[str] = mapped_column(String(255))
    catalog: Mapped[dict[str, Any]] = mapped_column(JSON)  # trainboard.catalog.WorkerCatalog, as published
    catalog_digest: Mapped[str] = mapped_column(String(64))  # SHA-256 of the catalog: parsed once per change
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
