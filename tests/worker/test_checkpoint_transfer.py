"""A worker's checkpoints go to the API's store as they are saved and come back from it on whichever
machine resumes the run; a failed transfer never stops the training."""

from __future__ import annotations

import logging

import httpx
import pytest

import worker.run_callback
import worker.tasks
from backend.main import create_app
from tests.utils.live_server import free_port, serve
from worker.engine.loop import train
from worker.reporter import Reporter, RunRejected
from worker.run_callback import ReportingCallback
from worker.tasks import restore_last_checkpoint

from tests.worker.test_engine import Recorder, make_spec

SPEC = {"model": "mlp", "dataset": "synthetic_mnist", "learning_rate": 0.1, "epochs": 3, "batch_size": 32}
WEIGHTS = b"\x80\x02epoch 3" + bytes(range(256)) * 4096  # 1 MiB and a bit: several chunks


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'trainboard.db'}"


def submit(api_url: str) -> int:
    response = httpx.post(f"{api_url}/api/v1/runs", json={"name": "r", "spec": SPEC}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_checkpoint_uploaded_on_one_machine_is_downloaded_on_another(migrated, tmp_path):
    machine_a, machine_b = tmp_path / "a" / "last.pt", tmp_path / "b" / "last.pt"
    machine_a.parent.mkdir()
    machine_a.write_bytes(WEIGHTS)
    with serve(create_app(migrated)) as api_url:
        run_id = submit(api_url)
        with Reporter(api_url, run_id) as first, Reporter(api_url, run_id) as second:
            first.claim("machine-a")
            assert first.download_checkpoint("last.pt", tmp_path / "none.pt") is False  # nothing stored yet
            first.upload_checkpoint("last.pt", machine_a)
            first.release("moving")

            second.claim("machine-b")
            assert second.download_checkpoint("last.pt", machine_b) is True
            assert machine_b.read_bytes() == WEIGHTS
            inode = machine_b.stat().st_ino
            assert second.download_checkpoint("last.pt", machine_b) is True
            assert machine_b.stat().st_ino == inode  # the same file already here: kept, not fetched again
            assert second.download_checkpoint("best.pt", tmp_path / "b" / "best.pt") is False
            assert [p.name for p in machine_b.parent.iterdir()] == ["last.pt"]  # no temporary file left

            with pytest.raises(RunRejected) as refused:  # the first machine lost its lease
                first.upload_checkpoint("last.pt", machine_a)
            assert refused.value.status_code == 409


def test_a_machine_moved_there_and_back_takes_the_newer_checkpoint_from_the_api(migrated, tmp_path):
    local = tmp_path / "a" / "last.pt"
    local.parent.mkdir()
    local.write_bytes(b"epoch 3, made here before the run moved away")
    with serve(create_app(migrated)) as api_url:
        run_id = submit(api_url)
        with Reporter(api_url, run_id) as reporter:
            reporter.claim("machine-a")
            newer = tmp_path / "newer.pt"
            newer.write_bytes(WEIGHTS)  # epoch 7, uploaded by the machine that trained it meanwhile
            reporter.upload_checkpoint("last.pt", newer)
            restore_last_checkpoint(reporter, local)
    assert local.read_bytes() == WEIGHTS


def test_without_the_api_the_local_checkpoint_is_used_and_a_failed_upload_is_only_logged(
    migrated, tmp_path, monkeypatch, caplog
):
    local = tmp_path / "last.pt"
    local.write_bytes(WEIGHTS)
    port = free_port()
    with serve(create_app(migrated), port=port) as api_url:
        run_id = submit(api_url)
        reporter = Reporter(api_url, run_id)
        reporter.claim("machine-a")
    # the API is down now
    monkeypatch.setattr(worker.run_callback, "CHECKPOINT_RETRY_SECONDS", 0)
    monkeypatch.setattr(worker.tasks, "CHECKPOINT_DOWNLOAD_RETRY_SECONDS", 0)
    with caplog.at_level(logging.WARNING):
        restore_last_checkpoint(reporter, local)
        ReportingCallback(reporter).on_checkpoint("last.pt", local)  # does not raise: training goes on
    assert local.read_bytes() == WEIGHTS
    assert "resuming from this machine's copy" in caplog.text
    assert "checkpoint last.pt not uploaded" in caplog.text
    reporter.close()


class CheckpointRecorder(Recorder):
    def __init__(self):
        super().__init__()
        self.events: list[tuple] = []

    def on_checkpoint(self, name, path):
        self.events.append(("checkpoint", name, path.is_file()))

    def on_epoch(self, epoch, metrics):
        super().on_epoch(epoch, metrics)
        self.events.append(("epoch", epoch))


def test_the_engine_hands_each_saved_checkpoint_over_before_reporting_its_epoch(tmp_path):
    recorder = CheckpointRecorder()
    train(make_spec(epochs=2), recorder, data_dir=tmp_path, checkpoint_dir=tmp_path / "checkpoints")
    epochs = [i for i, event in enumerate(recorder.events) if event[0] == "epoch"]
    assert len(epochs) == 2
    before_first = recorder.events[: epochs[0]]
    assert ("checkpoint", "last.pt", True) in before_first and ("checkpoint", "best.pt", True) in before_first
    assert ("checkpoint", "last.pt", True) in recorder.events[epochs[0] : epochs[1]]
