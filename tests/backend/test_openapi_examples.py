"""The OpenAPI document against the app, as `schemathesis run --checks all --phases examples` does:
every operation sent with its schema's own examples (fixed, so CI is reproducible) and every check
of schemathesis run on each answer, but for the one below that cannot pass by design. The examples
name run 1 and study 1: run 1 is made first (started, with points and an artifact), so the answers
carry real data, and the operations, in the document's order, take it through its states."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks

from backend.main import create_app
from tests.utils.factories import API, create_run, epoch_points, post_points, start_run

EXCLUDED = {
    # A time limit on each answer: a slow CI machine is not a fault of the document.
    "max_response_time",
}


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'trainboard.db'}"  # about the API's document, not the database


@pytest.fixture
def api_schema(migrated):
    # Schemathesis calls the app as host "testserver": allowed as any TRAINBOARD_ALLOWED_HOSTS is.
    # Run 1's worker stays live however slow the machine (POST /runs/1/start is then a 409, always).
    settings = migrated.model_copy(update={"allowed_hosts": ["testserver"], "heartbeat_seconds": 3600})
    app = create_app(settings)
    client = TestClient(app, base_url="http://localhost")
    run = start_run(client, create_run(client)["id"])
    post_points(client, run["id"], epoch_points(1))
    uploaded = client.put(f"{API}/runs/{run['id']}/artifacts/overlays/epoch-1.png?attempt=1", content=b"\x89PNG")
    assert run["id"] == 1 and uploaded.status_code == 201
    # The live stream of a running run never ends by itself: tested in tests/backend/test_events_api.py.
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", app).exclude(path_regex=r".*/events$")


def test_every_operation_passes_every_check_on_its_examples(api_schema):
    load_all_checks()
    checks = [check for check in CHECKS.get_all() if check.__name__ not in EXCLUDED]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30
    statuses = {}
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        strategies = operation.get_strategies_from_examples()
        if not strategies:  # nothing to fill in: sent as it is
            assert not operation.path_parameters and not operation.body, f"{label} has no example"
            strategies = [st.just(operation.Case())]
        for strategy in strategies:

            @given(case=strategy, label=st.just(label))
            @hypothesis_settings(max_examples=1, phases=[Phase.generate], derandomize=True, database=None,
                                 deadline=None, suppress_health_check=list(HealthCheck))
            def check(case, label):
                statuses[label] = case.call_and_validate(checks=checks).status_code

            try:
                check()
            except Exception as exc:
                raise AssertionError(f"{label}: {exc}") from exc
    # The examples reached run 1's data, and took it through its life: running, then finished.
    run = "/api/v1/runs/{run_id}"
    reads = [f"GET {run}", f"GET {run}/metrics", f"GET {run}/artifacts/{{name}}",
             "GET /api/v1/compare", "GET /api/v1/compare/report", "GET /api/v1/stats"]  # fmt: skip
    assert {label: statuses[label] for label in reads} == dict.fromkeys(reads, 200)
    assert statuses[f"POST {run}/finish"] == 200 and statuses[f"POST {run}/metrics"] == 409


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/api/v1/runs", "GET, POST"), ("/api/v1/runs/1", "DELETE, GET"), ("/api/v1/runs/1/cancel", "POST"),
     ("/api/v1/runs/track", "POST"),
     ("/api/v1/runs/1/artifacts/a/b.png", "GET, PUT"), ("/api/v1/studies/1", "DELETE, GET")],
)  # fmt: skip
def test_a_wrong_method_is_a_405_naming_every_method_of_the_path(client, path, allowed):
    for method in ("OPTIONS", "PATCH"):
        response = client.request(method, path)
        assert response.status_code == 405 and response.headers["allow"] == allowed
