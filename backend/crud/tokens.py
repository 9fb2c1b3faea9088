"""API tokens: create, list, revoke, and find the live token a request presents."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.models import ApiToken
from backend.models.base import utcnow

TOKEN_PREFIX = "tb_"
DISPLAY_CHARS = 10  # "tb_" and 7 characters of the secret: enough to tell tokens apart
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def create_token(*, session: Session, name: str) -> tuple[ApiToken, str]:
    """A new token and its secret, which is not stored and cannot be shown again."""
    secret = new_secret()
    token = ApiToken(name=name, token_hash=hash_secret(secret), prefix=secret[:DISPLAY_CHARS])
    session.add(token)
    session.flush()
    return token, secret


def get_token_by_name(*, session: Session, name: str) -> ApiToken | None:
    return session.scalar(select(ApiToken).where(ApiToken.name == name))


def list_tokens(*, session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)))


def revoke_token(*, session: Session, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()


def any_made(*, session: Session) -> bool:
    """Whether a token was ever made, revoked ones included: then writes need one for good."""
    return session.scalar(select(ApiToken.id).limit(1)) is not None


def any_active(*, session: Session) -> bool:
    return session.scalar(select(ApiToken.id).where(ApiToken.revoked_at.is_(None)).limit(1)) is not None


def find_active(*, session: Session, secret: str, now: datetime | None = None) -> ApiToken | None:
    """The unrevoked token whose secret this is, its last use recorded (at most once a minute).
    The lookup is by hash, so no comparison of secrets can leak timing."""
    token = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == hash_secret(secret), ApiToken.revoked_at.is_(None))
    )
    if token is None:
        return None
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
        token.last_used_at = now
    return token
