"""An API in memory for the client's unit tests: it can be down, refuse points, ask to cancel, and
records what it was sent, in order."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from trainboard.client.api import ApiRefused, ApiUnreachable
from trainboard.client.delivery import Delivery
from trainboard.client.folder import RunFolder
from trainboard.client.run import Run


class FakeApi:
    url = "http://fake"

    def __init__(self, *, heartbeat_seconds: float = 0.2):
        self.up = True
        self.status = "running"
        self.cancel_requested = False
        self.refuse_points = False  # answer 409 to metric points
        self.heartbeat_seconds = heartbeat_seconds
        self.points: list[tuple[str, int, float | None]] = []  # in the order they arrived
        self.batches: list[int] = []  # the size of each batch
        self.artifacts: dict[str, bytes] = {}
        self.heartbeats = 0
        self.finished: dict[str, Any] | None = None
        self.tracked: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def _answer(self) -> None:
        if not self.up:
            raise ApiUnreachable("the fake API is down")

    def close(self) -> None:
        pass

    def run_page(self, run_id: int) -> str:
        return f"{self.url}/run.html?id={run_id}"

    def _run(self) -> dict[str, Any]:
        return {"id": 7, "attempt": 1, "heartbeat_seconds": self.heartbeat_seconds, "last_step": None, "created": True}

    def track(self, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        self._answer()
        self.tracked.append(body)
        return self._run()

    def resume(self, run_id: int, host: str | None, **_: Any) -> dict[str, Any]:
        self._answer()
        self.resumed = getattr(self, "resumed", 0) + 1
        return {**self._run(), "id": run_id, "attempt": 2, "created": False}

    def heartbeat(self, run_id: int, attempt: int, **_: Any) -> dict[str, Any]:
        self._answer()
        self.heartbeats += 1
        return {"status": self.status, "cancel_requested": self.cancel_requested or self.status != "running"}

    def post_points(self, run_id: int, body: bytes, **_: Any) -> dict[str, Any]:
        self._answer()
        if self.refuse_points:
            raise ApiRefused(409, "run 7 is failed, not running: its results are closed")
        points = json.loads(body)["points"]
        with self.lock:
            self.batches.append(len(points))
            self.points.extend((p["name"], p["step"], p["value"]) for p in points)
        return {"received": len(points), "inserted": len(points)}

    def put_artifact(self, run_id: int, name: str, attempt: int, data: bytes, **_: Any) -> None:
        self._answer()
        self.artifacts[name] = data

    def finish(self, run_id: int, attempt: int, status: str, error: str | None, **_: Any) -> dict[str, Any]:
        self._answer()
        self.finished = {"status": status, "error": error}
        return {}


def start_run(tmp_path, api: FakeApi | None, *, reachable: bool = True, **options: Any) -> Run:
    """A Run on `api` (None: offline) as init() makes it, without init()'s environment and atexit."""
    folder = RunFolder.for_run(tmp_path, {"client_key": "0123456789abcdef", "url": "http://fake", "run_id": None})
    reply = api.track({}) if api is not None and reachable else None
    if api is not None and not reachable:
        folder.create()
    delivery = Delivery(api=api, folder=folder, run=reply, track={"client_key": "0123456789abcdef"},
                        interval=options.pop("interval", 0.05), **options)  # fmt: skip
    delivery.start()
    return Run(delivery=delivery, folder=folder, api=api, next_step=0)


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)
