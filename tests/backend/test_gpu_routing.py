"""GPU-aware routing: a run that asks for `cuda` goes only to workers with a GPU (the `.gpu` twin
of its queue, which only they consume); `cpu` and `auto` go anywhere. A queued run that no online
worker can take says why, in GET /runs/{id} and the runs list. No GPU here: a GPU worker is faked
by the catalog it publishes, as a real one with a GPU would."""

from __future__ import annotations

import copy

import pytest

from tests.utils.catalog import builtin_catalog
from tests.utils.factories import API, create_run, queued_messages, start_run, valid_spec
from tests.backend.test_workers_catalog import plugin_worker, publish
from trainboard.queues import DEFAULT_QUEUE, consumed_in_order, queue_for, queues_of

GPU_QUEUE = queue_for(["trainboard"], accelerator="cuda")


def gpu_worker(name: str = "trainboard@gpu-0") -> dict:
    """A worker with the built-in zoo and one GPU, as worker.catalog publishes it."""
    catalog = copy.deepcopy(builtin_catalog())
    catalog.update(name=name, hostname="gpu-box", queues=queues_of(["trainboard"], accelerators=["cuda"]))
    catalog["environment"] = {**catalog["environment"], "gpus": 1}
    return catalog


def read(client, run_id: int) -> dict:
    return client.get(f"{API}/runs/{run_id}").json()


def listed(client) -> dict[int, dict]:
    return {run["id"]: run for run in client.get(f"{API}/runs").json()["data"]}


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_cuda_run_goes_to_the_queue_only_gpu_workers_consume(client, migrated, device):
    run = create_run(client, spec=valid_spec(device=device))
    assert run["queue"] == GPU_QUEUE == DEFAULT_QUEUE + ".gpu"
    assert queued_messages(migrated, GPU_QUEUE) == 1 and queued_messages(migrated, DEFAULT_QUEUE) == 0


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_cpu_and_auto_runs_go_anywhere(client, migrated, device):
    run = create_run(client, spec=valid_spec(device=device))
    assert run["queue"] == DEFAULT_QUEUE and run["waiting_for"] is None
    assert queued_messages(migrated, DEFAULT_QUEUE) == 1


def test_workers_with_a_gpu_consume_gpu_runs_first_and_cpu_workers_never():
    assert queues_of(["trainboard"]) == [DEFAULT_QUEUE]
    assert queues_of(["trainboard"], accelerators=["cuda"]) == [GPU_QUEUE, DEFAULT_QUEUE]
    assert consumed_in_order(queues_of(["trainboard"], accelerators=["cuda"])) == [
        GPU_QUEUE + ".resumed", DEFAULT_QUEUE + ".resumed", GPU_QUEUE, DEFAULT_QUEUE,
    ]  # fmt: skip


def test_a_cuda_run_with_no_gpu_worker_online_says_it_waits_for_one(client):
    gpu_run = create_run(client, spec=valid_spec(device="cuda"))
    cpu_run = create_run(client, spec=valid_spec(device="cpu"))
    assert gpu_run["waiting_for"] == "waiting for a worker with a GPU"
    assert read(client, gpu_run["id"])["waiting_for"] == "waiting for a worker with a GPU"
    runs = listed(client)
    assert runs[gpu_run["id"]]["waiting_for"] == "waiting for a worker with a GPU"
    assert runs[cpu_run["id"]]["waiting_for"] is None  # the CPU worker takes it when free

    publish(client, gpu_worker())  # a GPU machine joins
    assert read(client, gpu_run["id"])["waiting_for"] is None
    publish(client, gpu_worker(), stopping=True)  # ... and leaves
    assert read(client, gpu_run["id"])["waiting_for"] == "waiting for a worker with a GPU"


def test_a_running_run_waits_for_nothing(client):
    run = create_run(client, spec=valid_spec(device="cuda"))
    start_run(client, run["id"])
    assert read(client, run["id"])["waiting_for"] is None


def test_a_run_whose_package_no_online_worker_offers_names_it(client):
    publish(client, plugin_worker())
    run = create_run(client, spec=valid_spec(model={"name": "tiny_cnn"}))
    gpu_run = create_run(client, spec=valid_spec(model={"name": "tiny_cnn"}, device="cuda"))
    assert run["waiting_for"] is None
    assert gpu_run["waiting_for"] == "waiting for a worker with a GPU"
    publish(client, plugin_worker(), stopping=True)  # the plugin's only worker stops
    assert read(client, run["id"])["waiting_for"] == "no worker online offers package my-plugin"
    assert read(client, gpu_run["id"])["waiting_for"] == (
        "no worker online offers package my-plugin; it needs a GPU too"
    )


def test_with_no_worker_online_a_queued_run_says_so(client, migrated):
    from tests.utils.catalog import TEST_WORKER

    run = create_run(client)
    publish(client, {**builtin_catalog(), "name": TEST_WORKER}, stopping=True)
    assert read(client, run["id"])["waiting_for"] == "no worker online"


def mac_worker(name: str = "trainboard@mac") -> dict:
    """A worker on Apple silicon: the built-in zoo and the mps twins of its queues."""
    catalog = copy.deepcopy(builtin_catalog())
    catalog.update(name=name, hostname="macbook", queues=queues_of(["trainboard"], accelerators=["mps"]))
    return catalog


def test_an_mps_run_waits_for_a_worker_on_apple_silicon_not_a_cuda_one(client, migrated):
    run = create_run(client, spec=valid_spec(device="mps"))
    assert run["queue"] == DEFAULT_QUEUE + ".mps"
    assert queued_messages(migrated, DEFAULT_QUEUE + ".mps") == 1 and queued_messages(migrated, DEFAULT_QUEUE) == 0
    assert run["waiting_for"] == "waiting for a worker with an Apple GPU (mps)"
    publish(client, gpu_worker())  # a CUDA machine takes no mps run
    assert read(client, run["id"])["waiting_for"] == "waiting for a worker with an Apple GPU (mps)"
    publish(client, mac_worker())
    assert read(client, run["id"])["waiting_for"] is None
    assert queues_of(["trainboard"], accelerators=["mps"]) == [DEFAULT_QUEUE + ".mps", DEFAULT_QUEUE]
