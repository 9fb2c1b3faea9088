"""The `trainboard` command line against a real API: the app served by uvicorn in a thread on a
free port, over a migrated SQLite database and the embedded broker (no worker: runs stay queued
unless a test drives them through the worker's REST routes itself)."""

from __future__ import annotations

import json
import re
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from click.testing import CliRunner, Result

from backend.cli import cli
from backend.cli import progress as cli_progress
from backend.cli.progress import RunProgress
from backend.cli.supervisor import visible_gpu_count
from trainboard.settings import get_settings
from backend.main import create_app
from tests.utils.live_server import serve

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC_ARGS = [
    "--model", "mlp", "--dataset", "synthetic_mnist",
    "--set", "learning_rate=0.1", "--set", "epochs=3", "--set", "batch_size=64",
]  # fmt: skip


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only (overrides the conftest's SQLite + Postgres parametrization): the CLI only
    talks HTTP, the stores are covered by the backend tests."""
    return f"sqlite:///{tmp_path / 'trainboard.db'}"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch) -> Iterator[None]:
    """No TRAINBOARD_* variable from the caller's shell; what a command sets is undone after."""
    for key in list(os.environ):
        if key.startswith("TRAINBOARD_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRAINBOARD_HOST", "127.0.0.1")  # `api` and `up` set these two
    monkeypatch.setenv("TRAINBOARD_PORT", "8000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def api_url(migrated, monkeypatch) -> Iterator[str]:
    with serve(create_app(migrated)) as url:
        monkeypatch.setenv("TRAINBOARD_API_URL", url)
        yield url


def invoke(*args: str, input: str | None = None) -> Result:
    get_settings.cache_clear()  # the commands read the environment through the cached settings
    return CliRunner().invoke(cli, list(args), input=input)


def assert_one_line_error(result: Result, starts_with: str) -> str:
    assert result.exit_code != 0, result.output
    assert result.stderr.startswith(f"error: {starts_with}"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    return result.stderr.strip()


def get_run(url: str, run_id: int) -> dict:
    return httpx.get(f"{url}/api/v1/runs/{run_id}").raise_for_status().json()


def run_count(url: str) -> int:
    return httpx.get(f"{url}/api/v1/runs").raise_for_status().json()["count"]


def post_run(url: str, name: str, group: str | None = None, epochs: int = 3) -> dict:
    spec = {"model": "mlp", "dataset": "synthetic_mnist", "learning_rate": 0.1, "epochs": epochs, "batch_size": 64}
    response = httpx.post(f"{url}/api/v1/runs", json={"name": name, "group": group, "spec": spec})
    return response.raise_for_status().json()


# --- submit --------------------------------------------------------------------------------------


def test_submit_with_set_builds_the_spec(api_url):
    result = invoke(
        "submit", *SPEC_ARGS,
        "--set", "model.hidden_sizes=[256,128]", "--set", "model.activation=relu",
        "--optimizer", "sgd", "--set", "optimizer.momentum=0.9", "--set", "epochs=30",
        "--name", "lr 0.1", "--group", "sweep",
    )  # fmt: skip
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip() == "submitted run 1: lr 0.1 (queued)"

    run = get_run(api_url, 1)
    assert (run["name"], run["group"], run["status"]) == ("lr 0.1", "sweep", "queued")
    spec = run["spec"]
    assert spec["model"]["name"] == "mlp"
    assert spec["model"]["hidden_sizes"] == [256, 128]
    assert spec["model"]["activation"] == "relu"
    assert spec["dataset"]["name"] == "synthetic_mnist"
    assert spec["optimizer"] == {**spec["optimizer"], "name": "sgd", "momentum": 0.9}
    assert (spec["learning_rate"], spec["epochs"], spec["batch_size"]) == (0.1, 30, 64)


def test_submit_from_a_spec_file_with_overrides(api_url, tmp_path):
    spec_file = tmp_path / "run.yaml"
    spec_file.write_text(
        "name: from file\ngroup: files\n"
        "spec:\n  model: mlp\n  dataset: synthetic_mnist\n  learning_rate: 0.5\n  epochs: 2\n  batch_size: 32\n"
    )
    result = invoke("submit", str(spec_file), "--set", "model.dropout=0.25", "--set", "learning_rate=1e-3")
    assert result.exit_code == 0, result.stderr
    run = get_run(api_url, 1)
    assert (run["name"], run["group"]) == ("from file", "files")
    assert run["spec"]["model"]["dropout"] == 0.25  # "mlp" became {"name": "mlp", "dropout": 0.25}
    assert run["spec"]["learning_rate"] == 0.001  # 1e-3 read as a number, not a string
    assert run["spec"]["epochs"] == 2

    bare = tmp_path / "spec.json"  # a bare TrainSpec, in JSON
    bare.write_text(json.dumps({"model": {"name": "mlp"}, "dataset": "synthetic_mnist", "learning_rate": 0.2,
                                "epochs": 4, "batch_size": 16}))  # fmt: skip
    result = invoke("submit", str(bare), "--name", "bare")
    assert result.exit_code == 0, result.stderr
    assert get_run(api_url, 2)["spec"]["epochs"] == 4
    assert get_run(api_url, 2)["name"] == "bare"


def test_submit_bad_value_is_one_line_and_stores_nothing(api_url):
    result = invoke("submit", *SPEC_ARGS, "--set", "learning_rate=0")
    message = assert_one_line_error(result, "spec.learning_rate: Input should be greater than 0")
    assert "body" not in message

    result = invoke("submit", *SPEC_ARGS, "--set", "learning_rate=-1", "--set", "model.hidden_sizes=[0]")
    message = assert_one_line_error(result, "spec.")
    assert "spec.learning_rate: Input should be greater than 0" in message
    assert "spec.model.hidden_sizes[0]: Input should be greater than or equal to 1" in message  # no union tag
    assert "; " in message

    result = invoke("submit", "--model", "mlp")  # required fields missing
    message = assert_one_line_error(result, "spec.")
    assert "spec.learning_rate: Field required" in message
    assert run_count(api_url) == 0


def test_submit_usage_errors_are_one_line(api_url, tmp_path):
    assert_one_line_error(invoke("submit", *SPEC_ARGS, "--set", "learning_rate"), "bad --set 'learning_rate'")
    assert_one_line_error(invoke("submit", *SPEC_ARGS, "--set", "model.hidden_sizes=[1,"), "bad --set value")
    nested = invoke("submit", *SPEC_ARGS, "--set", "epochs.x=1")
    assert_one_line_error(nested, "cannot set epochs.x: epochs is 3, not an object")
    assert_one_line_error(invoke("submit", str(tmp_path / "missing.yaml")), "cannot read spec file")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [mlp\nepochs: 3\n")
    assert_one_line_error(invoke("submit", str(broken)), f"invalid YAML in {broken}")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    assert_one_line_error(invoke("submit", str(listing)), f"spec file {listing} must hold a mapping")
    assert_one_line_error(invoke("submit", "--bogus"), "No such option")
    assert run_count(api_url) == 0


def test_submit_reads_stdin(api_url):
    spec = {"spec": {"model": "mlp", "dataset": "synthetic_mnist", "learning_rate": 0.1, "epochs": 1,
                     "batch_size": 8}, "name": "piped"}  # fmt: skip
    result = invoke("submit", "-", input=json.dumps(spec))
    assert result.exit_code == 0, result.stderr
    assert get_run(api_url, 1)["name"] == "piped"


# --- ls, show, cancel ----------------------------------------------------------------------------


def test_ls_lists_and_filters(api_url):
    post_run(api_url, "first run", group="a")
    post_run(api_url, "second run", group="b", epochs=7)

    result = invoke("ls")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "MODEL", "DATASET", "EPOCH", "PARAMS", "MACS", "CREATED"]
    assert "second run" in lines[1] and "0/7" in lines[1]  # newest first
    assert "first run" in lines[2] and "queued" in lines[2] and "mlp" in lines[2] and "synthetic_mnist" in lines[2]
    assert lines[-1] == "2 of 2 runs"

    result = invoke("ls", "--group", "a")
    assert "first run" in result.stdout and "second run" not in result.stdout
    assert result.stdout.splitlines()[-1] == "1 of 1 runs"
    assert invoke("ls", "--limit", "1").stdout.splitlines()[-1] == "1 of 2 runs"
    assert invoke("ls", "--name", "second").stdout.splitlines()[-1] == "1 of 1 runs"
    assert invoke("ls", "--status", "completed", "--status", "failed").stdout.strip() == "0 of 0 runs"


def test_show_prints_fields_and_spec(api_url):
    run = post_run(api_url, "shown")
    result = invoke("show", str(run["id"]))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"run {run['id']}: shown\n")
    assert "queued" in result.stdout
    assert "spec:" in result.stdout and "hidden_sizes" in result.stdout and "learning_rate: 0.1" in result.stdout

    raw = invoke("show", str(run["id"]), "--json")
    assert raw.exit_code == 0
    assert json.loads(raw.stdout) == get_run(api_url, run["id"])

    assert assert_one_line_error(invoke("show", "999"), "run 999 not found") == "error: run 999 not found"


def test_submit_ls_and_show_say_why_a_run_no_worker_can_take_waits(api_url):
    """The test worker has no GPU: a cuda run waits for one, and every view says so."""
    result = invoke("submit", *SPEC_ARGS, "--set", "device=cuda", "--name", "on gpu")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "submitted run 1: on gpu (queued: waiting for a worker with a GPU)"
    post_run(api_url, "on any device")

    lines = invoke("ls").stdout.splitlines()
    assert "on any device" in lines[1] and "queued!" not in lines[1]  # a worker takes it when free
    assert "on gpu" in lines[2] and "queued!" in lines[2]
    assert lines[-2:] == ["! run 1: waiting for a worker with a GPU", "2 of 2 runs"]

    shown = invoke("show", "1").stdout
    assert "  status    queued: waiting for a worker with a GPU\n" in shown


def test_ls_show_and_cancel_tell_script_runs_apart(api_url):
    post_run(api_url, "worker run")
    created = httpx.post(f"{api_url}/api/v1/runs/track", json={"name": "my script", "config": {"lr": 0.01}})
    script = created.raise_for_status().json()

    lines = invoke("ls").stdout.splitlines()
    assert "my script" in lines[1] and "running" in lines[1] and lines[1].split()[4] == "script"
    assert "worker run" in lines[2] and "mlp" in lines[2]
    only_scripts = invoke("ls", "--source", "script").stdout.splitlines()
    assert only_scripts[-1] == "1 of 1 runs" and "my script" in only_scripts[1]

    shown = invoke("show", str(script["id"])).stdout
    assert "config:" in shown and "lr: 0.01" in shown and "spec:" not in shown

    cancelled = invoke("cancel", str(script["id"]))
    assert cancelled.exit_code == 0, cancelled.stderr
    assert "run.should_stop" in cancelled.stdout
    assert get_run(api_url, script["id"])["cancel_requested"] is True


def test_cancel_queued_run(api_url):
    run = post_run(api_url, "to cancel")
    result = invoke("cancel", str(run["id"]))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == f"run {run['id']}: cancelled"
    assert get_run(api_url, run["id"])["status"] == "cancelled"

    assert_one_line_error(invoke("cancel", str(run["id"])), f"run {run['id']} is already cancelled")  # 409
    assert_one_line_error(invoke("cancel", "42"), "run 42 not found")


# --- watch ---------------------------------------------------------------------------------------


def drive(url: str, run_id: int, epochs: int, status: str = "completed", error: str | None = None) -> threading.Thread:
    """Play the worker: claim the run, report each epoch's metrics, finish."""

    def play():
        with httpx.Client(base_url=f"{url}/api/v1/runs/{run_id}/") as client:
            deadline = time.monotonic() + 20
            while httpx.get(f"{url}/api/v1/runs/{run_id}").status_code == 404:  # `submit --watch`
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.3)  # usually after `watch` has connected; before is fine too (backlog)
            lease = client.post("start", json={"worker_host": "test"}).raise_for_status().json()["attempt"]
            for epoch in range(1, epochs + 1):
                points = [
                    {"name": "train_loss", "step": epoch, "value": 1.0 / epoch},
                    {"name": "test_loss", "step": epoch, "value": 1.5 / epoch},
                    {"name": "test_accuracy", "step": epoch, "value": 0.5 + 0.1 * epoch},
                    {"name": "epoch_seconds", "step": epoch, "value": 2.0},
                    {"name": "lr", "step": epoch, "value": None},
                ]
                client.post("metrics", json={"attempt": lease, "points": points}).raise_for_status()
                time.sleep(0.1)
            finish = {"attempt": lease, "status": status, "error": error, "epochs_completed": epochs}
            client.post("finish", json=finish).raise_for_status()

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


def test_watch_follows_a_run_to_completion(api_url):
    run = post_run(api_url, "watched", epochs=3)
    driver = drive(api_url, run["id"], epochs=3)
    result = invoke("watch", str(run["id"]))
    driver.join(timeout=10)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"run {run['id']} (watched): ")
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/3", "2/3", "3/3"]
    assert "train loss 1.0000" in epoch_lines[0] and "test loss 1.5000" in epoch_lines[0]
    assert "test acc 60.00%" in epoch_lines[0] and "ETA 4s" in epoch_lines[0]  # 2 s/epoch x 2 left
    assert lines[-1] == f"run {run['id']} completed: 3/3 epochs"


