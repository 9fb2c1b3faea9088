"""The live stream of a run (SSE): state and backlog on connect, every new epoch as it is
reported, `end` once the run is over, and resumption with Last-Event-ID.

These tests serve the real app with uvicorn in a thread and read it with httpx, so that writes
happen while a stream is open and every read has a timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from backend.api.routes import events as events_route
from backend.main import create_app
from tests.utils.factories import API, epoch_points, valid_spec
from tests.utils.live_server import serve
from trainboard.sse import Event, stream_events

pytestmark = pytest.mark.timeout(60)

TIMEOUT = httpx.Timeout(10.0)  # no read may wait longer (the server pings every 15 s)


@pytest.fixture
def api(migrated) -> Iterator[httpx.Client]:
    with serve(create_app(migrated)) as base_url:
        with httpx.Client(base_url=base_url + API, timeout=TIMEOUT) as client:
            yield client


DONE = {"attempt": 1, "status": "completed"}  # the finish of the runs' first (and only) claim


def _ok(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()


def _stream(api: httpx.Client, run_id: int, *, last_event_id: str | None = None, deadline_s: float = 30.0):
    """The run's event stream, its whole reading bounded by `deadline_s`."""
    return stream_events(api, f"/runs/{run_id}/events", last_event_id=last_event_id, deadline_s=deadline_s)


def _new_run(api: httpx.Client, *, start: bool) -> dict:
    run = _ok(api.post("/runs", json={"spec": valid_spec()}))
    if start:
        run = _ok(api.post(f"/runs/{run['id']}/start", json={"worker_host": "w1"}))
    return run


def _post_epoch(api: httpx.Client, run_id: int, epoch: int) -> None:
    assert _ok(api.post(f"/runs/{run_id}/metrics", json={"attempt": 1, "points": epoch_points(epoch)}))["inserted"] == 3


def _expected(*epochs: int) -> list[tuple[str, int, float]]:
    """The points of these epochs in the order the API sends them: by step, then by name."""
    points = [p for epoch in epochs for p in sorted(epoch_points(epoch), key=lambda p: p["name"])]
    return [(p["name"], p["step"], p["value"]) for p in points]


def _points(events: list[Event]) -> list[tuple[str, int, float]]:
    return [(p["name"], p["step"], p["value"]) for e in events if e.event == "metrics" for p in e.json()["points"]]


def _kinds(events: list[Event]) -> list[str]:
    return [e.event for e in events if e.event != "heartbeat"]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_finished_run_sends_state_backlog_and_end_then_closes(api):
    run = _new_run(api, start=True)
    _post_epoch(api, run["id"], 1)
    _post_epoch(api, run["id"], 2)
    _ok(api.post(f"/runs/{run['id']}/finish", json=DONE | {"epochs_completed": 2}))

    with _stream(api, run["id"]) as reader:
        assert reader.response.headers["cache-control"].startswith("no-")
        events = reader.rest()
    assert reader.closed
    assert [e.event for e in events] == ["state", "metrics", "end"]
    state = events[0].json()
    assert state["id"] == run["id"] and state["status"] == "completed" and state["epochs_completed"] == 2
    assert _points(events) == _expected(1, 2)
    assert events[1].id is not None and events[1].id.isdigit()
    assert events[2].json() == {"status": "completed"}


def test_finished_run_without_points(api):
    run = _new_run(api, start=False)
    _ok(api.post(f"/runs/{run['id']}/cancel"))
    with _stream(api, run["id"]) as reader:
        events = reader.rest()
    assert [e.event for e in events] == ["state", "end"]
    assert events[0].json()["status"] == "cancelled"
    assert events[1].json() == {"status": "cancelled"}


