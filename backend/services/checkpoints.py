"""The API's checkpoint store: `<artifacts dir>/checkpoints/<run id>/<name>.pt`, outside every
run's artifact folder (`<artifacts dir>/runs/<run id>/`), so the public artifact routes can neither
read, list nor write a checkpoint. Written and read only through the lease-checked checkpoint
routes, so a run interrupted on one machine resumes from its last checkpoint on another.

An upload streams into a temporary file next to its destination while its SHA-256 is computed;
only a complete upload whose checksum matches replaces the stored file (an atomic rename), so a
failed or refused upload leaves the previous checkpoint intact.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}\.pt$"  # last.pt, best.pt
SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"
CHUNK_BYTES = 1 << 20
_NAME = re.compile(NAME_PATTERN)


class ChecksumMismatch(ValueError):
    pass


def run_dir(artifacts_dir: Path, run_id: int) -> Path:
    return artifacts_dir / "checkpoints" / str(run_id)


def path_of(artifacts_dir: Path, run_id: int, name: str) -> Path:
    if not _NAME.match(name):  # the route's pattern checks it first; this guards other callers
        raise ValueError(f"invalid checkpoint name {name!r}")
    return run_dir(artifacts_dir, run_id) / name


class Upload:
    """One upload in progress: `write` the chunks, then `commit(expected_sha256)` or `discard()`."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        self._tmp = Path(tmp)
        self._handle: BinaryIO = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._handle.write(chunk)
        self.size += len(chunk)

    def commit(self, expected_sha256: str) -> str:
        """Replace the stored checkpoint with this upload if its checksum is the one announced."""
        digest = self._hash.hexdigest()
        if digest != expected_sha256.lower():
            self.discard()
            raise ChecksumMismatch(f"the body's SHA-256 is {digest}, not the {expected_sha256} announced")
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.discard()
            raise
        return digest

    def discard(self) -> None:
        self._handle.close()
        self._tmp.unlink(missing_ok=True)


def open_for_reading(path: Path) -> tuple[BinaryIO, int, str] | None:
    """The stored file opened (so a replacement meanwhile cannot change what is served), its size
    and its SHA-256; None when there is none."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK_BYTES):
        digest.update(chunk)
    size = handle.tell()
    handle.seek(0)
    return handle, size, digest.hexdigest()


def iter_file(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def delete_all(artifacts_dir: Path, run_id: int) -> None:
    shutil.rmtree(run_dir(artifacts_dir, run_id), ignore_errors=True)