def test_submit_watch_reports_a_failed_run(api_url):
    error = "Traceback...\nTrainingDiverged: loss is nan at epoch 1"
    driver = drive(api_url, 1, epochs=1, status="failed", error=error)  # waits for run 1 to exist
    result = invoke("submit", *SPEC_ARGS, "--watch")
    driver.join(timeout=10)
    assert result.exit_code == 1
    assert result.stdout.startswith("submitted run 1: mlp on synthetic_mnist (queued)\n")
    assert "epoch 1/3" in result.stdout
    assert result.stderr.strip() == (
        "error: run 1 failed: TrainingDiverged: loss is nan at epoch 1 (full error: trainboard show 1)"
    )


def test_watch_a_cancelled_run_exits_1(api_url):
    run = post_run(api_url, "stopped")
    httpx.post(f"{api_url}/api/v1/runs/{run['id']}/cancel").raise_for_status()
    result = invoke("watch", str(run["id"]))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: run {run['id']} was cancelled"
    assert_one_line_error(invoke("watch", "77"), "run 77 not found")


def test_live_progress_line_rewrites_itself(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # the live line is cut to the terminal width
    progress = RunProgress(5, live=True)
    progress.on_state({"id": 5, "name": "live", "status": "running", "spec": {"epochs": 4}, "epochs_completed": 0})
    progress.on_metrics([{"name": "train_loss", "step": 1, "value": 0.5}, {"name": "epoch_seconds", "step": 1,
                                                                            "value": 60.0}])  # fmt: skip
    progress.clear()
    out = capsys.readouterr().out
    assert "run 5 (live): running\n" in out
    assert "\r" in out and "epoch 1/4 [##--------]  loss train 0.5000 test n/a  acc n/a" in out
    assert "ETA 3m00s" in out


def serve_streams(monkeypatch, *bodies: str, content_type: str = "text/event-stream") -> list[str | None]:
    """`watch` reads these bodies, one per connection, from an API that is only an httpx mock
    transport; returns the Last-Event-ID each connection sent (reconnections do not wait)."""
    sent: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers.get("last-event-id"))
        return httpx.Response(200, headers={"content-type": content_type}, content=bodies[len(sent) - 1].encode())

    def mock_client(settings, **options) -> httpx.Client:
        return httpx.Client(base_url=f"{settings.api_url}/api/v1", transport=httpx.MockTransport(handler))

    monkeypatch.setenv("TRAINBOARD_API_URL", "http://api.test")
    monkeypatch.setattr(cli_progress, "api_client", mock_client)
    monkeypatch.setattr(cli_progress.time, "sleep", lambda seconds: None)
    return sent


