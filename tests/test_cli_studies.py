"""`trainboard study ...` against a real API served on a free port (the fixtures of
tests/test_cli.py): create from a YAML file, show, stats, extend, cancel, and one-line errors."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.test_cli import (  # noqa: F401 (fixtures: a live API on SQLite, a clean environment)
    api_url,
    assert_one_line_error,
    clean_environment,
    database_url,
    invoke,
)

pytestmark = pytest.mark.usefixtures("api_url")

STUDY_YAML = """\
name: optimizers
base_spec:
  model: mlp
  dataset: synthetic_mnist
  learning_rate: 1e-1
  epochs: 2
  batch_size: 32
grid:
  optimizer: [sgd, adam]
  learning_rate: [1e-1, 1e-2]
seeds: 2
"""


def write_study(tmp_path, text: str = STUDY_YAML):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return str(path)


def api(path: str) -> str:
    return f"{os.environ['TRAINBOARD_API_URL']}/api/v1{path}"


def plant(run_id: int, value: float) -> None:
    lease = httpx.post(api(f"/runs/{run_id}/start"), json={"worker_host": "w"}).raise_for_status().json()["attempt"]
    points = [{"name": name, "step": 1, "value": value} for name in ("val_accuracy", "test_accuracy")]
    httpx.post(api(f"/runs/{run_id}/metrics"), json={"attempt": lease, "points": points}).raise_for_status()
    httpx.post(api(f"/runs/{run_id}/finish"), json={"attempt": lease, "status": "completed"}).raise_for_status()


def test_create_show_and_extend(tmp_path):
    result = invoke("study", "create", write_study(tmp_path))
    assert result.exit_code == 0, result.output + result.stderr
    assert result.stdout.strip() == "created study 1: optimizers (4 cells x 2 seeds, 8 runs queued)"
    study = httpx.get(api("/studies/1")).json()
    # 1e-2 in YAML is text to PyYAML; the CLI sends it as the number it means
    assert study["grid"] == {"optimizer": ["sgd", "adam"], "learning_rate": [0.1, 0.01]}

    shown = invoke("study", "show", "1")
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "study 1: optimizers (queued)"
    assert "  progress  8 runs: 8 queued" in lines
    assert any(line.startswith("optimizer=adam learning_rate=0.01") and "0/2" in line for line in lines)

    extended = invoke("study", "extend", "1", "--seeds", "1")
    assert extended.exit_code == 0, extended.stderr
    assert extended.stdout.strip() == "study 1: 4 runs queued (seed 2); 12 runs in all"

    listed = invoke("study", "ls")
    assert "optimizers" in listed.stdout and "2 x 2" in listed.stdout and "1 of 1 studies" in listed.stdout


def test_stats_and_cancel(tmp_path):
    one_batch_size = STUDY_YAML.replace("learning_rate: [1e-1, 1e-2]", "batch_size: [32]")
    invoke("study", "create", write_study(tmp_path, one_batch_size))
    study = httpx.get(api("/studies/1")).json()
    values = {"optimizer=sgd batch_size=32": (0.90, 0.91), "optimizer=adam batch_size=32": (0.95, 0.96)}
    for cell in study["cells"]:
        for run, value in zip(cell["runs"], values[cell["label"]], strict=True):
            plant(run["id"], value)

    result = invoke("study", "stats", "1")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.startswith("test_accuracy at each run's best val_accuracy epoch; higher is better")
    assert "1     optimizer=adam batch_size=32  2" in out
    assert "Mann–Whitney U, two-sided; p adjusted by Holm over 1 comparison; significant if < 0.05" in out
    comparison = next(line for line in out.splitlines() if line.startswith("optimizer=adam batch_size=32  optim"))
    assert comparison.split()[-6:] == ["0.333", "0.333", "1.00", "7.07", "A", "no"]
    assert (
        "warning: Mann–Whitney U with 2 vs 2 runs cannot reach p < 0.05 (smallest possible two-sided p = 0.333)"
    ) in out

    as_json = invoke("study", "stats", "1", "--test", "welch", "--json")
    assert '"test": "welch"' in as_json.stdout

    bad = invoke("study", "stats", "1", "--metric", "lr")
    assert_one_line_error(bad, "query.metric: 'lr' is a setting, not a result")

    invoke("study", "extend", "1", "--seeds", "1")
    cancelled = invoke("study", "cancel", "1")
    assert cancelled.exit_code == 0, cancelled.stderr
    assert cancelled.stdout.strip() == "study 1: 2 runs cancelled"


def test_errors_are_one_line(tmp_path):
    assert_one_line_error(invoke("study", "show", "9"), "study 9 not found")
    bad_grid = write_study(tmp_path, STUDY_YAML.replace("[sgd, adam]", "[sgd, nadam]"))
    error = assert_one_line_error(invoke("study", "create", bad_grid), "grid.optimizer[1]: Input tag 'nadam'")
    assert "in cell 'optimizer=nadam learning_rate=0.1'" in error
    nameless = write_study(tmp_path, STUDY_YAML.replace("name: optimizers\n", ""))
    assert_one_line_error(invoke("study", "create", nameless), "the study needs a name")
    assert invoke("study", "create", nameless, "--name", "given").exit_code == 0