def test_running_run_streams_each_epoch_once_in_order(api):
    """A worker reports three epochs and finishes while the stream is open, without waiting for it."""
    run = _new_run(api, start=True)
    errors: list[BaseException] = []
    subscribed = threading.Event()

    def worker() -> None:
        try:
            assert subscribed.wait(10)
            for epoch in (1, 2, 3):
                time.sleep(0.1)
                _post_epoch(api, run["id"], epoch)
                _ok(api.post(f"/runs/{run['id']}/heartbeat", json={"attempt": 1, "epochs_completed": epoch}))
            _ok(api.post(f"/runs/{run['id']}/finish", json=DONE | {"epochs_completed": 3}))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=worker, daemon=True)
    with _stream(api, run["id"]) as reader:
        first = reader.next()
        assert first is not None and first.event == "state" and first.json()["status"] == "running"
        thread.start()
        subscribed.set()
        events = reader.rest()
    thread.join(15)
    assert not errors, errors

    assert _points(events) == _expected(1, 2, 3)  # every point once, in order
    assert events[-1].event == "end" and events[-1].json() == {"status": "completed"}
    states = [e.json() for e in events if e.event == "state"]
    assert states[-1]["status"] == "completed" and states[-1]["epochs_completed"] == 3
    assert all(s["status"] in ("running", "completed") for s in states)
    ids = [int(e.id) for e in events if e.event == "metrics"]
    assert ids == sorted(set(ids))  # the cursor only moves forward


def test_each_epoch_is_pushed_as_it_is_reported(api, monkeypatch):
    """In lockstep: each epoch reaches the open stream before the next is reported. The periodic
    re-read is pushed out of reach, so only the wake-up of the writes can deliver them."""
    monkeypatch.setattr(events_route, "RECHECK_SECONDS", 60.0)
    run = _new_run(api, start=True)
    with _stream(api, run["id"], deadline_s=40) as reader:
        assert reader.next().json()["status"] == "running"
        seen: list[Event] = []
        for epoch in (1, 2, 3):
            _post_epoch(api, run["id"], epoch)
            got = reader.until(lambda e: e.event == "metrics")
            assert _points(got) == _expected(epoch), f"epoch {epoch}"
            seen += got

        # a heartbeat that changes nothing else is a `heartbeat` event
        _ok(api.post(f"/runs/{run['id']}/heartbeat", json={"attempt": 1}))
        beat_at = _time(_ok(api.get(f"/runs/{run['id']}"))["heartbeat_at"])
        beats = reader.until(lambda e: e.event == "heartbeat" and _time(e.json()["heartbeat_at"]) == beat_at)
        assert _points(beats) == []

        _ok(api.post(f"/runs/{run['id']}/finish", json=DONE | {"epochs_completed": 3}))
        tail = reader.rest()
    assert _kinds(tail) == ["state", "end"]
    assert tail[0].json()["status"] == "completed" and tail[0].json()["finished_at"] is not None
    assert tail[-1].json() == {"status": "completed"}
    assert _points(seen + beats + tail) == _expected(1, 2, 3)


def test_cancel_of_a_followed_queued_run_ends_the_stream(api, monkeypatch):
    monkeypatch.setattr(events_route, "RECHECK_SECONDS", 60.0)
    run = _new_run(api, start=False)
    with _stream(api, run["id"]) as reader:
        assert reader.next().json()["status"] == "queued"
        _ok(api.post(f"/runs/{run['id']}/cancel"))
        tail = reader.rest()
    assert _kinds(tail) == ["state", "end"]
    assert tail[0].json()["status"] == "cancelled"
    assert tail[1].json() == {"status": "cancelled"}


def test_delete_of_a_followed_run_ends_the_stream(api, monkeypatch):
    monkeypatch.setattr(events_route, "RECHECK_SECONDS", 60.0)
    run = _new_run(api, start=False)
    with _stream(api, run["id"]) as reader:
        assert reader.next().event == "state"
        assert api.delete(f"/runs/{run['id']}").status_code == 204
        tail = reader.rest()
    assert [e.event for e in tail] == ["end"]
    assert tail[0].json() == {"status": "deleted"}


