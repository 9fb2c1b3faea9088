"""The points a run has not delivered yet, oldest first: chunks of points.jsonl lines in memory up to
a bound, and the older ones beyond it at the end of the run folder's points.jsonl (the spool).
Batches come from the spool first, then from memory, so points reach the API in the order they
were logged. Used by the delivery thread only."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from trainboard.client.folder import RunFolder

CHUNK_POINTS = 2_500  # points in memory are chunks of lines: few objects, whatever their number


@dataclass
class Batch:
    lines: list[str] = field(default_factory=list)  # points.jsonl lines, without their newlines
    chunks: int = 0  # how many chunks of memory they are (0: they come from the spool)
    offset: int = 0  # the spool's offset after them


class Backlog:
    def __init__(self, folder: RunFolder, max_buffer: int, pace: Callable[[], None] = lambda: None):
        """`pace` is called between two pieces of work (the delivery thread gives up the GIL there)."""
        self.folder, self.max_buffer, self._pace = folder, max_buffer, pace
        self._memory: deque[tuple[int, str]] = deque()  # (how many points, their lines)
        self.in_memory = 0
        self.spooled = 0  # points in the spool not delivered yet, from byte _spool_offset
        self._spool_offset = 0

    def __len__(self) -> int:
        return self.in_memory + self.spooled

    def add(self, count: int, lines: str, *, spool: bool = False) -> None:
        """`count` points, newer than all the others; to the spool at once if `spool`."""
        if spool:
            self.folder.append_lines(lines)
            self.spooled += count
        else:
            self._memory.append((count, lines))
            self.in_memory += count

    def spill(self, limit: int | None = None) -> None:
        """Move the oldest chunks in memory to the end of the spool (they are older than the rest)
        until memory holds `limit` points at most (by default the bound)."""
        limit = self.max_buffer if limit is None else limit
        while self._memory and self.in_memory > limit:
            count, lines = self._memory.popleft()
            self.folder.append_lines(lines)
            self.in_memory -= count
            self.spooled += count
            self._pace()

    def next_batch(self, limit: int) -> Batch:
        """Up to `limit` of the oldest points, spool first."""
        batch = Batch(offset=self._spool_offset)
        while self.spooled and len(batch.lines) < limit:
            more, batch.offset = self.folder.read_lines(batch.offset, min(CHUNK_POINTS, limit - len(batch.lines)))
            if not more:
                break
            batch.lines.extend(more)
            self._pace()
        if batch.lines:
            return batch
        if self.spooled:  # the spool lost lines (edited by hand?): nothing more to read there
            self._clear_spool()
        for count, lines in self._memory:
            if len(batch.lines) + count > limit:
                break
            batch.lines.extend(lines.split("\n")[:-1])
            batch.chunks += 1
        return batch

    def delivered(self, batch: Batch) -> None:
        count = len(batch.lines)
        if batch.chunks == 0:
            self._spool_offset = batch.offset
            self.spooled -= count
            if self.spooled <= 0:
                self._clear_spool()
        else:
            for _ in range(batch.chunks):
                self._memory.popleft()
            self.in_memory -= count

    def _clear_spool(self) -> None:
        self.folder.clear_points()
        self.spooled = self._spool_offset = 0

    def save(self) -> int:
        """Everything into the run folder's points.jsonl (less what was delivered from it); returns how
        many points it holds then."""
        self.folder.create()
        self.folder.drop_points_before(self._spool_offset)
        self._spool_offset = 0
        self.spill(0)
        return self.spooled
