"""Resume on any machine: one API and two workers that share no folder (each its own data and
artifacts folder, as on two machines). The worker training a run is killed (SIGKILL) at epoch 3;
the other one takes the run's last checkpoint from the API and carries on from there."""

from __future__ import annotations

import hashlib
import signal
import time

import pytest

from tests.e2e.services import Stack, stack_env
from tests.e2e.test_faults import EPOCHS, check_every_epoch_once, get_run, submit, wait_for

# Two workers and an API on a shared 2-core machine: more room than test_faults' single worker.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def machine(root) -> dict[str, str]:
    """A worker's own folders: nothing in them is seen by the API or by the other worker."""
    root.mkdir()
    return {"TRAINBOARD_DATA_DIR": str(root), "TRAINBOARD_ARTIFACTS_DIR": str(root / "artifacts")}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(params=["embedded", pytest.param("postgres+redis", marks=pytest.mark.postgres)])
def services(request, tmp_path) -> dict[str, str]:
    """SQLite and the embedded broker (a file every "machine" here reaches), or Postgres and Redis."""
    if request.param == "embedded":
        return {"TRAINBOARD_BROKER_URL": f"embedded+sqlite:///{tmp_path / 'server' / 'broker.db'}"}
    return {"TRAINBOARD_DATABASE_URL": request.getfixturevalue("postgres_url"),
            "TRAINBOARD_BROKER_URL": request.getfixturevalue("redis_url")}  # fmt: skip


def test_a_run_killed_on_one_machine_resumes_from_its_checkpoint_on_another(tmp_path, services):
    server = tmp_path / "server"
    server.mkdir()
    env = stack_env(server, TRAINBOARD_RECOVERY_SECONDS="1", **services)
    machine_a, machine_b = machine(tmp_path / "machine-a"), machine(tmp_path / "machine-b")
    stack = Stack(env, tmp_path)
    try:
        assert stack.cli("migrate").returncode == 0, stack.logs()
        stack.start("api", "api", "--port", env["TRAINBOARD_PORT"])
        stack.start_worker("worker0", env=machine_a)
        stack.wait_healthy()
        stack.wait_for_workers("worker0")

        run_id = submit(stack)
        wait_for(lambda: get_run(stack, run_id)["epochs_completed"] >= 3, "three epochs")
        stack.stop("worker0", signal.SIGKILL)  # machine A is gone, its folder with it
        store = server / "artifacts" / "checkpoints" / str(run_id)
        assert (store / "last.pt").is_file() and (store / "best.pt").is_file()
        # only the worker's copy lives under runs/: the API's machine trains nothing
        assert not (server / "artifacts" / "runs" / str(run_id) / "checkpoints").exists()

        stack.start_worker("worker1", env=machine_b)
        done = wait_for(lambda: (r := get_run(stack, run_id))["status"] in ("completed", "failed") and r, "the end",
                        timeout=240)  # fmt: skip
        assert done["status"] == "completed", done["error"]
        assert done["attempt"] == 2 and done["worker_host"].startswith("worker1@")
        # machine B started from epoch 3 or later: epochs 1-3 were not trained again
        assert done["environment"]["resumed_from_epoch"] >= 3, done["environment"]
        assert done["epochs_completed"] == EPOCHS
        check_every_epoch_once(stack, run_id)

        # machine B's final checkpoint reached the API's store
        local_b = tmp_path / "machine-b" / "artifacts" / "runs" / str(run_id) / "checkpoints" / "last.pt"
        deadline = time.monotonic() + 10
        while sha256(store / "last.pt") != sha256(local_b) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sha256(store / "last.pt") == sha256(local_b)
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop_all()
