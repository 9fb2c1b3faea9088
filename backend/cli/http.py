"""The client commands' HTTP side: one request to the REST API, and whatever goes wrong (the API
unreachable, a refusal, FastAPI's 422 list) as a one-line ClickException."""

from __future__ import annotations

from typing import Any

import click
import httpx

from backend.cli.common import load_settings, one_line
from trainboard.settings import Settings

API_PREFIX = "/api/v1"


def api_client(settings: Settings, *, read_timeout: float = 60.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
    return httpx.Client(
        base_url=settings.api_url.rstrip("/") + API_PREFIX,
        headers=headers,
        timeout=httpx.Timeout(10.0, read=read_timeout),
    )


def unreachable(settings: Settings, exc: httpx.TransportError) -> click.ClickException:
    if isinstance(exc, httpx.ConnectError):
        return click.ClickException(
            f"cannot reach the trainboard API at {settings.api_url}: is it running? (trainboard up)"
        )
    reason = one_line(str(exc)) or type(exc).__name__
    return click.ClickException(f"lost the connection to the trainboard API at {settings.api_url}: {reason}")


def not_the_api(settings: Settings) -> click.ClickException:
    return click.ClickException(
        f"{settings.api_url} did not answer like the trainboard API: is TRAINBOARD_API_URL right?"
    )


def _format_location(loc: list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def error_message(response: httpx.Response) -> str:
    """One line saying what the API refused: its `detail`, FastAPI's 422 list as `field: message; ...`."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if response.status_code == 422 and isinstance(detail, list):
        problems = []
        for item in detail:
            where = _format_location(item.get("loc", []))
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        return one_line("; ".join(problems))
    if isinstance(detail, str):
        message = detail
    else:
        body = one_line(response.text)[:200]
        message = f"the API answered {response.status_code} {response.reason_phrase}" + (f": {body}" if body else "")
    if response.status_code == 401:
        message += " (set TRAINBOARD_API_TOKEN)"
    return one_line(message)


def api_call(method: str, path: str, **kwargs: Any) -> Any:
    """Send one request to the API and return its JSON; any failure becomes a one-line ClickException."""
    settings = load_settings()
    try:
        with api_client(settings) as http:
            response = http.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise unreachable(settings, exc) from None
    if response.is_error:
        raise click.ClickException(error_message(response))
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise not_the_api(settings) from None
