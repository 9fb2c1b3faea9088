"""What the report of a comparison shows, computed from the comparison: each run's curve, a group's
mean curve with its band (the sample standard deviation, or the 95% confidence interval of the mean,
Student t), each group's summary row, and values and labels formatted for people.
`backend.services.reports` draws them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from backend.schemas.compare import Comparison, Series
from backend.schemas.run import RunPublic
from backend.services.grouping import Group

# Reported every epoch but describing the run's settings or cost rather than its result.
SETTING_METRICS = ("lr", "epoch_seconds", "samples_per_second", "peak_memory_mb")
# The metric a comparison shows first, when the request names none: the first one the runs report.
PREFERRED_METRICS = ("test_accuracy", "test_dice", "test_iou", "test_balanced_accuracy", "test_loss", "train_loss")


# --- values and labels ------------------------------------------------------------------------------


def plotly_text(text: Any) -> str:
    """Text for a chart label, shown literally: plotly.js reads <b>, <br>, <a href=...> in labels."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def metric_label(name: str) -> str:
    return name.replace("_", " ")


def format_metric(name: str, value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if "accuracy" in name:
        return f"{100 * value:.2f}%"
    if name.endswith("_seconds"):
        return f"{value:.3g} s"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def human_count(value: float | None) -> str:
    if value is None:
        return "–"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"


# --- statistics ---------------------------------------------------------------------------------------


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None with fewer than two values)."""
    clean = [v for v in values if v is not None and math.isfinite(v)]
    if not clean:
        return None, None
    mean = sum(clean) / len(clean)
    if len(clean) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in clean) / (len(clean) - 1))


def band_half_width(std: float | None, n: int, band: str) -> float | None:
    """Half the band's height: the std, or the 95% CI of the mean (Student t with n-1 degrees)."""
    if std is None or n < 2 or band == "none":
        return None
    if band == "std":
        return std
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1)) * std / math.sqrt(n)


# --- curves -------------------------------------------------------------------------------------------


def time_origin(run: RunPublic, series: dict[str, Series]) -> float | None:
    """Where a run's relative time starts: when a worker started it, or the start of its first
    reported epoch if that is earlier (a resumed run keeps the times of its first attempt)."""
    firsts = [s.wall_times[0] for s in series.values() if s.wall_times]
    if not firsts:
        return None
    first = min(firsts)
    epoch_seconds = series.get("epoch_seconds")
    if epoch_seconds and epoch_seconds.values and epoch_seconds.values[0] is not None:
        first -= epoch_seconds.values[0]
    started = run.started_at.timestamp() if run.started_at else None
    return min(first, started) if started is not None else first


@dataclass
class Curve:
    """One line of a chart: a run, or a group's mean with its band."""

    label: str
    run_ids: list[int]
    steps: list[int]
    x: list[float]
    y: list[float | None]
    lower: list[float | None] = field(default_factory=list)
    upper: list[float | None] = field(default_factory=list)
    n: list[int] = field(default_factory=list)


def run_curve(run: RunPublic, series: dict[str, Series], metric: str, x_axis: str, label: str) -> Curve | None:
    found = series.get(metric)
    if found is None or not found.steps:
        return None
    if x_axis == "time":
        origin = time_origin(run, series) or 0.0
        x = [t - origin for t in found.wall_times]
    else:
        x = [float(s) for s in found.steps]
    return Curve(label, [run.id], list(found.steps), x, list(found.values), n=[1] * len(found.steps))


def clip_band(curve: Curve, metric: str) -> Curve:
    """Accuracies, Dice and IoU lie in [0, 1], losses and times above 0: the band is drawn within
    (with few runs a CI reaches far beyond), as on the compare page."""
    bounded = any(word in metric for word in ("accuracy", "dice", "iou"))
    positive = any(word in metric for word in ("loss", "seconds", "lr", "memory"))
    if not bounded and not positive:
        return curve

    def clip(value: float | None) -> float | None:
        if value is None:
            return None
        return max(0.0, min(1.0, value) if bounded else value)

    curve.lower = [clip(v) for v in curve.lower]
    curve.upper = [clip(v) for v in curve.upper]
    return curve


def group_curve(label: str, curves: list[Curve], band: str) -> Curve:
    """Mean over the runs at each step they reached (x: the step, or the mean relative time)."""
    by_step: dict[int, list[tuple[float, float | None]]] = {}
    for curve in curves:
        for step, x, y in zip(curve.steps, curve.x, curve.y, strict=True):
            by_step.setdefault(step, []).append((x, y))
    result = Curve(label, [i for c in curves for i in c.run_ids], [], [], [])
    for step in sorted(by_step):
        pairs = by_step[step]
        mean, std = mean_std([y for _, y in pairs if y is not None])
        n = sum(1 for _, y in pairs if y is not None and math.isfinite(y))
        width = band_half_width(std, n, band)
        result.steps.append(step)
        result.x.append(sum(x for x, _ in pairs) / len(pairs))
        result.y.append(mean)
        result.lower.append(mean - width if width is not None and mean is not None else None)
        result.upper.append(mean + width if width is not None and mean is not None else None)
        result.n.append(n)
    return result


# --- summaries ------------------------------------------------------------------------------------------


def result_metrics(comparison: Comparison, first: str | None) -> list[str]:
    """The metrics that measure a result, `first` first, then in the preferred order."""
    names = set(comparison.metrics) - set(SETTING_METRICS)
    ordered = [m for m in PREFERRED_METRICS if m in names] + sorted(names - set(PREFERRED_METRICS))
    if first in ordered:
        ordered.remove(first)
        ordered.insert(0, first)
    return ordered


def run_result(run: RunPublic, metric: str) -> dict[str, float | None]:
    """One metric of one run, from the summaries the store keeps of every point (the report's
    curves are thinned): its value at the run's selected epoch (where its selection metric,
    val_accuracy by default, is best) and its final value. The best of a test metric over epochs
    is selected on the test set: the report does not show it."""
    found = run.summary.get(metric)
    if found is None:
        return {"selected": None, "final": None}
    return {"selected": found.selected, "final": found.final}


@dataclass
class SummaryRow:
    label: str
    n: int
    metrics: dict[str, dict[str, tuple[float | None, float | None]]]  # metric -> selected/final -> (mean, std)
    selected_epoch: tuple[float | None, float | None]
    seconds_per_epoch: tuple[float | None, float | None]
    param_count: float | None
    macs: float | None


def summarize(groups: list[Group], comparison: Comparison, metrics: list[str]) -> list[SummaryRow]:
    rows = []
    for group in groups:
        summary: dict[str, dict[str, tuple[float | None, float | None]]] = {}
        for metric in metrics:
            results = [run_result(run, metric) for run in group.runs]
            summary[metric] = {key: mean_std([r[key] for r in results]) for key in ("selected", "final")}
        rows.append(
            SummaryRow(
                label=group.label,
                n=len(group.runs),
                metrics=summary,
                selected_epoch=mean_std([run.selected_epoch for run in group.runs if run.selected_epoch is not None]),
                seconds_per_epoch=mean_std([comparison.seconds_per_epoch.get(run.id) for run in group.runs]),
                param_count=mean_std([run.param_count for run in group.runs])[0],
                macs=mean_std([run.macs for run in group.runs])[0],
            )
        )
    return rows
