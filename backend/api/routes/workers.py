"""Workers: each publishes what it can train (at start, then every `publish_seconds`), which
makes `GET /catalog`; the list says which are online."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from backend.api.deps import ReadAuth, SessionDep, SettingsDep, WriteAuth
from backend.crud import workers as workers_crud
from backend.services.catalog import current_catalog
from backend.schemas.worker import WorkerPublish, WorkerPublishReply

router = APIRouter(prefix="/workers", tags=["workers"])


@router.post("", dependencies=[WriteAuth])
def publish_worker(body: WorkerPublish, session: SessionDep, settings: SettingsDep) -> WorkerPublishReply:
    """Record what a worker offers. The reply sets how often it publishes again (its liveness)."""
    catalog = body.model_dump(mode="json", exclude={"stopping"})
    workers_crud.publish(
        session=session, name=body.name, hostname=body.hostname, catalog=catalog, stopping=body.stopping
    )
    session.commit()
    return WorkerPublishReply(publish_seconds=settings.worker_publish_seconds)


@router.get("", dependencies=[ReadAuth])
def list_workers(session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The workers seen recently, newest first: online or not, queues, packages, skipped plugins."""
    workers = current_catalog(session, settings).workers(settings)
    return {"data": workers, "count": len(workers)}
