"""`import trainboard` is the client-only install's whole cost: the standard library, quickly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["httpx", "pydantic", "pydantic_settings", "fastapi", "starlette", "sqlalchemy", "celery", "numpy", "torch",
         "click", "uvicorn", "backend", "worker"]  # fmt: skip


def run_python(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout


@pytest.mark.parametrize("module", ["trainboard", "trainboard.client", "trainboard.client.sync"])
def test_importing_the_client_loads_no_third_party_module(module):
    code = (
        f"import sys, {module}; assert callable({module.split('.')[0]}.init) and {module.split('.')[0]}.Run;"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    assert run_python(code).strip() == "[]"


def test_import_trainboard_takes_less_than_150_ms():
    code = "import time; start = time.perf_counter(); import trainboard; print(time.perf_counter() - start)"
    best = min(float(run_python(code)) for _ in range(3))  # the best of three: the machine may be busy
    assert best < 0.150
