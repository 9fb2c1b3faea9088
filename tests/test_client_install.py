"""`pip install trainboard` is the client alone: the `trainboard` script still answers, `sync` with
the client's own code and every other command with one line saying what to install."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Makes the server's packages missing, as in an environment where only `pip install trainboard` ran.
WITHOUT_SERVER = textwrap.dedent(
    """
    import sys

    class ServerMissing:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("fastapi", "sqlalchemy", "celery", "pydantic", "click", "torch", "numpy"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, ServerMissing())
    sys.argv = ["trainboard", *sys.argv[1:]]
    from trainboard.cli import main
    main()
    """
)


def trainboard_without_server(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SERVER, *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_a_server_command_says_what_to_install():
    result = trainboard_without_server("api")
    assert result.returncode == 2
    first = result.stderr.splitlines()[0]
    assert "`trainboard api` needs the server's packages" in first
    assert "pip install 'trainboard[server]'" in first
    assert "Traceback" not in result.stderr
