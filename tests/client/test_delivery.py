"""The delivery thread against an API in memory: batches, order, the memory bound and the spool,
refusals, the run's end, and what is left for `trainboard sync`."""

from __future__ import annotations

import json

import pytest

from tests.client.fakes import FakeApi, start_run, wait_for
from trainboard.client.api import ApiRefused
from trainboard.client.backlog import CHUNK_POINTS
from trainboard.limits import MAX_POINTS_PER_BATCH as BATCH_POINTS


def logged(steps: range, names=("loss", "acc")) -> list[tuple[str, int, float]]:
    return [(name, step, step / 10) for step in steps for name in names]


def log_steps(run, steps: range, names=("loss", "acc")) -> None:
    for step in steps:
        run.log({name: step / 10 for name in names}, step=step)


def folder_points(run) -> list[tuple[str, int, float | None]]:
    path = run.folder / "points.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [tuple(json.loads(line)[:3]) for line in lines]


def test_points_arrive_in_batches_of_at_most_ten_thousand_in_order(tmp_path):
    api = FakeApi()
    run = start_run(tmp_path, api)
    log_steps(run, range(7000))  # 14,000 points
    run.finish()
    assert api.points == logged(range(7000))
    assert max(api.batches) <= BATCH_POINTS
    assert api.finished == {"status": "completed", "error": None}
    assert not run.folder.exists()  # nothing was left: no folder


def test_default_steps_count_from_zero_and_follow_explicit_ones(tmp_path):
    api = FakeApi()
    run = start_run(tmp_path, api)
    run.log({"a": 1.0})
    run.log({"a": 2.0})
    run.log({"a": 3.0}, step=10)
    run.log({"a": 4.0})
    run.finish()
    assert [step for _, step, _ in api.points] == [0, 1, 10, 11]


def test_beyond_the_memory_bound_points_are_spooled_then_the_spool_goes_first(tmp_path):
    api = FakeApi()
    run = start_run(tmp_path, api, max_buffer=1000)
    api.up = False
    log_steps(run, range(3000))  # 6,000 points: 5,000 or so beyond the bound
    delivery = run._delivery
    wait_for(lambda: not delivery.queue and delivery.backlog.spooled >= 4000)
    assert delivery.backlog.in_memory <= 1000 + CHUNK_POINTS  # the bound, give or take a chunk
    assert len(folder_points(run)) == delivery.backlog.spooled
    log_steps(run, range(3000, 3100))
    api.up = True
    wait_for(lambda: len(api.points) == 6200)
    assert api.points == logged(range(3100))  # spool first, then memory: the order they were logged in
    assert (run.folder / "points.jsonl").read_text() == ""  # a delivered spool is emptied
    run.finish()
    assert api.finished["status"] == "completed"
    assert json.loads((run.folder / "synced.json").read_text()) == {"run_id": 7, "points": 6200}


def test_a_409_is_retried_once_a_heartbeat_revived_the_run(tmp_path):
    api = FakeApi()
    run = start_run(tmp_path, api)
    api.refuse_points = True
    real_heartbeat = api.heartbeat

    def heartbeat(*args, **kwargs):
        api.refuse_points = False  # the API revives the run on the heartbeat of its lease holder
        return real_heartbeat(*args, **kwargs)

    api.heartbeat = heartbeat
    log_steps(run, range(5))
    run.finish()
    assert api.points == logged(range(5)) and api.finished["status"] == "completed"


def test_points_the_api_refuses_for_good_stay_in_the_folder(tmp_path, capsys):
    api = FakeApi()
    run = start_run(tmp_path, api)
    log_steps(run, range(3))
    wait_for(lambda: len(api.points) == 6)
    api.refuse_points, api.status = True, "cancelled"
    log_steps(run, range(3, 10))
    wait_for(lambda: run._delivery._refused is not None)
    log_steps(run, range(10, 12))
    run.log_artifact("notes.txt", b"kept")
    run.finish()
    assert folder_points(run) == logged(range(3, 12))
    assert json.loads((run.folder / "finish.json").read_text()) == {"status": "completed", "error": None}
    assert (run.folder / "artifacts" / "notes.txt").read_bytes() == b"kept"
    assert api.finished is None and run.should_stop  # the heartbeat said the run is no longer running
    err = capsys.readouterr().err
    assert "the API refused run 7's reports" in err
    assert f"18 points of run 7 were not delivered; they are in {run.folder}" in err
    assert f"trainboard sync {run.folder}" in err


