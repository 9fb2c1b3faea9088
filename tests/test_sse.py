"""trainboard.sse, the one Server-Sent Events client: the parser on lines, and the reader on
httpx responses whose bodies arrive in arbitrary chunks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from trainboard.sse import Event, EventReader, NotAnEventStream, iter_events, stream_events

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}


def response_of(*chunks: bytes, status: int = 200, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, headers=SSE_HEADERS if headers is None else headers, content=iter(chunks))


def test_events_with_multi_line_data_comments_and_ids():
    lines = [": ping", "event: state", 'data: {"a":', "data: 1}", "", "id: 7", "event: metrics", "data: {}", "",
             "", "data: tail", ""]  # fmt: skip
    assert list(iter_events(lines)) == [
        Event("state", '{"a":\n1}', None),
        Event("metrics", "{}", "7"),
        Event("message", "tail", None),  # no `event:` line; the id belongs to its own event only
    ]


def test_field_syntax():
    lines = [
        "data:no space", "data:  two spaces", "data", "",  # one leading space is dropped; `data` alone is empty
        "event:", "data: x", "",  # an empty type is a message
        "event: only a type", "id: 3", "",  # no data: no event
        "id: a\0b", "data: y", "",  # an id with NUL is ignored
        "data: z", "unknown: field", "retry: 3000", "retry: soon", "",  # other fields change nothing
    ]  # fmt: skip
    assert list(iter_events(lines)) == [
        Event("message", "no space\n two spaces\n"),
        Event("message", "x"),
        Event("message", "y"),
        Event("message", "z"),
    ]


def test_an_event_cut_off_by_the_end_of_the_stream_is_dropped():
    assert list(iter_events(["data: whole", "", 'data: {"points": [1,'])) == [Event("message", "whole")]


def test_a_byte_order_mark_and_an_empty_stream():
    assert list(iter_events(["\ufeffdata: 1", ""])) == [Event("message", "1")]
    assert list(iter_events([])) == []


def test_each_event_comes_as_soon_as_its_blank_line_arrives():
    def lines() -> Iterator[str]:
        yield from ["event: first", "data: 1", ""]
        raise AssertionError("read past the first event")

    assert next(iter_events(lines())) == Event("first", "1")


def test_events_split_across_chunks_and_line_ends():
    response = response_of(
        b": ping\r\n\r\nevent: st", b"ate\r", b"\ndata: {\"a\"", b": 1}\n", b"\nid: 4", b"2\nevent: metrics\r",
        b"data: [1,\n", b"data:  2]\r\n\r", b"\n",
    )  # fmt: skip
    reader = EventReader(response)
    assert reader.next() == Event("state", '{"a": 1}')
    second = reader.next()
    assert second == Event("metrics", "[1,\n 2]", "42")
    assert reader.next() is None and reader.closed
    assert second.id == "42"


def test_json_is_standard_json():
    assert Event("metrics", '{"value": null}').json() == {"value": None}
    with pytest.raises(ValueError, match="NaN"):
        Event("metrics", '{"value": NaN}').json()


def test_reader_until_rest_and_deadline():
    body = b"".join(f"event: e{i}\ndata: {i}\n\n".encode() for i in range(4))
    reader = EventReader(response_of(body))
    assert [e.event for e in reader.until(lambda e: e.data == "1")] == ["e0", "e1"]
    assert [e.data for e in reader.rest()] == ["2", "3"]
    with pytest.raises(EOFError, match="ended before the awaited event"):
        EventReader(response_of(body)).until(lambda e: e.event == "never")
    with pytest.raises(TimeoutError):
        EventReader(response_of(b": ping\n\n", b"data: late\n\n"), deadline_s=-1).next()


def serving(handler) -> httpx.Client:
    return httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(handler))


def test_stream_events_resumes_after_the_last_event_id():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers.get("accept"), request.headers.get("last-event-id")))
        return httpx.Response(200, headers=SSE_HEADERS, content=b"id: 9\nevent: metrics\ndata: {}\n\n")

    with serving(handler) as client:
        with stream_events(client, "/runs/1/events") as events:
            assert events.rest() == [Event("metrics", "{}", "9")]
        with stream_events(client, "/runs/1/events", last_event_id="9") as events:
            events.rest()
    assert seen == [("text/event-stream", None), ("text/event-stream", "9")]


def test_stream_events_refuses_errors_and_other_content():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/missing":
            return httpx.Response(404, json={"detail": "run 5 not found"})
        return httpx.Response(200, html="<html></html>")

    with serving(handler) as client:
        with pytest.raises(httpx.HTTPStatusError) as raised:
            with stream_events(client, "/missing"):
                pass
        assert raised.value.response.json() == {"detail": "run 5 not found"}  # the body was read
        with pytest.raises(NotAnEventStream, match="text/html"):
            with stream_events(client, "/page"):
                pass
