"""Studies over REST: a grid and seeds make the right runs (specs, seeds, names, cells), stored in
one transaction and queued; a bad grid value is a 422 naming its path and nothing is stored or
queued; a study shows its progress and cells, and is extended, cancelled and deleted as a whole.
Every test runs on SQLite and on Postgres."""

from __future__ import annotations

import time

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from backend.core.db import get_engine
from backend.core.migrate import alembic_config, upgrade
from backend.main import create_app
from backend.models import MetricPoint
from tests.utils.factories import (
    API,
    create_run,
    finish_run,
    post_points,
    queued_messages,
    run_count,
    start_run,
    track_run,
    valid_spec,
)
from tests.utils.catalog import publish_builtin_catalog
from trainboard.queues import DEFAULT_QUEUE
from worker.engine.spec import EngineSpec

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1

CONVNET_BASE = valid_spec(model="convnet", dataset="synthetic_cifar10")
NORM_X_OPTIMIZER = {"model.norm": ["none", "batch", "group"], "optimizer": ["adam", {"name": "sgd", "momentum": 0.9}]}


def study_body(name: str = "norms", *, base_spec=None, grid=None, seeds=3, **fields) -> dict:
    return {
        "name": name,
        "base_spec": base_spec if base_spec is not None else CONVNET_BASE,
        "grid": grid if grid is not None else NORM_X_OPTIMIZER,
        "seeds": seeds,
        **fields,
    }


def create_study(client: TestClient, **kwargs) -> dict:
    response = client.post(f"{API}/studies", json=study_body(**kwargs))
    assert response.status_code == 201, response.text
    return response.json()


def study_runs(client: TestClient, study_id: int) -> list[dict]:
    page = client.get(f"{API}/runs", params={"study_id": study_id, "sort": "id", "limit": 500}).json()
    assert page["count"] == len(page["data"])
    return page["data"]


def study_count(client: TestClient) -> int:
    return client.get(f"{API}/studies").json()["count"]


# Creating


def test_a_3x2_grid_with_3_seeds_makes_18_queued_runs(client, settings):
    study = create_study(client)
    assert study["name"] == "norms"
    assert study["status"] == "queued"
    assert study["grid"] == NORM_X_OPTIMIZER  # as submitted, in order
    assert study["seeds"] == [0, 1, 2]
    assert study["progress"] == {"total": 18, "queued": 18, "running": 0, "completed": 0, "failed": 0, "cancelled": 0}
    assert study["base_spec"] == EngineSpec.model_validate(CONVNET_BASE).model_dump(mode="json")
    assert queued_messages(settings) == 18  # one message per run

    runs = study_runs(client, study["id"])
    assert len(runs) == 18
    # Seed by seed: every cell has its first seed queued before any cell gets its second.
    assert [run["spec"]["seed"] for run in runs] == [0] * 6 + [1] * 6 + [2] * 6
    expected_cells = [
        {"model.norm": norm, "optimizer": optimizer}
        for norm in ("none", "batch", "group")
        for optimizer in ("adam", {"name": "sgd", "momentum": 0.9})
    ]
    assert [run["cell"] for run in runs[:6]] == expected_cells
    for run in runs:
        cell, seed, spec = run["cell"], run["spec"]["seed"], run["spec"]
        assert run["status"] == "queued"
        assert run["study_id"] == study["id"]
        assert run["group"] == "norms"
        shown = "sgd(momentum=0.9)" if isinstance(cell["optimizer"], dict) else "adam"
        assert run["name"] == f"norms model.norm={cell['model.norm']} optimizer={shown} seed={seed}"
        # the whole spec: the base, the cell's values, the seed, defaults filled in
        expected = {**CONVNET_BASE, "model": {"name": "convnet", "norm": cell["model.norm"]},
                    "optimizer": cell["optimizer"], "seed": seed}  # fmt: skip
        assert spec == EngineSpec.model_validate(expected).model_dump(mode="json")
        assert run["param_count"] is None and run["queue"] == DEFAULT_QUEUE  # sized by the worker that trains it

    detail = client.get(f"{API}/studies/{study['id']}").json()
    assert [cell["label"] for cell in detail["cells"]] == [
        "model.norm=none optimizer=adam", "model.norm=none optimizer=sgd(momentum=0.9)",
        "model.norm=batch optimizer=adam", "model.norm=batch optimizer=sgd(momentum=0.9)",
        "model.norm=group optimizer=adam", "model.norm=group optimizer=sgd(momentum=0.9)",
    ]  # fmt: skip
    for cell in detail["cells"]:
        assert [run["seed"] for run in cell["runs"]] == [0, 1, 2]
        assert cell["progress"]["queued"] == 3
        assert all(run["epochs"] == 2 and run["epochs_completed"] == 0 for run in cell["runs"])