def test_reconnect_with_last_event_id_gets_only_newer_points(api):
    run = _new_run(api, start=True)
    _post_epoch(api, run["id"], 1)
    _post_epoch(api, run["id"], 2)

    with _stream(api, run["id"]) as reader:
        first = reader.until(lambda e: e.event == "metrics")
    assert _points(first) == _expected(1, 2)
    last_id = first[-1].id
    assert last_id is not None

    # while disconnected: one more epoch, and the end
    _post_epoch(api, run["id"], 3)
    _ok(api.post(f"/runs/{run['id']}/finish", json=DONE | {"epochs_completed": 3}))

    with _stream(api, run["id"], last_event_id=last_id) as reader:
        events = reader.rest()
    assert [e.event for e in events] == ["state", "metrics", "end"]
    assert _points(events) == _expected(3)
    assert int(events[1].id) > int(last_id)

    # the newest id: nothing left to send
    with _stream(api, run["id"], last_event_id=events[1].id) as reader:
        assert [e.event for e in reader.rest()] == ["state", "end"]

    # an id that is not a cursor is ignored: the whole backlog again
    with _stream(api, run["id"], last_event_id="garbage") as reader:
        assert _points(reader.rest()) == _expected(1, 2, 3)


def test_unknown_run_is_404(api):
    _new_run(api, start=False)
    response = api.get("/runs/999/events")
    assert response.status_code == 404
    assert "999" in response.json()["detail"]


def test_a_queued_run_no_worker_can_take_streams_why_until_one_comes(api, monkeypatch):
    monkeypatch.setattr(events_route, "RECHECK_SECONDS", 0.2)
    from tests.backend.test_gpu_routing import gpu_worker

    run = _ok(api.post("/runs", json={"spec": valid_spec(device="cuda")}))
    with _stream(api, run["id"], deadline_s=15) as reader:
        assert reader.next().json()["waiting_for"] == "waiting for a worker with a GPU"
        _ok(api.post("/workers", json=gpu_worker()))  # a GPU machine joins: no wake-up, the recheck sees it
        assert reader.next().json()["waiting_for"] is None
        _ok(api.post(f"/runs/{run['id']}/cancel"))


def test_the_backlog_comes_thinned_to_a_new_subscriber_and_by_pages_to_a_returning_one(api, monkeypatch):
    monkeypatch.setattr(events_route, "SNAPSHOT_POINTS", 40)
    monkeypatch.setattr(events_route, "PAGE_POINTS", 50)
    run = _new_run(api, start=True)
    first = [{"name": name, "step": s, "value": (s % 17) / 17, "wall_time": 1.0 + s} for s in range(100)
             for name in ("val_loss", "lr")]  # fmt: skip
    _ok(api.post(f"/runs/{run['id']}/metrics", json={"attempt": 1, "points": first}))
    with _stream(api, run["id"]) as events:
        snapshot = events.until(lambda e: e.event == "metrics")[-1]
    points = snapshot.json()["points"]
    assert 0 < sum(p["name"] == "val_loss" for p in points) <= 40 and sum(p["name"] == "lr" for p in points) <= 40
    assert max(p["value"] for p in points if p["name"] == "val_loss") == 16 / 17  # a thinned curve keeps its extremes

    later = [{"name": "val_loss", "step": s, "value": 0.5} for s in range(100, 220)]
    _ok(api.post(f"/runs/{run['id']}/metrics", json={"attempt": 1, "points": later}))
    _ok(api.post(f"/runs/{run['id']}/finish", json=DONE))
    with _stream(api, run["id"], last_event_id=snapshot.id) as events:
        pages = [e.json()["points"] for e in events.rest() if e.event == "metrics"]
    assert [len(page) for page in pages] == [50, 50, 20]  # what it missed, every point once, by pages
    assert [p["step"] for page in pages for p in page] == list(range(100, 220))
