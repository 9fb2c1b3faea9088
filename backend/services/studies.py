"""Studies: expand a base spec and a grid into runs validated against the catalog, submit them in
one transaction and queue them, extend, cancel and delete a study, and describe its progress.
Their statistics tables are `backend.services.study_stats`."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from typing import Any

from celery import Celery
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.crud import runs as runs_crud
from backend.crud import studies as studies_crud
from backend.crud.runs import InvalidTransition
from backend.models import Run, RunStatus, Study
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
from backend.services.catalog import Catalog
from backend.services.grouping import cell_key, cell_label, format_value, recipe
from backend.services.launcher import BrokerUnavailable, enqueue_run
from trainboard.catalog import SpecInvalid
from trainboard.spec import TrainSpec
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


def run_seed(run: Run) -> int | None:
    """The seed in the run's spec, or in its script's config."""
    seed = recipe(run).get("seed")
    return seed if isinstance(seed, int) else None


def run_epochs(run: Run) -> int | None:
    epochs = recipe(run).get("epochs")
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
        cell_runs = sorted(by_cell.get(cell_key(cell), []), key=lambda run: (run_seed(run) or 0, run.id))
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
                        id=run.id, name=run.name, status=RunStatus(run.status), seed=run_seed(run),
                        epochs=run_epochs(run), epochs_completed=run.epochs_completed,
                        cancel_requested=run.cancel_requested,
                    )
                    for run in cell_runs
                ],
            )
        )  # fmt: skip
    return StudyPublic(**_summary(study, counts), base_spec=study.base_spec, cells=cells)
