"""Why a queued run waits: no online worker consumes its queue. Worked out from the queues the
online workers published (`trainboard.queues` names them by packages, `.gpu` and `.mps` for runs
that need that device), so a run nobody can take says so ("waiting for a worker with a GPU")
instead of sitting silently queued. A run some online worker can take is just waiting for a free one: no reason."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.models import Run, RunSource, RunStatus
from backend.schemas.run import RunPublic
from backend.services.catalog import current_catalog, is_online
from trainboard.queues import DEFAULT_QUEUE, accelerator_of_queue, packages_in, plain_queue
from trainboard.settings import Settings

NO_WORKER = "no worker online"
NEEDS = {"cuda": "waiting for a worker with a GPU", "mps": "waiting for a worker with an Apple GPU (mps)"}
TOO = {"cuda": "; it needs a GPU too", "mps": "; it needs an Apple GPU (mps) too"}


def online_queues(session: Session, settings: Settings) -> list[set[str]]:
    """The queues each online worker consumes, as it last published them."""
    catalog = current_catalog(session, settings)
    return [set(published.queues) for worker, published in catalog.sources if is_online(worker, settings)]


def waiting_for(queue: str | None, offered: list[set[str]]) -> str | None:
    """Why a run queued on `queue` waits, given the queues of each online worker; None if one takes it."""
    queue = queue or DEFAULT_QUEUE
    if any(queue in queues for queues in offered):
        return None
    if not offered:
        return NO_WORKER
    accelerator = accelerator_of_queue(queue)
    if accelerator and any(plain_queue(queue) in queues for queues in offered):
        return NEEDS[accelerator]
    also = TOO[accelerator] if accelerator else ""
    available = {package for queues in offered for name in queues for package in packages_in(name)}
    missing = [package for package in packages_in(queue) if package not in available]
    if missing:
        noun = "package" if len(missing) == 1 else "packages"
        return f"no worker online offers {noun} {', '.join(missing)}{also}"
    return f"no worker online has both {' and '.join(packages_in(queue))}{also}"


def with_reasons(session: Session, settings: Settings, runs: list[Run], public: list[RunPublic]) -> list[RunPublic]:
    """`public` (the API's view of `runs`, in the same order) with `waiting_for` set on each
    queued worker run that no online worker can take."""
    waiting = [
        (run, item) for run, item in zip(runs, public, strict=True)
        if run.status == RunStatus.queued.value and run.source == RunSource.worker.value
    ]  # fmt: skip
    if waiting:
        offered = online_queues(session, settings)
        for run, item in waiting:
            item.waiting_for = waiting_for(run.queue, offered)
    return public
