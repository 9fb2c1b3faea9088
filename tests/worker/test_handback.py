"""A worker stopped gracefully hands its run back (POST /release). Its heartbeat thread must be
stopped first: a heartbeat of the same attempt arriving after the release would take the run back
from the queue as 'running' (the API revives a queued run whose lease holder still beats), and the
run would sit there with no worker (seen in tests/e2e/test_faults.py under load)."""

from __future__ import annotations

from worker.tasks import _report_end


class FakeReporter:
    run_id = 1

    def __init__(self, log: list):
        self.log = log

    def flush(self, retry_for: float = 0) -> None:
        self.log.append("flush")

    def release(self, reason: str, **kwargs) -> None:
        self.log.append("release")

    def finish(self, status: str, **kwargs) -> None:
        self.log.append(f"finish {status}")


class FakeCallback:
    lease_lost = False
    epochs_completed = 2

    def __init__(self, log: list):
        self.log = log

    def close(self) -> None:
        self.log.append("heartbeats stopped")


def test_heartbeats_stop_before_the_run_is_handed_back():
    log: list[str] = []
    assert _report_end(FakeReporter(log), FakeCallback(log), "released", None) == "released"
    assert log == ["flush", "heartbeats stopped", "release"]


def test_heartbeats_go_on_while_a_finished_run_reports_its_end():
    log: list[str] = []  # a heartbeat after the finish changes nothing; before it, it keeps the run alive
    assert _report_end(FakeReporter(log), FakeCallback(log), "completed", None) == "completed"
    assert log == ["flush", "finish completed"]
