"""The client against the real API (uvicorn in a thread, SQLite): a script's whole run, an API
stopped for 5 s and restarted while a script reports, a killed script, offline runs and sync,
cancel, resume, bad values, an API that is not up yet when the script starts.

Scripts run in processes of their own where the test needs one (a kill, an outage a script lives
through); elsewhere the client runs in the test's process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

import trainboard
from backend.main import create_app
from tests.utils.live_server import free_port, serve
from trainboard.client import sync
from trainboard.client.api import ApiUnreachable

pytestmark = pytest.mark.timeout(120)

REPO_ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'trainboard.db'}"


@pytest.fixture
def client_env(tmp_path, monkeypatch) -> Path:
    """The client's settings for runs made in this process; returns the run folders' place."""
    monkeypatch.delenv("TRAINBOARD_MODE", raising=False)
    monkeypatch.delenv("TRAINBOARD_API_TOKEN", raising=False)
    monkeypatch.setenv("TRAINBOARD_CLIENT_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("TRAINBOARD_CLIENT_INTERVAL", "0.1")
    return tmp_path / "runs"


def api_get(url: str, path: str):
    response = httpx.get(f"{url}{API}{path}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def stored(url: str, run_id: int, name: str | None = None) -> list[tuple[str, int, float | None]]:
    points = api_get(url, f"/runs/{run_id}/metrics")["points"]
    return [(p["name"], p["step"], p["value"]) for p in points if name is None or p["name"] == name]


def arrival_order(settings, run_id: int, name: str) -> list[int]:
    """The steps of metric `name` in the order the API stored them."""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            query = text("SELECT step FROM metrics WHERE run_id = :run AND name = :name ORDER BY id")
            return [row[0] for row in connection.execute(query, {"run": run_id, "name": name})]
    finally:
        engine.dispose()


def wait_until(condition, timeout: float = 20.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def start_script(code: str, tmp_path: Path, **env: str) -> subprocess.Popen:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(code))
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT),
        "TRAINBOARD_CLIENT_DIR": str(tmp_path / "runs"), "TRAINBOARD_CLIENT_INTERVAL": "0.1", **env,
    }  # fmt: skip
    return subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )


def test_a_script_run_reports_its_config_points_artifacts_and_end(migrated, client_env, tmp_path):
    torch = pytest.importorskip("torch")
    np = pytest.importorskip("numpy")
    (tmp_path / "notes.txt").write_text("hello")
    with serve(create_app(migrated)) as url:
        with trainboard.init(name="mlp", group="scripts", config={"lr": 0.1, "sizes": (64, 32)}, url=url) as run:
            assert run.id is not None and run.url == f"{url}/run.html?id={run.id}"
            for epoch in range(30):
                run.log({"train_loss": torch.tensor(1.0 / (epoch + 1)), "test_accuracy": np.float32(epoch / 30)})
            run.log({"test_accuracy": float("nan")}, step=30)
            run.log_artifact("notes.txt", tmp_path / "notes.txt")
            run.log_artifact("plots/curve.svg", b"<svg/>")
        record = api_get(url, f"/runs/{run.id}")
        assert (record["source"], record["status"], record["name"], record["group"]) == (
            "script", "completed", "mlp", "scripts")  # fmt: skip
        assert record["config"] == {"lr": 0.1, "sizes": [64, 32]} and record["environment"]["torch"]
        points = stored(url, run.id, "train_loss")
        assert [step for _, step, _ in points] == list(range(30)) and points[3][2] == pytest.approx(0.25)
        assert stored(url, run.id, "test_accuracy")[-1] == ("test_accuracy", 30, None)
        assert {a["name"] for a in api_get(url, f"/runs/{run.id}/artifacts")} == {"notes.txt", "plots/curve.svg"}
    assert not client_env.exists()  # all delivered: no run folder was needed


OUTAGE_SCRIPT = """
    import sys, time, trainboard
    run = trainboard.init(name="outage", config={"epochs": 30})
    print(run.id, flush=True)
    for epoch in range(30):
        run.log({"train_loss": 1.0 / (epoch + 1), "test_accuracy": epoch / 30, "epoch": epoch})
        print(epoch, flush=True)
        time.sleep(0.25)
    run.finish()
