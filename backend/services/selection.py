"""Each run's selection metric and selected epoch: the metric its best epoch is chosen by, and the
first epoch where that metric is best (trainboard.metrics.best_epoch). A result read at the
selected epoch ("test_accuracy at the best val_accuracy epoch") is the honest one to compare:
the highest of many noisy test values is not.

Which metric selects a run's epoch:
- a worker run: its spec's (`trainboard.spec.selection_metric`: val_accuracy or val_dice by the
  dataset's task, test_* when the spec holds no validation split out, or the spec's own choice);
- a script run: the `selection_metric` of its config, else the first of `SCRIPT_SELECTION_METRICS`
  that it reported, else none: the run has no selected epoch.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backend.crud import metrics as metrics_crud
from backend.models import Run, RunSource
from backend.services.catalog import dataset_task
from trainboard.metrics import direction
from trainboard.spec import TrainSpec, selected_on_test, selection_metric

SCRIPT_SELECTION_METRICS = ("val_accuracy", "val_dice")


def spec_selection_metric(session: Session, spec: dict[str, Any] | None, tasks: dict[str, str | None]) -> str | None:
    """The selection metric of a worker run's spec (None for a spec that does not validate);
    `tasks` keeps each dataset's task as the catalog gives it, for the next run."""
    try:
        validated = TrainSpec.model_validate(spec or {})
    except ValidationError:
        return None
    name = validated.dataset.name
    if name not in tasks:
        tasks[name] = dataset_task(session, name)
    return selection_metric(validated, tasks[name])


def selection_metrics(session: Session, runs: list[Run]) -> dict[int, str | None]:
    """Each run's selection metric, None for a script run without one (see the module's rule)."""
    scripts = [run.id for run in runs if run.source == RunSource.script.value]
    reported = metrics_crud.reported_names(session=session, run_ids=scripts, names=list(SCRIPT_SELECTION_METRICS))
    tasks: dict[str, str | None] = {}
    found: dict[int, str | None] = {}
    for run in runs:
        if run.source != RunSource.script.value:
            found[run.id] = spec_selection_metric(session, run.spec, tasks)
            continue
        chosen = (run.config or {}).get("selection_metric")
        if not (isinstance(chosen, str) and direction(chosen) is not None):
            chosen = next((m for m in SCRIPT_SELECTION_METRICS if m in reported.get(run.id, ())), None)
        found[run.id] = chosen
    return found


def selected_steps(session: Session, metrics: dict[int, str | None]) -> dict[int, int]:
    """Each run's selected epoch (step), for the runs with a selection metric and a value of it."""
    by_metric: dict[str, list[int]] = defaultdict(list)
    for run_id, metric in metrics.items():
        if metric is not None:
            by_metric[metric].append(run_id)
    return metrics_crud.selected_steps(session=session, run_ids_by_metric=by_metric)


def run_summaries(session: Session, runs: list[Run]) -> dict[int, dict[str, Any]]:
    """Per run: its selection metric, its selected epoch, and each metric's final, best and
    selected value (at the selected epoch), as the run API shows them."""
    ids = [run.id for run in runs]
    summaries = metrics_crud.summaries(session=session, run_ids=ids)
    chosen = selection_metrics(session, runs)
    steps = selected_steps(session, chosen)
    at_steps = metrics_crud.values_at_steps(session=session, steps=steps)
    found = {}
    for run_id in ids:
        metrics = summaries.get(run_id, {})
        for name, value in at_steps.get(run_id, {}).items():
            metrics.setdefault(name, {})["selected"] = value
        found[run_id] = {
            "selection_metric": chosen.get(run_id), "selected_epoch": steps.get(run_id), "metrics": metrics
        }  # fmt: skip
    return found


def test_counterpart(metric: str) -> str:
    """The test-set metric a selection metric stands for: val_accuracy -> test_accuracy."""
    return "test_" + metric.removeprefix("val_") if metric.startswith("val_") else metric


def describe_selected(metric: str, selection: list[str]) -> str:
    """In words: 'test_accuracy at each run's best val_accuracy epoch'."""
    by = " or ".join(selection) if selection else "selection metric"
    return f"{metric} at each run's best {by} epoch"


def on_test_warning(metrics: list[str]) -> str | None:
    """The warning for epochs selected by a test-set metric, or None."""
    on_test = [m for m in metrics if selected_on_test(m)]
    if not on_test:
        return None
    return (
        f"epochs selected by {' and '.join(on_test)}: selected on the test set, optimistic "
        "(hold out a validation split, val_fraction > 0, to select on it instead)"
    )
