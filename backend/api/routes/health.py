"""Liveness of the service and of what it depends on."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from backend.api.deps import CeleryDep, SessionDep
from backend.services.launcher import broker_reachable

router = APIRouter(prefix="/health", tags=["health"])


@router.get("")
def health(session: SessionDep, celery: CeleryDep) -> JSONResponse:
    """200 when the database and the broker both answer, else 503 saying which does not."""
    checks: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # reported, not raised: this is the health check
        checks["database"] = f"unreachable: {exc}"
    broker_error = broker_reachable(celery)
    checks["broker"] = "ok" if broker_error is None else f"unreachable: {broker_error}"
    healthy = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503)
