"""Celery task and queue names, shared by the API (which sends) and the workers (which consume).

Runs are routed with Celery's own queues. Every model and dataset comes from a package: the
built-in zoo from `trainboard` itself, a plugin's entries from the plugin's distribution. A run
goes to the queue named by the packages its model and dataset come from, and a worker consumes
the queue of every package, and of every pair of packages, it has loaded: so a run reaches only
the workers that have both its model and its dataset, and the broker balances it among them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

TRAIN_RUN_TASK = "trainboard.train_run"
BUILTIN_PACKAGE = "trainboard"
QUEUE_PREFIX = "trainboard."


def queue_for(packages: Iterable[str]) -> str:
    """The queue of a run whose model and dataset come from these packages."""
    names = sorted(set(packages))
    if not names:
        raise ValueError("a run's queue needs the packages of its model and dataset")
    return QUEUE_PREFIX + "+".join(names)


def queues_of(packages: Iterable[str]) -> list[str]:
    """Every queue a worker with these packages consumes: each package and each pair of them."""
    names = sorted(set(packages))
    return [queue_for(combo) for size in (1, 2) for combo in itertools.combinations(names, size)]


DEFAULT_QUEUE = queue_for([BUILTIN_PACKAGE])
