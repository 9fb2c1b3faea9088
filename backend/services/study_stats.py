"""The statistics table of a set of runs: one value per run (its best or final value of a metric,
or its value at an epoch), the runs grouped as every view groups them (`grouping`), each group
described, ranked and compared (`statistics`), with warnings about every run left out and about
what the table cannot show. For a study's cells (`GET /studies/{id}/stats`) or any runs (`GET /stats`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from backend.crud import studies as studies_crud
from backend.models import Run, RunSource, RunStatus, Study
from backend.schemas.stats import ComparisonStats, ExcludedRun, GroupStats, StatsOptions, StatsPublic
from backend.services import statistics
from backend.services.catalog import dataset_task, published_defaults
from backend.services.grouping import InvalidGroupBy, group_runs
from backend.services.studies import grid_cells, run_epochs, run_seed
from trainboard.metrics import direction
from trainboard.spec import TrainSpec, selection_metric


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
        epochs = sorted({e for e in (run_epochs(run) for run in counted) if e is not None})
        budgets.update(epochs)
        seeds = [run_seed(run) for run in counted]
        samples.append(statistics.Sample(group.label, [float(values[run.id]) for run in counted], seeds))
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
    # A script's config says nothing of the metric its runs are chosen by: the first spec does.
    spec = next((run.spec for run in runs if run.source == RunSource.worker.value), None)
    return stats(
        session=session,
        runs=runs,
        options=options,
        group_by=options.group_by or ("group",),
        metric=options.metric or default_metric(session, spec),
    )
