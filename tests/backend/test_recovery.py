"""The recovery sweep and worker leases: lost runs go back to the queue (or fail past their
attempts), runs the broker lost are enqueued again, and a worker that lost its lease is refused.
A run reported by its own script is never queued: lost, it fails, until its script beats again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from trainboard.settings import Settings
from backend.models import Run
from backend.models.base import utcnow
from backend.services import broker_queue
from backend.services.recovery import sweep
from tests.utils.factories import (
    API,
    create_run,
    epoch_points,
    finish_run,
    post_points,
    queued_messages,
    start_run,
    track_run,
)
from trainboard.broker import create_celery
from trainboard.queues import DEFAULT_QUEUE, resumed


def age_heartbeat(client, run_id: int, seconds: float) -> None:
    with client.app.state.session_factory() as session:
        session.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow() - timedelta(seconds=seconds)))
        session.commit()


def run_sweep(client):
    state = client.app.state
    return sweep(state.session_factory, state.celery, state.settings)


def get(client, run_id):
    return client.get(f"{API}/runs/{run_id}").json()


def test_a_run_whose_worker_died_is_queued_again_and_resumed_by_the_next(client, migrated):
    run = create_run(client)
    start_run(client, run["id"])
    assert run_sweep(client).requeued == []  # its heartbeat is fresh
    before = queued_messages(migrated)

    age_heartbeat(client, run["id"], 3 * migrated.heartbeat_seconds + 1)
    report = run_sweep(client)
    assert report.requeued == [run["id"]] and report.reenqueued == [run["id"]]
    assert get(client, run["id"])["status"] == "queued"
    # Into the queue that workers consume before the one of new runs: resumed runs go first.
    assert queued_messages(migrated, resumed(DEFAULT_QUEUE)) == 1 and queued_messages(migrated) == before
    assert start_run(client, run["id"], worker_host="w2")["attempt"] == 2


def test_past_its_attempts_a_lost_run_fails_with_the_reason(client, migrated):
    run = create_run(client)
    for attempt in range(1, migrated.max_attempts + 1):
        assert start_run(client, run["id"], worker_host=f"w{attempt}")["attempt"] == attempt
        age_heartbeat(client, run["id"], 60)
        run_sweep(client)
    failed = get(client, run["id"])
    assert failed["status"] == "failed"
    assert "worker lost" in failed["error"] and f"all {migrated.max_attempts} attempts" in failed["error"]


def test_handbacks_do_not_count_toward_the_attempt_limit_but_crashes_do(client, migrated):
    """A worker stopped with SIGTERM hands its run back (routine restarts): that costs no attempt.
    Only executions that ended in a lost heartbeat (a crash) use up the run's attempts."""
    run = create_run(client)
    for handback in range(1, migrated.max_attempts + 2):  # more handbacks than attempts allowed
        lease = start_run(client, run["id"], worker_host=f"w{handback}")["attempt"]
        released = client.post(f"{API}/runs/{run['id']}/release", json={"attempt": lease, "reason": "shutdown"})
        assert released.status_code == 200 and released.json()["handbacks"] == handback
    for crash in range(1, migrated.max_attempts):
        start_run(client, run["id"], worker_host=f"crash{crash}")
        age_heartbeat(client, run["id"], 60)
        assert run_sweep(client).requeued == [run["id"]], f"crash {crash} of {migrated.max_attempts} allowed"
    start_run(client, run["id"], worker_host="last")
    age_heartbeat(client, run["id"], 60)
    assert run_sweep(client).failed == [run["id"]]
    failed = get(client, run["id"])
    assert failed["status"] == "failed" and f"all {migrated.max_attempts} attempts" in failed["error"]
    assert failed["attempt"] == 2 * migrated.max_attempts + 1 and failed["handbacks"] == migrated.max_attempts + 1


def test_a_lost_run_with_a_cancel_request_ends_cancelled(client):
    run = create_run(client)
    start_run(client, run["id"])
    client.post(f"{API}/runs/{run['id']}/cancel")
    age_heartbeat(client, run["id"], 60)
    assert run_sweep(client).cancelled == [run["id"]]
    assert get(client, run["id"])["status"] == "cancelled"


