"""The statistics of a study, and of any runs, on metric values planted through the REST API:
the groups, their descriptions, the tests (checked against scipy), Holm's correction, the winner,
and each specific warning. Every test runs on SQLite and on Postgres."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from backend.services.statistics_table import holm
from tests.utils.factories import (
    API,
    create_run,
    finish_run,
    post_points,
    start_run,
    strict_json,
    track_run,
    valid_spec,
)

GRID = {"optimizer": ["adam", "sgd"]}
ADAM = "optimizer=adam"
SGD = "optimizer=sgd"


def make_study(client, *, seeds=3, grid=None, name="opt", base_spec=None) -> dict:
    body = {"name": name, "base_spec": base_spec or valid_spec(), "grid": grid or GRID, "seeds": seeds}
    response = client.post(f"{API}/studies", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def cell_runs(study: dict) -> dict[str, list[dict]]:
    """Cell label -> its runs, by seed."""
    return {cell["label"]: cell["runs"] for cell in study["cells"]}


def plant(
    client, run_id: int, curve: list[float | None], *, metric="test_accuracy", status="completed", val=None
) -> None:
    """Train the run by hand: start it, report `curve[i]` at epoch i + 1, and val_accuracy `val[i]`
    (by default the curve itself: the best validation epoch is the best test epoch), end it with
    `status` (None leaves it running)."""
    start_run(client, run_id)
    val = curve if val is None else val
    points = [{"name": metric, "step": epoch, "value": value} for epoch, value in enumerate(curve, start=1)]
    if metric != "val_accuracy":
        points += [{"name": "val_accuracy", "step": epoch, "value": value} for epoch, value in enumerate(val, start=1)]
    points += [{"name": "test_loss", "step": epoch, "value": 1.0 / epoch} for epoch in range(1, len(curve) + 1)]
    post_points(client, run_id, points)
    if status is not None:
        finish_run(client, run_id, status=status, epochs_completed=len(curve))


def plant_finals(client, study: dict, finals: dict[str, list[float]]) -> None:
    """Each run of each cell gets a two-epoch curve ending at its planted value (its best too)."""
    for label, runs in cell_runs(study).items():
        for run, value in zip(runs, finals[label], strict=True):
            plant(client, run["id"], [value - 0.1, value])


def get_stats(client, study_id: int, **params) -> dict:
    response = client.get(f"{API}/studies/{study_id}/stats", params=params)
    assert response.status_code == 200, response.text
    return strict_json(response.text)  # no NaN or Infinity anywhere


def by_label(table: dict) -> dict[str, dict]:
    return {group["label"]: group for group in table["groups"]}


# A study's table


def test_three_seeds_per_cell_describe_compare_and_warn(client):
    study = make_study(client)
    finals = {ADAM: [0.91, 0.92, 0.93], SGD: [0.95, 0.96, 0.94]}
    plant_finals(client, study, finals)

    table = get_stats(client, study["id"])
    assert (table["study_id"], table["metric"], table["direction"], table["summary"]) == (
        study["id"], "test_accuracy", "max", "selected")  # fmt: skip
    assert table["summary_requested"] == "auto"
    assert table["summary_description"] == "test_accuracy at each run's best val_accuracy epoch"
    assert (table["test"], table["ci"], table["alpha"], table["group_by"]) == ("mannwhitney", "t", 0.05, ["cell"])
    groups = by_label(table)
    assert list(groups) == [ADAM, SGD]  # grid order
    adam, sgd = groups[ADAM], groups[SGD]
    assert adam["cell"] == {"optimizer": "adam"}
    assert (adam["n"], adam["seeds"], adam["values"]) == (3, [0, 1, 2], pytest.approx(finals[ADAM]))
    assert adam["run_ids"] == [run["id"] for run in cell_runs(study)[ADAM]]
    assert adam["mean"] == pytest.approx(0.92) and adam["median"] == pytest.approx(0.92)
    assert adam["std"] == pytest.approx(0.01) and (adam["min"], adam["max"]) == pytest.approx((0.91, 0.93))
    low, high = stats.t.interval(0.95, df=2, loc=0.92, scale=stats.sem(finals[ADAM]))
    assert (adam["ci_low"], adam["ci_high"]) == pytest.approx((low, high))
    assert (adam["epochs"], adam["incomplete_runs"], adam["excluded_runs"]) == ([2], 0, [])
    assert (sgd["rank"], adam["rank"]) == (1, 2)
    assert table["ranking"] == [SGD, ADAM]

    (comparison,) = table["comparisons"]
    assert (comparison["a"], comparison["b"], comparison["test"], comparison["method"]) == (
        SGD, ADAM, "mannwhitney", "exact")  # fmt: skip
    reference = stats.mannwhitneyu(finals[SGD], finals[ADAM], method="exact")
    assert comparison["statistic"] == reference.statistic == 9
    assert comparison["p_value"] == pytest.approx(reference.pvalue) == pytest.approx(0.1)
    assert comparison["p_holm"] == pytest.approx(0.1)
    assert comparison["min_attainable_p"] == pytest.approx(0.1)
    assert comparison["cliffs_delta"] == 1.0
    assert comparison["cohens_d"] == pytest.approx((0.95 - 0.92) / 0.01)
    assert comparison["better"] == SGD
    assert comparison["winner"] is None and comparison["significant"] is False
    assert table["warnings"] == [
        "Mann–Whitney U with 3 vs 3 runs cannot reach p < 0.05 (smallest possible two-sided p = 0.100)"
    ]


def test_five_seeds_per_cell_can_name_a_winner_after_holm(client):
    study = make_study(client, seeds=5, grid={"optimizer": ["adam", "sgd", "rmsprop"]}, name="three optimizers")
    finals = {
        ADAM: [0.90, 0.91, 0.92, 0.905, 0.915],
        SGD: [0.95, 0.96, 0.97, 0.955, 0.965],
        "optimizer=rmsprop": [0.93, 0.935, 0.94, 0.932, 0.938],
    }
    plant_finals(client, study, finals)
    table = get_stats(client, study["id"])
    assert table["ranking"] == [SGD, "optimizer=rmsprop", ADAM]
    pairs = [(c["a"], c["b"]) for c in table["comparisons"]]
    assert pairs == [(SGD, "optimizer=rmsprop"), (SGD, ADAM), ("optimizer=rmsprop", ADAM)]
    raw = [stats.mannwhitneyu(finals[a], finals[b], method="exact").pvalue for a, b in pairs]
    assert [c["p_value"] for c in table["comparisons"]] == pytest.approx(raw)
    assert [c["p_holm"] for c in table["comparisons"]] == pytest.approx(holm(raw))
    assert [c["p_holm"] for c in table["comparisons"]] == pytest.approx([3 * 2 / 252] * 3)
    assert [c["winner"] for c in table["comparisons"]] == [SGD, SGD, "optimizer=rmsprop"]
    assert table["warnings"] == []

    best_only = get_stats(client, study["id"], pairs="best")
    assert [(c["a"], c["b"]) for c in best_only["comparisons"]] == [(SGD, "optimizer=rmsprop"), (SGD, ADAM)]


def test_welch_and_wilcoxon_match_scipy(client):
    study = make_study(client, seeds=6)
    finals = {ADAM: [0.90, 0.93, 0.91, 0.95, 0.92, 0.94], SGD: [0.88, 0.90, 0.92, 0.91, 0.87, 0.89]}
    plant_finals(client, study, finals)

    welch = get_stats(client, study["id"], test="welch")
    (comparison,) = welch["comparisons"]
    reference = stats.ttest_ind(finals[ADAM], finals[SGD], equal_var=False)
    assert (comparison["a"], comparison["b"]) == (ADAM, SGD)
    assert comparison["statistic"] == pytest.approx(reference.statistic)
    assert comparison["p_value"] == pytest.approx(reference.pvalue)
    assert comparison["min_attainable_p"] is None
    assert comparison["mean_difference"] == pytest.approx(np.mean(finals[ADAM]) - np.mean(finals[SGD]))

    wilcoxon = get_stats(client, study["id"], test="wilcoxon")
    (comparison,) = wilcoxon["comparisons"]
    reference = stats.wilcoxon(finals[ADAM], finals[SGD])  # paired by seed 0..5
    assert comparison["pairs"] == 6
    assert comparison["statistic"] == pytest.approx(reference.statistic)
    assert comparison["p_value"] == pytest.approx(reference.pvalue)
    assert comparison["min_attainable_p"] == pytest.approx(2 / 2**6)
    assert wilcoxon["warnings"] == []


def test_failed_and_unfinished_runs_are_left_out_with_a_warning(client):
    study = make_study(client, seeds=4)
    adam, sgd = cell_runs(study)[ADAM], cell_runs(study)[SGD]
    plant(client, adam[0]["id"], [0.8, 0.9])
    plant(client, adam[1]["id"], [0.8, 0.91])
    plant(client, adam[2]["id"], [0.5], status="failed")
    plant(client, adam[3]["id"], [0.85], status=None)  # still running
    for run, value in zip(sgd[:3], (0.93, 0.94, 0.95), strict=True):
        plant(client, run["id"], [value])
    client.post(f"{API}/runs/{sgd[3]['id']}/cancel")

    table = get_stats(client, study["id"])
    adam_group = by_label(table)[ADAM]
    assert adam_group["n"] == 2 and adam_group["values"] == pytest.approx([0.9, 0.91])
    assert adam_group["incomplete_runs"] == 2
    assert adam_group["excluded_runs"] == [
        {"id": adam[2]["id"], "status": "failed", "reason": "failed"},
        {"id": adam[3]["id"], "status": "running", "reason": "unfinished"},
    ]
    assert "group 'optimizer=adam' has 1 failed and 1 unfinished runs; they are left out" in table["warnings"]
    assert "group 'optimizer=sgd' has 1 cancelled run; it is left out" in table["warnings"]
    assert (
        "Mann–Whitney U with 2 vs 3 runs cannot reach p < 0.05 (smallest possible two-sided p = 0.200)"
        in (table["warnings"])
    )

    # On request a running run counts, with the value it has so far, and a warning says so.
    provisional = get_stats(client, study["id"], include_running="true")
    adam_group = by_label(provisional)[ADAM]
    assert adam_group["n"] == 3 and adam_group["values"] == pytest.approx([0.9, 0.91, 0.85])
    assert "group 'optimizer=adam' counts 1 run still running: its value is provisional" in provisional["warnings"]
    assert "group 'optimizer=adam' has 1 failed run; it is left out" in provisional["warnings"]


def test_the_planted_example_of_the_issue(client):
    """1 failed and 2 unfinished runs in a group, in the words the issue gives."""
    study = make_study(client, seeds=3, grid={"model.norm": ["none", "batch"]}, name="bn",
                       base_spec=valid_spec(model="convnet", dataset="synthetic_cifar10"))  # fmt: skip
    runs = cell_runs(study)
    for run, value in zip(runs["model.norm=none"], (0.7, 0.71, 0.72), strict=True):
        plant(client, run["id"], [value])
    plant(client, runs["model.norm=batch"][0]["id"], [0.1], status="failed")
    start_run(client, runs["model.norm=batch"][1]["id"])
    table = get_stats(client, study["id"])
    assert table["warnings"] == [
        "group 'model.norm=batch' has 1 failed and 2 unfinished runs; they are left out",
        "group 'model.norm=batch' has no values; it is not compared",
    ]
    assert table["comparisons"] == []
    assert table["ranking"] == ["model.norm=none"]


def test_summary_best_final_and_at_epoch(client):
    study = make_study(client, seeds=2)
    adam, sgd = cell_runs(study)[ADAM], cell_runs(study)[SGD]
    plant(client, adam[0]["id"], [0.5, 0.9, 0.8])
    plant(client, adam[1]["id"], [0.6, 0.7, 0.75])
    plant(client, sgd[0]["id"], [0.4, 0.85, None])  # the last value was NaN: stored as null
    plant(client, sgd[1]["id"], [0.3, 0.6])

    def values(**params):
        table = get_stats(client, study["id"], ci="bootstrap", **params)
        return {label: group["values"] for label, group in by_label(table).items()}, table

    best, _ = values(summary="best")
    assert best == {ADAM: pytest.approx([0.9, 0.75]), SGD: pytest.approx([0.85, 0.6])}
    final, table = values(summary="final")
    assert final == {ADAM: pytest.approx([0.8, 0.75]), SGD: pytest.approx([0.6])}
    assert by_label(table)[SGD]["excluded_runs"] == [
        {"id": sgd[0]["id"], "status": "completed", "reason": "test_accuracy is NaN or infinite"}
    ]
    at_two, table = values(summary="at_epoch", epoch=2)
    assert at_two == {ADAM: pytest.approx([0.9, 0.7]), SGD: pytest.approx([0.85, 0.6])}
    assert table["epoch"] == 2 and table["bootstrap_resamples"] == 9999 and table["bootstrap_seed"] == 0
    at_three, table = values(summary="at_epoch", epoch=3)
    assert at_three[SGD] == []
    assert (
        "group 'optimizer=sgd': 2 runs have no test_accuracy value at epoch 3; they are left out" in (table["warnings"])
    )
    assert "group 'optimizer=sgd' has no values; it is not compared" in table["warnings"]

    # Lower is better for a loss: the direction comes from the metric.
    losses = get_stats(client, study["id"], metric="test_loss", summary="best")
    assert losses["direction"] == "min"
    assert by_label(losses)[ADAM]["values"] == pytest.approx([1 / 3, 1 / 3])


def test_the_default_is_test_at_the_best_validation_epoch_not_the_best_test_epoch(client):
    """Over many epochs the highest of the noisy test values sits above the plateau: the default
    reads the test value at the epoch the validation split chose instead."""
    study = make_study(client, seeds=2)
    adam, sgd = cell_runs(study)[ADAM], cell_runs(study)[SGD]
    plant(client, adam[0]["id"], [0.70, 0.95, 0.80, 0.81], val=[0.6, 0.7, 0.9, 0.8])  # best val: epoch 3
    plant(client, adam[1]["id"], [0.72, 0.93, 0.84, 0.83], val=[0.6, 0.7, 0.7, 0.9])  # best val: epoch 4
    plant(client, sgd[0]["id"], [0.88, 0.86, 0.85, 0.87], val=[0.9, 0.9, 0.8, 0.8])  # ties: the first, epoch 1
    plant(client, sgd[1]["id"], [0.80, 0.89, 0.86, 0.85], val=[0.5, 0.6, 0.7, 0.6])  # best val: epoch 3

    table = get_stats(client, study["id"])
    assert (table["metric"], table["summary"]) == ("test_accuracy", "selected")
    assert {label: group["values"] for label, group in by_label(table).items()} == {
        ADAM: pytest.approx([0.80, 0.83]), SGD: pytest.approx([0.88, 0.86])
    }
    assert table["ranking"] == [SGD, ADAM]  # by the best test epoch, adam would look better: 0.94 vs 0.885
    assert not any("selected on the test set" in w for w in table["warnings"])

    best = get_stats(client, study["id"], summary="best")
    assert by_label(best)[ADAM]["values"] == pytest.approx([0.95, 0.93]) and best["ranking"] == [ADAM, SGD]
    assert best["summary_description"] == (
        "each run's highest test_accuracy over all epochs: selected on the test set, optimistic"
    )
    assert any(w.startswith("summary=best takes each run's highest test_accuracy over all epochs: selected on the "
                            "test set, optimistic") for w in best["warnings"])  # fmt: skip
    assert not any("selected on the test set" in w for w in get_stats(client, study["id"], summary="final")["warnings"])


def test_runs_without_a_validation_value_are_left_out_of_selected_with_the_reason(client):
    study = make_study(client, seeds=2)
    adam, sgd = cell_runs(study)[ADAM], cell_runs(study)[SGD]
    for run, value in zip(adam + sgd[:1], (0.9, 0.91, 0.8), strict=True):
        plant(client, run["id"], [value])
    plant(client, sgd[1]["id"], [0.85], val=[None])  # its one validation value was NaN
    table = get_stats(client, study["id"], summary="selected")
    assert by_label(table)[SGD]["excluded_runs"] == [
        {"id": sgd[1]["id"], "status": "completed", "reason": "no val_accuracy value to select an epoch by"}
    ]


def test_without_a_validation_split_auto_is_final_and_selected_warns_it_is_on_test(client):
    study = make_study(client, seeds=2, base_spec=valid_spec(val_fraction=0))
    for runs in cell_runs(study).values():
        for run in runs:
            plant(client, run["id"], [0.9, 0.7, 0.8])
    auto = get_stats(client, study["id"])
    assert (auto["summary"], auto["summary_requested"]) == ("final", "auto")
    assert auto["summary_description"] == "test_accuracy at each run's last step"
    assert by_label(auto)[ADAM]["values"] == pytest.approx([0.8, 0.8])
    selected = get_stats(client, study["id"], summary="selected")
    assert by_label(selected)[ADAM]["values"] == pytest.approx([0.9, 0.9])
    assert selected["summary_description"] == "test_accuracy at each run's best test_accuracy epoch"
    assert any(w.startswith("epochs selected by test_accuracy: selected on the test set, optimistic")
               for w in selected["warnings"])  # fmt: skip


def test_runs_from_before_validation_splits_are_summarised_by_their_final_value(client):
    study = make_study(client, seeds=1)
    for runs in cell_runs(study).values():
        plant(client, runs[0]["id"], [0.9, 0.8], val=[])  # no val_accuracy reported
    table = get_stats(client, study["id"])
    assert (table["summary"], table["summary_description"]) == ("final", "test_accuracy at each run's last step")
    assert [g["values"] for g in table["groups"]] == [pytest.approx([0.8]), pytest.approx([0.8])]


def test_bootstrap_intervals_are_the_same_every_time(client):
    study = make_study(client, seeds=4)
    plant_finals(client, study, {ADAM: [0.9, 0.92, 0.91, 0.95], SGD: [0.8, 0.82, 0.81, 0.85]})
    first = get_stats(client, study["id"], ci="bootstrap")
    again = get_stats(client, study["id"], ci="bootstrap")
    assert [(g["ci_low"], g["ci_high"]) for g in first["groups"]] == [
        (g["ci_low"], g["ci_high"]) for g in again["groups"]
    ]
    adam = by_label(first)[ADAM]
    assert adam["ci_low"] < adam["mean"] < adam["ci_high"]
    assert any(w.startswith("bootstrap percentile intervals from 4 runs are too narrow") for w in first["warnings"])


def test_a_study_can_be_pooled_by_one_grid_path(client):
    grid = {"optimizer": ["adam", "sgd"], "batch_size": [16, 32]}
    study = make_study(client, seeds=2, grid=grid)
    for cell in study["cells"]:
        for run in cell["runs"]:
            value = 0.9 if cell["cell"]["optimizer"] == "sgd" else 0.8
            plant(client, run["id"], [value + 0.01 * run["seed"]])
    table = get_stats(client, study["id"], group_by="optimizer")
    assert table["group_by"] == ["optimizer"]
    groups = by_label(table)
    assert list(groups) == [ADAM, SGD]
    assert groups[SGD]["n"] == 4 and groups[SGD]["cell"] == {"optimizer": "sgd"}
    # 'optimizer' is a whole registry entry in the spec; 'optimizer.name' is its name alone
    by_name = get_stats(client, study["id"], group_by="optimizer.name")
    assert [g["label"] for g in by_name["groups"]] == ["optimizer.name=adam", "optimizer.name=sgd"]


def test_bad_requests(client):
    study = make_study(client, seeds=1)
    cases = [
        ({"summary": "at_epoch"}, ["query", "epoch"]),
        ({"metric": "lr"}, ["query", "metric"]),
        ({"test": "ttest"}, ["query", "test"]),
        ({"ci": "bca"}, ["query", "ci"]),
        ({"alpha": 0}, ["query", "alpha"]),
        ({"group_by": "colour"}, ["query", "group_by"]),
        ({"group_by": ["cell", "optimizer"]}, ["query", "group_by"]),
        ({"group_by": "bad path!"}, ["query", "group_by"]),
    ]
    for params, loc in cases:
        response = client.get(f"{API}/studies/{study['id']}/stats", params=params)
        assert response.status_code == 422, (params, response.text)
        assert loc in [error["loc"] for error in response.json()["detail"]], (params, response.text)
    assert client.get(f"{API}/studies/999/stats").status_code == 404


def test_a_metric_no_run_reported_is_named(client):
    study = make_study(client, seeds=1)
    plant_finals(client, study, {ADAM: [0.9], SGD: [0.8]})
    table = get_stats(client, study["id"], metric="test_acc")
    assert "no run reported test_acc; the runs report: test_accuracy, test_loss, val_accuracy" in table["warnings"]


# Any runs


def test_ad_hoc_runs_by_group_with_different_epoch_budgets(client):
    short = [create_run(client, name=f"short {i}", group="short", spec=valid_spec(epochs=30, seed=i)) for i in range(3)]
    long = [create_run(client, name=f"long {i}", group="long", spec=valid_spec(epochs=400, seed=i)) for i in range(3)]
    for run, value in zip(short + long, (0.80, 0.81, 0.82, 0.90, 0.91, 0.92), strict=True):
        plant(client, run["id"], [value])
    response = client.get(f"{API}/stats", params={"run_id": [run["id"] for run in short + long]})
    assert response.status_code == 200, response.text
    table = response.json()
    assert table["study_id"] is None and table["group_by"] == ["group"]
    assert [g["label"] for g in table["groups"]] == ["short", "long"]
    assert by_label(table)["long"]["epochs"] == [400]
    assert table["ranking"] == ["long", "short"]
    assert table["warnings"] == [
        "runs compared used different epoch budgets: 30, 400",
        "Mann–Whitney U with 3 vs 3 runs cannot reach p < 0.05 (smallest possible two-sided p = 0.100)",
    ]

    by_spec = client.get(f"{API}/stats", params={"group": "long", "group_by": "epochs"}).json()
    assert [(g["label"], g["n"]) for g in by_spec["groups"]] == [("epochs=400", 3)]
    by_two = client.get(
        f"{API}/stats", params={"run_id": [short[0]["id"], long[0]["id"]], "group_by": ["epochs", "seed"]}
    ).json()
    assert [g["label"] for g in by_two["groups"]] == ["epochs=30 seed=0", "epochs=400 seed=0"]


def test_script_runs_select_by_their_config_or_the_validation_score_they_logged(client):
    by_config = track_run(client, group="scripts", config={"selection_metric": "val_loss"})
    by_dice = track_run(client, group="scripts")
    unselected = track_run(client, group="scripts")
    curves = {
        by_config["id"]: {"val_loss": [0.5, 0.3, 0.4], "val_accuracy": [0.1, 0.2, 0.9], "test_dice": [0.6, 0.7, 0.8]},
        by_dice["id"]: {"val_dice": [0.2, 0.9, 0.5], "test_dice": [0.61, 0.72, 0.83]},
        unselected["id"]: {"test_dice": [0.5, 0.6, 0.7]},
    }
    for run_id, metrics in curves.items():
        points = [
            {"name": name, "step": step, "value": value}
            for name, values in metrics.items() for step, value in enumerate(values, start=1)
        ]  # fmt: skip
        post_points(client, run_id, points)
        finish_run(client, run_id)
    table = client.get(f"{API}/stats", params={"group": "scripts", "metric": "test_dice"}).json()
    (group,) = table["groups"]
    assert dict(zip(group["run_ids"], group["values"], strict=True)) == {by_config["id"]: 0.7, by_dice["id"]: 0.72}
    (excluded,) = group["excluded_runs"]
    assert excluded["id"] == unselected["id"] and excluded["reason"].startswith("no selection metric")
    assert table["summary_description"] == "test_dice at each run's best val_dice or val_loss epoch"


def test_ad_hoc_errors(client):
    assert client.get(f"{API}/stats").status_code == 422
    response = client.get(f"{API}/stats", params={"run_id": [999]})
    assert response.status_code == 404 and "999" in response.json()["detail"]
