"""Reading a Server-Sent Events stream in tests, every read bounded in time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tests.utils.factories import strict_json


@dataclass
class Event:
    event: str
    data: str
    id: str | None = None

    def json(self):
        return strict_json(self.data)


class SseReader:
    """Events of an open streaming response. The HTTP client's read timeout bounds each read and
    `deadline_s` bounds the whole; either failing raises instead of hanging."""

    def __init__(self, response: httpx.Response, deadline_s: float = 30.0):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self._lines = response.iter_lines()
        self._deadline = time.monotonic() + deadline_s
        self.closed = False

    def next(self) -> Event | None:
        """The next event, or None once the server has closed the stream."""
        fields: dict[str, str] = {}
        data: list[str] = []
        for line in self._lines:
            if time.monotonic() > self._deadline:
                raise TimeoutError("the event stream ran past its deadline")
            if line == "":
                if data or fields:
                    return Event(fields.get("event", "message"), "\n".join(data), fields.get("id"))
                continue
            if line.startswith(":"):
                continue  # a comment: the keep-alive ping
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "data":
                data.append(value)
            else:
                fields[key] = value
        self.closed = True
        return None

    def until(self, predicate: Callable[[Event], bool]) -> list[Event]:
        """Events up to and including the first one matching `predicate`."""
        events = []
        while True:
            event = self.next()
            if event is None:
                raise AssertionError(f"the stream ended before the awaited event; got {events}")
            events.append(event)
            if predicate(event):
                return events

    def rest(self) -> list[Event]:
        """All events until the server closes the stream."""
        events = []
        while (event := self.next()) is not None:
            events.append(event)
        return events
