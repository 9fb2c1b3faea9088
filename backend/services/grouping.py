"""Grouping and labelling runs: the one place that decides which runs form a group and what the
group is called, for the compare view, the statistics tables, the studies and the HTML report.

A group is the runs sharing the values of the `group_by` paths, the runs of one study cell
(`cell`), or of one `group` name; without `group_by` each run is a group of its own, labelled with
its name. A path ("optimizer", "model.norm", "config.lr") is read in each run's recipe: the spec of
a worker run, the config of a script run, a leading `config.` left out; so `learning_rate` groups
worker runs and the scripts whose config has a `learning_rate` alike. A registry entry's options
left at their defaults are left out of its value, so a label reads `optimizer=sgd(momentum=0.9)`
as the grid that made it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trainboard.options import OPTIMIZERS, SCHEDULERS
from trainboard.spec import TrainSpec
from trainboard.spec_paths import NAMED_FIELDS, get_path

# (spec field, entry name) -> the entry's options with their defaults, {"momentum": 0.0, ...}
Defaults = Callable[[str, str], dict[str, Any]]
NO_GRID_LABEL = "all runs"
BY_CELL, BY_GROUP = "cell", "group"
CONFIG_PREFIX = "config."


class InvalidGroupBy(ValueError):
    """`group_by` names something runs cannot be grouped by; the message says what is allowed."""


# --- values and labels -------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A value as a label shows it: adam, 0.001, true, null, [64,32], sgd(momentum=0.9)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        options = ",".join(f"{key}={format_value(item)}" for key, item in value.items() if key != "name")
        return f"{value['name']}({options})" if options else value["name"]
    return json.dumps(value, separators=(",", ":"))


def cell_label(cell: dict[str, Any]) -> str:
    """`model.norm=batch optimizer=adam`; a study without a grid has one cell, `all runs`."""
    return " ".join(f"{path}={format_value(value)}" for path, value in cell.items()) or NO_GRID_LABEL


def cell_key(cell: dict[str, Any] | None) -> str:
    return json.dumps(cell, sort_keys=True)


def entry_defaults(field_name: str, name: str) -> dict[str, Any]:
    """The defaults of an optimizer or scheduler (the contract's own classes); {} for anything else.
    Models and datasets are the workers': `backend.services.catalog.published_defaults` adds theirs."""
    options = {"optimizer": OPTIMIZERS, "scheduler": SCHEDULERS}.get(field_name, {}).get(name)
    return options().model_dump(mode="json", exclude={"name"}) if options is not None else {}


def compact(path: str, value: Any, defaults: Defaults = entry_defaults) -> Any:
    """A registry entry of a spec ({"name": "adam", "betas": [0.9, 0.999], ...}) without the options
    left at their defaults, as a grid would give it: "adam", {"name": "sgd", "momentum": 0.9}.
    Other values, and entries not known here, are returned as they are."""
    if path not in NAMED_FIELDS or not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return value
    known = defaults(path, value["name"])
    changed = {key: item for key, item in value.items() if key != "name" and known.get(key) != item}
    return {"name": value["name"], **changed} if changed else value["name"]


def recipe(run: Any) -> dict[str, Any]:
    """What made the run: the spec a worker trained it from, or the config its own script sent."""
    return (run.config if run.source == "script" else run.spec) or {}


def recipe_path(path: str) -> str:
    """A group_by path as it reads the recipe: `config.lr` -> `lr`; a spec path as it is."""
    return path.removeprefix(CONFIG_PREFIX)


def recipe_value(run: Any, path: str) -> Any:
    """The value of a group_by path in the run's recipe; None where it leads nowhere."""
    return get_path(recipe(run), recipe_path(path))


def check_group_by(group_by: Sequence[str]) -> None:
    """Raise InvalidGroupBy unless `group_by` is `cell` alone, `group` alone, or spec and config paths."""
    if any(item in (BY_CELL, BY_GROUP) for item in group_by):
        if len(group_by) > 1:
            raise InvalidGroupBy("group_by=cell and group_by=group cannot be combined with others")
        return
    fields = set(TrainSpec.model_fields)
    for path in group_by:
        if not (path.startswith(CONFIG_PREFIX) and len(path) > len(CONFIG_PREFIX)) and path.split(".")[0] not in fields:
            raise InvalidGroupBy(
                f"group_by must be cell, group, spec paths such as model.norm or config paths such as config.lr; "
                f"not {path!r}"
            )


# --- groups --------------------------------------------------------------------------------------


@dataclass
class Group:
    """Runs (database rows or their public form: anything with id, name, group, source, spec, config and cell)."""

    key: str  # identity: JSON of the group's values (or the run id without group_by)
    label: str  # unique among the groups of one grouping
    cell: dict[str, Any] | None  # group_by path -> value; the study cell; None for a `group` or a run
    runs: list[Any] = field(default_factory=list)


def run_labels(runs: Sequence[Any]) -> dict[int, str]:
    """Each run's name, with its id when two runs share a name."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    return {run.id: run.name if counts[run.name] == 1 else f"{run.name} #{run.id}" for run in runs}


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def group_runs(
    runs: Sequence[Any],
    group_by: Sequence[str],
    cells: list[dict[str, Any]] | None = None,
    defaults: Defaults = entry_defaults,
) -> list[Group]:
    """The runs grouped by `group_by` (see the module's docstring). Order: a study's `cells` first,
    in grid order, with runs or not; the values of one numeric path from low to high (0.001,
    0.01, 0.1); otherwise the order in which the groups first appear."""
    group_by = list(group_by)
    check_group_by(group_by)
    if not group_by:
        labels = run_labels(runs)
        return [Group(str(run.id), labels[run.id], None, [run]) for run in runs]
    groups: dict[str, Group] = {}
    for cell in cells or []:
        groups.setdefault(cell_key(cell), Group(cell_key(cell), cell_label(cell), cell))
    for run in runs:
        if group_by == [BY_CELL]:
            cell = run.cell
            key, label = cell_key(cell), cell_label(cell) if cell is not None else "(no cell)"
        elif group_by == [BY_GROUP]:
            cell = None
            key, label = json.dumps(run.group), run.group if run.group is not None else "(no group)"
        else:
            cell = {path: compact(recipe_path(path), recipe_value(run, path), defaults) for path in group_by}
            key, label = cell_key(cell), cell_label(cell)
        groups.setdefault(key, Group(key, label, cell)).runs.append(run)
    ordered = list(groups.values())
    if not cells and len(group_by) == 1 and group_by[0] not in (BY_CELL, BY_GROUP):
        values = [group.cell[group_by[0]] for group in ordered]
        if all(_numeric(value) for value in values):
            ordered = [group for _, group in sorted(zip(values, ordered, strict=True), key=lambda pair: pair[0])]
    # Two different values could print alike (1 and "1"): labels name groups everywhere, so keep them unique.
    seen: dict[str, int] = {}
    for group in ordered:
        if group.label in seen:
            seen[group.label] += 1
            group.label = f"{group.label} #{seen[group.label]}"
        else:
            seen[group.label] = 1
    return ordered
