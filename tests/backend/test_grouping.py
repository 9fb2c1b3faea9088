"""Grouping and labelling runs (backend/services/grouping.py) on its own: the labels every view
shows, options at their defaults left out, and labels that stay unique."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from backend.services.grouping import InvalidGroupBy, compact, entry_defaults, group_runs


def run(run_id: int, spec: dict, *, name: str = "r", group: str | None = None, cell: dict | None = None):
    return SimpleNamespace(id=run_id, name=name, group=group, source="worker", spec=spec, config=None, cell=cell)


def script_run(run_id: int, config: dict | None, *, name: str = "s"):
    return SimpleNamespace(id=run_id, name=name, group=None, source="script", spec={}, config=config, cell=None)


def sgd(**options) -> dict:
    return {"name": "sgd", **entry_defaults("optimizer", "sgd"), **options}


def test_an_entry_is_labelled_by_its_name_and_the_options_it_changes():
    assert entry_defaults("optimizer", "sgd") == {"momentum": 0.0, "nesterov": False, "weight_decay": 0.0}
    assert compact("optimizer", sgd(momentum=0.9)) == {"name": "sgd", "momentum": 0.9}
    assert compact("optimizer", sgd()) == "sgd"
    runs = [run(1, {"optimizer": sgd(momentum=0.9)}), run(2, {"optimizer": sgd()}), run(3, {"optimizer": sgd()})]
    groups = group_runs(runs, ["optimizer"])
    assert [(g.label, [r.id for r in g.runs]) for g in groups] == [
        ("optimizer=sgd(momentum=0.9)", [1]),
        ("optimizer=sgd", [2, 3]),
    ]
    assert groups[0].cell == {"optimizer": {"name": "sgd", "momentum": 0.9}}


def test_an_entry_not_known_here_keeps_all_its_options():
    assert entry_defaults("optimizer", "lion") == {}
    assert compact("optimizer", {"name": "lion", "beta": 0.9}) == {"name": "lion", "beta": 0.9}


def test_several_paths_a_missing_value_and_labels_that_print_alike():
    runs = [
        run(1, {"model": {"name": "mlp", "norm": "batch"}, "seed": 1}),
        run(2, {"model": {"name": "mlp"}, "seed": 1}),
        run(3, {"model": {"name": "mlp", "norm": 1}, "seed": 1}),
        run(4, {"model": {"name": "mlp", "norm": "1"}, "seed": 1}),
    ]
    labels = [g.label for g in group_runs(runs, ["model.norm", "seed"])]
    assert labels == [
        "model.norm=batch seed=1", "model.norm=null seed=1", "model.norm=1 seed=1", "model.norm=1 seed=1 #2"
    ]  # fmt: skip


def test_cells_come_first_in_grid_order_and_groups_by_name():
    cells = [{"learning_rate": 0.1}, {"learning_rate": 0.01}]
    runs = [run(1, {}, cell={"learning_rate": 0.01}, group="b"), run(2, {}, cell=None, group=None)]
    assert [(g.label, len(g.runs)) for g in group_runs(runs, ["cell"], cells)] == [
        ("learning_rate=0.1", 0), ("learning_rate=0.01", 1), ("(no cell)", 1)
    ]  # fmt: skip
    assert [g.label for g in group_runs(runs, ["group"])] == ["b", "(no group)"]


def test_script_runs_are_grouped_by_their_config_beside_worker_runs():
    runs = [
        run(1, {"learning_rate": 0.1, "optimizer": sgd(momentum=0.9)}),
        script_run(2, {"learning_rate": 0.1, "optimizer": {"name": "sgd", "momentum": 0.9}, "lr": 3}),
        script_run(3, {"learning_rate": 0.01, "model": {"width": 64}}),
        run(4, {"learning_rate": 0.01}),
        script_run(5, None),
    ]
    by_spec_path = group_runs(runs, ["learning_rate", "optimizer"])
    assert [(g.label, [r.id for r in g.runs]) for g in by_spec_path] == [
        ("learning_rate=0.1 optimizer=sgd(momentum=0.9)", [1, 2]),
        ("learning_rate=0.01 optimizer=null", [3, 4]),
        ("learning_rate=null optimizer=null", [5]),
    ]
    by_config = group_runs(runs[:4], ["config.learning_rate"])  # numeric values: from low to high
    assert [(g.label, [r.id for r in g.runs]) for g in by_config] == [
        ("config.learning_rate=0.01", [3, 4]), ("config.learning_rate=0.1", [1, 2])
    ]  # fmt: skip
    assert [g.label for g in group_runs(runs, ["config.model.width"])][:2] == [
        "config.model.width=null", "config.model.width=64"
    ]  # fmt: skip


@pytest.mark.parametrize("group_by", [["colour"], ["cell", "seed"], ["group", "cell"], ["config"], ["config."]])
def test_what_runs_cannot_be_grouped_by(group_by):
    with pytest.raises(InvalidGroupBy):
        group_runs([], group_by)
