"""The `trainboard` command line: run the service, and submit, list, watch and cancel runs.

    trainboard up                        # migrate, then the API and one local worker
    trainboard migrate | api | worker    # the same pieces one by one (scaled setups)
    trainboard submit spec.yaml --set learning_rate=0.1 --set model.hidden_sizes=[256,128] --watch
    trainboard ls --group sweep | show 12 | watch 12 | cancel 12
    trainboard study create study.yaml | show 3 | stats 3 --metric test_accuracy | extend 3 --seeds 2
    trainboard catalog | workers         # what the workers can train (plugins included), the workers
    trainboard sync trainboard-runs/     # send runs your own scripts kept on disk (offline, API down)

Client commands talk to the REST API at TRAINBOARD_API_URL (with TRAINBOARD_API_TOKEN when set).
Every failure prints one line on stderr, `error: ...`, and exits non-zero.

One module per concern: `runs`, `studies` and `tokens` hold their commands, `supervisor` the ones
that run the service; `http` talks to the API, `specs` assembles what is submitted, `progress`
follows a run. Imports of the backend, the worker and uvicorn stay inside the commands that need
them, so the client commands start quickly (no torch, no Celery).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from backend.cli import catalog, runs, studies, supervisor, tokens
from backend.cli.common import one_line


class TrainboardGroup(click.Group):
    """A click group whose every failure, click's own usage errors included, is one line on stderr."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # `trainboard` alone prints the help
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            message = one_line(exc.format_message())
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                message += f" (see '{exc.ctx.command_path} --help')"
            click.echo(f"error: {message}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            sys.exit(130)  # Ctrl-C; click has already ended the ^C line
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=TrainboardGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Launch, watch and compare PyTorch training runs.

    Settings come from TRAINBOARD_* environment variables (TRAINBOARD_API_URL,
    TRAINBOARD_API_TOKEN, TRAINBOARD_DATA_DIR, TRAINBOARD_DATABASE_URL, ...)."""


for command in (
    supervisor.migrate, supervisor.api, supervisor.worker, supervisor.up,
    runs.submit, runs.list_runs, runs.show, runs.watch, runs.cancel, runs.sync,
    tokens.token, studies.study, catalog.catalog, catalog.workers,
):  # fmt: skip
    cli.add_command(command)


def main() -> None:
    """Entry point of the `trainboard` script."""
    cli(prog_name="trainboard")
