"""Checkpoints of a worker run (`last.pt`, `best.pt`), kept by the API so that a run interrupted on
one machine resumes from its last checkpoint on another, with no shared folder. Written and read
only by the execution holding the run's lease (`attempt`) while it runs, with the write token;
stored apart from the artifacts (backend/services/checkpoints.py), which no public route reaches."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import RunDep, SettingsDep, WriteAuth
from backend.api.errors import errors
from backend.crud import runs as runs_crud
from backend.crud.runs import InvalidTransition
from backend.schemas.common import LeaseAttempt
from backend.services import checkpoints

router = APIRouter(prefix="/runs/{run_id}/checkpoints", tags=["checkpoints"], responses=errors(404, 409))

CheckpointName = Annotated[
    str, Path(pattern=checkpoints.NAME_PATTERN, description="A file name ending in .pt", examples=["last.pt"])
]
Attempt = Annotated[LeaseAttempt, Query(description="The worker's lease, as for metric points", examples=[1])]
CHECKSUM_HEADER = "X-Checksum-Sha256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _unprocessable(loc: list[str], message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": loc, "msg": message, "type": "value_error"}])


def _check_lease(run, attempt: int) -> None:
    try:
        runs_crud.check_results(run, attempt)
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc


def _check_lease_now(request: Request, run_id: int, attempt: int) -> None:
    """Again, after a long upload: the lease may have passed to another execution meanwhile."""
    with request.app.state.session_factory() as session:
        run = runs_crud.get_run(session=session, run_id=run_id)
        if run is None:
            raise HTTPException(status_code=404, detail=f"run {run_id} not found")
        _check_lease(run, attempt)


@router.put("/{name}", dependencies=[WriteAuth], status_code=201)
async def write_checkpoint(
    name: CheckpointName,
    request: Request,
    run: RunDep,
    settings: SettingsDep,
    attempt: Attempt,
    x_checksum_sha256: Annotated[
        str,  # the example: an empty body's
        Header(pattern=checkpoints.SHA256_PATTERN, description="The body's SHA-256, in hex", examples=[EMPTY_SHA256]),
    ],
) -> dict:
    """Store the request body as checkpoint `name`, replacing the previous one only once the whole
    body has arrived and its SHA-256 is the one announced in `X-Checksum-Sha256` (422 otherwise,
    and the previous checkpoint is kept). 409, and nothing stored, when the run is not running or
    the attempt lost its lease."""
    _check_lease(run, attempt)  # the run is loaded already: no query on the event loop
    limit = settings.max_checkpoint_bytes
    path = checkpoints.path_of(settings.resolved_artifacts_dir, run.id, name)
    upload = await run_in_threadpool(checkpoints.Upload, path)
    try:
        buffer = bytearray()
        async for chunk in request.stream():
            buffer += chunk
            if upload.size + len(buffer) > limit:
                raise HTTPException(status_code=413, detail=f"checkpoint larger than {limit} bytes")
            if len(buffer) >= checkpoints.CHUNK_BYTES:
                await run_in_threadpool(upload.write, bytes(buffer))
                buffer.clear()
        await run_in_threadpool(upload.write, bytes(buffer))
        await run_in_threadpool(_check_lease_now, request, run.id, attempt)
        digest = await run_in_threadpool(upload.commit, x_checksum_sha256)
    except checkpoints.ChecksumMismatch as exc:
        raise _unprocessable(["header", CHECKSUM_HEADER.lower()], str(exc)) from exc
    except BaseException:  # refused, cut off or cancelled: the previous checkpoint stays
        await run_in_threadpool(upload.discard)
        raise
    return {"name": name, "size": upload.size, "sha256": digest}


@router.get(
    "/{name}",
    dependencies=[WriteAuth],
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/octet-stream": {}},
            "description": f"The checkpoint; {CHECKSUM_HEADER} gives its SHA-256",
        },
    },
)
def read_checkpoint(name: CheckpointName, run: RunDep, settings: SettingsDep, attempt: Attempt) -> StreamingResponse:
    """The stored checkpoint `name`, for the execution holding the run's lease (which resumes from
    it); 404 when there is none yet."""
    _check_lease(run, attempt)
    opened = checkpoints.open_for_reading(checkpoints.path_of(settings.resolved_artifacts_dir, run.id, name))
    if opened is None:
        raise HTTPException(status_code=404, detail=f"run {run.id} has no checkpoint {name!r}")
    handle, size, digest = opened
    return StreamingResponse(
        checkpoints.iter_file(handle),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), CHECKSUM_HEADER: digest},
    )
