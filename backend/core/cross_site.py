"""Requests other sites make the user's browser send, refused before any route runs (as Jupyter
Server's and MLflow's security middleware do):

- DNS rebinding: a page of evil.example whose name is made to resolve to 127.0.0.1 reaches the API
  with `Host: evil.example`. The Host must be one of the allowed hosts: the localhost names, the
  host the API listens on, and TRAINBOARD_ALLOWED_HOSTS. Listening on every interface (0.0.0.0),
  where a token is mandatory anyway, any Host is taken unless TRAINBOARD_ALLOWED_HOSTS names some.
- Cross-site writes: a state-changing request (POST, PUT, PATCH, DELETE) whose `Origin` is not the
  API's own (its Host) nor one of TRAINBOARD_CORS_ORIGINS is refused, and so is one carrying a body
  type that a plain HTML form can send without a preflight (text/plain, form-urlencoded,
  multipart): the API takes JSON, and raw bytes for artifacts. Scripts, the CLI and the workers
  send no Origin.
Both refusals are a 403 whose `detail` says what to configure.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from trainboard.settings import LOOPBACK_HOSTS, Settings

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
FORM_TYPES = {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
EVERY_INTERFACE = {"0.0.0.0", "::", ""}


def allowed_hosts(settings: Settings) -> set[str] | None:
    """The host names a request may name in its Host header; None: any."""
    extra = {host.lower() for host in settings.allowed_hosts}
    if "*" in extra or (settings.host in EVERY_INTERFACE and not extra):
        return None
    return {*LOOPBACK_HOSTS, settings.host.lower(), *extra}


def host_name(host_header: str) -> str:
    """`example.org` from `example.org:8000`, `::1` from `[::1]:8000`."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0].lower()
    return host_header.rsplit(":", 1)[0].lower() if host_header.count(":") == 1 else host_header.lower()


class CrossSiteGuard:
    """Plain ASGI middleware (streamed responses pass through untouched)."""

    def __init__(self, app, *, settings: Settings):
        self.app = app
        self.hosts = allowed_hosts(settings)
        self.origins = set(settings.cors_origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        refusal = None
        if self.hosts is not None and host_name(host) not in self.hosts:
            refusal = (
                f"host {host!r} is not one this API answers to: add it to TRAINBOARD_ALLOWED_HOSTS "
                "(this check stops DNS-rebinding attacks)"
            )
        elif scope["method"] in WRITES:
            origin = headers.get("origin")
            content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if origin is not None and urlsplit(origin).netloc != host and origin.rstrip("/") not in self.origins:
                refusal = f"a write from another site ({origin}) is refused: add it to TRAINBOARD_CORS_ORIGINS"
            elif content_type in FORM_TYPES:
                refusal = f"a {content_type} body is refused (a form can send one from any site): send JSON"
        if refusal is None:
            return await self.app(scope, receive, send)
        body = json.dumps({"detail": refusal}).encode()
        await send({
            "type": "http.response.start", "status": 403,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})