"""


def test_an_api_stopped_for_5_s_and_restarted_gets_all_30_epochs_once_each_in_order(migrated, tmp_path):
    port = free_port()
    settings = migrated.model_copy(update={"heartbeat_seconds": 0.5})
    with ExitStack() as first:
        url = first.enter_context(serve(create_app(settings), port=port))
        # A memory bound of 20 points: the outage's points go through the spool as well.
        script = start_script(OUTAGE_SCRIPT, tmp_path, TRAINBOARD_API_URL=url, TRAINBOARD_CLIENT_MAX_BUFFER="20")
        run_id = int(script.stdout.readline())
        while int(script.stdout.readline()) < 5:
            pass
    time.sleep(5)  # the API is down: epochs 6 to about 25 are logged meanwhile
    with serve(create_app(settings), port=port) as url:
        out, err = script.communicate(timeout=60)
        assert script.returncode == 0, err
        assert "did not answer" in err and "the API is back" in err
        for name in ("train_loss", "test_accuracy", "epoch"):
            assert arrival_order(settings, run_id, name) == list(range(30))
        assert stored(url, run_id, "epoch") == [("epoch", step, float(step)) for step in range(30)]
        assert api_get(url, f"/runs/{run_id}")["status"] == "completed"
    folder = next((tmp_path / "runs").iterdir())  # the spool, delivered: nothing to sync
    assert (folder / "points.jsonl").read_text() == "" and json.loads((folder / "synced.json").read_text())["points"]


def test_a_killed_script_fails_its_run_within_the_heartbeat_timeout(migrated, tmp_path):
    settings = migrated.model_copy(update={"heartbeat_seconds": 0.3, "recovery_seconds": 0.2})
    with serve(create_app(settings)) as url:
        script = start_script(
            """
            import time, trainboard
            run = trainboard.init(name="doomed")
            run.log({"loss": 1.0})
            print(run.id, flush=True)
            time.sleep(600)
            """,
            tmp_path,
            TRAINBOARD_API_URL=url,
        )
        run_id = int(script.stdout.readline())
        time.sleep(1.5)  # beats: alive
        assert api_get(url, f"/runs/{run_id}")["status"] == "running"
        killed_at = time.monotonic()
        script.send_signal(signal.SIGKILL)
        script.wait(timeout=10)
        record = wait_until(
            lambda: (run := api_get(url, f"/runs/{run_id}"))["status"] != "running" and run, what="the run to fail"
        )
        assert time.monotonic() - killed_at < 3 * 0.3 + 0.2 + 2.0  # 3 heartbeats, a sweep, and slack
        assert record["status"] == "failed" and record["error"].startswith("the script stopped reporting")


def test_an_offline_run_synced_twice_is_stored_once(migrated, tmp_path, capsys):
    script = start_script(
        """
        import trainboard
        with trainboard.init(name="offline", config={"lr": 0.5}) as run:
            for step in range(1200):
                run.log({"loss": 1.0 / (step + 1), "lr": 0.5})
            run.log_artifact("result.json", b'{"ok": true}')
        """,
        tmp_path,
        TRAINBOARD_MODE="offline",
    )
    _, err = script.communicate(timeout=60)
    assert script.returncode == 0, err
    folder = next((tmp_path / "runs").iterdir())
    assert f"offline run saved in {folder} (2400 points); send it with: trainboard sync {folder}" in err
    with serve(create_app(migrated)) as url:
        assert sync.main([str(tmp_path / "runs"), "--url", url]) == 0
        run_id = json.loads((folder / "synced.json").read_text())["run_id"]
        assert capsys.readouterr().out == f"{folder}: run {run_id}: 2400 points, 1 artifact, completed\n"
        record = api_get(url, f"/runs/{run_id}")
        assert (record["source"], record["status"], record["name"], record["config"]) == (
            "script", "completed", "offline", {"lr": 0.5})  # fmt: skip
        assert len(stored(url, run_id)) == 2400

        assert sync.main([str(folder), "--url", url]) == 0
        assert capsys.readouterr().out == f"{folder}: already synced as run {run_id}\n"
        (folder / "synced.json").unlink()  # even without the marker: the same run, no point twice
        assert sync.main([str(folder), "--url", url]) == 0
        assert capsys.readouterr().out.startswith(f"{folder}: run {run_id}: 2400 points")
        assert len(stored(url, run_id)) == 2400
        assert api_get(url, "/runs?source=script")["count"] == 1


def test_a_cancel_from_the_api_turns_should_stop_within_a_heartbeat(migrated, client_env):
    with serve(create_app(migrated.model_copy(update={"heartbeat_seconds": 0.3}))) as url:
        with trainboard.init(name="long", url=url) as run:
            run.log({"loss": 1.0})
            assert not run.should_stop
            assert httpx.post(f"{url}{API}/runs/{run.id}/cancel", timeout=10).status_code == 200
            asked = time.monotonic()
            wait_until(lambda: run.should_stop, timeout=5, what="should_stop")
            assert time.monotonic() - asked < 0.3 + 1.0  # a heartbeat and some slack
        assert api_get(url, f"/runs/{run.id}")["status"] == "cancelled"


def test_bad_values_are_refused_by_the_client_and_no_batch_is_lost(migrated, client_env):
    with serve(create_app(migrated)) as url:
        run = trainboard.init(url=url)
        run.log({"loss": 0.5, "ratio": float("nan"), "big": float("inf")})
        with pytest.raises(TypeError, match="metric 'loss'"):
            run.log({"loss": "0.4"})
        with pytest.raises(ValueError, match="201 characters long"):
            run.log({"x" * 201: 1.0})
        run.log({"loss": 0.3})
        run.finish()
        assert stored(url, run.id) == [
            ("big", 0, None), ("loss", 0, 0.5), ("ratio", 0, None), ("loss", 1, 0.3)]  # fmt: skip


def test_resume_goes_on_after_the_last_stored_step(migrated, client_env):
    with serve(create_app(migrated)) as url:
        with trainboard.init(name="resumable", url=url) as first:
            for value in (5.0, 4.0, 3.0):
                first.log({"loss": value})
        with trainboard.init(resume=first.id, url=url) as again:
            assert again.id == first.id
            again.log({"loss": 2.0})  # the last stored step was 2
            again.log({"loss": 9.0}, step=1)  # stored already: ignored
        assert stored(url, first.id) == [("loss", 0, 5.0), ("loss", 1, 4.0), ("loss", 2, 3.0), ("loss", 3, 2.0)]
        record = api_get(url, f"/runs/{first.id}")
        assert (record["status"], record["attempt"]) == ("completed", 2)
        with pytest.raises(trainboard.client.ApiRefused, match="refused to resume run 999"):
            trainboard.init(resume=999, url=url)


def test_an_api_not_up_at_start_gets_the_run_when_it_comes(migrated, client_env, capsys):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run = trainboard.init(name="early", url=url)
    run.log({"loss": 1.0})
    assert run.id is None
    err = capsys.readouterr().err
    assert f"the API at {url} did not answer" in err and "The run goes on" in err and "trainboard sync" in err
    with serve(create_app(migrated), port=port):
        wait_until(lambda: run.id is not None, what="the run to be created")
        run.log({"loss": 0.5})
        run.finish()
        assert stored(url, run.id) == [("loss", 0, 1.0), ("loss", 1, 0.5)]
        assert api_get(url, f"/runs/{run.id}")["status"] == "completed"


def test_points_left_when_the_api_is_down_at_the_end_are_sent_by_sync(migrated, client_env, capsys, monkeypatch):
    monkeypatch.setenv("TRAINBOARD_FLUSH_TIMEOUT", "1")
    port = free_port()
    with ExitStack() as up:
        url = up.enter_context(serve(create_app(migrated), port=port))
        run = trainboard.init(name="cut off", url=url)
        run.log({"loss": 1.0})
        wait_until(lambda: stored(url, run.id), what="the first point")
    run.log({"loss": 0.5})
    run.log({"loss": 0.25})
    run.finish()
    err = capsys.readouterr().err
    assert f"2 points of run {run.id} were not delivered; they are in {run.folder}" in err
    assert f"trainboard sync {run.folder}" in err
    with serve(create_app(migrated), port=port):
        assert sync.main([str(run.folder)]) == 0  # the folder knows its API
        assert stored(url, run.id) == [("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, 0.25)]
        assert api_get(url, f"/runs/{run.id}")["status"] == "completed"


def test_a_script_cut_off_long_enough_to_be_given_up_for_lost_carries_on(migrated, client_env, monkeypatch):
    """The network drops longer than the heartbeat timeout: the API fails the run as lost; the
    script's next heartbeat revives it, and no point is lost."""
    settings = migrated.model_copy(update={"heartbeat_seconds": 0.3, "recovery_seconds": 0.2})
    with serve(create_app(settings)) as url:
        run = trainboard.init(name="cut off", url=url)
        run.log({"loss": 1.0})
        wait_until(lambda: stored(url, run.id), what="the first point")
        api = run._delivery.api
        real_request = api.request

        def cut_off(*args, **kwargs):
            raise ApiUnreachable("the network is down")

        monkeypatch.setattr(api, "request", cut_off)
        run.log({"loss": 0.5})
        record = wait_until(
            lambda: (found := api_get(url, f"/runs/{run.id}"))["status"] == "failed" and found, what="the sweep"
        )
        assert record["error"].startswith("the script stopped reporting")
        monkeypatch.setattr(api, "request", real_request)
        run.log({"loss": 0.25})
        wait_until(lambda: len(stored(url, run.id)) == 3, what="the points kept meanwhile")
        assert api_get(url, f"/runs/{run.id}")["status"] == "running" and not run.should_stop
        run.finish()
        assert api_get(url, f"/runs/{run.id}")["status"] == "completed"
        assert stored(url, run.id) == [("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, 0.25)]


def test_at_exit_a_script_that_forgot_finish_completes_and_one_killed_by_an_exception_fails(migrated, tmp_path):
    with serve(create_app(migrated)) as url:
        forgot = start_script(
            """
            import trainboard
            run = trainboard.init(name="forgot")
            print(run.id, flush=True)
            for step in range(3):
                run.log({"loss": 1.0 / (step + 1)})
            """,
            tmp_path,
            TRAINBOARD_API_URL=url,
        )
        out, err = forgot.communicate(timeout=60)
        assert forgot.returncode == 0, err
        run_id = int(out.split()[0])
        assert api_get(url, f"/runs/{run_id}")["status"] == "completed" and len(stored(url, run_id)) == 3
        crashed = start_script(
            """
            import trainboard
            run = trainboard.init(name="crashed")
            print(run.id, flush=True)
            run.log({"loss": 1.0})
            raise MemoryError("CUDA out of memory")
            """,
            tmp_path,
            TRAINBOARD_API_URL=url,
        )
        out, err = crashed.communicate(timeout=60)
        assert crashed.returncode == 1 and "MemoryError" in err
        record = api_get(url, f"/runs/{int(out.split()[0])}")
        assert (record["status"], record["error"]) == ("failed", "MemoryError: CUDA out of memory")
