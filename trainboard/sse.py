"""Reading Server-Sent Events (text/event-stream), the one client of the live stream of a run:
`trainboard watch`, the benchmarks and the tests all read it through this module.

    with httpx.Client(base_url=...) as client:
        with stream_events(client, f"/runs/{run_id}/events", last_event_id=cursor) as events:
            for event in events:
                ...  # event.event, event.data, event.id

The parser follows the WHATWG rules that matter here: `:` comments (the server's keep-alive
pings) are skipped, several `data:` lines make one multi-line value, an event is dispatched at
its blank line (so as soon as it has arrived), and an event the stream ends in the middle of is
dropped, never half-read. `retry:` lines are read and ignored: each caller picks its own delay.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None = None  # the event's own `id:` field: send the last one as Last-Event-ID to resume

    def json(self) -> Any:
        """The data as standard JSON, as a browser's JSON.parse reads it: NaN and Infinity are refused."""
        return json.loads(self.data, parse_constant=_refuse_constant)


def _refuse_constant(literal: str) -> Any:
    raise ValueError(f"the event holds the non-JSON literal {literal}")


def iter_events(lines: Iterable[str]) -> Iterator[Event]:
    """The events of a text/event-stream, given its lines without their line ends (as httpx's
    `Response.iter_lines()` gives them), each one as soon as its closing blank line is read."""
    kind, data, event_id = "", [], None
    for number, line in enumerate(lines):
        if number == 0:
            line = line.removeprefix("\ufeff")  # a byte order mark may open the stream
        if not line:  # a blank line ends an event; one without data is no event
            if data:
                yield Event(kind or "message", "\n".join(data), event_id)
            kind, data, event_id = "", [], None
            continue
        if line.startswith(":"):  # a comment: the keep-alive ping
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
        elif field == "id" and "\0" not in value:
            event_id = value


class NotAnEventStream(Exception):
    """The server answered, but not with an event stream (a wrong URL, another service)."""

    def __init__(self, response: httpx.Response) -> None:
        content_type = response.headers.get("content-type", "no content type")
        super().__init__(f"{response.request.url} answered {content_type}, not text/event-stream")
        self.response = response


class EventReader:
    """The events of an open streaming response, one at a time or by iteration. The HTTP client's
    read timeout bounds each read; `deadline_s`, when given, bounds the whole (TimeoutError)."""

    def __init__(self, response: httpx.Response, *, deadline_s: float | None = None) -> None:
        self.response = response
        self.closed = False  # the server has ended the stream
        self._deadline = None if deadline_s is None else time.monotonic() + deadline_s
        self._events = iter_events(self._lines())

    def _lines(self) -> Iterator[str]:
        for line in self.response.iter_lines():
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise TimeoutError("the event stream ran past its deadline")
            yield line

    def next(self) -> Event | None:
        """The next event, or None once the server has closed the stream."""
        event = next(self._events, None)
        if event is None:
            self.closed = True
        return event

    def __iter__(self) -> Iterator[Event]:
        while (event := self.next()) is not None:
            yield event

    def until(self, predicate: Callable[[Event], bool]) -> list[Event]:
        """Events up to and including the first one matching `predicate`; EOFError if the stream
        ends before it."""
        events = []
        for event in self:
            events.append(event)
            if predicate(event):
                return events
        raise EOFError(f"the stream ended before the awaited event; got {events}")

    def rest(self) -> list[Event]:
        """All events until the server closes the stream."""
        return list(self)


@contextmanager
def stream_events(
    client: httpx.Client,
    url: str,
    *,
    last_event_id: str | None = None,
    deadline_s: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[EventReader]:
    """GET `url` as an event stream and read it; with `last_event_id`, the server resumes after
    that event. An error status raises httpx.HTTPStatusError (its body read, for the message),
    an answer that is not an event stream NotAnEventStream."""
    request_headers = {"Accept": "text/event-stream", **(headers or {})}
    if last_event_id:
        request_headers["Last-Event-ID"] = last_event_id
    with client.stream("GET", url, headers=request_headers) as response:
        if response.is_error:
            response.read()
            response.raise_for_status()
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            raise NotAnEventStream(response)
        yield EventReader(response, deadline_s=deadline_s)
