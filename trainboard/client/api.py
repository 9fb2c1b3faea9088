"""The client's calls to the REST API, thin: one method per route, the token in the header, and
two kinds of failure: `ApiUnreachable` (no answer, or one worth retrying: 5xx, 408, 429) and
`ApiRefused` (a 4xx that retrying will not change). httpx is imported by the constructor only,
so that importing the client stays cheap."""

from __future__ import annotations

import os
from typing import Any

API_PREFIX = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8000"


class ApiUnreachable(Exception):
    """The API did not answer, or answered that it cannot serve now: worth retrying."""


class ApiRefused(Exception):
    """The API refused the request for good (4xx); `status_code` and the API's `detail`."""

    def __init__(self, status_code: int, detail: str):
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


def default_url() -> str:
    return os.environ.get("TRAINBOARD_API_URL") or DEFAULT_URL


def default_token() -> str | None:
    return os.environ.get("TRAINBOARD_API_TOKEN") or None


def _detail(response: Any) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return " ".join(response.text.split())[:200] or response.reason_phrase
    if isinstance(detail, list):  # FastAPI's 422: [{"loc": [...], "msg": ...}, ...]
        return "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )[:500]
    return str(detail)[:500]


class Api:
    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 10.0):
        import httpx

        self._httpx = httpx
        self.url = (url or default_url()).rstrip("/")
        token = token if token is not None else default_token()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=self.url + API_PREFIX, headers=headers, timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0))
        )

    def close(self) -> None:
        self._client.close()

    def run_page(self, run_id: int) -> str:
        return f"{self.url}/run.html?id={run_id}"

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        """The reply's JSON; ApiUnreachable or ApiRefused."""
        if timeout is not None:
            kwargs["timeout"] = self._httpx.Timeout(timeout, connect=min(timeout, 3.0))
        try:
            response = self._client.request(method, path, **kwargs)
        except self._httpx.TransportError as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ApiUnreachable(f"{method} {path}: the API at {self.url} did not answer ({reason})") from None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise ApiUnreachable(f"{method} {path}: HTTP {response.status_code}: {_detail(response)}")
        if response.status_code >= 400:
            raise ApiRefused(response.status_code, _detail(response))
        try:
            return response.json() if response.content else None
        except ValueError:
            raise ApiRefused(response.status_code, f"{self.url} did not answer like the trainboard API") from None

    # --- the routes the client uses --------------------------------------------------------------

    def track(self, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Create the script run (or get the one already created with this client_key)."""
        return self.request("POST", "/runs/track", json=body, **kwargs)

    def resume(self, run_id: int, host: str | None, **kwargs: Any) -> dict[str, Any]:
        return self.request("POST", f"/runs/{run_id}/resume", json={"host": host}, **kwargs)

    def heartbeat(self, run_id: int, attempt: int, **kwargs: Any) -> dict[str, Any]:
        return self.request("POST", f"/runs/{run_id}/heartbeat", json={"attempt": attempt}, **kwargs)

    def post_points(self, run_id: int, body: bytes, **kwargs: Any) -> dict[str, Any]:
        """`body`: the JSON of {"attempt", "points"}, built by the caller in small pieces."""
        headers = {"content-type": "application/json"}
        return self.request("POST", f"/runs/{run_id}/metrics", content=body, headers=headers, **kwargs)

    def put_artifact(self, run_id: int, name: str, attempt: int, data: bytes, **kwargs: Any) -> None:
        self.request("PUT", f"/runs/{run_id}/artifacts/{name}", params={"attempt": attempt}, content=data, **kwargs)

    def finish(self, run_id: int, attempt: int, status: str, error: str | None, **kwargs: Any) -> dict[str, Any]:
        body = {"attempt": attempt, "status": status, "error": error}
        return self.request("POST", f"/runs/{run_id}/finish", json=body, **kwargs)
