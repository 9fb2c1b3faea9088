"""Celery task and queue names, shared by the API (which sends) and the workers (which consume).

Runs are routed with Celery's own queues. Every model and dataset comes from a package: the
built-in zoo from `trainboard` itself, a plugin's entries from the plugin's distribution. A run
goes to the queue named by the packages its model and dataset come from, and a worker consumes
the queue of every package, and of every pair of packages, it has loaded: so a run reaches only
the workers that have both its model and its dataset, and the broker balances it among them.

A run going back to the queue (its worker was lost, or handed it back on SIGTERM) goes to the
`.resumed` twin of its queue. Each worker consumes every `.resumed` queue before the queues of new
runs, and both brokers are set to poll queues in that order (`trainboard.broker`), so a resumed run
is the next one any free worker takes, ahead of runs queued before it.

A run whose spec asks for `cuda` (or `cuda:N`) goes to the `.gpu` twin of its queue, which only
workers with a GPU consume (they consume it before the plain one, which CPU workers share); one that
asks for `mps` goes to the `.mps` twin, which only workers on Apple silicon consume; `cpu` and `auto`
runs go to the plain queue, which every worker with the packages consumes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

TRAIN_RUN_TASK = "trainboard.train_run"
BUILTIN_PACKAGE = "trainboard"
QUEUE_PREFIX = "trainboard."
RESUMED_SUFFIX = ".resumed"
# The accelerator a run may need, and the suffix of the queues only workers with it consume.
ACCELERATOR_SUFFIXES = {"cuda": ".gpu", "mps": ".mps"}


def accelerator_of(device: str) -> str | None:
    """The accelerator a run on this device (the spec's `device`) can only train with: "cuda" for
    cuda and cuda:N, "mps", or None (cpu and auto train anywhere)."""
    if device == "cuda" or device.startswith("cuda:"):
        return "cuda"
    return "mps" if device == "mps" else None


def queue_for(packages: Iterable[str], *, accelerator: str | None = None) -> str:
    """The queue of a run whose model and dataset come from these packages; `accelerator`: what the
    run needs (`accelerator_of`), which only workers with it consume."""
    names = sorted(set(packages))
    if not names:
        raise ValueError("a run's queue needs the packages of its model and dataset")
    return QUEUE_PREFIX + "+".join(names) + (ACCELERATOR_SUFFIXES[accelerator] if accelerator else "")


def queues_of(packages: Iterable[str], *, accelerators: Iterable[str] = ()) -> list[str]:
    """Every queue a worker with these packages consumes: each package and each pair of them, and
    first their twins for each accelerator the worker has ("cuda", "mps")."""
    names = sorted(set(packages))
    plain = [queue_for(combo) for size in (1, 2) for combo in itertools.combinations(names, size)]
    twins = [queue + ACCELERATOR_SUFFIXES[accelerator] for accelerator in accelerators for queue in plain]
    return [*twins, *plain]


def accelerator_of_queue(queue: str) -> str | None:
    """The accelerator a queue's runs need (None: any worker with the packages takes them)."""
    for accelerator, suffix in ACCELERATOR_SUFFIXES.items():
        if queue.endswith(suffix):
            return accelerator
    return None


def plain_queue(queue: str) -> str:
    """The queue of the same packages for any device."""
    accelerator = accelerator_of_queue(queue)
    return queue.removesuffix(ACCELERATOR_SUFFIXES[accelerator]) if accelerator else queue


def packages_in(queue: str) -> list[str]:
    """The packages a queue is named by (its runs need a worker that has all of them)."""
    return plain_queue(queue).removeprefix(QUEUE_PREFIX).split("+")


def resumed(queue: str) -> str:
    """The queue of runs going back to `queue` after an interrupted execution: consumed first."""
    return queue + RESUMED_SUFFIX


def consumed_in_order(queues: Iterable[str]) -> list[str]:
    """The order a worker consumes its queues in: every resumed queue, then the queues of new runs."""
    queues = list(dict.fromkeys(queues))
    return [*map(resumed, queues), *queues]


DEFAULT_QUEUE = queue_for([BUILTIN_PACKAGE])
