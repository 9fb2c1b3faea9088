"""Schema migrations, on SQLite and on Postgres: they build exactly the schema the models
describe, they can be undone and redone, and the API refuses an unmigrated database."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from backend.core.db import get_engine, make_engine
from backend.core.migrate import (
    DatabaseNotMigrated,
    alembic_config,
    check_migrated,
    current_revision,
    head_revision,
    upgrade,
)
from backend.main import create_app
from backend.models import Base
from tests.utils.catalog import publish_builtin_catalog
from tests.utils.factories import API, create_run, epoch_points, post_points, started_run

TABLES = {"runs", "metrics"}


def _downgrade(engine, revision: str = "base") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _schema_diff(engine) -> list:
    """What `alembic check` would report: differences between the models and the database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_creates_the_schema_of_the_models(settings):
    engine = get_engine(settings)
    assert current_revision(engine) is None
    upgrade(engine)
    assert _tables(engine) >= TABLES | {"alembic_version"}
    assert current_revision(engine) == head_revision()
    assert _schema_diff(engine) == []
    check_migrated(engine)  # does not raise


def test_metric_points_are_unique_per_run_name_and_step(settings):
    engine = get_engine(settings)
    upgrade(engine)
    unique = inspect(engine).get_unique_constraints("metrics")
    assert [sorted(c["column_names"]) for c in unique] == [["name", "run_id", "step"]]
    keys = inspect(engine).get_foreign_keys("metrics")
    assert [(k["referred_table"], k["options"].get("ondelete", "").upper()) for k in keys] == [("runs", "CASCADE")]


def test_runs_stored_before_script_runs_are_worker_runs_with_their_points(migrated):
    """0005 adds the run's source, a script's config and the client's key in place: `runs` is not
    rebuilt (on SQLite that would cascade to the metric points), and every earlier run was a worker's."""
    engine = get_engine(migrated)
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        run = started_run(client)
        post_points(client, run["id"], epoch_points(1))
    _downgrade(engine, "0004")
    upgrade(engine)
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        again = client.get(f"{API}/runs/{run['id']}").json()
        assert (again["source"], again["config"], again["status"]) == ("worker", None, "running")
        assert len(client.get(f"{API}/runs/{run['id']}/metrics").json()["points"]) == 3
        assert client.get(f"{API}/runs", params={"source": "worker"}).json()["count"] == 1
    indexes = {index["name"]: index for index in inspect(engine).get_indexes("runs")}
    assert indexes["ix_runs_client_key"]["column_names"] == ["client_key"] and indexes["ix_runs_client_key"]["unique"]


def test_runs_stored_before_handbacks_count_none_and_keep_their_points(migrated):
    """0006 adds the run's handbacks in place: `runs` is not rebuilt (on SQLite that would cascade
    to the metric points)."""
    engine = get_engine(migrated)
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        run = started_run(client)
        post_points(client, run["id"], epoch_points(1))
    _downgrade(engine, "0005")
    upgrade(engine)
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        again = client.get(f"{API}/runs/{run['id']}").json()
        assert (again["handbacks"], again["attempt"], again["status"]) == (0, 1, "running")
        assert len(client.get(f"{API}/runs/{run['id']}/metrics").json()["points"]) == 3


def test_upgrade_twice_is_harmless_and_keeps_data(migrated):
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        run = started_run(client)
        post_points(client, run["id"], epoch_points(1))
    upgrade(get_engine(migrated))
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        assert client.get(f"{API}/runs/{run['id']}").json()["name"] == run["name"]
        assert len(client.get(f"{API}/runs/{run['id']}/metrics").json()["points"]) == 3


def test_unmigrated_database_is_refused_with_the_fix(settings):
    with pytest.raises(DatabaseNotMigrated, match="trainboard migrate") as error:
        create_app(settings)
    assert head_revision() in str(error.value)


@pytest.mark.postgres
def test_refusal_does_not_show_the_database_password(postgres_url):
    url = make_url(postgres_url).set(password="hunter2")  # trust auth: the password is not checked
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with pytest.raises(DatabaseNotMigrated) as error:
            check_migrated(engine)
    finally:
        engine.dispose()
    assert "hunter2" not in str(error.value)
    assert url.database in str(error.value)


def test_downgrade_to_base_then_upgrade_again(migrated):
    engine = get_engine(migrated)
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        create_run(client)

    _downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not (_tables(engine) & TABLES)
    with pytest.raises(DatabaseNotMigrated):
        create_app(migrated)

    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _schema_diff(engine) == []
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        assert client.get(f"{API}/runs").json() == {"data": [], "count": 0}
        assert client.get(f"{API}/catalog").json()["models"] == []  # the workers' catalogs went with the tables
        publish_builtin_catalog(migrated)
        assert create_run(client)["status"] == "queued"


def test_every_revision_downgrades_and_upgrades_step_by_step(migrated):
    """Walk down one revision at a time to the base, then back up: each step must work."""
    from alembic.script import ScriptDirectory

    engine = get_engine(migrated)
    revisions = [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    for _ in revisions:
        _downgrade(engine, "-1")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _schema_diff(engine) == []


def test_runs_stored_before_metric_summaries_keep_their_figures(migrated):
    """0007 fills the summaries kept at ingestion from the points already stored: a run's final and
    best values are the same before and after it, and later points carry them on."""
    engine = get_engine(migrated)
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        run = started_run(client)
        for epoch in (1, 2, 3):
            post_points(client, run["id"], epoch_points(epoch))
        post_points(client, run["id"], [{"name": "val_loss", "step": 4, "value": None}])
        before = client.get(f"{API}/runs/{run['id']}").json()
    _downgrade(engine, "0006")
    upgrade(engine)
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        after = client.get(f"{API}/runs/{run['id']}").json()
        assert after["summary"] == before["summary"] and after["selected_epoch"] == before["selected_epoch"] == 3
        assert after["summary"]["val_loss"]["final"] is None and after["summary"]["val_loss"]["best_step"] == 1
        post_points(client, run["id"], [{"name": "val_loss", "step": 5, "value": 0.5}])
        assert client.get(f"{API}/runs/{run['id']}").json()["summary"]["val_loss"]["best"] == 0.5


def test_runs_stored_before_metric_tiles_are_charted_the_same(migrated):
    """0008 fills the 64-step tiles from the points already stored: a chart read of a long curve
    keeps the same points before and after it, and later points extend the tiles."""
    engine = get_engine(migrated)
    values = [((step * 37) % 101) / 100 if step % 9 else None for step in range(5000)]
    chart = {"max_points": 100, "name": "val_loss"}
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        run = started_run(client)
        for steps in (range(3000, 5000), range(2000), range(2000, 3000)):  # out of order, tiles split
            post_points(client, run["id"], [{"name": "val_loss", "step": s, "value": values[s]} for s in steps])
        before = client.get(f"{API}/runs/{run['id']}/metrics", params=chart).json()["points"]
    _downgrade(engine, "0007")
    upgrade(engine)
    with TestClient(create_app(migrated), base_url="http://localhost") as client:
        after = client.get(f"{API}/runs/{run['id']}/metrics", params=chart).json()["points"]
        assert after == before and 20 < len(after) <= 100
        post_points(client, run["id"], [{"name": "val_loss", "step": 5000, "value": -1.0}])
        extended = client.get(f"{API}/runs/{run['id']}/metrics", params=chart).json()["points"]
        assert extended[-1]["step"] == 5000 and min(p["value"] for p in extended if p["value"] is not None) == -1.0
