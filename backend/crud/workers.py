"""Workers: record what each one publishes, and read the recent ones."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.models import Worker
from backend.models.base import utcnow


def digest(catalog: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(catalog, sort_keys=True).encode()).hexdigest()


def publish(*, session: Session, name: str, hostname: str, catalog: dict[str, Any], stopping: bool) -> Worker:
    """Insert or update the worker; a stopping worker keeps its catalog (its queued runs wait for it)."""
    worker = session.get(Worker, name)
    now = utcnow()
    if worker is None:
        worker = Worker(name=name, first_seen_at=now)
        session.add(worker)
    worker.hostname = hostname
    new_digest = digest(catalog)
    if worker.catalog_digest != new_digest:
        worker.catalog = catalog
        worker.catalog_digest = new_digest
    worker.last_seen_at = now
    worker.stopped_at = now if stopping else None
    session.flush()
    return worker


def recent_workers(*, session: Session, since: datetime) -> list[Worker]:
    """Workers seen since then, the most recently seen first."""
    query = select(Worker).where(Worker.last_seen_at >= since).order_by(Worker.last_seen_at.desc(), Worker.name)
    return list(session.scalars(query))