def test_watch_resumes_a_dropped_stream_after_the_last_event(monkeypatch):
    def state(status: str, done: int) -> str:
        run = {"id": 9, "name": "flaky", "status": status, "spec": {"epochs": 2}, "epochs_completed": done}
        return f"event: state\ndata: {json.dumps(run)}\n\n"

    def metrics(event_id: int, step: int) -> str:
        points = [{"name": "train_loss", "step": step, "value": 1.0 / step}]
        return f"id: {event_id}\nevent: metrics\ndata: {json.dumps({'points': points})}\n\n"

    sent = serve_streams(
        monkeypatch,
        state("running", 0) + metrics(11, 1) + 'event: metrics\ndata: {"poi',  # dropped in the middle of an event
        state("running", 1) + metrics(12, 2) + state("completed", 2) + 'event: end\ndata: {"status": "completed"}\n\n',
    )
    result = invoke("watch", "9")
    assert result.exit_code == 0, result.output
    assert sent == [None, "11"]
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("epoch ")] == ["1/2", "2/2"]
    assert result.stdout.splitlines()[-1] == "run 9 completed: 2/2 epochs"


def test_watch_of_something_other_than_the_api_is_one_line(monkeypatch):
    serve_streams(monkeypatch, "<html></html>", content_type="text/html")
    message = assert_one_line_error(invoke("watch", "9"), "http://api.test did not answer like the trainboard API")
    assert message.endswith("is TRAINBOARD_API_URL right?")


