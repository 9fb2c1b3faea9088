"""One request returns several runs with their curves (by ids or by group), and the runs list
filters by model and dataset. Runs reported by their own scripts are compared beside worker runs."""

from __future__ import annotations

from tests.utils.factories import API, create_run, finish_run, post_points, started_run, track_run, valid_spec


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


# Groups: one grouping and one label for the chart, the summary, the statistics and the report

SGD = "optimizer=sgd(momentum=0.9)"


def _trained(client, name: str, group: str, accuracy: float, **spec) -> dict:
    run = started_run(client, name=name, group=group, spec=valid_spec(**spec))
    post_points(client, run["id"], [{"name": "test_accuracy", "step": 1, "value": accuracy}])
    finish_run(client, run["id"])
    return run


def _labels(groups: list[dict]) -> list[str]:
    return [group["label"] for group in groups]


def test_compare_groups_by_a_registry_entry_with_the_labels_of_the_statistics(client):
    runs = [
        _trained(client, f"sgd {seed}", "opt", 0.9 + seed / 100, seed=seed, optimizer={"name": "sgd", "momentum": 0.9})
        for seed in range(2)
    ] + [_trained(client, f"adam {seed}", "opt", 0.8, seed=seed, optimizer="adam") for seed in range(2)]
    compared = client.get(f"{API}/compare", params={"group": "opt", "group_by": "optimizer"})
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert body["group_by"] == ["optimizer"]
    assert body["groups"] == [
        {"key": '{"optimizer": {"momentum": 0.9, "name": "sgd"}}', "label": SGD,
         "cell": {"optimizer": {"name": "sgd", "momentum": 0.9}}, "run_ids": [runs[0]["id"], runs[1]["id"]]},
        {"key": '{"optimizer": "adam"}', "label": "optimizer=adam", "cell": {"optimizer": "adam"},
         "run_ids": [runs[2]["id"], runs[3]["id"]]},
    ]  # fmt: skip
    stats = client.get(f"{API}/stats", params={"group": "opt", "group_by": "optimizer"}).json()
    assert [(g["key"], g["label"]) for g in stats["groups"]] == [(g["key"], g["label"]) for g in body["groups"]]
    assert stats["ranking"] == [SGD, "optimizer=adam"]
    report = client.get(f"{API}/compare/report", params={"group": "opt", "group_by": "optimizer"}).text
    assert SGD in report and "optimizer={" not in report


def test_without_group_by_each_run_is_a_group_named_after_it(client):
    first = create_run(client, name="twin", group="g")
    second = create_run(client, name="twin", group="g")
    other = create_run(client, name="other", group="g")
    groups = client.get(f"{API}/compare", params={"group": "g"}).json()["groups"]
    assert [(g["label"], g["run_ids"], g["cell"]) for g in groups] == [
        (f"twin #{first['id']}", [first["id"]], None),
        (f"twin #{second['id']}", [second["id"]], None),
        ("other", [other["id"]], None),
    ]


def test_groups_of_one_numeric_field_are_in_its_order_everywhere(client):
    for lr, accuracy in ((0.1, 0.7), (0.001, 0.5), (0.01, 0.6)):
        _trained(client, f"lr {lr}", "lrs", accuracy, learning_rate=lr)
    params = {"group": "lrs", "group_by": "learning_rate"}
    expected = ["learning_rate=0.001", "learning_rate=0.01", "learning_rate=0.1"]
    assert _labels(client.get(f"{API}/compare", params=params).json()["groups"]) == expected
    assert _labels(client.get(f"{API}/stats", params=params).json()["groups"]) == expected


def test_compare_refuses_what_runs_cannot_be_grouped_by(client):
    create_run(client, group="g")
    for group_by in ("colour", "bad path!", ["cell", "optimizer"]):
        response = client.get(f"{API}/compare", params={"group": "g", "group_by": group_by})
        assert response.status_code == 422, (group_by, response.text)
        assert ["query", "group_by"] in [error["loc"] for error in response.json()["detail"]]


# Script runs beside worker runs: a path reads a worker's spec and a script's config alike


def _tracked(client, name: str, group: str, accuracy: float, **config) -> dict:
    run = track_run(client, name=name, group=group, config=config)
    post_points(client, run["id"], [{"name": "test_accuracy", "step": 1, "value": accuracy}])
    finish_run(client, run["id"])
    return run


def test_script_and_worker_runs_are_compared_and_grouped_together(client):
    scripts = [_tracked(client, f"script {lr}", "mix", 0.7 + lr, learning_rate=lr, seed=0, **{"hidden-size": 64})
               for lr in (0.1, 0.01)]  # fmt: skip
    workers = [_trained(client, f"worker {lr}", "mix", 0.75 + lr, learning_rate=lr, seed=1) for lr in (0.1, 0.01)]
    compared = client.get(f"{API}/compare", params={"group": "mix", "group_by": "learning_rate"})
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert [run["source"] for run in body["runs"]] == ["script", "script", "worker", "worker"]
    assert body["runs"][0]["config"] == {"learning_rate": 0.1, "seed": 0, "hidden-size": 64}
    assert [(g["label"], g["run_ids"]) for g in body["groups"]] == [
        ("learning_rate=0.01", [scripts[1]["id"], workers[1]["id"]]),
        ("learning_rate=0.1", [scripts[0]["id"], workers[0]["id"]]),
    ]
    assert set(body["series"]) == {str(run["id"]) for run in scripts + workers}

    by_config = client.get(f"{API}/compare", params={"group": "mix", "group_by": "config.learning_rate"}).json()
    assert [g["run_ids"] for g in by_config["groups"]] == [g["run_ids"] for g in body["groups"]]
    assert _labels(by_config["groups"]) == ["config.learning_rate=0.01", "config.learning_rate=0.1"]
    by_key = client.get(f"{API}/compare", params={"group": "mix", "group_by": "config.hidden-size"}).json()
    assert _labels(by_key["groups"]) == ["config.hidden-size=64", "config.hidden-size=null"]

    stats = client.get(f"{API}/stats", params={"group": "mix", "group_by": "learning_rate"})
    assert stats.status_code == 200, stats.text
    table = stats.json()
    assert table["metric"] == "test_accuracy" and table["ranking"] == ["learning_rate=0.1", "learning_rate=0.01"]
    assert {g["label"]: g["n"] for g in table["groups"]} == {"learning_rate=0.01": 2, "learning_rate=0.1": 2}
    seeds = client.get(f"{API}/stats", params={"group": "mix", "group_by": "seed"}).json()
    assert [(g["label"], g["seeds"]) for g in seeds["groups"]] == [("seed=0", [0, 0]), ("seed=1", [1, 1])]
    by_group = client.get(f"{API}/stats", params={"run_id": [scripts[0]["id"], workers[0]["id"]]}).json()
    assert [g["n"] for g in by_group["groups"]] == [2]

    report = client.get(f"{API}/compare/report", params={"group": "mix", "group_by": "learning_rate"})
    assert report.status_code == 200, report.text
    assert "learning_rate=0.01" in report.text and "Pairwise comparisons" in report.text
    assert "<summary>config</summary>" in report.text and "&quot;hidden-size&quot;: 64" in report.text
    assert "<summary>spec</summary>" in report.text
