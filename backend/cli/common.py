"""What the command modules share: settings read with one-line errors, and the text they print
(one-line messages, tables, times, counts)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click
from pydantic import ValidationError

from trainboard.settings import Settings, get_settings

STATUSES = ("queued", "running", "completed", "failed", "cancelled")


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_settings() -> Settings:
    """The settings from the environment, with a bad variable reported as a one-line error."""
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"TRAINBOARD_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise click.ClickException(f"invalid settings: {problems}") from None


def database_error(exc: Exception) -> click.ClickException:
    reason = str(getattr(exc, "orig", None) or exc)  # SQLAlchemy wraps the driver's error
    return click.ClickException(f"cannot use the database: {one_line(reason.splitlines()[0] if reason else repr(exc))}")


# --- formatting --------------------------------------------------------------------------------


def human_count(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return str(value)


def local_time(value: str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # the API stores UTC
    return moment.astimezone().strftime(fmt)


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def total_epochs(run: dict[str, Any]) -> int | None:
    epochs = (run.get("spec") or {}).get("epochs")
    return epochs if isinstance(epochs, int) else None


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]
    return "\n".join(lines)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def indent(text: str) -> str:
    return "\n".join("  " + line for line in text.rstrip().splitlines())
