"""The worker's REST reporter against a real API server: retries, buffering, no duplicates."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from backend.main import create_app
from tests.utils.live_server import free_port, serve
from worker.reporter import ApiUnavailable, Reporter, RunRejected
from worker.run_callback import ReportingCallback

SPEC = {"model": "mlp", "dataset": "synthetic_mnist", "learning_rate": 0.1, "epochs": 3, "batch_size": 32}


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'trainboard.db'}"


def submit(api_url: str) -> int:
    response = httpx.post(f"{api_url}/api/v1/runs", json={"name": "r", "spec": SPEC}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def stored_points(api_url: str, run_id: int) -> list[tuple[str, int, float | None]]:
    points = httpx.get(f"{api_url}/api/v1/runs/{run_id}/metrics", timeout=10).json()["points"]
    return [(p["name"], p["step"], p["value"]) for p in points]


@pytest.mark.timeout(120)
def test_metrics_buffered_while_the_api_is_down_arrive_once_when_it_is_back(migrated):
    port = free_port()
    app = create_app(migrated)
    with serve(app, port=port) as api_url:
        run_id = submit(api_url)
        reporter = Reporter(api_url, run_id)
        reporter.claim("host-a")
        reporter.add_points(1, {"train_loss": 2.0, "test_accuracy": 0.3})
        reporter.flush()
    # The API is down now: epoch 2 stays in the buffer and a quick flush gives up.
    reporter.add_points(2, {"train_loss": 1.5, "test_accuracy": float("nan")})
    with pytest.raises(ApiUnavailable):
        reporter.flush(retry_for=0)
    assert reporter.pending_count() == 2

    # A flush that waits keeps retrying until the API is back, then delivers.
    flusher = threading.Thread(target=lambda: reporter.flush(retry_for=60))
    flusher.start()
    time.sleep(1.5)
    with serve(create_app(migrated), port=port) as api_url:
        flusher.join(timeout=60)
        assert not flusher.is_alive() and reporter.pending_count() == 0
        reporter.add_points(2, {"train_loss": 1.5})  # a duplicate report changes nothing
        reporter.flush()
        assert stored_points(api_url, run_id) == [
            ("test_accuracy", 1, 0.3), ("train_loss", 1, 2.0), ("test_accuracy", 2, None), ("train_loss", 2, 1.5)
        ]
        reporter.close()


@pytest.mark.timeout(60)
def test_claim_of_a_cancelled_run_is_refused(migrated):
    with serve(create_app(migrated)) as api_url:
        run_id = submit(api_url)
        httpx.post(f"{api_url}/api/v1/runs/{run_id}/cancel", timeout=10)
        with Reporter(api_url, run_id) as reporter, pytest.raises(RunRejected) as rejected:
            reporter.claim("host-a")
        assert rejected.value.status_code == 409


@pytest.mark.timeout(60)
def test_a_cancel_request_reaches_the_engine_through_the_heartbeat(migrated):
    with serve(create_app(migrated.model_copy(update={"heartbeat_seconds": 0.2}))) as api_url:
        run_id = submit(api_url)
        with Reporter(api_url, run_id) as reporter:
            reporter.claim("host-a")
            callback = ReportingCallback(reporter)
            callback.start()
            callback.on_start({"device_name": "cpu", "device": "cpu"})
            assert not callback.should_stop()
            httpx.post(f"{api_url}/api/v1/runs/{run_id}/cancel", timeout=10)
            deadline = time.monotonic() + 10
            while not callback.should_stop() and time.monotonic() < deadline:
                time.sleep(0.05)
            callback.close()
            assert callback.should_stop()
        run = httpx.get(f"{api_url}/api/v1/runs/{run_id}", timeout=10).json()
        assert run["device_name"] == "cpu" and run["status"] == "running" and run["cancel_requested"]


@pytest.mark.timeout(60)
def test_a_reporter_that_lost_its_lease_is_refused_and_its_callback_stops(migrated):
    with serve(create_app(migrated)) as api_url:
        run_id = submit(api_url)
        with Reporter(api_url, run_id) as first, Reporter(api_url, run_id) as second:
            first.claim("host-a")
            first.release("shutting down")  # ... and the run goes to another worker
            assert second.claim("host-b")["attempt"] == 2
            second.add_points(1, {"test_accuracy": 0.5})
            second.flush()
            second.upload_artifact("overlay.png", b"second", "image/png")

            # The first one carries on as if it still held the run: nothing of it is taken.
            first.add_points(1, {"test_accuracy": 0.999})
            with pytest.raises(RunRejected) as refused:
                first.flush(retry_for=0)
            assert refused.value.status_code == 409 and first.pending_count() == 1
            with pytest.raises(RunRejected):
                first.upload_artifact("overlay.png", b"stale", "image/png", retry_for=0)
            callback = ReportingCallback(first)
            callback.on_epoch(2, {"test_accuracy": 0.999})
            assert callback.lease_lost and callback.should_stop()
        assert stored_points(api_url, run_id) == [("test_accuracy", 1, 0.5)]
        assert httpx.get(f"{api_url}/api/v1/runs/{run_id}/artifacts/overlay.png", timeout=10).content == b"second"


@pytest.mark.timeout(90)
def test_the_worker_beats_at_the_interval_the_api_hands_it(migrated, monkeypatch, tmp_path):
    """One setting rules both sides: the API's heartbeat_seconds comes with the claim, and the
    worker beats at it whatever its own settings say (60 s here: no beat would come in time)."""
    import worker.engine.loop
    import worker.tasks
    from trainboard.settings import Settings

    with serve(create_app(migrated.model_copy(update={"heartbeat_seconds": 0.25}))) as api_url:
        run_id = submit(api_url)
        with Reporter(api_url, run_id) as reporter:
            assert reporter.claim("host-a")["heartbeat_seconds"] == 0.25
            assert reporter.heartbeat_seconds == 0.25 and ReportingCallback(reporter).heartbeat_seconds == 0.25
            reporter.release("handing it to the task below")

        worker_settings = Settings(api_url=api_url, data_dir=tmp_path, heartbeat_seconds=60)
        monkeypatch.setattr(worker.tasks, "get_settings", lambda: worker_settings)
        seen: dict = {}

        def train(spec, callback, **_):  # the engine, replaced: it only waits while the beats go on
            seen["interval"] = callback.heartbeat_seconds
            claimed_at = httpx.get(f"{api_url}/api/v1/runs/{run_id}", timeout=10).json()["heartbeat_at"]
            time.sleep(1.5)
            seen["beat"] = httpx.get(f"{api_url}/api/v1/runs/{run_id}", timeout=10).json()["heartbeat_at"] > claimed_at

        monkeypatch.setattr(worker.engine.loop, "train", train)
        assert worker.tasks.train_run(run_id) == "completed"
        assert seen == {"interval": 0.25, "beat": True}


@pytest.mark.timeout(120)
def test_heartbeats_go_on_while_the_last_epochs_wait_to_be_delivered(migrated):
    """After an outage of the API, a run whose final flush is still retrying keeps heartbeating:
    the API does not give it up for lost and train it again (seen in the fault test: attempt 2)."""
    port = free_port()
    settings = migrated.model_copy(update={"heartbeat_seconds": 0.25})
    with serve(create_app(settings), port=port) as api_url:
        run_id = submit(api_url)
        reporter = Reporter(api_url, run_id)
        reporter.claim("host-a")
        callback = ReportingCallback(reporter)
        callback.start()
    # The API is down while the last epoch ends: its points wait in the buffer, and the task's
    # final flush retries with backoff (it holds the reporter's send lock meanwhile).
    callback.on_epoch(3, {"train_loss": 0.5})
    callback.training_ended()
    flusher = threading.Thread(target=lambda: reporter.flush(retry_for=60))
    flusher.start()
    time.sleep(1.5)  # the outage
    beats_while_pending = set()
    with serve(create_app(settings), port=port) as api_url:
        while flusher.is_alive():
            beat = httpx.get(f"{api_url}/api/v1/runs/{run_id}", timeout=10).json()["heartbeat_at"]
            if reporter.pending_count():
                beats_while_pending.add(beat)
            time.sleep(0.05)
        callback.close()
        reporter.close()
        assert ("train_loss", 3, 0.5) in stored_points(api_url, run_id)
    assert len(beats_while_pending) >= 3, beats_while_pending  # the old beat and at least two new ones
