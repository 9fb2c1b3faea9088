"""init() and Run as a script sees them, offline (no API): checks on log(), the default name and
steps, the with block, atexit and uncaught exceptions in a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trainboard

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TRAINBOARD_MODE", "offline")
    monkeypatch.setenv("TRAINBOARD_CLIENT_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def points_of(run) -> list[list]:
    return [json.loads(line) for line in (run.folder / "points.jsonl").read_text().splitlines()]


def test_log_checks_names_values_and_steps_and_a_refused_call_logs_nothing(offline):
    run = trainboard.init(name="checks", config={"lr": 0.1})
    with pytest.raises(ValueError, match="metric name 'x{40}...' is 201 characters long, more than 100"):
        run.log({"x" * 201: 1.0})
    with pytest.raises(ValueError, match="metric name 'test accuracy'"):
        run.log({"test accuracy": 1.0})
    with pytest.raises(TypeError, match="metric 'loss': '0.5' is a str, not a number"):
        run.log({"ok": 1.0, "loss": "0.5"})
    with pytest.raises(TypeError, match="metric 'loss': None"):
        run.log({"loss": None})
    with pytest.raises(ValueError, match="step -1 is out of range"):
        run.log({"loss": 1.0}, step=-1)
    with pytest.raises(TypeError, match="step '3' is a str"):
        run.log({"loss": 1.0}, step="3")
    run.log({"loss": float("nan"), "big": float("inf"), "count": 3, "flag": True})
    run.log({"loss": 0.5})
    run.finish()
    assert [point[:3] for point in points_of(run)] == [
        ["loss", 0, None],
        ["big", 0, None],
        ["count", 0, 3.0],
        ["flag", 0, 1.0],
        ["loss", 1, 0.5],
    ]


def test_init_writes_the_run_folder_offline(offline):
    run = trainboard.init(name="mlp", group="sweep", config={"lr": 0.1, "sizes": (64, 32)})
    assert run.id is None and run.url is None and not run.should_stop
    meta = json.loads((run.folder / "run.json").read_text())
    assert run.folder.parent == offline and meta["client_key"] == run.folder.name and len(meta["client_key"]) == 32
    assert meta["format"] == 1 and meta["run_id"] is None and meta["url"] == "http://127.0.0.1:8000"
    assert (meta["name"], meta["group"], meta["config"]) == ("mlp", "sweep", {"lr": 0.1, "sizes": [64, 32]})
    assert meta["environment"]["python"] == ".".join(map(str, sys.version_info[:3])) and meta["host"]
    run.finish()


def test_bad_settings_are_refused_at_init(offline, monkeypatch):
    with pytest.raises(TypeError, match="resume must be a run id"):
        trainboard.init(resume="12")
    monkeypatch.setenv("TRAINBOARD_MODE", "ofline")
    with pytest.raises(ValueError, match="TRAINBOARD_MODE='ofline'"):
        trainboard.init()


def run_script(code: str, runs: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(REPO_ROOT), "TRAINBOARD_MODE": "offline", "TRAINBOARD_CLIENT_DIR": str(runs),
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    script = runs.parent / "train_script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=60)


def only_folder(runs: Path) -> Path:
    (folder,) = runs.iterdir()
    return folder


def test_a_script_that_forgets_finish_completes_at_exit(tmp_path):
    done = run_script(
        """
        import trainboard
        run = trainboard.init(config={"epochs": 2})
        for epoch in range(2):
            run.log({"loss": 1.0 / (epoch + 1)})
        """,
        tmp_path / "runs",
    )
    assert done.returncode == 0, done.stderr
    folder = only_folder(tmp_path / "runs")
    assert json.loads((folder / "finish.json").read_text()) == {"status": "completed", "error": None}
    assert json.loads((folder / "run.json").read_text())["name"] == "train_script"
    assert len((folder / "points.jsonl").read_text().splitlines()) == 2
    assert f"trainboard sync {folder}" in done.stderr


def test_an_uncaught_exception_fails_the_run_with_its_last_line(tmp_path):
    done = run_script(
        """
        import trainboard
        run = trainboard.init()
        run.log({"loss": 1.0})
        raise ValueError("shapes (3,) and (4,) do not match")
        """,
        tmp_path / "runs",
    )
    assert done.returncode == 1 and "Traceback" in done.stderr  # the script's own traceback still shows
    folder = only_folder(tmp_path / "runs")
    assert json.loads((folder / "finish.json").read_text()) == {
        "status": "failed",
        "error": "ValueError: shapes (3,) and (4,) do not match",
    }


def test_the_with_block_fails_the_run_and_lets_the_exception_through(offline):
    with pytest.raises(KeyError), trainboard.init() as run:
        run.log({"loss": 1.0})
        raise KeyError("lr")
    assert json.loads((run.folder / "finish.json").read_text()) == {"status": "failed", "error": "KeyError: 'lr'"}
    with trainboard.init() as clean:
        clean.log({"loss": 1.0})
    assert json.loads((clean.folder / "finish.json").read_text())["status"] == "completed"