def test_queued_runs_the_broker_lost_are_enqueued_again(client, migrated):
    run = create_run(client)
    assert broker_queue.queued_run_ids(migrated.resolved_broker_url, [DEFAULT_QUEUE]) == {run["id"]}
    with client.app.state.celery.connection_for_write() as connection:
        connection.default_channel.queue_purge(DEFAULT_QUEUE)  # the broker loses its messages
    assert broker_queue.queued_run_ids(migrated.resolved_broker_url, [DEFAULT_QUEUE]) == set()
    assert run_sweep(client).reenqueued == []  # within the grace period after submission
    with client.app.state.session_factory() as session:
        session.execute(update(Run).values(updated_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    assert run_sweep(client).reenqueued == [run["id"]]
    assert broker_queue.queued_run_ids(migrated.resolved_broker_url, [DEFAULT_QUEUE]) == {run["id"]}
    assert run_sweep(client).reenqueued == []  # held now: not sent twice


def test_a_started_run_the_broker_lost_is_enqueued_again_as_resumed(client, migrated):
    run = create_run(client)
    lease = start_run(client, run["id"])["attempt"]
    client.post(f"{API}/runs/{run['id']}/release", json={"attempt": lease, "reason": "shutdown"})
    with client.app.state.celery.connection_for_write() as connection:  # the broker loses its messages
        for queue in (DEFAULT_QUEUE, resumed(DEFAULT_QUEUE)):
            connection.default_channel.queue_purge(queue)
    with client.app.state.session_factory() as session:
        session.execute(update(Run).values(updated_at=utcnow() - timedelta(minutes=1)))
        session.commit()
    assert run_sweep(client).reenqueued == [run["id"]]
    assert broker_queue.queued_run_ids(migrated.resolved_broker_url, [resumed(DEFAULT_QUEUE)]) == {run["id"]}
    assert run_sweep(client).reenqueued == []  # held now: not sent twice


def test_a_worker_that_lost_its_lease_is_refused(client):
    run = create_run(client)
    first = start_run(client, run["id"], worker_host="w1")
    age_heartbeat(client, run["id"], 60)
    run_sweep(client)
    second = start_run(client, run["id"], worker_host="w2")
    assert (first["attempt"], second["attempt"]) == (1, 2)

    stale = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1})
    assert stale.status_code == 409 and "lost its lease" in stale.json()["detail"]
    assert client.post(f"{API}/runs/{run['id']}/finish", json={"attempt": 1, "status": "failed"}).status_code == 409
    assert client.post(f"{API}/runs/{run['id']}/release", json={"attempt": 1}).status_code == 409
    # ... and so are its results: its points would take the (name, step) places of the new attempt's
    point = [{"name": "test_accuracy", "step": 3, "value": 0.999}]
    stale_points = client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": point})
    assert stale_points.status_code == 409 and "lost its lease" in stale_points.json()["detail"]
    artifact = f"{API}/runs/{run['id']}/artifacts/predictions.png"
    assert client.put(artifact, params={"attempt": 1}, content=b"stale").status_code == 409
    assert client.get(artifact).status_code == 404
    assert client.get(f"{API}/runs/{run['id']}/metrics").json()["points"] == []
    assert client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 2}).status_code == 200
    assert post_points(client, run["id"], point, attempt=2)["inserted"] == 1
    assert get(client, run["id"])["status"] == "running" and get(client, run["id"])["worker_host"] == "w2"


def test_release_hands_a_running_run_back_to_the_queue(client, migrated):
    run = create_run(client)
    start_run(client, run["id"])
    before = queued_messages(migrated)
    released = client.post(f"{API}/runs/{run['id']}/release", json={"attempt": 1, "reason": "shutdown"})
    assert released.status_code == 200 and released.json()["status"] == "queued"
    assert queued_messages(migrated, resumed(DEFAULT_QUEUE)) == 1 and queued_messages(migrated) == before
    assert client.post(f"{API}/runs/{run['id']}/release", json={"attempt": 1}).status_code == 409  # not running now


@pytest.mark.redis
def test_redis_queue_and_unacknowledged_messages_are_seen(redis_url, tmp_path):
    settings = Settings(data_dir=tmp_path, broker_url=redis_url)
    celery = create_celery(settings)
    for run_id in (3, 4):
        celery.send_task("trainboard.train_run", args=[run_id])
    assert broker_queue.queued_run_ids(redis_url, [DEFAULT_QUEUE]) == {3, 4}
    with celery.connection_for_read() as connection:
        message = connection.SimpleQueue(DEFAULT_QUEUE, no_ack=False).get(timeout=5)  # delivered, not acked
        assert broker_queue.queued_run_ids(redis_url, [DEFAULT_QUEUE]) == {3, 4}
        message.ack()
    assert len(broker_queue.queued_run_ids(redis_url, [DEFAULT_QUEUE])) == 1


