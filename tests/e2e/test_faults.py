"""Faults caused for real: a worker killed with SIGKILL mid-run, and one stopped with SIGTERM.
Either way the run resumes from its last checkpoint on another worker, and the store ends with
every epoch exactly once."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.e2e.services import Stack, running_stack, stack_env
from tests.utils.live_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EPOCHS = 12
# Slow enough to interrupt mid-run on a loaded 2-core machine, fast enough to finish soon after.
SPEC = {"model": {"name": "mlp", "hidden_sizes": [256, 256]},
        "dataset": {"name": "synthetic_mnist", "num_train": 6000, "num_test": 500},
        "learning_rate": 0.3, "epochs": EPOCHS, "batch_size": 32}


def env_for(tmp_path) -> dict[str, str]:
    return stack_env(tmp_path, TRAINBOARD_RECOVERY_SECONDS="1")


def get_run(stack, run_id) -> dict:
    return httpx.get(f"{stack.api_url}/api/v1/runs/{run_id}", timeout=10).json()


def wait_for(condition, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def submit(stack) -> int:
    response = httpx.post(f"{stack.api_url}/api/v1/runs", json={"name": "fault", "spec": SPEC}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def check_every_epoch_once(stack, run_id) -> None:
    points = httpx.get(f"{stack.api_url}/api/v1/runs/{run_id}/metrics", params={"name": "train_loss"},
                       timeout=10).json()["points"]
    assert [p["step"] for p in points] == list(range(1, EPOCHS + 1))


def test_worker_killed_mid_run_resumes_elsewhere(tmp_path):
    with running_stack(env_for(tmp_path), tmp_path) as stack:
        run_id = submit(stack)
        wait_for(lambda: get_run(stack, run_id)["epochs_completed"] >= 2, "two epochs")
        stack.stop("worker0", signal.SIGKILL)  # the whole worker, pool included, mid-epoch
        killed_at = time.monotonic()
        stack.start_worker("worker1")

        requeued = wait_for(lambda: (r := get_run(stack, run_id))["attempt"] == 2 and r, "a second attempt")
        assert time.monotonic() - killed_at < 60
        assert requeued["status"] != "failed", requeued["error"]  # a lost worker costs an attempt, not the run
        done = wait_for(lambda: (r := get_run(stack, run_id))["status"] in ("completed", "failed") and r, "the end",
                        timeout=200)
        assert done["status"] == "completed", done["error"]
        assert done["attempt"] == 2 and done["environment"]["resumed_from_epoch"] >= 2
        check_every_epoch_once(stack, run_id)


def test_worker_stopped_gracefully_hands_the_run_back(tmp_path):
    with running_stack(env_for(tmp_path), tmp_path) as stack:
        run_id = submit(stack)
        wait_for(lambda: get_run(stack, run_id)["epochs_completed"] >= 2, "two epochs")
        worker = stack.processes["worker0"]
        worker.send_signal(signal.SIGTERM)  # to the main process only, as `docker stop` does
        worker.wait(timeout=60)
        stack.processes.pop("worker0")
        released = get_run(stack, run_id)
        assert released["status"] == "queued", released  # handed back, not failed, not lost
        assert released["error"] is None

        stack.start_worker("worker1")
        done = wait_for(lambda: (r := get_run(stack, run_id))["status"] in ("completed", "failed") and r, "the end",
                        timeout=200)
        assert done["status"] == "completed", done["error"]
        assert done["environment"]["resumed_from_epoch"] >= 2
        check_every_epoch_once(stack, run_id)


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own (no persistence), so it can be killed and restarted."""
    import subprocess

    import redis

    port = free_port()

    def start():
        process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(tmp_path)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        wait_for(lambda: _pings(client), "redis to start", timeout=20)
        return process

    servers = {"redis": start()}

    def restart():
        servers["redis"].kill()
        servers["redis"].wait()
        servers["redis"] = start()

    yield f"redis://127.0.0.1:{port}/0", restart
    servers["redis"].kill()
    servers["redis"].wait()


def _pings(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.RedisError:
        return False


def test_redis_restarted_loses_no_queued_or_running_run(tmp_path, own_redis):
    broker_url, restart_redis = own_redis
    env = {**env_for(tmp_path), "TRAINBOARD_BROKER_URL": broker_url}
    quick = {**SPEC, "epochs": 4, "dataset": {"name": "synthetic_mnist", "num_train": 3000, "num_test": 300}}
    with running_stack(env, tmp_path) as stack:
        run_ids = []
        for index in range(3):
            response = httpx.post(f"{stack.api_url}/api/v1/runs", json={"name": f"r{index}", "spec": quick},
                                  timeout=30)
            assert response.status_code == 201, response.text
            run_ids.append(response.json()["id"])
        wait_for(lambda: get_run(stack, run_ids[0])["status"] == "running", "the first run to start")
        restart_redis()  # the queued runs' messages are gone with it

        def all_finished():
            runs = [get_run(stack, run_id) for run_id in run_ids]
            return all(r["status"] in ("completed", "failed", "cancelled") for r in runs) and runs

        runs = wait_for(all_finished, "every run to finish", timeout=240)
        assert [r["status"] for r in runs] == ["completed"] * 3, [r["error"] for r in runs]
        for run_id in run_ids:
            points = httpx.get(f"{stack.api_url}/api/v1/runs/{run_id}/metrics", params={"name": "train_loss"},
                               timeout=10).json()["points"]
            assert [p["step"] for p in points] == [1, 2, 3, 4]


def test_api_down_for_a_while_loses_and_duplicates_nothing(tmp_path):
    with running_stack(env_for(tmp_path), tmp_path) as stack:
        run_id = submit(stack)
        wait_for(lambda: get_run(stack, run_id)["epochs_completed"] >= 1, "an epoch")
        stack.stop("api")
        time.sleep(8)  # the worker trains on, buffering its reports
        stack.start("api", "api", "--port", stack.env["TRAINBOARD_PORT"])
        stack.wait_healthy()
        done = wait_for(lambda: (r := get_run(stack, run_id))["status"] in ("completed", "failed", "cancelled")
                        and r, "the end", timeout=200)
        assert done["status"] == "completed", done["error"]
        assert done["attempt"] == 1  # carried on; never given up for lost
        check_every_epoch_once(stack, run_id)


def test_a_worker_whose_token_is_refused_stops_and_says_why(tmp_path):
    """Issue 12, row 4: a worker the API does not authorise stops at once with the reason in its
    log, instead of taking runs it would skip while they sit queued with no error."""
    env = {**env_for(tmp_path), "TRAINBOARD_API_TOKEN": "the-api-token-0123456789"}
    stack = Stack(env, tmp_path)
    try:
        assert stack.cli("migrate").returncode == 0, stack.logs()
        stack.start("api", "api", "--port", env["TRAINBOARD_PORT"])
        stack.wait_healthy()
        worker = stack.start_worker("stranger", env={"TRAINBOARD_API_TOKEN": "a-token-the-api-never-made"})
        worker.wait(timeout=120)  # it stops by itself
        log = (tmp_path / "stranger.log").read_text(errors="replace")
        assert "worker not authorised: the API at" in log and "refused its catalog (HTTP 401)" in log, log[-3000:]
        assert "set TRAINBOARD_API_TOKEN to a valid token" in log
    finally:
        stack.stop_all()
