"""The queues a worker consumes and publishes: a worker with a GPU adds the GPU-only queues, and
consumes resumed runs first (`trainboard.queues`)."""

from __future__ import annotations

from worker import catalog as worker_catalog
from trainboard.queues import DEFAULT_QUEUE, queue_for

GPU_QUEUE = queue_for(["trainboard"], gpu=True)


def test_a_worker_without_a_gpu_never_consumes_gpu_runs(monkeypatch):
    monkeypatch.setattr(worker_catalog, "gpu_count", lambda: 0)
    queues = worker_catalog.worker_queues()
    assert DEFAULT_QUEUE in queues and not any(queue.endswith(".gpu") for queue in queues)


def test_a_worker_with_a_gpu_consumes_gpu_runs_first_and_publishes_it(monkeypatch):
    monkeypatch.setattr(worker_catalog, "gpu_count", lambda: 2)
    queues = worker_catalog.worker_queues()
    assert queues.index(GPU_QUEUE) < queues.index(DEFAULT_QUEUE)
    assert GPU_QUEUE in worker_catalog.worker_catalog("trainboard@gpu-box").queues
