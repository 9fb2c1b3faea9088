"""The statistics table of a set of runs: one value per run (its value of a metric at its selected
epoch, its final or best value, or its value at an epoch), the runs grouped as every view groups
them (`grouping`), each group described, ranked and compared (`statistics_table`), with warnings about
every run left out and about what the table cannot show. For a study's cells
(`GET /studies/{id}/stats`) or any runs (`GET /stats`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from backend.crud import metrics as metrics_crud
from backend.crud import studies as studies_crud
from backend.models import Run, RunStatus, Study
from backend.schemas.stats import ComparisonStats, ExcludedRun, GroupStats, StatsOptions, StatsPublic
from backend.services import selection, statistics, statistics_table
from backend.services.catalog import published_defaults
from backend.services.grouping import InvalidGroupBy, group_runs
from backend.services.studies import grid_cells, run_epochs, run_seed
from trainboard.metrics import direction
from trainboard.spec import selected_on_test


# --- statistics --------------------------------------------------------------------------------


class StatsRefused(ValueError):
    """The request cannot make a table (a metric without direction, a bad group_by...)."""

    def __init__(self, loc: list[Any], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc


def default_metric(selection_metric: str | None) -> str:
    """The metric a table shows by default: the test counterpart of the runs' selection metric
    (test_accuracy, test_dice...)."""
    return selection.test_counterpart(selection_metric) if selection_metric else "test_accuracy"


def _values(
    session: Session, runs: list[Run], options: StatsOptions, metric: str, chosen: dict[int, str | None]
) -> tuple[str, dict[int, float | None], dict[int, str]]:
    """The summary used (`auto` resolved), one value of `metric` per run, and why a run that has
    none lacks it (beyond "no value")."""
    summary = options.summary
    steps = selection.selected_steps(session, chosen) if summary in ("auto", "selected") else {}
    if summary == "auto":  # runs from before validation splits have a selection metric but no value of it
        summary = "selected" if any(not selected_on_test(chosen[run_id]) for run_id in steps) else "final"
    if summary != "selected":
        found = studies_crud.metric_values(
            session=session, run_ids=[run.id for run in runs], name=metric, summary=summary,
            lower_is_better=direction(metric) == "min", step=options.epoch,
        )  # fmt: skip
        return summary, found, {}
    at_steps = metrics_crud.values_at_steps(session=session, steps=steps, names=[metric])
    found = {run_id: at_step[metric] for run_id, at_step in at_steps.items() if metric in at_step}
    reasons = {}
    for run in runs:
        by = chosen.get(run.id)
        if by is None:
            reasons[run.id] = (
                "no selection metric: a script run that set no selection_metric in its config and reported "
                f"none of {', '.join(selection.SCRIPT_SELECTION_METRICS)}"
            )
        elif run.id not in steps:
            reasons[run.id] = f"no {by} value to select an epoch by"
        elif found.get(run.id) is None:
            reasons[run.id] = f"no finite {metric} value at its selected epoch {steps[run.id]} (best {by})"
    return summary, found, reasons


def _summary_description(summary: str, metric: str, epoch: int | None, selection_metrics: list[str]) -> str:
    if summary == "selected":
        return selection.describe_selected(metric, selection_metrics)
    if summary == "final":
        return f"{metric} at each run's last step"
    if summary == "at_epoch":
        return f"{metric} at epoch {epoch}"
    extreme = "lowest" if direction(metric) == "min" else "highest"
    on_test = ": selected on the test set, optimistic" if selected_on_test(metric) else ""
    return f"each run's {extreme} {metric} over all epochs{on_test}"


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
    metric: str | None,
    cells: list[dict[str, Any]] | None = None,
    study_id: int | None = None,
) -> StatsPublic:
    """The statistics table of `runs`: one value per run (of `metric`, by default the test
    counterpart of the runs' most common selection metric: its value at the run's selected epoch,
    its final or best value, or its value at an epoch), grouped, described, ranked and compared;
    with warnings about every run left out and about anything that limits what the table can show."""
    if not group_by:
        raise StatsRefused(["query", "group_by"], "group_by is empty")
    try:
        groups = group_runs(runs, group_by, cells, defaults=published_defaults(session))
    except InvalidGroupBy as exc:
        raise StatsRefused(["query", "group_by"], str(exc)) from exc
    chosen = selection.selection_metrics(session, runs)
    if metric is None:
        common = Counter(m for m in chosen.values() if m is not None).most_common(1)
        metric = default_metric(common[0][0] if common else None)
    sense = direction(metric)
    if sense is None:
        raise StatsRefused(["query", "metric"], f"{metric!r} is a setting, not a result: it has no better direction")
    if options.summary == "at_epoch" and options.epoch is None:
        raise StatsRefused(["query", "epoch"], "summary=at_epoch needs epoch=K")
    summary, values, reasons = _values(session, runs, options, metric, chosen)
    where = {"at_epoch": f" at epoch {options.epoch}", "selected": " at the selected epoch"}.get(summary, "")
    warnings: list[str] = []
    samples: list[statistics_table.Sample] = []
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
                reason = reasons.get(run.id, reason)
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
        samples.append(statistics_table.Sample(group.label, [float(values[run.id]) for run in counted], seeds))
        extra.append({
            "key": group.key, "cell": group.cell, "run_ids": [run.id for run in counted], "epochs": epochs,
            "incomplete_runs": len(excluded), "excluded_runs": excluded,
        })  # fmt: skip
    counted_by = sorted({chosen[run_id] for more in extra for run_id in more["run_ids"] if chosen[run_id]})
    if summary == "selected" and selection.on_test_warning(counted_by):
        warnings.append(selection.on_test_warning(counted_by))
    if summary == "best" and selected_on_test(metric):
        warnings.append(
            f"summary=best takes each run's {'lowest' if sense == 'min' else 'highest'} {metric} over all epochs: "
            "selected on the test set, optimistic (the more so for noisier runs and more epochs); summary=selected "
            f"reads {metric} at each run's best validation epoch"
        )
    if len(budgets) > 1:
        warnings.append(f"runs compared used different epoch budgets: {', '.join(map(str, sorted(budgets)))}")
    if considered and not any(sample.values for sample in samples):
        reported = studies_crud.metric_names(session=session, run_ids=[run.id for run in runs])
        if metric not in reported:
            known = ", ".join(reported) if reported else "none yet"
            warnings.append(f"no run reported {metric}; the runs report: {known}")

    table = statistics_table.table(
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
        summary=summary,
        summary_requested=options.summary,
        summary_description=_summary_description(summary, metric, options.epoch, counted_by),
        epoch=options.epoch if summary == "at_epoch" else None,
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
        metric=options.metric or default_metric(selection.spec_selection_metric(session, study.base_spec, {})),
        cells=grid_cells(study.grid) if group_by == ("cell",) else None,
        study_id=study.id,
    )


def runs_stats(*, session: Session, runs: list[Run], options: StatsOptions) -> StatsPublic:
    group_by = options.group_by or ("group",)
    return stats(session=session, runs=runs, options=options, group_by=group_by, metric=options.metric)
