"""The refusals the OpenAPI document lists, described once: `responses=errors(404, 409)` on a route.
Those every API route can answer (400, 401, 403, 413: from the middleware and the auth dependency)
are added to all of them where the routers are included (backend/main.py). A 422 is FastAPI's own
validation error, documented by FastAPI on every route taking parameters or a body."""

from __future__ import annotations

from typing import Any

from backend.schemas.common import ErrorDetail

DESCRIPTIONS = {
    400: "Malformed request: a body that is not valid JSON, or an invalid Content-Length",
    401: "A valid API token is required (for writes once one is configured; for every route beyond localhost)",
    403: "Refused before any route ran: a Host header not allowed (DNS rebinding), or a write from another site "
    "or with a form's body type",
    404: "The run, study or file the request names does not exist",
    409: "The run's or study's state does not allow it (not running, finished, or the attempt lost its lease)",
    413: "The body is larger than the limit (TRAINBOARD_MAX_BODY_BYTES, or the artifact or checkpoint limit)",
    503: "The broker is not reachable: nothing was submitted",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries of these refusals, each with its description and `ErrorDetail` body."""
    return {status: {"model": ErrorDetail, "description": DESCRIPTIONS[status]} for status in statuses}
