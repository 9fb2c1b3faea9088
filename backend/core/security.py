"""API token checks. Write routes need a token whenever one is configured; when the service
listens beyond localhost a token is mandatory and read routes need it too.

"A token is configured" means TRAINBOARD_API_TOKEN is set, or a token was ever made with
`trainboard token create NAME` (revoked ones count: revoking the last token locks writes, it never
opens them), or the API listens beyond localhost (then every route but the public ones needs a
token, whatever the table holds). A request's bearer token is accepted when it
equals the environment's token (constant-time compare) or hashes to an unrevoked table token.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import HTTPException, Request, status
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from trainboard.settings import Settings
from backend.crud import tokens as tokens_crud

log = logging.getLogger(__name__)


class TokenRequired(RuntimeError):
    pass


def database_has_tokens(engine: Engine) -> bool:
    """Whether the table holds an unrevoked token; False when there is no table yet."""
    try:
        with Session(engine) as session:
            return tokens_crud.any_active(session=session)
    except SQLAlchemyError:
        return False


def check_exposure(settings: Settings, engine: Engine | None = None) -> None:
    if not settings.listens_beyond_localhost or settings.api_token:
        return
    if engine is not None and database_has_tokens(engine):
        return
    raise TokenRequired(
        f"refusing to listen on {settings.host} without an API token: set TRAINBOARD_API_TOKEN "
        "or create one with `trainboard token create NAME` (or listen on 127.0.0.1)"
    )


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _unauthorized() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="a valid API token is required: send 'Authorization: Bearer <token>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


def verify_token(request: Request, settings: Settings, sessions: sessionmaker[Session] | None = None) -> None:
    """Pass when the request's token is valid, or on localhost when no token is configured at all; else 401."""
    given = _bearer(request)
    expected = settings.api_token
    for accepted in (expected, settings.worker_token):
        if given is not None and accepted is not None and secrets.compare_digest(given.encode(), accepted.encode()):
            return
    if sessions is None:
        if expected is None:
            return
        raise _unauthorized()
    with sessions() as session:
        if given is not None and tokens_crud.find_active(session=session, secret=given) is not None:
            try:
                session.commit()  # last_used_at, when it moved
            except SQLAlchemyError as exc:  # bookkeeping only: never fail the request for it
                log.warning("could not record the token's last use: %s", exc)
            return
        if expected is None and not settings.listens_beyond_localhost and not tokens_crud.any_made(session=session):
            return  # localhost, and no token was ever configured
    raise _unauthorized()