def test_seeds_start_at_the_base_seed_or_are_listed(client):
    counted = create_study(client, name="from 5", base_spec=valid_spec(seed=5), grid={}, seeds=3)
    assert counted["seeds"] == [5, 6, 7]
    assert [cell["label"] for cell in counted["cells"]] == ["all runs"]
    assert [run["name"] for run in counted["cells"][0]["runs"]] == ["from 5 seed=5", "from 5 seed=6", "from 5 seed=7"]
    listed = create_study(client, name="listed", base_spec=valid_spec(), grid={"batch_size": [16, 64]}, seeds=[3, 11])
    assert listed["seeds"] == [3, 11]
    assert sorted((run["spec"]["batch_size"], run["spec"]["seed"]) for run in study_runs(client, listed["id"])) == [
        (16, 3), (16, 11), (64, 3), (64, 11)]  # fmt: skip


def test_a_registry_entry_and_its_option_can_both_vary(client):
    """ "model" replaces the entry, then "model.norm" sets an option in it, whatever their order."""
    grid = {"model.norm": ["batch", "group"], "model": ["convnet", "resnet"]}
    study = create_study(client, name="arch", grid=grid, seeds=1)
    specs = {
        (run["cell"]["model"], run["cell"]["model.norm"]): run["spec"]["model"]
        for run in study_runs(client, study["id"])
    }
    assert len(specs) == 4
    for (name, norm), model in specs.items():
        assert (model["name"], model["norm"]) == (name, norm)


@pytest.mark.parametrize(
    "grid, loc, message",
    [
        ({"model.norm": ["none", "bogus"]}, ["body", "grid", "model.norm", 1], "'none', 'batch' or 'group'"),
        ({"model.norm": ["none"], "optimizer": ["adam", "nadam"]}, ["body", "grid", "optimizer", 1], "nadam"),
        ({"learning_rate": [0.1, -1]}, ["body", "grid", "learning_rate", 1], "greater than 0"),
        ({"model.depth": [1, 2]}, ["body", "grid", "model.depth"], "not an option of the spec here"),
        ({"colour": ["red"]}, ["body", "grid", "colour"], "not a field of the spec"),
        ({"seed": [1, 2]}, ["body", "grid", "seed"], "set by `seeds`"),
        ({"optimizer": ["adam", "sgd", "adam"]}, ["body", "grid", "optimizer", 2], "repeats value 0"),
        ({"optimizer": ["adam", {"name": "adam", "eps": 1e-8}]}, ["body", "grid"], "make the same spec"),
        ({"learning_rate.x": [1]}, ["body", "grid", "learning_rate.x", 0], "not an object"),
        ({"model": ["convnet", "unet"]}, ["body", "grid"], "cell 'model=unet': dataset:"),
    ],
)
def test_a_bad_grid_is_a_422_naming_it_and_nothing_is_stored_or_queued(client, settings, grid, loc, message):
    response = client.post(f"{API}/studies", json=study_body(grid=grid))
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert [error["loc"] for error in errors] == [loc], errors
    assert message in errors[0]["msg"]
    assert study_count(client) == 0
    assert run_count(client) == 0
    assert queued_messages(settings) == 0


