"""API token checks. Write routes need the token whenever one is configured; when the service
listens beyond localhost a token is mandatory and read routes need it too."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request, status

from backend.core.config import Settings


class TokenRequired(RuntimeError):
    pass


def check_exposure(settings: Settings) -> None:
    if settings.listens_beyond_localhost and not settings.api_token:
        raise TokenRequired(
            f"refusing to listen on {settings.host} without an API token: set TRAINBOARD_API_TOKEN "
            "(or listen on 127.0.0.1)"
        )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def verify_token(request: Request, settings: Settings) -> None:
    expected = settings.api_token
    if expected is None:
        return
    given = _bearer(request)
    if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="a valid API token is required: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
