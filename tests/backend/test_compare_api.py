"""One request returns several runs with their curves (by ids or by group), and the runs list
filters by model and dataset."""

from __future__ import annotations

from tests.utils.factories import API, create_run, post_points, started_run, valid_spec


def test_compare_by_ids_and_by_group_in_one_request(client):
    a = started_run(client, name="a", group="sweep")
    b = started_run(client, name="b", group="sweep")
    c = started_run(client, name="c")
    for run, base in ((a, 1.0), (b, 2.0), (c, 3.0)):
        post_points(client, run["id"], [{"name": "train_loss", "step": s, "value": base / s, "wall_time": 100.0 + s}
                                 for s in (1, 2, 3)] + [{"name": "lr", "step": 1, "value": 0.1}])

    by_group = client.get(f"{API}/compare", params={"group": "sweep"}).json()
    assert [r["name"] for r in by_group["runs"]] == ["a", "b"]
    assert by_group["series"][str(a["id"])]["train_loss"] == {
        "steps": [1, 2, 3], "values": [1.0, 0.5, 1 / 3], "wall_times": [101.0, 102.0, 103.0]}
    assert by_group["runs"][0]["summary"]["train_loss"]["best"] == 1 / 3

    by_ids = client.get(f"{API}/compare", params={"run_id": [c["id"], a["id"]], "metric": "lr"}).json()
    assert [r["name"] for r in by_ids["runs"]] == ["c", "a"]  # in the order asked
    assert set(by_ids["series"][str(c["id"])]) == {"lr"}


def test_compare_errors(client):
    assert client.get(f"{API}/compare").status_code == 422
    response = client.get(f"{API}/compare", params={"run_id": [999]})
    assert response.status_code == 404 and "999" in response.json()["detail"]


def test_runs_filter_by_model_and_dataset(client):
    create_run(client, name="mlp-mnist")
    create_run(client, name="cnn-cifar", spec=valid_spec(model="convnet", dataset="synthetic_cifar10"))
    create_run(client, name="mlp-cifar", spec=valid_spec(dataset="synthetic_cifar10"))

    def names(**params):
        return sorted(r["name"] for r in client.get(f"{API}/runs", params=params).json()["data"])

    assert names(model="mlp") == ["mlp-cifar", "mlp-mnist"]
    assert names(dataset="synthetic_cifar10") == ["cnn-cifar", "mlp-cifar"]
    assert names(model="mlp", dataset="synthetic_cifar10") == ["mlp-cifar"]
    assert names(model="resnet") == []