@pytest.mark.parametrize(
    "fields, loc",
    [
        ({"name": ""}, ["body", "name"]),
        ({"name": "two\nlines"}, ["body", "name"]),
        ({"base_spec": valid_spec(epochs=0)}, ["body", "base_spec", "epochs"]),
        ({"seeds": 0}, ["body", "seeds"]),
        ({"seeds": 51}, ["body", "seeds"]),
        ({"seeds": [1, 1]}, ["body", "seeds"]),
        ({"seeds": [-1]}, ["body", "seeds"]),
        ({"grid": {"model.norm": []}}, ["body", "grid", "model.norm"]),
        ({"grid": {"bad path!": [1]}}, ["body", "grid", "bad path!", "[key]"]),
        ({"colour": "red"}, ["body", "colour"]),
    ],
)
def test_bad_fields_are_422(client, settings, fields, loc):
    response = client.post(f"{API}/studies", json=study_body(**fields))
    assert response.status_code == 422, response.text
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert study_count(client) == 0 and run_count(client) == 0 and queued_messages(settings) == 0


def test_too_many_runs_are_refused(client, settings):
    grid = {"learning_rate": [0.1 * (i + 1) for i in range(25)], "batch_size": list(range(1, 21))}
    response = client.post(f"{API}/studies", json=study_body(base_spec=valid_spec(), grid=grid, seeds=3))
    assert response.status_code == 422
    assert "would make 1500 runs (500 cells x 3 seeds), more than max_runs = 1000" in response.text
    guarded = client.post(f"{API}/studies", json=study_body(max_runs=10))  # 18 runs
    assert guarded.status_code == 422 and "18 runs" in guarded.text
    assert study_count(client) == 0 and run_count(client) == 0 and queued_messages(settings) == 0


def test_study_names_are_unique(client):
    first = create_study(client, name="once", base_spec=valid_spec(), grid={}, seeds=1)
    response = client.post(f"{API}/studies", json=study_body(name="once", base_spec=valid_spec(), grid={}, seeds=1))
    assert response.status_code == 409 and "once" in response.json()["detail"]
    assert study_count(client) == 1 and run_count(client) == 1
    assert client.get(f"{API}/studies/{first['id']}").status_code == 200


@pytest.mark.timeout(60)
def test_with_the_broker_down_nothing_is_kept(migrated):
    settings = migrated.model_copy(update={"broker_url": UNREACHABLE_BROKER})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        started = time.monotonic()
        response = client.post(f"{API}/studies", json=study_body(base_spec=valid_spec(), grid={"batch_size": [16, 32]}))
        assert time.monotonic() - started < 20
        assert response.status_code == 503 and "broker" in response.json()["detail"]
        assert study_count(client) == 0 and run_count(client) == 0


# Reading


def test_list_is_newest_first_with_progress_and_pages(client):
    for name in ("one", "two", "three"):
        create_study(client, name=name, base_spec=valid_spec(), grid={"batch_size": [16, 32]}, seeds=1)
    page = client.get(f"{API}/studies", params={"limit": 2}).json()
    assert page["count"] == 3
    assert [study["name"] for study in page["data"]] == ["three", "two"]
    assert page["data"][0]["progress"] == {"total": 2, "queued": 2, "running": 0, "completed": 0, "failed": 0,
                                           "cancelled": 0}  # fmt: skip
    assert "cells" not in page["data"][0]
    assert [s["name"] for s in client.get(f"{API}/studies", params={"offset": 2}).json()["data"]] == ["one"]
    assert client.get(f"{API}/studies/999").status_code == 404


def test_progress_and_status_follow_the_runs(client):
    study = create_study(client, base_spec=valid_spec(), grid={"batch_size": [16, 32]}, seeds=2)
    runs = study_runs(client, study["id"])
    start_run(client, runs[0]["id"])
    detail = client.get(f"{API}/studies/{study['id']}").json()
    assert detail["status"] == "running"
    assert (detail["progress"]["running"], detail["progress"]["queued"]) == (1, 3)

    finish_run(client, runs[0]["id"], epochs_completed=2)
    for run in runs[1:]:
        start_run(client, run["id"])
    finish_run(client, runs[1]["id"], status="failed", error="boom")
    finish_run(client, runs[2]["id"])
    detail = client.get(f"{API}/studies/{study['id']}").json()
    assert detail["progress"] == {"total": 4, "queued": 0, "running": 1, "completed": 2, "failed": 1, "cancelled": 0}
    by_id = {run["id"]: run for cell in detail["cells"] for run in cell["runs"]}
    assert by_id[runs[0]["id"]]["status"] == "completed" and by_id[runs[0]["id"]]["epochs_completed"] == 2
    assert by_id[runs[1]["id"]]["status"] == "failed"
    first_cell = detail["cells"][0]  # batch_size=16: seeds 0 and 1 are runs 0 and 2
    assert first_cell["label"] == "batch_size=16"
    assert first_cell["progress"]["completed"] == 2

    finish_run(client, runs[3]["id"])
    assert client.get(f"{API}/studies/{study['id']}").json()["status"] == "finished"  # ended, one failed