# --- auth and reachability -----------------------------------------------------------------------


def test_token_is_sent_and_a_401_is_one_line(migrated, monkeypatch):
    with serve(create_app(migrated.model_copy(update={"api_token": "s3cret"}))) as url:
        monkeypatch.setenv("TRAINBOARD_API_URL", url)
        message = assert_one_line_error(invoke("submit", *SPEC_ARGS), "a valid API token is required")
        assert message.endswith("(set TRAINBOARD_API_TOKEN)")
        monkeypatch.setenv("TRAINBOARD_API_TOKEN", "s3cret")
        result = invoke("submit", *SPEC_ARGS)
        assert result.exit_code == 0, result.stderr
        assert invoke("cancel", "1").stdout.strip() == "run 1: cancelled"


def test_unreachable_api_is_one_line(monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv("TRAINBOARD_API_URL", url)
    expected = f"error: cannot reach the trainboard API at {url}: is it running? (trainboard up)\n"
    for args in (["ls"], ["show", "1"], ["watch", "1"], ["cancel", "1"], ["submit", *SPEC_ARGS]):
        result = invoke(*args)
        assert result.exit_code == 1, args
        assert result.stderr == expected, args


# --- serving commands ----------------------------------------------------------------------------


def test_api_refuses_an_unmigrated_database_then_migrate_lets_it_serve(tmp_path, monkeypatch):
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append((args, kwargs)))
    monkeypatch.setenv("TRAINBOARD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TRAINBOARD_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")

    message = assert_one_line_error(invoke("api"), "the database sqlite:///")
    assert "none (empty)" in message and "trainboard migrate" in message
    assert served == []

    result = invoke("migrate")
    assert result.exit_code == 0, result.stderr
    assert "is at schema revision" in result.stdout

    message = assert_one_line_error(invoke("api", "--host", "0.0.0.0"), "refusing to listen on 0.0.0.0")
    assert served == []
    monkeypatch.setenv("TRAINBOARD_HOST", "127.0.0.1")  # `api --host` set it for this test process

    result = invoke("api", "--port", "8765")
    assert result.exit_code == 0, result.stderr
    assert served == [(("backend.main:create_app",), {"factory": True, "host": "127.0.0.1", "port": 8765})]
    assert os.environ["TRAINBOARD_PORT"] == "8765"  # what the factory in uvicorn reads


