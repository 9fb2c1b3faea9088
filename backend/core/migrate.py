"""Schema migrations (Alembic): upgrade to head, and tell whether a database is up to date."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


class DatabaseNotMigrated(RuntimeError):
    pass


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


def upgrade(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_migrated(engine: Engine) -> None:
    """Raise `DatabaseNotMigrated` with the fix in the message unless the schema is at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise DatabaseNotMigrated(
            f"the database {engine.url.render_as_string(hide_password=True)} is at schema revision "
            f"{current or 'none (empty)'}, expected {head}: run `trainboard migrate` (or `trainboard up`, "
            "which migrates) first"
        )
