"""The queues a worker consumes and publishes: a worker with a GPU adds the GPU-only queues, and
consumes resumed runs first (`trainboard.queues`)."""

from __future__ import annotations

from worker import catalog as worker_catalog
from trainboard.queues import DEFAULT_QUEUE, queue_for

GPU_QUEUE = queue_for(["trainboard"], accelerator="cuda")


def test_a_worker_without_a_gpu_never_consumes_gpu_runs(monkeypatch):
    monkeypatch.setattr(worker_catalog, "gpu_count", lambda: 0)
    queues = worker_catalog.worker_queues()
    assert DEFAULT_QUEUE in queues and not any(queue.endswith(".gpu") for queue in queues)


def test_a_worker_with_a_gpu_consumes_gpu_runs_first_and_publishes_it(monkeypatch):
    monkeypatch.setattr(worker_catalog, "gpu_count", lambda: 2)
    queues = worker_catalog.worker_queues()
    assert queues.index(GPU_QUEUE) < queues.index(DEFAULT_QUEUE)
    assert GPU_QUEUE in worker_catalog.worker_catalog("trainboard@gpu-box").queues


def test_the_gpus_are_counted_as_trainboard_worker_counts_them_without_cuda(monkeypatch):
    """Counted before Celery forks its pool, so not through torch (which would initialise CUDA in
    the parent): CUDA_VISIBLE_DEVICES, else nvidia-smi."""
    from worker import devices

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    devices.gpu_count.cache_clear()
    try:
        assert devices.gpu_count() == 2 and GPU_QUEUE in worker_catalog.worker_queues()
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
        devices.gpu_count.cache_clear()
        assert devices.gpu_count() == 0 and GPU_QUEUE not in worker_catalog.worker_queues()
    finally:
        devices.gpu_count.cache_clear()


def test_a_worker_on_apple_silicon_consumes_mps_runs_first_and_no_cuda_ones(monkeypatch):
    monkeypatch.setattr(worker_catalog, "gpu_count", lambda: 0)
    monkeypatch.setattr(worker_catalog, "has_mps", lambda: True)
    queues = worker_catalog.worker_queues()
    assert queues.index(DEFAULT_QUEUE + ".mps") < queues.index(DEFAULT_QUEUE) and GPU_QUEUE not in queues


def test_an_mps_run_on_a_worker_without_it_fails_saying_so():
    import pytest
    import torch

    from worker.engine.reproducibility import resolve_device

    if torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    with pytest.raises(RuntimeError, match=r"asks for device 'mps' but this worker has no Apple GPU \(mps\)"):
        resolve_device("mps")
