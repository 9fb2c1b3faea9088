"""What this worker can train, as it publishes it to the API: every model and dataset it has
loaded (built-in or from plugins) with the JSON schema of its options, the queues it consumes,
and the plugins it had to skip. Published at start and then every `publish_seconds` (the API's
reply sets the interval), so `GET /catalog` is the union of what the live workers offer."""

from __future__ import annotations

from collections.abc import Callable

import logging
import platform
import socket
import threading

import httpx

from trainboard.catalog import BrokenPluginInfo, DatasetInfo, ModelInfo, WorkerCatalog, describe_schema
from trainboard.plugins import (
    DATASETS,
    MODELS,
    DatasetEntry,
    ModelEntry,
    load_plugins,
    loaded_packages,
    package_version,
)
from trainboard.queues import queues_of
from worker.devices import gpu_count, has_mps

log = logging.getLogger(__name__)


def describe_model(entry: ModelEntry) -> ModelInfo:
    schema = entry.options.model_json_schema()
    return ModelInfo(
        name=entry.name, description=entry.description, task=entry.task, framework=entry.framework,
        package=entry.package, package_version=package_version(entry.package),
        options=describe_schema(schema), options_schema=schema,
    )  # fmt: skip


def describe_dataset(entry: DatasetEntry) -> DatasetInfo:
    schema = entry.options.model_json_schema()
    return DatasetInfo(
        name=entry.name, description=entry.description, task=entry.task,
        input_shape=list(entry.shape_for(entry.options())), num_classes=entry.num_classes,
        flip_invariant=entry.flip_invariant, package=entry.package, package_version=package_version(entry.package),
        options=describe_schema(schema), options_schema=schema,
    )  # fmt: skip


def worker_queues() -> list[str]:
    """The queues of every package, and pair of packages, this worker has loaded, and their twins
    for the GPU it has: CUDA or Apple's MPS (`trainboard.queues`)."""
    load_plugins()
    accelerators = [name for name, present in (("cuda", gpu_count() > 0), ("mps", has_mps())) if present]
    return queues_of(loaded_packages(), accelerators=accelerators)


def _environment() -> dict:
    import torch  # the worker has it; the catalog says which build trains here

    return {
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        # Counted without initialising CUDA: pool processes are forked from this one.
        "gpus": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }


def worker_catalog(name: str) -> WorkerCatalog:
    report = load_plugins()
    return WorkerCatalog(
        name=name,
        hostname=socket.gethostname(),
        queues=worker_queues(),
        models=[describe_model(entry) for entry in MODELS.values()],
        datasets=[describe_dataset(entry) for entry in DATASETS.values()],
        broken=[BrokenPluginInfo(package=b.package, entry_point=b.entry_point, error=b.error) for b in report.broken],
        environment=_environment(),
    )


class CatalogPublisher:
    """Publishes the catalog in a background thread until `stop()`; an unreachable API is retried
    at the next interval (the worker trains meanwhile: its runs came through the broker)."""

    def __init__(
        self, api_url: str, catalog: WorkerCatalog, *, token: str | None = None, interval: float = 30.0,
        on_unauthorised: Callable[[str], None] | None = None,
    ):  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.api_url = api_url
        self.on_unauthorised = on_unauthorised  # the API refused this worker's token: it cannot work
        self.catalog = catalog
        self.interval = interval
        self.published = threading.Event()
        self._client = httpx.Client(base_url=f"{api_url.rstrip('/')}/api/v1", headers=headers, timeout=10)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="catalog-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def publish(self, *, stopping: bool = False) -> bool:
        body = self.catalog.model_dump(mode="json") | {"stopping": stopping}
        try:
            response = self._client.post("/workers", json=body)
        except httpx.TransportError as exc:
            log.warning("catalog not published (API unreachable: %s); retrying in %.0fs", exc, self.interval)
            return False
        if response.status_code in (401, 403) and not stopping and self.on_unauthorised is not None:
            self.on_unauthorised(f"the API at {self.api_url} refused its catalog (HTTP {response.status_code})")
            return False
        if response.status_code >= 400:
            log.error("catalog refused by the API: HTTP %s %s", response.status_code, response.text[:500])
            return False
        self.interval = float(response.json().get("publish_seconds", self.interval))
        self.published.set()
        return True

    def _loop(self) -> None:
        delay = 0.5
        while not self._stopping.is_set():
            if self.publish():
                delay = self.interval
            else:  # the API may be starting: try again soon, then at the normal pace
                delay = min(delay * 2, self.interval)
            self._stopping.wait(delay)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.publish(stopping=True)
        self._client.close()