def test_runs_list_filters_by_study(client):
    create_run(client, name="loose")
    study = create_study(client, base_spec=valid_spec(), grid={"batch_size": [16, 32]}, seeds=1)
    assert client.get(f"{API}/runs", params={"study_id": study["id"]}).json()["count"] == 2
    loose = client.get(f"{API}/runs", params={"name": "loose"}).json()["data"][0]
    assert loose["study_id"] is None and loose["cell"] is None


def test_a_script_run_named_after_a_study_joins_it_in_the_cell_of_its_config(client):
    study = create_study(client, name="opt", base_spec=valid_spec(), grid={"optimizer": ["adam", "sgd"]}, seeds=2)
    workers = study_runs(client, study["id"])
    script = track_run(client, name="my sgd", group="opt", config={"optimizer": "sgd", "seed": 7, "epochs": 3})
    assert (script["study_id"], script["cell"], script["group"]) == (study["id"], {"optimizer": "sgd"}, "opt")
    outside = track_run(client, group="opt", config={"lr": 0.1})  # no optimizer in its config: outside the grid
    assert (outside["study_id"], outside["cell"]) == (study["id"], {"optimizer": None})
    loose = track_run(client, group="not a study", config={"optimizer": "sgd"})
    assert (loose["study_id"], loose["cell"]) == (None, None)

    def accuracies(value):  # the validation and the test score of a one-epoch run
        return [{"name": name, "step": 1, "value": value} for name in ("val_accuracy", "test_accuracy")]

    for run, accuracy in zip(workers, (0.80, 0.90, 0.81, 0.91), strict=True):
        start_run(client, run["id"])
        post_points(client, run["id"], accuracies(accuracy))
        finish_run(client, run["id"])
    post_points(client, script["id"], accuracies(0.92))
    finish_run(client, script["id"])

    detail = client.get(f"{API}/studies/{study['id']}").json()
    assert (detail["progress"]["total"], detail["progress"]["running"]) == (6, 1)
    sgd = next(cell for cell in detail["cells"] if cell["label"] == "optimizer=sgd")
    assert [(run["name"], run["seed"], run["epochs"]) for run in sgd["runs"]][-1] == ("my sgd", 7, 3)
    assert [run["source"] for run in sgd["runs"]] == ["worker", "worker", "script"]
    assert client.get(f"{API}/runs", params={"study_id": study["id"]}).json()["count"] == 6

    stats = client.get(f"{API}/studies/{study['id']}/stats").json()
    by_label = {group["label"]: group for group in stats["groups"]}
    assert by_label["optimizer=sgd"]["run_ids"] == [workers[1]["id"], workers[3]["id"], script["id"]]
    assert by_label["optimizer=sgd"]["seeds"] == [0, 1, 7]
    assert by_label["optimizer=adam"]["n"] == 2
    assert stats["ranking"][0] == "optimizer=sgd"


# Extending, cancelling, deleting


def test_extend_adds_the_next_seeds_to_every_cell(client, settings):
    study = create_study(client)
    assert queued_messages(settings) == 18
    response = client.post(f"{API}/studies/{study['id']}/extend", json={"seeds": 2})
    assert response.status_code == 200, response.text
    extended = response.json()
    assert extended["seeds"] == [0, 1, 2, 3, 4]
    assert extended["progress"]["total"] == 30
    assert queued_messages(settings) == 30
    for cell in extended["cells"]:
        assert [run["seed"] for run in cell["runs"]] == [0, 1, 2, 3, 4]
    new = [run for run in study_runs(client, study["id"]) if run["spec"]["seed"] >= 3]
    assert len(new) == 12 and all(run["group"] == "norms" and run["cell"] for run in new)

    assert client.post(f"{API}/studies/{study['id']}/extend", json={"seeds": 0}).status_code == 422
    too_many = client.post(f"{API}/studies/{study['id']}/extend", json={"seeds": 46})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["body", "seeds"]
    assert client.post(f"{API}/studies/999/extend", json={"seeds": 1}).status_code == 404
    assert run_count(client) == 30


