"""A cap on request bodies, checked before any route reads them: a declared Content-Length over
the cap is refused at once, and a body sent without one (chunked) is counted as it streams in, so
an oversized body is never read whole into memory."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from starlette.exceptions import HTTPException


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes")


class BodySizeLimit:
    """Plain ASGI middleware. `limits` are (method, path regex, bytes) for routes whose cap differs
    from `max_bytes` (artifact uploads)."""

    def __init__(self, app, max_bytes: int, limits: Sequence[tuple[str, str, int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = [(method, re.compile(pattern), size) for method, pattern, size in limits]

    def limit_for(self, method: str, path: str) -> int:
        for route_method, pattern, size in self.limits:
            if method == route_method and pattern.match(path):
                return size
        return self.max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["method"], scope["path"])
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await _refuse(send, 400, "invalid Content-Length")
                if declared > limit:
                    return await _refuse(send, 413, BodyTooLarge(limit).detail)
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException: FastAPI re-raises it from its body reading, and its
                    # handler answers 413.
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _refuse(send, 413, exc.detail)


async def _refuse(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))  # the rest of the body is not read
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
