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
workers with a GPU consume (they consume it before the plain one, which CPU workers share); `cpu`
and `auto` runs go to the plain queue, which every worker with the packages consumes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

TRAIN_RUN_TASK = "trainboard.train_run"
BUILTIN_PACKAGE = "trainboard"
QUEUE_PREFIX = "trainboard."
RESUMED_SUFFIX = ".resumed"
GPU_SUFFIX = ".gpu"


def needs_gpu(device: str) -> bool:
    """A run on this device (the spec's `device`) can only train on a worker with a GPU."""
    return device == "cuda" or device.startswith("cuda:")


def queue_for(packages: Iterable[str], *, gpu: bool = False) -> str:
    """The queue of a run whose model and dataset come from these packages; `gpu`: a run that
    needs a GPU, which only workers with one consume."""
    names = sorted(set(packages))
    if not names:
        raise ValueError("a run's queue needs the packages of its model and dataset")
    return QUEUE_PREFIX + "+".join(names) + (GPU_SUFFIX if gpu else "")


def queues_of(packages: Iterable[str], *, gpu: bool = False) -> list[str]:
    """Every queue a worker with these packages consumes: each package and each pair of them, and,
    on a worker with a GPU, first their GPU-only twins."""
    names = sorted(set(packages))
    plain = [queue_for(combo) for size in (1, 2) for combo in itertools.combinations(names, size)]
    return [*(queue + GPU_SUFFIX for queue in plain), *plain] if gpu else plain


def is_gpu_only(queue: str) -> bool:
    return queue.endswith(GPU_SUFFIX)


def without_gpu(queue: str) -> str:
    """The plain queue of a GPU-only one: the same packages, any device."""
    return queue.removesuffix(GPU_SUFFIX)


def packages_in(queue: str) -> list[str]:
    """The packages a queue is named by (its runs need a worker that has all of them)."""
    return without_gpu(queue).removeprefix(QUEUE_PREFIX).split("+")


def resumed(queue: str) -> str:
    """The queue of runs going back to `queue` after an interrupted execution: consumed first."""
    return queue + RESUMED_SUFFIX


def consumed_in_order(queues: Iterable[str]) -> list[str]:
    """The order a worker consumes its queues in: every resumed queue, then the queues of new runs."""
    queues = list(dict.fromkeys(queues))
    return [*map(resumed, queues), *queues]


DEFAULT_QUEUE = queue_for([BUILTIN_PACKAGE])