def test_finish_while_the_api_is_down_writes_what_is_left_and_says_how_to_send_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRAINBOARD_FLUSH_TIMEOUT", "0.5")
    api = FakeApi()
    run = start_run(tmp_path, api)
    log_steps(run, range(2))
    wait_for(lambda: len(api.points) == 4)
    api.up = False
    log_steps(run, range(2, 5))
    run.finish("failed", error="RuntimeError: out of memory")
    run.finish()  # a second finish does nothing
    assert folder_points(run) == logged(range(2, 5))
    assert json.loads((run.folder / "finish.json").read_text()) == {
        "status": "failed",
        "error": "RuntimeError: out of memory",
    }
    assert json.loads((run.folder / "run.json").read_text())["run_id"] == 7
    err = capsys.readouterr().err
    assert f"6 points of run 7 were not delivered; they are in {run.folder}: send them with: trainboard sync " in err
    with pytest.raises(RuntimeError, match="after run.finish"):
        run.log({"loss": 1.0})


def test_the_end_alone_left_undelivered(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TRAINBOARD_FLUSH_TIMEOUT", "0.3")
    api = FakeApi()
    run = start_run(tmp_path, api)
    log_steps(run, range(2))
    wait_for(lambda: len(api.points) == 4)
    api.up = False
    run.finish()
    assert (run.folder / "finish.json").exists() and folder_points(run) == []
    assert "the end of run 7 was not delivered" in capsys.readouterr().err


def test_an_api_unreachable_at_start_creates_the_run_when_it_answers(tmp_path):
    api = FakeApi()
    api.up = False
    run = start_run(tmp_path, api, reachable=False)
    log_steps(run, range(4))
    assert run.id is None and run.url is None
    api.up = True
    wait_for(lambda: run.id == 7 and len(api.points) == 8)
    assert run.url == "http://fake/run.html?id=7"
    assert json.loads((run.folder / "run.json").read_text())["run_id"] == 7
    run.finish()
    assert api.points == logged(range(4)) and api.finished["status"] == "completed"


def test_a_cancel_turns_should_stop_within_a_heartbeat(tmp_path):
    api = FakeApi(heartbeat_seconds=0.1)
    run = start_run(tmp_path, api)
    assert not run.should_stop
    api.cancel_requested = True
    wait_for(lambda: run.should_stop, timeout=2)
    with run:
        pass
    assert api.finished["status"] == "cancelled"


def test_heartbeats_keep_coming_while_nothing_is_logged(tmp_path):
    api = FakeApi(heartbeat_seconds=0.05)
    run = start_run(tmp_path, api)
    wait_for(lambda: api.heartbeats >= 3, timeout=3)
    run.finish()


def test_artifacts_are_uploaded(tmp_path):
    api = FakeApi()
    run = start_run(tmp_path, api)
    (tmp_path / "plot.svg").write_text("<svg/>")
    run.log_artifact("plots/loss.svg", tmp_path / "plot.svg")
    run.log_artifact("raw.bin", bytearray(b"\x00\x01"))
    with pytest.raises(ValueError, match="invalid artifact name"):
        run.log_artifact("../escape", b"")
    with pytest.raises(TypeError, match="give bytes or a path"):
        run.log_artifact("x", 3)
    run.finish()
    assert api.artifacts == {"plots/loss.svg": b"<svg/>", "raw.bin": b"\x00\x01"}


def test_offline_everything_goes_to_the_folder(tmp_path, capsys):
    run = start_run(tmp_path, None)
    log_steps(run, range(3000))
    run.log_artifact("a.txt", b"a")
    with pytest.raises(ZeroDivisionError), run:
        run.log({"loss": 1 / 0})
    assert run.id is None and not run.should_stop
    assert folder_points(run) == logged(range(3000))
    assert json.loads((run.folder / "finish.json").read_text()) == {
        "status": "failed",
        "error": "ZeroDivisionError: division by zero",
    }
    assert (run.folder / "artifacts" / "a.txt").read_bytes() == b"a"
    assert f"offline run saved in {run.folder} (6000 points); send it with: trainboard sync {run.folder}" in (
        capsys.readouterr().err
    )


def test_a_run_full_to_its_point_cap_keeps_the_rest_in_the_folder_and_says_so_once(tmp_path, capsys):
    api = FakeApi()
    run = start_run(tmp_path, api)

    def full(run_id, body, **_):
        raise ApiRefused(413, "run 7 holds 2,000,000 metric points ... (TRAINBOARD_MAX_POINTS_PER_RUN)")

    api.post_points = full
    log_steps(run, range(3))
    wait_for(lambda: run._delivery._refused is not None)
    log_steps(run, range(3, 5))
    run.finish()
    assert folder_points(run) == logged(range(5))  # no batch retried forever, none dropped
    err = capsys.readouterr().err
    assert err.count("the API refused run 7's reports (HTTP 413") == 1 and "TRAINBOARD_MAX_POINTS_PER_RUN" in err
