"""`trainboard token ...`: API tokens, created, listed and revoked in the database directly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from backend.cli.common import database_error, format_table, load_settings, local_time


@click.group()
def token() -> None:
    """API tokens, kept hashed in the database (the command acts on it directly, like `migrate`).

    \b
    trainboard token create laptop     # prints the secret once: send it as 'Authorization: Bearer ...'
    trainboard token ls
    trainboard token revoke laptop
    """


@contextmanager
def _token_session() -> Iterator[Any]:
    """A session on the migrated database, committed at the end; failures as one-line errors."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from backend.core.db import get_engine
    from backend.core.migrate import DatabaseNotMigrated, check_migrated

    settings = load_settings()
    try:
        engine = get_engine(settings)
        check_migrated(engine)
        with Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    except DatabaseNotMigrated as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise database_error(exc) from None


@token.command("create")
@click.argument("name")
def token_create(name: str) -> None:
    """Create a token NAME and print its secret (shown this once only)."""
    from backend.crud import tokens as tokens_crud

    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise click.UsageError("the token name must have 1 to 100 characters")
    with _token_session() as session:
        existing = tokens_crud.get_token_by_name(session=session, name=name)
        if existing is not None:
            state = " (revoked)" if existing.revoked_at is not None else ""
            raise click.ClickException(f"a token named {name!r} already exists{state}: choose another name")
        _, secret = tokens_crud.create_token(session=session, name=name)
    click.echo(f"created token {name!r}; its secret, shown only this once:", err=True)
    click.echo(secret)


@token.command("ls")
def token_list() -> None:
    """List the tokens: name, prefix, created, last used, revoked."""
    from backend.crud import tokens as tokens_crud

    with _token_session() as session:
        found = tokens_crud.list_tokens(session=session)

    def when(moment: datetime | None) -> str:
        return local_time(moment.isoformat(), "%Y-%m-%d %H:%M") if moment else "-"

    rows = [
        [item.name, item.prefix + "…", when(item.created_at), when(item.last_used_at), when(item.revoked_at)]
        for item in found
    ]
    if rows:
        click.echo(format_table(["NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"], rows))
    click.echo(f"{len(rows)} token{'s' if len(rows) != 1 else ''}")


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke token NAME: requests with it are refused from now on."""
    from backend.crud import tokens as tokens_crud

    with _token_session() as session:
        found = tokens_crud.get_token_by_name(session=session, name=name)
        if found is None:
            raise click.ClickException(f"no token named {name!r} (see 'trainboard token ls')")
        already = found.revoked_at is not None
        tokens_crud.revoke_token(session=session, token=found)
    click.echo(f"token {name!r} {'was already' if already else 'is now'} revoked")