def test_worker_execs_celery_with_one_process_per_gpu(monkeypatch):
    execs = []
    monkeypatch.setattr(os, "execvp", lambda file, argv: execs.append(argv))

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert invoke("worker").exit_code == 0
    argv = execs[-1]
    assert argv[:5] == [sys.executable, "-m", "celery", "-A", "worker.celery_app"]
    assert argv[argv.index("--concurrency") + 1] == "2"
    for flag, value in (("-P", "prefork"), ("-O", "fair"), ("--loglevel", "info")):
        assert argv[argv.index(flag) + 1] == value

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU: one process
    invoke("worker", "--loglevel", "WARNING")
    assert execs[-1][execs[-1].index("--concurrency") + 1] == "1"
    assert execs[-1][execs[-1].index("--loglevel") + 1] == "warning"

    invoke("worker", "--concurrency", "3")
    assert execs[-1][execs[-1].index("--concurrency") + 1] == "3"


def test_visible_gpu_count(monkeypatch, tmp_path):
    for visible, count in (("0", 1), ("0,1,2", 3), ("2, 3", 2), ("", 0), ("-1", 0), ("0,-1,1", 1)):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        assert visible_gpu_count() == count, visible

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    fake_smi = tmp_path / "nvidia-smi"
    fake_smi.write_text(
        "#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-a)'\necho '  MIG 1g.10gb Device 0: (UUID: MIG-b)'\n"
        "echo 'GPU 1: NVIDIA H100 (UUID: GPU-c)'\n"
    )
    fake_smi.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert visible_gpu_count() == 2
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert visible_gpu_count() == 0


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("backend.cli", ["torch", "celery", "sqlalchemy", "uvicorn", "fastapi", "worker", "backend.main"]),
        ("trainboard.sse", ["torch", "backend", "worker"]),
        ("trainboard.spec_paths", ["torch", "backend", "worker"]),
    ],
)
def test_client_imports_stay_light(module, forbidden):
    """Client commands start quickly: the command line imports the heavy parts inside the
    commands that need them, and the contract package never imports torch, backend or worker."""
    found = "sorted(m for m in sys.modules for f in FORBIDDEN if m == f or m.startswith(f + '.'))"
    code = f"import sys, {module}; FORBIDDEN = {forbidden!r}; print({found})"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert loaded.strip() == "[]"