def test_cancel_stops_every_run_of_the_study(client):
    study = create_study(client, base_spec=valid_spec(), grid={"batch_size": [16, 32]}, seeds=2)
    runs = study_runs(client, study["id"])
    start_run(client, runs[0]["id"])
    start_run(client, runs[1]["id"])
    finish_run(client, runs[1]["id"])
    other = create_run(client, name="not in the study")

    response = client.post(f"{API}/studies/{study['id']}/cancel")
    assert response.status_code == 200
    detail = response.json()
    by_id = {run["id"]: run for cell in detail["cells"] for run in cell["runs"]}
    assert by_id[runs[0]["id"]]["status"] == "running" and by_id[runs[0]["id"]]["cancel_requested"]
    assert by_id[runs[1]["id"]]["status"] == "completed"
    assert {by_id[run["id"]]["status"] for run in runs[2:]} == {"cancelled"}
    assert client.get(f"{API}/runs/{other['id']}").json()["status"] == "queued"
    # the running run stops at its next heartbeat, then the study is over
    assert client.post(f"{API}/runs/{runs[0]['id']}/heartbeat", json={"attempt": 1}).json()["cancel_requested"] is True
    finish_run(client, runs[0]["id"], status="cancelled")
    assert client.get(f"{API}/studies/{study['id']}").json()["status"] == "finished"
    assert client.post(f"{API}/studies/{study['id']}/cancel").status_code == 200  # again: nothing to do


def test_delete_waits_for_running_runs_then_takes_everything(client, settings):
    study = create_study(client, base_spec=valid_spec(), grid={"batch_size": [16, 32]}, seeds=1)
    first, second = study_runs(client, study["id"])
    start_run(client, first["id"])
    post_points(client, first["id"], [{"name": "test_accuracy", "step": 1, "value": 0.5}])
    response = client.delete(f"{API}/studies/{study['id']}")
    assert response.status_code == 409 and "cancel the study first" in response.json()["detail"]

    finish_run(client, first["id"])
    kept = create_run(client, name="kept")
    assert client.delete(f"{API}/studies/{study['id']}").status_code == 204
    assert client.get(f"{API}/studies/{study['id']}").status_code == 404
    for run in (first, second):
        assert client.get(f"{API}/runs/{run['id']}").status_code == 404
        assert client.get(f"{API}/runs/{run['id']}/metrics").status_code == 404
    assert client.get(f"{API}/runs/{kept['id']}").status_code == 200
    assert study_count(client) == 0
    with get_engine(settings).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(MetricPoint)) == 0
    # the name is free again
    create_study(client, base_spec=valid_spec(), grid={}, seeds=1)


# The migration


def test_upgrading_a_database_with_runs_keeps_them_and_their_metrics(settings):
    """0002 adds runs.study_id with its foreign key in place: rebuilding `runs` on SQLite (batch
    mode) would delete every metric point through the metrics' ON DELETE CASCADE."""
    engine = get_engine(settings)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO runs (name, status, spec, created_at, updated_at, attempt, epochs_completed, "
            "cancel_requested) VALUES ('old', 'completed', '{}', :now, :now, 1, 1, false)"
        ), {"now": "2024-01-01 00:00:00+00:00"})  # fmt: skip
        run_id = connection.scalar(text("SELECT id FROM runs"))
        connection.execute(
            text(
                "INSERT INTO metrics (run_id, name, step, value, wall_time) VALUES (:run, 'test_accuracy', 1, 0.9, 1)"
            ),
            {"run": run_id},
        )
    upgrade(engine)
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        old = client.get(f"{API}/runs/{run_id}").json()
        assert (old["name"], old["study_id"], old["cell"]) == ("old", None, None)
        assert old["summary"]["test_accuracy"]["final"] == 0.9
        assert old["queue"] == DEFAULT_QUEUE  # 0004: every run before it was of the built-in zoo
        publish_builtin_catalog(settings)
        study = create_study(client, base_spec=valid_spec(), grid={}, seeds=1)
        assert study_runs(client, study["id"])[0]["id"] > run_id
