"""The catalog as the API serves and enforces it: the union of what recent workers published
(`trainboard.catalog.WorkerCatalog`), which workers offer each entry, and the queue a run of a
given model and dataset is routed to."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.orm import Session

from backend.crud import workers as workers_crud
from backend.models import Worker
from backend.models.base import utcnow
from backend.services.grouping import entry_defaults
from trainboard.catalog import DatasetInfo, ModelInfo, WorkerCatalog, check_spec, describe_options
from trainboard.options import OPTIMIZERS, SCHEDULERS
from trainboard.queues import accelerator_of, queue_for
from trainboard.settings import Settings
from trainboard.spec import METRICS_BY_TASK, TrainSpec

_PARSED: dict[str, WorkerCatalog] = {}  # by digest: a catalog is parsed once per change, not per request


def _parsed(worker: Worker) -> WorkerCatalog:
    found = _PARSED.get(worker.catalog_digest)
    if found is None:
        if len(_PARSED) > 256:
            _PARSED.clear()
        found = _PARSED[worker.catalog_digest] = WorkerCatalog.model_validate(worker.catalog)
    return found


@dataclass
class Catalog:
    models: dict[str, ModelInfo] = field(default_factory=dict)
    datasets: dict[str, DatasetInfo] = field(default_factory=dict)
    offered_by: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # ("model", name) -> workers
    sources: list[tuple[Worker, WorkerCatalog]] = field(default_factory=list)  # the workers, newest first
    max_model_parameters: int | None = None  # the server's parameter budget (trainboard/model_budget.py)

    def check(self, raw: Any) -> TrainSpec:
        """The spec validated against what the workers offer (raises trainboard.catalog.SpecInvalid)."""
        return check_spec(raw, self.models, self.datasets, max_parameters=self.max_model_parameters)

    def queue_of(self, spec: TrainSpec) -> str:
        """Where only workers with the run's model and dataset take it, and, for `cuda` or `mps`, that device."""
        packages = [self.models[spec.model.name].package, self.datasets[spec.dataset.name].package]
        return queue_for(packages, accelerator=accelerator_of(spec.device))

    def workers(self, settings: Settings) -> list[dict[str, Any]]:
        """The workers as GET /workers and GET /catalog list them (a submission has no use for this)."""
        return [
            {
                "name": worker.name,
                "hostname": worker.hostname,
                "online": is_online(worker, settings),
                "first_seen_at": worker.first_seen_at,
                "last_seen_at": worker.last_seen_at,
                "stopped_at": worker.stopped_at,
                "queues": published.queues,
                "packages": sorted({e.package for e in [*published.models, *published.datasets]}),
                "models": [e.name for e in published.models],
                "datasets": [e.name for e in published.datasets],
                "broken": [b.model_dump() for b in published.broken],
                "environment": published.environment,
            }
            for worker, published in self.sources
        ]


def is_online(worker: Worker, settings: Settings) -> bool:
    fresh = utcnow() - worker.last_seen_at <= timedelta(seconds=3 * settings.worker_publish_seconds)
    return worker.stopped_at is None and fresh


def current_catalog(session: Session, settings: Settings) -> Catalog:
    """What the workers seen within `catalog_ttl_seconds` offer; for a name offered by several
    workers, the entry of the most recently seen one (its schema is the one enforced)."""
    since = utcnow() - timedelta(seconds=settings.catalog_ttl_seconds)
    catalog = Catalog(max_model_parameters=settings.max_model_parameters)
    for worker in workers_crud.recent_workers(session=session, since=since):
        published = _parsed(worker)
        for kind, entries, target in (("model", published.models, catalog.models),
                                      ("dataset", published.datasets, catalog.datasets)):  # fmt: skip
            for entry in entries:
                target.setdefault(entry.name, entry)
                catalog.offered_by.setdefault((kind, entry.name), []).append(worker.name)
        catalog.sources.append((worker, published))
    return catalog


def _ever_published(session: Session) -> list[WorkerCatalog]:
    """Every catalog stored, the most recently seen first: old runs' entries still need their
    task and defaults after their workers have left the recent catalog."""
    since = datetime.min.replace(tzinfo=timezone.utc)
    return [_parsed(worker) for worker in workers_crud.recent_workers(session=session, since=since)]


def dataset_task(session: Session, name: str) -> str | None:
    """The task of a dataset as a worker published it, or None."""
    for published in _ever_published(session):
        for entry in published.datasets:
            if entry.name == name:
                return entry.task
    return None


def published_defaults(session: Session) -> Callable[[str, str], dict[str, Any]]:
    """defaults(field, name): the options of an entry with their default values, from the
    contract (optimizers, schedulers) or from the schema a worker published (models, datasets),
    so that a group's label leaves out what was left at its default."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for published in reversed(_ever_published(session)):  # the most recent wins
        for kind, entries in (("model", published.models), ("dataset", published.datasets)):
            for entry in entries:
                properties = entry.options_schema.get("properties", {})
                found[(kind, entry.name)] = {
                    key: prop["default"] for key, prop in properties.items() if key != "name" and "default" in prop
                }

    def defaults(field_name: str, name: str) -> dict[str, Any]:
        return found.get((field_name, name)) or entry_defaults(field_name, name)

    return defaults


@functools.cache
def _contract_entries() -> dict[str, Any]:
    """The contract's own part of the catalog, the same for every worker: computed once."""
    return {
        "optimizers": [{"name": name, "options": describe_options(o)} for name, o in OPTIMIZERS.items()],
        "schedulers": [{"name": name, "options": describe_options(o)} for name, o in SCHEDULERS.items()],
        "spec_schema": TrainSpec.model_json_schema(),
        # What a run of each task can report: a form's choices for early stopping and selection.
        "metrics_by_task": {task: list(names) for task, names in METRICS_BY_TASK.items()},
    }


def catalog_response(catalog: Catalog, settings: Settings) -> dict[str, Any]:
    """GET /catalog: every entry with its options and the workers that offer it, the optimizers and
    schedulers (the contract's own), the spec's JSON schema, the metrics each task reports, and the
    workers."""

    def entries(kind: str, found: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {**entry.model_dump(), "workers": catalog.offered_by.get((kind, name), [])}
            for name, entry in sorted(found.items())
        ]

    return {
        "models": entries("model", catalog.models),
        "datasets": entries("dataset", catalog.datasets),
        **_contract_entries(),
        "workers": catalog.workers(settings),
    }
