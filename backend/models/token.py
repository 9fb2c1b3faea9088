from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.models.base import Base, UtcDateTime, utcnow


class ApiToken(Base):
    """A named API token, made with `trainboard token create NAME`. Only a hash of the secret is
    stored: the secret is shown once, when it is made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # SHA-256 hex of the secret. Enough here: the secret is 32 random bytes (secrets.token_urlsafe),
    # so there is nothing to guess or look up in a dictionary, and slow password hashes (bcrypt,
    # scrypt) would only add their cost to every request. Unique, so a lookup is one index probe.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the secret's first characters, to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
