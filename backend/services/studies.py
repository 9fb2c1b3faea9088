"""Studies: expand a base spec and a grid into validated runs, submit them in one transaction
and queue them, extend and cancel a study, describe its progress, and gather runs' values into
the groups that `backend.services.statistics` compares."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.crud import runs as runs_crud
from backend.crud import studies as studies_crud
from backend.crud.runs import InvalidTransition
from backend.models import Run, RunStatus, Study
from backend.schemas.stats import ComparisonStats, ExcludedRun, GroupStats, StatsOptions, StatsPublic
from backend.schemas.study import (
    MAX_SEED,
    MAX_SEEDS,
    MAX_STUDY_RUNS,
    StudyCell,
    StudyCreate,
    StudyProgress,
    StudyPublic,
    StudyRun,
    StudySummary,
)
from backend.services import statistics
from backend.services.catalog import Catalog, dataset_task, published_defaults
from backend.services.grouping import InvalidGroupBy, cell_key, cell_label, format_value, group_runs
from backend.services.launcher import BrokerUnavailable, enqueue_run
from trainboard.metrics import direction
from trainboard.catalog import SpecInvalid
from trainboard.spec import TrainSpec, selection_metric
from trainboard.spec_paths import set_path

MAX_REPORTED_ERRORS = 20


class GridInvalid(Exception):
    """The grid cannot make valid runs; `errors` are FastAPI-style 422 items naming grid paths."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(error["msg"] for error in errors))
        self.errors = errors


class StudyNameTaken(Exception):
    pass


# --- cells and names ----------------------------------------------------------------------------


