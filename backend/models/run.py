import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UtcDateTime, utcnow


class RunStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.completed, RunStatus.failed, RunStatus.cancelled)


class RunSource(str, enum.Enum):
    worker = "worker"  # trained by a Celery worker from its spec
    script = "script"  # created and reported by the user's own script (the Python client)


class Run(Base):
    __tablename__ = "runs"
    # SQLite would otherwise give a deleted run's id to the next run (Postgres never reuses ids).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    group: Mapped[str | None] = mapped_column("group_name", String(200), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default=RunStatus.queued.value)
    source: Mapped[str] = mapped_column(String(16), index=True, default=RunSource.worker.value, server_default="worker")
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # {} for a script run
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a script run's config; None for a worker run
    # The client's idempotency key: a script run sent twice (a retried request, `trainboard sync`) is one run.
    client_key: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    worker_host: Mapped[str | None] = mapped_column(String(255))
    device_name: Mapped[str | None] = mapped_column(String(255))
    environment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    # Executions its worker ended by handing the run back (SIGTERM): they cost no attempt, a crash does.
    handbacks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    epochs_completed: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    param_count: Mapped[int | None] = mapped_column(BigInteger)
    macs: Mapped[int | None] = mapped_column(BigInteger)
    # The Celery queue of the run: that of the packages its model and dataset come from (trainboard.queues).
    queue: Mapped[str | None] = mapped_column(String(500))
    # No ON DELETE action: deleting a study deletes its runs first, in the application, because
    # their artifacts on disk must go too (a database cascade would leave them behind); the key
    # then guarantees that no run ever points to a study that is gone.
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id"), index=True)
    cell: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the study's grid values: {"model.norm": "batch"}
