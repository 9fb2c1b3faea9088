"""Files a run produced (segmentation overlays, ...): uploaded by the worker, served to the UI.
Checkpoints stay with the workers and are not listed here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from backend.api.deps import ReadAuth, RunDep, RunId, SettingsDep, WriteAuth
from backend.api.errors import errors
from backend.crud import runs as runs_crud
from backend.crud.runs import InvalidTransition
from backend.schemas.common import LeaseAttempt
from backend.services import artifacts
from trainboard.limits import MAX_ARTIFACT_BYTES

router = APIRouter(prefix="/runs/{run_id}/artifacts", tags=["artifacts"], responses=errors(404))
ArtifactName = Annotated[str, Path(description="A path inside the run's folder", examples=["overlays/epoch-1.png"])]


def _path(settings, run_id: int, name: str):
    try:
        return artifacts.resolve(settings.resolved_artifacts_dir, run_id, name)
    except artifacts.InvalidArtifactName as exc:
        raise HTTPException(
            status_code=422, detail=[{"loc": ["path", "name"], "msg": str(exc), "type": "value_error"}]
        ) from exc


@router.get("", dependencies=[ReadAuth])
def list_artifacts(run: RunDep, settings: SettingsDep) -> list[dict]:
    """Name, size and media type of each artifact of the run."""
    return artifacts.list_artifacts(settings.resolved_artifacts_dir, run.id)


# Images a page shows with <img>; anything else (HTML, SVG, text...) is a download, and every
# artifact is sandboxed: an uploaded page can run no script and post no form in the dashboard's origin.
SHOWN_INLINE = {"image/png", "image/jpeg", "image/gif", "image/webp"}
ARTIFACT_POLICY = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"


@router.get("/{name:path}", dependencies=[ReadAuth], response_class=FileResponse)
def read_artifact(run: RunDep, name: ArtifactName, settings: SettingsDep) -> FileResponse:
    path = _path(settings, run.id, name)
    if not path.is_file():
        raise HTTPException(status_code=404, detail=f"run {run.id} has no artifact {name!r}")
    media_type = artifacts.media_type(path)
    return FileResponse(
        path, media_type=media_type, filename=path.name, headers={"Content-Security-Policy": ARTIFACT_POLICY},
        content_disposition_type="inline" if media_type in SHOWN_INLINE else "attachment",
    )  # fmt: skip


@router.put("/{name:path}", dependencies=[WriteAuth], status_code=201, responses=errors(409))
async def write_artifact(
    run_id: RunId,
    name: ArtifactName,
    request: Request,
    run: RunDep,
    settings: SettingsDep,
    attempt: Annotated[LeaseAttempt, Query(description="The uploader's lease, as for metric points", examples=[1])],
) -> dict:
    """Store the request body as artifact `name` (replacing any earlier one). 409, and nothing
    stored, when the run is not running or the attempt lost its lease."""
    path = _path(settings, run.id, name)
    try:
        runs_crud.check_results(run, attempt)  # the run is loaded already: no query on the event loop
    except InvalidTransition as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    content = bytearray()
    async for chunk in request.stream():
        content += chunk
        if len(content) > MAX_ARTIFACT_BYTES:
            raise HTTPException(status_code=413, detail=f"artifact larger than {MAX_ARTIFACT_BYTES} bytes")
    try:
        await run_in_threadpool(artifacts.write, path, bytes(content))
    except (FileExistsError, NotADirectoryError, IsADirectoryError):  # "a" stored, then "a/b"; or the reverse
        raise HTTPException(
            status_code=409, detail=f"artifact {name!r} clashes with another: a name cannot be both a file and a folder"
        ) from None
    return {"name": name, "size": len(content)}