# --- trainboard up: real processes, a real worker training (marked e2e: `-m "not e2e"` skips them) ----


def processes_with(marker: str) -> list[int]:
    """Pids of the live processes whose environment holds `marker` (children inherit it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
            with open(f"/proc/{entry}/stat") as handle:
                zombie = handle.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if marker.encode() in environ and not zombie:
            found.append(int(entry))
    return found


@contextmanager
def trainboard_up(tmp_path) -> Iterator[tuple[subprocess.Popen, str, str]]:
    """`trainboard up` in tmp_path (so ./trainboard-data lands there); yields (process, url, marker)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tag = uuid.uuid4().hex
    marker = f"TRAINBOARD_TEST_MARKER={tag}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINBOARD_")}
    env.update({"TRAINBOARD_HEARTBEAT_SECONDS": "1", "PYTHONUNBUFFERED": "1", "TRAINBOARD_TEST_MARKER": tag})
    log = tmp_path / "up.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "up", "--port", str(port)],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(REPO_ROOT)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as in a terminal
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # even if ours ignores it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while f"trainboard is running at {url}  (API docs: {url}/docs)" not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield process, url, marker
    except BaseException:
        print(log.read_text(errors="replace")[-6000:])
        raise
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in processes_with(marker):  # never leave a worker behind
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c"])
@pytest.mark.e2e
@pytest.mark.timeout(240)
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the child processes through /proc")
def test_up_trains_a_run_and_stops_cleanly(tmp_path, monkeypatch, stop):
    with trainboard_up(tmp_path) as (process, url, marker):
        assert (tmp_path / "trainboard-data" / "trainboard.db").exists()  # migrated, in ./trainboard-data
        assert len(processes_with(marker)) >= 3  # up, the API, the worker (and its pool)

        monkeypatch.setenv("TRAINBOARD_API_URL", url)
        result = invoke("submit", *SPEC_ARGS, "--set", "epochs=2", "--watch")
        assert result.exit_code == 0, result.output + result.stderr
        assert result.stdout.splitlines()[-1] == "run 1 completed: 2/2 epochs"

        if stop == "sigterm":  # a supervisor stopping `up` alone
            process.send_signal(signal.SIGTERM)
        else:  # Ctrl-C in a terminal: SIGINT to the whole foreground group, children included
            os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(marker) == [], "a child of `trainboard up` outlived it"