def test_a_worker_given_up_for_lost_but_alive_carries_on(client):
    run = create_run(client)
    start_run(client, run["id"], worker_host="w1")
    age_heartbeat(client, run["id"], 60)  # e.g. the API was down and its heartbeats could not arrive
    assert run_sweep(client).requeued == [run["id"]]
    # Its points wait in its buffer while the run is queued, and are taken once its heartbeat is back.
    point = [{"name": "test_accuracy", "step": 1, "value": 0.5}]
    assert client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": point}).status_code == 409
    reply = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1, "worker_host": "w1"}).json()
    assert reply == {"status": "running", "cancel_requested": False}
    assert post_points(client, run["id"], point)["inserted"] == 1
    assert get(client, run["id"])["worker_host"] == "w1"
    # The copy of its message the sweep queued finds it held by a live worker.
    assert client.post(f"{API}/runs/{run['id']}/start", json={"worker_host": "w2"}).status_code == 409


# Script runs


def test_a_script_that_stopped_reporting_fails_and_is_never_queued(client, migrated):
    run = track_run(client, host="laptop")
    age_heartbeat(client, run["id"], 3 * migrated.heartbeat_seconds + 1)
    report = run_sweep(client)
    assert (report.failed, report.requeued, report.reenqueued) == ([run["id"]], [], [])
    lost = get(client, run["id"])
    assert lost["status"] == "failed" and lost["finished_at"] is not None
    assert lost["error"].startswith("the script stopped reporting: no heartbeat from laptop since ")
    assert lost["error"].endswith(" UTC")
    assert queued_messages(migrated) == 0
    assert client.post(f"{API}/runs/{run['id']}/start", json={"worker_host": "w1"}).status_code == 409


def test_a_lost_script_fails_whatever_its_attempt(client, migrated):
    run = track_run(client)
    for _ in range(migrated.max_attempts):
        client.post(f"{API}/runs/{run['id']}/resume", json={"host": "node"})
    assert get(client, run["id"])["attempt"] == migrated.max_attempts + 1
    age_heartbeat(client, run["id"], 60)
    assert run_sweep(client).failed == [run["id"]]
    assert get(client, run["id"])["error"].startswith("the script stopped reporting: no heartbeat from node since")


def test_a_lost_script_with_a_cancel_request_ends_cancelled(client):
    run = track_run(client)
    client.post(f"{API}/runs/{run['id']}/cancel")
    age_heartbeat(client, run["id"], 60)
    assert run_sweep(client).cancelled == [run["id"]]
    assert get(client, run["id"])["status"] == "cancelled"


def test_a_script_cut_off_carries_on_with_its_next_heartbeat(client):
    run = track_run(client, host="laptop")
    post_points(client, run["id"], epoch_points(1))
    age_heartbeat(client, run["id"], 60)  # the network or the API was down: its heartbeats could not arrive
    assert run_sweep(client).failed == [run["id"]]
    closed = client.post(f"{API}/runs/{run['id']}/metrics", json={"attempt": 1, "points": epoch_points(2)})
    assert closed.status_code == 409

    reply = client.post(f"{API}/runs/{run['id']}/heartbeat", json={"attempt": 1}).json()
    assert reply == {"status": "running", "cancel_requested": False}
    revived = get(client, run["id"])
    assert (revived["status"], revived["error"], revived["finished_at"]) == ("running", None, None)
    assert revived["worker_host"] == "laptop"
    assert post_points(client, run["id"], epoch_points(2))["inserted"] == 3
    assert finish_run(client, run["id"])["status"] == "completed"


def test_only_the_lost_script_itself_is_revived(client):
    lost = track_run(client)
    age_heartbeat(client, lost["id"], 60)
    run_sweep(client)
    client.post(f"{API}/runs/{lost['id']}/resume", json={})  # restarted elsewhere: attempt 2
    age_heartbeat(client, lost["id"], 60)
    run_sweep(client)
    stale = client.post(f"{API}/runs/{lost['id']}/heartbeat", json={"attempt": 1})
    assert stale.status_code == 409 and get(client, lost["id"])["status"] == "failed"

    crashed = track_run(client)
    finish_run(client, crashed["id"], status="failed", error="ValueError: bad batch")
    reply = client.post(f"{API}/runs/{crashed['id']}/heartbeat", json={"attempt": 1}).json()
    assert reply == {"status": "failed", "cancel_requested": True}  # it failed for a reason of its own
    assert get(client, crashed["id"])["error"] == "ValueError: bad batch"
