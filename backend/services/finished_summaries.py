"""The best and final values of finished runs, kept in memory: a finished run's points are closed
(backend/crud/runs.py check_results), so its summaries, computed once over every point, stay true
until it runs again, which changes what its key holds. A study of hundreds of finished runs is then
compared without reading its hundreds of thousands of points for the summary table again.

A run finished less than `SETTLE_SECONDS` ago is not kept: a points batch whose request began
before the finish may still be committing."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from backend.models import Run
from backend.models.base import utcnow
from backend.models.run import RunStatus

SETTLE_SECONDS = 60
MAX_RUNS = 20_000


class FinishedSummaries:
    """A bounded least-recently-used map: (store, kind, run by id and what changes when it runs again)
    -> the run's figures of that kind (its summaries, its first points, its mean epoch time)."""

    def __init__(self, max_runs: int = MAX_RUNS * 3):
        self.max_runs = max_runs
        self._kept: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(store: str, kind: str, run: Run) -> tuple | None:
        if run.finished_at is None or not RunStatus(run.status).is_terminal:
            return None
        if run.finished_at > utcnow() - timedelta(seconds=SETTLE_SECONDS):
            return None
        return (store, kind, run.id, run.created_at, run.finished_at, run.status, run.attempt)

    def get(
        self,
        session: Session,
        runs: list[Run],
        compute: Callable[[list[int]], dict[int, Any]],
        *,
        kind: str = "summaries",
        default: Any = None,
    ) -> dict[int, Any]:
        """Each run's `kind` of figures: kept ones from memory, the others by `compute(run ids)` (one
        call; a run it leaves out has `default`)."""
        store = str(session.get_bind().url)
        found: dict[int, Any] = {}
        missing: list[Run] = []
        with self._lock:
            for run in runs:
                key = self.key(store, kind, run)
                if key is not None and key in self._kept:
                    self._kept.move_to_end(key)
                    found[run.id] = self._kept[key]
                else:
                    missing.append(run)
        if missing:
            computed = compute([run.id for run in missing])
            with self._lock:
                for run in missing:
                    found[run.id] = computed.get(run.id, default)
                    key = self.key(store, kind, run)
                    if key is not None:
                        self._kept[key] = found[run.id]
                while len(self._kept) > self.max_runs:
                    self._kept.popitem(last=False)
        return found


# One per API process: its keys name the store and the run.
finished_summaries = FinishedSummaries()
