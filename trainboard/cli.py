"""The `trainboard` script. `trainboard sync` needs the client alone (`pip install trainboard`), so it
is answered here without importing the server; every other command is the server's command line
(`backend.cli`, from `pip install 'trainboard[server]'`), which lists `sync` among its commands too."""

from __future__ import annotations

import sys

SERVER_MISSING = (
    "error: `trainboard {command}` needs the server's packages ({missing} is not installed): "
    "pip install 'trainboard[server]'"
)


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["sync"]:
        from trainboard.client.sync import main as sync

        sys.exit(sync(argv[1:]))
    try:
        from backend.cli import main as server_cli
    except ModuleNotFoundError as exc:
        command = argv[0] if argv else "--help"
        print(SERVER_MISSING.format(command=command, missing=exc.name), file=sys.stderr)
        print("With the client alone: trainboard sync DIR [DIR ...]  (send runs kept on disk)", file=sys.stderr)
        sys.exit(2)
    server_cli()
