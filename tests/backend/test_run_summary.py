"""Each run carries the final, best and selected value of every metric it reported (losses:
lowest, scores: highest; selected: at the best epoch of its selection metric), in the run itself
and in the runs list."""

from __future__ import annotations

from tests.utils.factories import API, create_run, finish_run, post_points, started_run, track_run, valid_spec

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
    no_selection = {"selected": None}  # the run reported no val_accuracy: no selected epoch
    assert summary["test_loss"] == {"final": 0.9, "final_step": 3, "best": 0.5, "best_step": 2, **no_selection}
    assert summary["test_accuracy"] == {"final": 0.7, "final_step": 3, "best": 0.8, "best_step": 2, **no_selection}
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
    assert summary == {"final": None, "final_step": 3, "best": 0.5, "best_step": 1, "selected": None}


def test_summaries_stay_with_their_run(client):
    first, second = started_run(client, name="a"), started_run(client, name="b")
    post(client, first["id"], [{"name": "train_loss", "step": 1, "value": 1.0}])
    post(client, second["id"], [{"name": "train_loss", "step": 1, "value": 2.0}])
    runs = {r["name"]: r for r in client.get(f"{API}/runs").json()["data"]}
    assert runs["a"]["summary"]["train_loss"]["best"] == 1.0
    assert runs["b"]["summary"]["train_loss"]["best"] == 2.0
    assert create_run(client, name="c")["summary"] == {}


def test_the_selected_epoch_is_the_best_validation_epoch_and_each_metric_is_read_there(client):
    run = started_run(client)
    post(client, run["id"], [
        *({"name": "val_accuracy", "step": s, "value": v} for s, v in [(1, 0.6), (2, 0.9), (3, 0.9), (4, 0.7)]),
        *({"name": "test_accuracy", "step": s, "value": v} for s, v in [(1, 0.5), (2, 0.8), (3, 0.85), (4, 0.9)]),
        *({"name": "val_loss", "step": s, "value": v} for s, v in [(1, 1.0), (2, 0.4), (4, 0.2)]),
    ])
    shown = client.get(f"{API}/runs/{run['id']}").json()
    assert (shown["selection_metric"], shown["selected_epoch"]) == ("val_accuracy", 2)  # the first of the ties
    assert shown["summary"]["test_accuracy"]["selected"] == 0.8  # its best, 0.9 at epoch 4, is not the result
    assert shown["summary"]["test_accuracy"]["best"] == 0.9
    assert shown["summary"]["val_loss"]["selected"] == 0.4
    listed = client.get(f"{API}/runs").json()["data"][0]
    assert (listed["selected_epoch"], listed["summary"]) == (2, shown["summary"])


def test_selection_on_the_test_set_and_by_a_script_config(client):
    on_test = started_run(client, spec=valid_spec(val_fraction=0))
    post(client, on_test["id"], [{"name": "test_accuracy", "step": s, "value": v} for s, v in [(1, 0.7), (2, 0.6)]])
    shown = client.get(f"{API}/runs/{on_test['id']}").json()
    assert (shown["selection_metric"], shown["selected_epoch"]) == ("test_accuracy", 1)

    script = track_run(client, config={"selection_metric": "val_loss"})
    post(client, script["id"], [
        *({"name": "val_loss", "step": s, "value": v} for s, v in [(10, 0.5), (20, 0.3), (30, 0.4)]),
        *({"name": "test_dice", "step": s, "value": v} for s, v in [(10, 0.5), (20, 0.6), (30, 0.7)]),
    ])
    finish_run(client, script["id"])
    shown = client.get(f"{API}/runs/{script['id']}").json()
    assert (shown["selection_metric"], shown["selected_epoch"]) == ("val_loss", 20)
    assert shown["summary"]["test_dice"]["selected"] == 0.6
    bare = track_run(client)
    assert (bare["selection_metric"], bare["selected_epoch"]) == (None, None)
