"""`DatasetUnavailable`, raised by a loader whose files are missing and cannot be downloaded,
and the helpers that turn a failed or impossible download into it quickly."""

from __future__ import annotations

import socket
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlsplit

# A download attempt first opens a TCP connection to the server, with this timeout, so that a
# machine that is offline (or behind a firewall that drops packets) fails in seconds, not after
# urllib's unbounded wait.
CONNECT_TIMEOUT_SECONDS = 5.0


class DatasetUnavailable(RuntimeError):
    """The dataset's files are not in the data folder and could not be downloaded.

    The message says which files to put where (and, for downloadable sets, that a machine that is
    online can fetch them); `folder` is the folder the loader looked in."""

    def __init__(self, message: str, folder: Path | str | None = None):
        super().__init__(message)
        self.folder = None if folder is None else Path(folder)


def server_reachable(url: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> str | None:
    """None when a TCP connection to the URL's host opens within `timeout`, else why not."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout):
            return None
    except OSError as exc:  # DNS failure (socket.gaierror), refused, unreachable, timeout
        return f"cannot reach {parts.hostname}:{port} ({exc})"


def require_online(urls: Iterable[str], missing: str, folder: Path) -> None:
    """Raise `DatasetUnavailable(missing + why)` unless one of `urls`' servers can be reached."""
    reasons = []
    for url in urls:
        reason = server_reachable(url)
        if reason is None:
            return
        reasons.append(reason)
    raise DatasetUnavailable(f"{missing} (download failed: {'; '.join(reasons)})", folder)


@contextmanager
def download_errors(missing: str, folder: Path) -> Iterator[None]:
    """Turn what torchvision raises for a failed download or missing files into `DatasetUnavailable`."""
    try:
        yield
    except DatasetUnavailable:
        raise
    except (RuntimeError, URLError, OSError, EOFError, zlib.error) as exc:  # EOFError, zlib: a cut .gz
        reason = " ".join(str(exc).split())  # one line: torchvision's messages span several
        if len(reason) > 400:
            reason = reason[:400] + "..."
        raise DatasetUnavailable(f"{missing} ({type(exc).__name__}: {reason})", folder) from exc
