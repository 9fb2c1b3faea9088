"""Each run carries the final and best value of every metric it reported (losses: lowest,
scores: highest), in the run itself and in the runs list."""

from __future__ import annotations

from tests.utils.factories import API, create_run, post_points, started_run

post = post_points


def test_final_and_best_value_of_each_metric(client):
    run = started_run(client)
    post(client, run["id"], [
        *({"name": "test_loss", "step": s, "value": v} for s, v in [(1, 2.0), (2, 0.5), (3, 0.9)]),
        *({"name": "test_accuracy", "step": s, "value": v} for s, v in [(1, 0.4), (2, 0.8), (3, 0.7)]),
        {"name": "lr", "step": 1, "value": 0.1},
        {"name": "lr", "step": 2, "value": 0.01},
    ])
    summary = client.get(f"{API}/runs/{run['id']}").json()["summary"]
    assert summary["test_loss"] == {"final": 0.9, "final_step": 3, "best": 0.5, "best_step": 2}
    assert summary["test_accuracy"] == {"final": 0.7, "final_step": 3, "best": 0.8, "best_step": 2}
    assert summary["lr"]["final"] == 0.01 and summary["lr"]["best"] is None  # a setting has no best

    listed = client.get(f"{API}/runs").json()["data"][0]
    assert listed["summary"] == summary


def test_ties_take_the_earliest_step_and_nulls_are_never_best(client):
    run = started_run(client)
    post(client, run["id"], [
        {"name": "test_accuracy", "step": 1, "value": 0.5},
        {"name": "test_accuracy", "step": 2, "value": 0.5},
        {"name": "test_accuracy", "step": 3, "value": None},
    ])
    summary = client.get(f"{API}/runs/{run['id']}").json()["summary"]["test_accuracy"]
    assert summary == {"final": None, "final_step": 3, "best": 0.5, "best_step": 1}


def test_summaries_stay_with_their_run(client):
    first, second = started_run(client, name="a"), started_run(client, name="b")
    post(client, first["id"], [{"name": "train_loss", "step": 1, "value": 1.0}])
    post(client, second["id"], [{"name": "train_loss", "step": 1, "value": 2.0}])
    runs = {r["name"]: r for r in client.get(f"{API}/runs").json()["data"]}
    assert runs["a"]["summary"]["train_loss"]["best"] == 1.0
    assert runs["b"]["summary"]["train_loss"]["best"] == 2.0
    assert create_run(client, name="c")["summary"] == {}
