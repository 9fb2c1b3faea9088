"""Run artifacts on disk (prediction overlays, reports): `<artifacts dir>/runs/<run id>/<name>`.

Names are relative paths of plain segments; anything that could leave the run's folder
(`..`, absolute paths, backslashes, encoded tricks that decode to them) is refused, and so is
`checkpoints/...`: a worker on this machine keeps its own copy of a run's checkpoints there, which
no artifact upload may replace (checkpoints travel through backend/services/checkpoints.py).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from backend.services import checkpoints

SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".json": "application/json", ".csv": "text/csv",
               ".txt": "text/plain", ".html": "text/html", ".pt": "application/octet-stream"}


RESERVED = "checkpoints"  # a worker's own copy of the run's checkpoints, never an artifact


class InvalidArtifactName(ValueError):
    pass


def run_dir(artifacts_dir: Path, run_id: int) -> Path:
    return artifacts_dir / "runs" / str(run_id)


def resolve(artifacts_dir: Path, run_id: int, name: str) -> Path:
    """The file for artifact `name` of run `run_id`, guaranteed inside that run's folder."""
    segments = name.split("/")
    if len(segments) > 4 or not all(SEGMENT.match(segment) for segment in segments):
        raise InvalidArtifactName(
            f"invalid artifact name {name!r}: use up to 4 '/'-separated parts of letters, digits, '_', '-', '.'"
        )
    if segments[0] == RESERVED:
        raise InvalidArtifactName(f"invalid artifact name {name!r}: {RESERVED}/ holds the worker's checkpoints")
    base = run_dir(artifacts_dir, run_id).resolve()
    path = (base / Path(*segments)).resolve()
    if base not in path.parents:
        raise InvalidArtifactName(f"invalid artifact name {name!r}")
    return path


def write(path: Path, content: bytes) -> None:
    """Atomic: readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def list_artifacts(artifacts_dir: Path, run_id: int) -> list[dict]:
    base = run_dir(artifacts_dir, run_id)
    if not base.is_dir():
        return []
    found = []
    for path in sorted(base.rglob("*")):
        if path.is_file() and not path.name.startswith(".") and path.relative_to(base).parts[0] != RESERVED:
            found.append({"name": path.relative_to(base).as_posix(), "size": path.stat().st_size,
                          "media_type": media_type(path)})
    return found


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def delete_all(artifacts_dir: Path, run_id: int) -> None:
    """Everything the API keeps on disk for the run: its artifacts and its checkpoints."""
    shutil.rmtree(run_dir(artifacts_dir, run_id), ignore_errors=True)
    checkpoints.delete_all(artifacts_dir, run_id)
