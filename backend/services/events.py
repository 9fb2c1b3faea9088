"""Wake-ups for live streams: a write to a run notifies the streams following it.

The database stays the source of truth: a woken stream reads what is new from it. A stream
also re-reads every few seconds, so a write made by another API process is seen too.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict


class RunEventHub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[int, set[asyncio.Event]] = defaultdict(set)
        self._lock = threading.Lock()

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, run_id: int) -> asyncio.Event:
        event = asyncio.Event()
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        with self._lock:
            self._waiters[run_id].add(event)
        return event

    def unsubscribe(self, run_id: int, event: asyncio.Event) -> None:
        with self._lock:
            waiters = self._waiters.get(run_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[run_id]

    def notify(self, run_id: int) -> None:
        """Safe to call from the threads that run synchronous routes."""
        with self._lock:
            waiters = list(self._waiters.get(run_id, ()))
        if not waiters or self._loop is None or self._loop.is_closed():
            return
        for event in waiters:
            self._loop.call_soon_threadsafe(event.set)
