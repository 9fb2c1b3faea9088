"""GPU-aware routing with real processes on the embedded default (SQLite + the SQLite broker): a
CPU worker never takes a run that asks for `cuda`, which says why it waits, while runs on any
device pass it by; a worker that sees a GPU (CUDA_VISIBLE_DEVICES, as `trainboard worker` counts
them) takes it. There is no GPU here, so that worker's run then fails for want of CUDA: what
matters is which worker claimed it."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.services import running_stack, stack_env
from trainboard.queues import DEFAULT_QUEUE, queue_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SPEC = {"model": "mlp", "dataset": "synthetic_mnist", "learning_rate": 0.5, "epochs": 2, "batch_size": 64}


def _submit(api: str, name: str, device: str) -> dict:
    response = httpx.post(f"{api}/api/v1/runs", json={"name": name, "spec": {**SPEC, "device": device}}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def _wait_for(api: str, run_id: int, statuses: tuple[str, ...], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{api}/api/v1/runs/{run_id}", timeout=10).json()
        if run["status"] in statuses:
            return run
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} is still {run['status']}")


def test_only_a_worker_with_a_gpu_takes_a_cuda_run(tmp_path):
    env = stack_env(tmp_path, CUDA_VISIBLE_DEVICES="")  # this worker has no GPU, whatever the machine has
    with running_stack(env, tmp_path) as stack:
        api = stack.api_url
        assert stack.online_workers()["worker0"]["queues"] == [DEFAULT_QUEUE]
        gpu_run = _submit(api, "needs a gpu", "cuda")
        cpu_run = _submit(api, "any device", "auto")
        assert gpu_run["queue"] == queue_for(["trainboard"], accelerator="cuda")
        assert gpu_run["waiting_for"] == "waiting for a worker with a GPU"
        assert _wait_for(api, cpu_run["id"], ("completed", "failed"))["status"] == "completed"
        waiting = httpx.get(f"{api}/api/v1/runs/{gpu_run['id']}", timeout=10).json()
        assert (waiting["status"], waiting["waiting_for"]) == ("queued", "waiting for a worker with a GPU")
        listing = stack.cli("ls")
        assert "queued!" in listing.stdout and "waiting for a worker with a GPU" in listing.stdout

        stack.start_worker("gpuworker", env={"CUDA_VISIBLE_DEVICES": "0"})
        online = stack.wait_for_workers("gpuworker")
        assert online["gpuworker"]["queues"][0] == queue_for(["trainboard"], accelerator="cuda")
        ended = _wait_for(api, gpu_run["id"], ("completed", "failed"))
        assert ended["status"] == "failed" and "no CUDA GPU" in ended["error"]  # no GPU here, as said
        assert ended["waiting_for"] is None