@pytest.mark.e2e
@pytest.mark.timeout(240)
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the child processes through /proc")
def test_up_stops_everything_when_a_child_dies(tmp_path):
    with trainboard_up(tmp_path) as (process, url, marker):
        children = [pid for pid in processes_with(marker) if pid != process.pid]
        api = [pid for pid in children if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3:4] == [b"api"]]
        assert len(api) == 1
        os.kill(api[0], signal.SIGKILL)
        assert process.wait(timeout=60) != 0
        assert "error: the API exited with code -9; stopping trainboard" in (tmp_path / "up.log").read_text()
        deadline = time.monotonic() + 10
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(marker) == [], "the worker outlived `trainboard up`"


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the child processes through /proc")
def test_up_restarts_a_killed_worker_whose_token_a_cli_token_never_stops(tmp_path, monkeypatch):
    """Issue 12, rows 4 and 13: with a token made by the CLI before `up` (no TRAINBOARD_API_TOKEN),
    the local worker still authenticates; SIGKILL of its main process (an OOM kill) restarts it
    while the API keeps serving, and a run submitted then completes."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRAINBOARD_")}, "PYTHONPATH": str(REPO_ROOT)}
    for args in (["migrate"], ["token", "create", "me"]):
        done = subprocess.run([sys.executable, "-m", "backend.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
    secret = done.stdout.strip().splitlines()[-1]
    with trainboard_up(tmp_path) as (process, url, marker):
        monkeypatch.setenv("TRAINBOARD_API_URL", url)
        monkeypatch.setenv("TRAINBOARD_API_TOKEN", secret)
        children = [pid for pid in processes_with(marker) if _parent(pid) == process.pid]
        api = [pid for pid in children if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[3:4] == [b"api"]]
        (worker,) = set(children) - set(api)
        os.kill(worker, signal.SIGKILL)
        log = tmp_path / "up.log"
        deadline = time.monotonic() + 60
        while "worker started again (restart 1)" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert httpx.get(f"{url}/health", timeout=10).status_code == 200  # the API keeps serving
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        assert "the worker exited with code -9; starting it again in 1 s" in log.read_text(errors="replace")
        result = invoke("submit", *SPEC_ARGS, "--set", "epochs=2", "--watch")
        assert result.exit_code == 0, result.output + result.stderr + log.read_text(errors="replace")[-3000:]
        assert result.stdout.splitlines()[-1] == "run 1 completed: 2/2 epochs"
        assert process.poll() is None


def test_catalog_and_workers_show_what_the_workers_offer(api_url):
    result = invoke("catalog")
    assert result.exit_code == 0, result.output
    mlp = r"^mlp\s+classification\s+trainboard\s+trainboard@test-worker\s+hidden_sizes=\[128, 64\]"
    assert re.search(mlp, result.output, re.M), result.output
    assert re.search(r"^synthetic_mnist\s+classification\s+1x28x28\s+10\s+trainboard", result.output, re.M)
    result = invoke("workers")
    assert result.exit_code == 0, result.output
    assert re.search(r"^trainboard@test-worker\s+online", result.output, re.M)
    assert result.output.strip().endswith("1 of 1 workers online")
