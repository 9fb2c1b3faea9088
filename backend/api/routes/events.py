"""Live stream of a run (Server-Sent Events): its state and metric backlog first, then every
new epoch, status change and heartbeat as it happens. The stream ends after the run ends."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sse_starlette.sse import EventSourceResponse

from backend.api.deps import HubDep, ReadAuth, RunId
from backend.api.errors import errors
from backend.crud import metrics as metrics_crud
from backend.crud import runs as runs_crud
from backend.models import RunStatus
from backend.schemas.run import RunPublic
from backend.services.routing import with_reasons

MAX_EVENT_ID = 2**63 - 1  # a metric point's id: the largest integer both stores keep

router = APIRouter(prefix="/runs/{run_id}/events", tags=["events"], responses=errors(404))

# A stream re-reads the database this often even without a wake-up (writes from another process).
RECHECK_SECONDS = 2.0
SNAPSHOT_POINTS = 2000  # per metric, in a new subscriber's first metrics event: a chart's resolution
PAGE_POINTS = 10_000  # in one metrics event at most


def _state(factory, settings, run_id: int) -> RunPublic | None:
    with factory() as session:
        run = runs_crud.get_run(session=session, run_id=run_id)
        if run is None:
            return None
        # Queued, with why no online worker takes it (if none can): rechecked with every snapshot.
        return with_reasons(session, settings, [run], [RunPublic.model_validate(run)])[0]


def _points(factory, run_id: int, after_id: int) -> tuple[list[dict], int, bool]:
    """New points of the run, the cursor after them, and whether more are waiting. A new subscriber
    (no cursor) gets the curves as a chart draws them (SNAPSHOT_POINTS per metric), then the points
    stored after; a returning one what it missed, by pages: bounded in memory whatever the run holds."""
    with factory() as session:
        if after_id == 0:
            cursor = metrics_crud.last_point_id(session=session)
            rows = metrics_crud.thinned_points(session=session, run_id=run_id, names=None, max_points=SNAPSHOT_POINTS)
            return [{"name": n, "step": s, "value": v, "wall_time": w} for n, s, v, w in rows], cursor, False
        found = metrics_crud.get_points(session=session, run_id=run_id, after_id=after_id, limit=PAGE_POINTS)
        ordered = sorted(found, key=lambda p: (p.step, p.name))  # as a chart reads them
        points = [{"name": p.name, "step": p.step, "value": p.value, "wall_time": p.wall_time} for p in ordered]
        return points, (found[-1].id if found else after_id), len(found) == PAGE_POINTS


@router.get("", dependencies=[ReadAuth], response_class=EventSourceResponse)
async def run_events(
    run_id: RunId,
    request: Request,
    hub: HubDep,
    last_event_id: Annotated[str | None, Header()] = None,
):
    """Events: `state` (the run, on connect and whenever it changes), `metrics` (new points; the
    event id is a cursor, so a reconnecting client with Last-Event-ID gets only what it missed),
    `heartbeat`, and `end` once the run is finished."""
    factory, settings = request.app.state.session_factory, request.app.state.settings
    cursor = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    if cursor > MAX_EVENT_ID:
        raise HTTPException(status_code=422, detail=[{
            "loc": ["header", "last-event-id"], "type": "less_than_equal",
            "msg": f"must be an event id this stream sent (at most {MAX_EVENT_ID})",
        }])  # fmt: skip
    wake = hub.subscribe(run_id)  # before the first read, so no write falls between the two
    run = await run_in_threadpool(_state, factory, settings, run_id)
    if run is None:
        hub.unsubscribe(run_id, wake)
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")

    async def stream():
        nonlocal cursor, run
        try:
            last_state = None
            last_heartbeat = None
            first = True
            while True:
                state = run.model_dump(mode="json", exclude={"heartbeat_at", "updated_at", "summary"})
                state_changed = state != last_state
                state_event = {"event": "state", "data": run.model_dump_json(exclude={"summary"})}
                if state_changed and first:
                    yield state_event  # a new subscriber learns the run (its spec, its status) first
                more = True
                while more:  # page after page, each read once the previous one is sent
                    points, cursor, more = await run_in_threadpool(_points, factory, run_id, cursor)
                    if points:
                        yield {"event": "metrics", "id": str(cursor), "data": json.dumps({"points": points})}
                if state_changed and not first:
                    yield state_event  # after the points, so "completed" comes after the last epoch
                if not state_changed and run.heartbeat_at != last_heartbeat and run.status == RunStatus.running:
                    yield {
                        "event": "heartbeat",
                        "data": json.dumps(
                            {"heartbeat_at": run.heartbeat_at.isoformat(), "epochs_completed": run.epochs_completed}
                        ),
                    }
                last_state, last_heartbeat, first = state, run.heartbeat_at, False
                if run.status.is_terminal:
                    yield {"event": "end", "data": json.dumps({"status": run.status.value})}
                    return
                try:
                    await asyncio.wait_for(wake.wait(), timeout=RECHECK_SECONDS)
                except asyncio.TimeoutError:
                    pass
                wake.clear()
                run = await run_in_threadpool(_state, factory, settings, run_id)
                if run is None:  # deleted while followed
                    yield {"event": "end", "data": json.dumps({"status": "deleted"})}
                    return
        finally:
            hub.unsubscribe(run_id, wake)

    return EventSourceResponse(stream(), ping=15)