def grid_cells(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first path varying slowest."""
    paths = list(grid)
    return [dict(zip(paths, values, strict=True)) for values in itertools.product(*grid.values())]


def run_name(study_name: str, cell: dict[str, Any], seed: int, limit: int = 200) -> str:
    suffix = f" seed={seed}"
    head = f"{study_name} {cell_label(cell)}" if cell else study_name
    if len(head) + len(suffix) > limit:
        head = head[: limit - len(suffix) - 1] + "…"
    return head + suffix


def study_seeds(base_seed: int, seeds: int | list[int]) -> list[int]:
    return list(seeds) if isinstance(seeds, list) else [base_seed + i for i in range(seeds)]


# --- expanding the grid ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRun:
    cell: dict[str, Any]
    seed: int
    spec: TrainSpec


def _error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"type": kind, "loc": ["body", *loc], "msg": msg}


def plan_runs(
    *, base_spec: dict[str, Any], grid: dict[str, list[Any]], seeds: list[int], catalog: Catalog
) -> list[PlannedRun]:
    """Every run of the study, seed by seed (each seed covers every cell before the next one
    starts, so an unfinished study has all its cells), each spec validated against what the
    workers offer. Raises `GridInvalid` naming the grid path and value at fault, before anything
    is stored."""
    fields = set(TrainSpec.model_fields)
    errors: list[dict[str, Any]] = []
    for path, values in grid.items():
        root = path.split(".")[0]
        if root == "seed":
            errors.append(_error(["grid", path], "the seeds are set by `seeds`, not by the grid"))
        elif root not in fields:
            errors.append(_error(["grid", path], f"{root!r} is not a field of the spec ({', '.join(sorted(fields))})"))
        seen: dict[str, int] = {}
        for index, value in enumerate(values):
            shown = format_value(value)
            if shown in seen:
                errors.append(_error(["grid", path, index], f"repeats value {seen[shown]} ({shown})"))
            seen.setdefault(shown, index)
    if errors:
        raise GridInvalid(errors)

    # Parents before children: "model" replaces the entry, then "model.norm" sets an option in it.
    order = sorted(grid, key=lambda path: path.count("."))
    blamed: set[tuple[str, int] | str] = set()
    cells: list[tuple[dict[str, Any], TrainSpec]] = []
    seen_specs: dict[str, str] = {}
    for indices in itertools.product(*(range(len(values)) for values in grid.values())):
        chosen = dict(zip(grid, indices, strict=True))
        cell = {path: grid[path][index] for path, index in chosen.items()}
        spec = copy.deepcopy(base_spec)
        try:
            for path in order:
                try:
                    set_path(spec, path, cell[path])
                except ValueError as exc:
                    if (path, chosen[path]) not in blamed:
                        blamed.add((path, chosen[path]))
                        errors.append(_error(["grid", path, chosen[path]], str(exc)))
                    raise
            validated = catalog.check(spec)
        except ValueError as exc:
            if isinstance(exc, SpecInvalid):
                _blame(exc.errors, spec, cell, chosen, blamed, errors)
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
            continue
        dump = json.dumps(validated.model_dump(mode="json", exclude={"seed"}), sort_keys=True)
        if dump in seen_specs:
            message = f"cells '{seen_specs[dump]}' and '{cell_label(cell)}' make the same spec"
            errors.append(_error(["grid"], message))
        seen_specs.setdefault(dump, cell_label(cell))
        cells.append((cell, validated))
    if errors:
        raise GridInvalid(errors[:MAX_REPORTED_ERRORS])
    return [PlannedRun(cell, seed, spec.model_copy(update={"seed": seed})) for seed in seeds for cell, spec in cells]


def _blame(
    spec_errors: list[dict[str, Any]],
    spec: dict[str, Any],
    cell: dict[str, Any],
    chosen: dict[str, int],
    blamed: set,
    errors: list[dict[str, Any]],
) -> None:
    """Turn the spec's validation errors into errors on the grid path (and value) that set the
    field at fault: the most specific path that is the field, holds it, or lies inside it. An
    error no grid path explains (the dataset does not fit the model the grid chose...) names the
    cell."""
    for error in spec_errors:
        where = ".".join(map(str, error["loc"]))  # locations name spec paths (trainboard.catalog.check_spec)
        message = str(error["msg"]).removeprefix("Value error, ")
        matches = [
            path for path in cell
            if where == path or where.startswith(path + ".") or path.startswith(where + ".")
        ]  # fmt: skip
        in_cell = f" (in cell '{cell_label(cell)}')" if len(cell) > 1 else ""
        if matches and error.get("type") == "extra_forbidden" and where in matches:
            # The option itself is unknown here (to this model...): no value of the path is at fault.
            key: tuple[str, int] | str = where
            loc = ["grid", where]
            text = f"not an option of the spec here: {message}" + in_cell
        elif matches:
            path = max(matches, key=len)
            key = (path, chosen[path])
            loc = ["grid", path, chosen[path]]
            text = (f"{where}: " if where != path else "") + message + in_cell
        else:
            key = f"{where}: {message}"
            loc = ["grid"]
            text = f"cell '{cell_label(cell)}': {where or 'spec'}: {message}"
        if key in blamed:
            continue
        blamed.add(key)
        errors.append(_error(loc, text, error.get("type", "value_error")))


def _store_runs(session: Session, study: Study, planned: list[PlannedRun], catalog: Catalog) -> list[Run]:
    """The runs, each routed to the queue of its model's and dataset's packages; their sizes are
    measured by the workers that train them."""
    rows = [
        {
            "name": run_name(study.name, item.cell, item.seed),
            "spec": item.spec.model_dump(mode="json"),
            "cell": item.cell,
            "queue": catalog.queue_of(item.spec),
        }
        for item in planned
    ]
    return studies_crud.add_runs(session=session, study=study, runs=rows)


def _enqueue_all(celery: Celery, runs: list[Run]) -> None:
    for run in runs:
        enqueue_run(celery, run.id, run.queue)


# --- submitting, extending, cancelling, deleting -------------------------------------------------


def submit_study(*, session: Session, celery: Celery, study_in: StudyCreate, catalog: Catalog) -> Study:
    """Validate every run, store the study and its runs in one transaction, then queue them.
    Raises GridInvalid or StudyNameTaken (nothing stored), or BrokerUnavailable (everything
    stored is deleted again)."""
    try:
        checked = catalog.check(study_in.base_spec)
    except SpecInvalid as exc:
        raise GridInvalid([_error(["base_spec", *e["loc"]], e["msg"], e["type"]) for e in exc.errors]) from None
    base_spec = checked.model_dump(mode="json")
    seeds = study_seeds(checked.seed, study_in.seeds)
    planned = plan_runs(base_spec=base_spec, grid=study_in.grid, seeds=seeds, catalog=catalog)
    if studies_crud.get_study_by_name(session=session, name=study_in.name) is not None:
        raise StudyNameTaken(f"a study named {study_in.name!r} exists already")
    try:
        study = studies_crud.create_study(
            session=session, name=study_in.name, base_spec=base_spec, grid=study_in.grid, seeds=seeds
        )
        runs = _store_runs(session, study, planned, catalog)
        session.commit()
    except IntegrityError as exc:  # the same name, submitted at the same moment
        session.rollback()
        raise StudyNameTaken(f"a study named {study_in.name!r} exists already") from exc
    try:
        _enqueue_all(celery, runs)
    except BrokerUnavailable:
        studies_crud.delete_study(session=session, study=study)
        session.commit()
        raise
    return study


def extend_study(*, session: Session, celery: Celery, study: Study, more_seeds: int, catalog: Catalog) -> list[Run]:
    """Run every cell with `more_seeds` more seeds, numbered on from the largest one used."""
    cells = len(grid_cells(study.grid))
    if len(study.seeds) + more_seeds > MAX_SEEDS:
        raise GridInvalid([_error(["seeds"], f"a study has at most {MAX_SEEDS} seeds; it has {len(study.seeds)}")])
    if cells * (len(study.seeds) + more_seeds) > MAX_STUDY_RUNS:
        raise GridInvalid(
            [_error(["seeds"], f"{cells} cells x {len(study.seeds) + more_seeds} seeds is more than "
                               f"{MAX_STUDY_RUNS} runs")]
        )  # fmt: skip
    start = max(study.seeds) + 1
    if start + more_seeds - 1 > MAX_SEED:
        raise GridInvalid([_error(["seeds"], f"the seeds would pass {MAX_SEED}")])
    new_seeds = list(range(start, start + more_seeds))
    planned = plan_runs(base_spec=study.base_spec, grid=study.grid, seeds=new_seeds, catalog=catalog)
    previous = list(study.seeds)
    runs = _store_runs(session, study, planned, catalog)
    study.seeds = previous + new_seeds  # a new list: JSON columns see assignments, not appends
    session.commit()
    try:
        _enqueue_all(celery, runs)
    except BrokerUnavailable:
        for run in runs:
            session.delete(run)
        study.seeds = previous
        session.commit()
        raise
    return runs


def cancel_study(*, session: Session, study: Study) -> list[Run]:
    """Cancel every queued run and ask every running one to stop; returns the runs changed."""
    changed = []
    for run in studies_crud.study_runs(session=session, study_id=study.id):
        if run.status in (RunStatus.queued.value, RunStatus.running.value) and not run.cancel_requested:
            try:
                runs_crud.request_cancel(session=session, run=run)
            except InvalidTransition:
                continue
            changed.append(run)
    session.commit()
    return changed


def delete_study(*, session: Session, study: Study) -> list[int]:
    """Delete a study with nothing running, and its runs; returns their ids (for their artifacts).
    Raises InvalidTransition while a run of it is running."""
    running = studies_crud.progress(session=session, study_ids=[study.id])[study.id].get(RunStatus.running.value, 0)
    if running:
        raise InvalidTransition(
            f"study {study.id} has {running} running run{'s' if running > 1 else ''}: cancel the study first"
        )
    try:
        run_ids = studies_crud.delete_study(session=session, study=study)
        session.commit()
    except IntegrityError as exc:  # a run started in the meantime
        session.rollback()
        raise InvalidTransition(f"a run of study {study.id} has just started: cancel the study first") from exc
    return run_ids


# --- reading -----------------------------------------------------------------------------------


def _progress(counts: dict[str, int]) -> StudyProgress:
    return StudyProgress(total=sum(counts.values()), **{s.value: counts.get(s.value, 0) for s in RunStatus})


def study_status(progress: StudyProgress) -> str:
    ended = progress.completed + progress.failed + progress.cancelled
    if progress.total == 0:
        return "empty"
    if progress.running or (progress.queued and ended):
        return "running"
    if progress.queued:
        return "queued"
    if progress.cancelled == progress.total:
        return "cancelled"
    return "completed" if progress.completed == progress.total else "finished"


def _summary(study: Study, counts: dict[str, int]) -> dict[str, Any]:
    progress = _progress(counts)
    return {
        "id": study.id,
        "name": study.name,
        "status": study_status(progress),
        "grid": study.grid,
        "seeds": study.seeds,
        "progress": progress,
        "created_at": study.created_at,
        "updated_at": study.updated_at,
    }


def summaries(*, session: Session, studies: list[Study]) -> list[StudySummary]:
    counts = studies_crud.progress(session=session, study_ids=[study.id for study in studies])
    return [StudySummary(**_summary(study, counts[study.id])) for study in studies]


def _seed(run: Run) -> int | None:
    seed = (run.spec or {}).get("seed")
    return seed if isinstance(seed, int) else None


def _epochs(run: Run) -> int | None:
    epochs = (run.spec or {}).get("epochs")
    return epochs if isinstance(epochs, int) else None


def detail(*, session: Session, study: Study) -> StudyPublic:
    """The study with its progress and every cell's runs."""
    runs = studies_crud.study_runs(session=session, study_id=study.id)
    by_cell: dict[str, list[Run]] = {}
    counts: dict[str, int] = {}
    for run in runs:
        by_cell.setdefault(cell_key(run.cell), []).append(run)
        counts[run.status] = counts.get(run.status, 0) + 1
    cells = []
    for cell in grid_cells(study.grid):
        cell_runs = sorted(by_cell.get(cell_key(cell), []), key=lambda run: (_seed(run) or 0, run.id))
        cell_counts: dict[str, int] = {}
        for run in cell_runs:
            cell_counts[run.status] = cell_counts.get(run.status, 0) + 1
        cells.append(
            StudyCell(
                label=cell_label(cell),
                cell=cell,
                progress=_progress(cell_counts),
                runs=[
                    StudyRun(
                        id=run.id, name=run.name, status=RunStatus(run.status), seed=_seed(run), epochs=_epochs(run),
                        epochs_completed=run.epochs_completed, cancel_requested=run.cancel_requested,
                    )
                    for run in cell_runs
                ],
            )
        )  # fmt: skip
    return StudyPublic(**_summary(study, counts), base_spec=study.base_spec, cells=cells)


# --- statistics --------------------------------------------------------------------------------


class StatsRefused(ValueError):
    """The request cannot make a table (a metric without direction, a bad group_by...)."""

    def __init__(self, loc: list[Any], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc


def default_metric(session: Session, spec: dict[str, Any] | None) -> str:
    """The metric the runs' best checkpoint is chosen by: test_accuracy, test_dice (by the task
    of the dataset, as the workers published it), or the early-stopping metric."""
    try:
        validated = TrainSpec.model_validate(spec or {})
    except ValidationError:
        return "test_accuracy"
    return selection_metric(validated, dataset_task(session, validated.dataset.name))


def _count_phrase(parts: list[tuple[int, str]]) -> tuple[str, int]:
    parts = [(count, word) for count, word in parts if count]
    total = sum(count for count, _ in parts)
    words = [f"{count} {word}" for count, word in parts]
    text = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
    return f"{text} run{'s' if total > 1 else ''}", total


def stats(
    *,
    session: Session,
    runs: list[Run],
    options: StatsOptions,
    group_by: Sequence[str],
    metric: str,
    cells: list[dict[str, Any]] | None = None,
    study_id: int | None = None,
) -> StatsPublic:
    """The statistics table of `runs`: one value per run (its best or final value of `metric`, or
    its value at an epoch), grouped, described, ranked and compared; with warnings about every run
    left out and about anything that limits what the table can show."""
    if not group_by:
        raise StatsRefused(["query", "group_by"], "group_by is empty")
    try:
        groups = group_runs(runs, group_by, cells, defaults=published_defaults(session))
    except InvalidGroupBy as exc:
        raise StatsRefused(["query", "group_by"], str(exc)) from exc
    sense = direction(metric)
    if sense is None:
        raise StatsRefused(["query", "metric"], f"{metric!r} is a setting, not a result: it has no better direction")
    if options.summary == "at_epoch" and options.epoch is None:
        raise StatsRefused(["query", "epoch"], "summary=at_epoch needs epoch=K")
    values = studies_crud.metric_values(
        session=session,
        run_ids=[run.id for run in runs],
        name=metric,
        summary=options.summary,
        lower_is_better=sense == "min",
        step=options.epoch,
    )
    where = f" at epoch {options.epoch}" if options.summary == "at_epoch" else ""
    warnings: list[str] = []
    samples: list[statistics.Sample] = []
    extra: list[dict[str, Any]] = []
    budgets: set[int] = set()
    considered = 0  # runs counted or left out only for lack of a value
    for group in groups:
        counted: list[Run] = []
        excluded: list[ExcludedRun] = []
        failed = cancelled = unfinished = missing = provisional = 0
        for run in group.runs:
            status = RunStatus(run.status)
            if status == RunStatus.failed:
                failed += 1
                excluded.append(ExcludedRun(id=run.id, status=status, reason="failed"))
            elif status == RunStatus.cancelled:
                cancelled += 1
                excluded.append(ExcludedRun(id=run.id, status=status, reason="cancelled"))
            elif status == RunStatus.queued or (status == RunStatus.running and not options.include_running):
                unfinished += 1
                excluded.append(ExcludedRun(id=run.id, status=status, reason="unfinished"))
            elif values.get(run.id) is None:
                missing += 1
                reason = f"no {metric} value{where}" if run.id not in values else f"{metric}{where} is NaN or infinite"
                excluded.append(ExcludedRun(id=run.id, status=status, reason=reason))
            else:
                counted.append(run)
                provisional += status == RunStatus.running
        considered += len(counted) + missing
        if failed or cancelled or unfinished:
            text, total = _count_phrase([(failed, "failed"), (cancelled, "cancelled"), (unfinished, "unfinished")])
            warnings.append(f"group '{group.label}' has {text}; {'they are' if total > 1 else 'it is'} left out")
        if missing:
            warnings.append(
                f"group '{group.label}': {missing} run{'s' if missing > 1 else ''} "
                f"{'have' if missing > 1 else 'has'} no {metric} value{where}; "
                f"{'they are' if missing > 1 else 'it is'} left out"
            )
        if provisional:
            warnings.append(
                f"group '{group.label}' counts {provisional} run{'s' if provisional > 1 else ''} still running: "
                f"{'their values are' if provisional > 1 else 'its value is'} provisional"
            )
        epochs = sorted({e for e in (_epochs(run) for run in counted) if e is not None})
        budgets.update(epochs)
        samples.append(
            statistics.Sample(group.label, [float(values[run.id]) for run in counted], [_seed(run) for run in counted])
        )
        extra.append({
            "key": group.key, "cell": group.cell, "run_ids": [run.id for run in counted], "epochs": epochs,
            "incomplete_runs": len(excluded), "excluded_runs": excluded,
        })  # fmt: skip
    if len(budgets) > 1:
        warnings.append(f"runs compared used different epoch budgets: {', '.join(map(str, sorted(budgets)))}")
    if considered and not any(sample.values for sample in samples):
        reported = studies_crud.metric_names(session=session, run_ids=[run.id for run in runs])
        if metric not in reported:
            known = ", ".join(reported) if reported else "none yet"
            warnings.append(f"no run reported {metric}; the runs report: {known}")

    table = statistics.table(
        samples,
        direction=sense,
        test=options.test,
        ci=options.ci,
        confidence=options.confidence,
        alpha=options.alpha,
        pairs=options.pairs,
    )
    groups = [
        GroupStats(
            label=row.label, rank=row.rank, n=row.description.n, seeds=sample.seeds, values=sample.values,
            mean=row.description.mean, median=row.description.median, std=row.description.std,
            min=row.description.min, max=row.description.max,
            ci_low=row.description.ci_low, ci_high=row.description.ci_high, **more,
        )
        for row, sample, more in zip(table.groups, samples, extra, strict=True)
    ]  # fmt: skip
    comparisons = [
        ComparisonStats(
            a=row.a, b=row.b, test=row.result.test, method=row.result.method, n_a=row.result.n_a,
            n_b=row.result.n_b, pairs=row.pairs, statistic=row.result.statistic, p_value=row.result.p_value,
            p_holm=row.p_holm, min_attainable_p=row.min_attainable_p, cliffs_delta=row.result.cliffs_delta,
            cohens_d=row.result.cohens_d, mean_difference=row.result.mean_difference, better=row.better,
            winner=row.winner, significant=row.significant, note=row.result.note,
        )
        for row in table.comparisons
    ]  # fmt: skip
    bootstrap = options.ci == "bootstrap"
    return StatsPublic(
        study_id=study_id,
        metric=metric,
        direction=sense,
        summary=options.summary,
        epoch=options.epoch if options.summary == "at_epoch" else None,
        group_by=list(group_by),
        ci=options.ci,
        confidence=options.confidence,
        bootstrap_resamples=statistics.BOOTSTRAP_RESAMPLES if bootstrap else None,
        bootstrap_seed=statistics.BOOTSTRAP_SEED if bootstrap else None,
        test=options.test,
        alpha=options.alpha,
        pairs=options.pairs,
        include_running=options.include_running,
        groups=groups,
        ranking=table.ranking,
        comparisons=comparisons,
        warnings=warnings + table.warnings,
    )


def study_stats(*, session: Session, study: Study, options: StatsOptions) -> StatsPublic:
    group_by = options.group_by or ("cell",)
    return stats(
        session=session,
        runs=studies_crud.study_runs(session=session, study_id=study.id),
        options=options,
        group_by=group_by,
        metric=options.metric or default_metric(session, study.base_spec),
        cells=grid_cells(study.grid) if group_by == ("cell",) else None,
        study_id=study.id,
    )


def runs_stats(*, session: Session, runs: list[Run], options: StatsOptions) -> StatsPublic:
    return stats(
        session=session,
        runs=runs,
        options=options,
        group_by=options.group_by or ("group",),
        metric=options.metric or default_metric(session, runs[0].spec if runs else None),
    )
