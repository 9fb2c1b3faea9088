"""REST client through which a worker reports one run: the same endpoints any script can call.

Metric points are buffered and sent in batches; every call retries with backoff while the API
is unreachable or answers 5xx, so a brief outage of the API loses nothing (the server ignores
points it already has, which makes a retried batch harmless). Every report after the claim carries
the claim's `attempt`, the lease: once another execution holds the run, the API answers 409.
Checkpoints go to the API's store and come back from it the same way, streamed, with their SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
CHUNK_BYTES = 1 << 20
CHECKSUM_HEADER = "X-Checksum-Sha256"  # the API's: a checkpoint's SHA-256, both ways


class ApiUnavailable(Exception):
    """The API did not answer successfully within the retry window."""


class RunRejected(Exception):
    """The API refused the request for good (4xx): e.g. the run is cancelled or held elsewhere."""

    def __init__(self, status_code: int, detail: str):
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


def _json_safe(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class Reporter:
    def __init__(self, api_url: str, run_id: int, *, token: str | None = None, timeout: float = 10.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.run_id = run_id
        self.attempt: int | None = None
        self.heartbeat_seconds: float | None = None  # the API's interval, given with the claim
        self.max_model_parameters: int | None = None  # the API's parameter budget, given with the claim
        self.worker_host: str | None = None
        self._client = httpx.Client(base_url=f"{api_url.rstrip('/')}/api/v1", headers=headers, timeout=timeout)
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # guards _pending
        self._send_lock = threading.Lock()  # one batch on the wire at a time

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Reporter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(
        self, method: str, path: str, json: Any = None, *, retry_for: float = 60.0, **kwargs: Any
    ) -> httpx.Response:
        url = f"/runs/{self.run_id}{path}"
        return self._retrying(f"{method} {path or '/'}", lambda: self._client.request(method, url, json=json, **kwargs),
                              retry_for=retry_for)  # fmt: skip

    def _retrying(self, what: str, send: Callable[[], httpx.Response], *, retry_for: float) -> httpx.Response:
        """The first successful response of `send()`, called again with backoff while the API is
        unreachable or answers 5xx (408, 429); RunRejected for any other 4xx, ApiUnavailable once
        `retry_for` seconds are spent. A refused streamed response is read and closed here."""
        deadline = time.monotonic() + retry_for
        delay = 0.2
        while True:
            try:
                response = send()
                if response.status_code < 400:
                    return response
                response.read()
                response.close()
                if response.status_code < 500 and response.status_code not in (408, 429):
                    raise RunRejected(response.status_code, _detail(response))
                problem = f"HTTP {response.status_code}: {_detail(response)}"
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if time.monotonic() + delay > deadline:
                raise ApiUnavailable(f"{what} for run {self.run_id} failed: {problem}")
            log.warning("run %s: API call failed (%s), retrying in %.1fs", self.run_id, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def claim(self, worker_host: str) -> dict[str, Any]:
        """Mark the run as started here; returns the run with its spec. Raises RunRejected if it
        was cancelled, finished or is held by a live worker."""
        self.worker_host = worker_host
        run = self._request("POST", "/start", {"worker_host": worker_host}).json()
        self.attempt = run["attempt"]  # the lease: sent with every later report
        self.heartbeat_seconds = float(run["heartbeat_seconds"])  # the API judges runs lost by it
        self.max_model_parameters = run.get("max_model_parameters")  # the API's budget (absent: an older API)
        return run

    def add_points(self, step: int, metrics: dict[str, float], wall_time: float | None = None) -> None:
        wall_time = wall_time or time.time()
        points = [
            {"name": name, "step": step, "value": _json_safe(value), "wall_time": wall_time}
            for name, value in metrics.items()
        ]
        with self._lock:
            self._pending.extend(points)

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self, *, retry_for: float = 60.0) -> None:
        """Send every buffered point; points stay buffered until the API has acknowledged them."""
        with self._send_lock:
            while True:
                with self._lock:
                    batch = self._pending[:BATCH_SIZE]
                if not batch:
                    return
                self._request("POST", "/metrics", {"attempt": self.attempt, "points": batch}, retry_for=retry_for)
                with self._lock:
                    del self._pending[: len(batch)]

    def heartbeat(self, *, epochs_completed: int | None = None, **facts: Any) -> bool:
        """Returns True when the run should stop (cancelled, or no longer ours)."""
        body = {"attempt": self.attempt, "worker_host": self.worker_host, "epochs_completed": epochs_completed,
                **{k: v for k, v in facts.items() if v is not None}}
        reply = self._request("POST", "/heartbeat", body, retry_for=0).json()
        return bool(reply["cancel_requested"])

    def upload_artifact(self, name: str, content: bytes, media_type: str, *, retry_for: float = 60.0) -> None:
        self._request("PUT", f"/artifacts/{name}", params={"attempt": self.attempt}, content=content,
                      headers={"content-type": media_type}, retry_for=retry_for)

    def upload_checkpoint(self, name: str, path: Path, *, retry_for: float = 60.0) -> None:
        """Stream the checkpoint file at `path` to the API's store as `name`, announcing its SHA-256:
        the API keeps it only if the bytes it received are those."""
        size, digest = path.stat().st_size, _sha256(path)
        headers = {"content-type": "application/octet-stream", "content-length": str(size), CHECKSUM_HEADER: digest}

        def send() -> httpx.Response:
            with path.open("rb") as body:  # opened again for each try: a retry sends the whole file
                return self._client.put(f"/runs/{self.run_id}/checkpoints/{name}", params={"attempt": self.attempt},
                                        content=body, headers=headers)  # fmt: skip

        self._retrying(f"PUT /checkpoints/{name}", send, retry_for=retry_for)

    def download_checkpoint(self, name: str, path: Path, *, retry_for: float = 60.0) -> bool:
        """Write the API's checkpoint `name` of this run to `path` (atomically, checked against the
        SHA-256 the API gives); False when the API has none. A file already at `path` with the same
        checksum is kept as it is, without downloading it again."""
        url = f"/runs/{self.run_id}/checkpoints/{name}"

        def send() -> httpx.Response:
            request = self._client.build_request("GET", url, params={"attempt": self.attempt})
            return self._client.send(request, stream=True)

        try:
            response = self._retrying(f"GET /checkpoints/{name}", send, retry_for=retry_for)
        except RunRejected as exc:
            if exc.status_code == 404:
                return False
            raise
        try:
            expected = response.headers.get(CHECKSUM_HEADER, "").lower()
            if path.is_file() and _sha256(path) == expected:
                return True
            _save_checked(response, path, expected)
        finally:
            response.close()
        return True

    def finish(self, status: str, *, error: str | None = None, epochs_completed: int | None = None,
               retry_for: float = 600.0) -> None:
        body = {"attempt": self.attempt, "status": status, "error": error, "epochs_completed": epochs_completed}
        self._request("POST", "/finish", body, retry_for=retry_for)

    def release(self, reason: str, *, retry_for: float = 30.0) -> None:
        """Hand the run back to the queue (this worker is shutting down)."""
        self._request("POST", "/release", {"attempt": self.attempt, "reason": reason}, retry_for=retry_for)


def _save_checked(response: httpx.Response, path: Path, expected_sha256: str) -> None:
    """The streamed body written to `path` atomically, if its SHA-256 is the one expected."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".download")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as handle:
            for chunk in response.iter_bytes(CHUNK_BYTES):
                digest.update(chunk)
                handle.write(chunk)
        if digest.hexdigest() != expected_sha256:
            raise ApiUnavailable(f"checkpoint {path.name} arrived damaged: its SHA-256 is not the API's")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        return response.text[:200]
    return detail if isinstance(detail, str) else str(detail)[:500]
