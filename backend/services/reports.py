"""The self-contained HTML report of a comparison: the curves (per run, or grouped by spec fields with
the mean and a band across seeds), the summary table, the architecture charts and every run's spec
(a script run's config), in one file with plotly.js and the data inlined, so it opens offline and
can be mailed or archived.

The groups and their labels are the comparison's (GET /compare, backend/services/grouping.py), as on
the compare page; a group's curve is the mean at each step over the runs that reached it, and the
band the sample standard deviation or the 95% confidence interval of that mean (Student t).
User-controlled text (run names, groups, spec values) is escaped everywhere: html.escape in the
tables, and HTML entities in chart labels, which plotly.js would otherwise read as markup.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import plotly.graph_objects as go

from backend.schemas.compare import Comparison
from backend.schemas.run import RunPublic
from backend.schemas.stats import StatsPublic
from backend.services.grouping import Group, recipe, run_labels
from backend.services.report_data import (
    Curve,
    SummaryRow,
    clip_band,
    format_metric,
    group_curve,
    human_count,
    metric_label,
    plotly_text,
    result_metrics,
    run_curve,
    summarize,
)

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d", "#4f46e5", "#a16207")
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


# --- the document ---------------------------------------------------------------------------------------


# plotly.js as the dashboard loads it (scatter and bar traces, all the report draws), vendored in
# frontend/vendor: a quarter of the full bundle the plotly package would inline.
PLOTLY_BUNDLE = ("frontend", "vendor/plotly-basic.min.js")


@cache
def plotly_js() -> str:
    package, path = PLOTLY_BUNDLE
    return resources.files(package).joinpath(path).read_text(encoding="utf-8")


def _rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": plotly_text(title), "x": 0.01, "font": {"size": 15}},
        "template": "plotly_white",
        "font": {"family": FONT, "size": 12},
        "xaxis": {"title": {"text": x_title}, "zeroline": False},
        "yaxis": {"title": {"text": y_title}, "zeroline": False},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "height": 440,
        "hovermode": "closest",
        **extra,
    }


def curve_figure(curves: list[Curve], metric: str, x_axis: str, band: str, grouped: bool) -> go.Figure:
    figure = go.Figure()
    for index, curve in enumerate(curves):
        color = PALETTE[index % len(PALETTE)]
        name = plotly_text(curve.label)
        if grouped and any(v is not None for v in curve.lower):
            keep = [i for i, v in enumerate(curve.lower) if v is not None]
            xs = [curve.x[i] for i in keep]
            figure.add_trace(go.Scatter(
                x=xs + xs[::-1], y=[curve.upper[i] for i in keep] + [curve.lower[i] for i in keep][::-1],
                mode="lines",
                fill="toself", fillcolor=_rgba(color, 0.15), line={"width": 0}, hoverinfo="skip",
                showlegend=False, legendgroup=str(index), name=f"{name} band",
            ))  # fmt: skip
        figure.add_trace(go.Scatter(
            x=curve.x, y=curve.y, mode="lines+markers", name=name, legendgroup=str(index),
            line={"color": color, "width": 2}, marker={"size": 4},
            customdata=[[step, n] for step, n in zip(curve.steps, curve.n, strict=True)],
            hovertemplate="%{fullData.name}<br>epoch %{customdata[0]}: %{y:.4g}"
            + ("  (n=%{customdata[1]})" if grouped else "") + "<extra></extra>",
        ))  # fmt: skip
    x_title = "epoch" if x_axis == "epoch" else "time since start (s)"
    band_text = {"std": "mean ± std", "ci": "mean ± 95% CI", "none": "mean"}[band] if grouped else ""
    title = f"{metric_label(metric)} vs {x_title}" + (f" ({band_text})" if band_text else "")
    figure.update_layout(**_layout(title, x_title, metric_label(metric)))
    return figure


def architecture_figure(rows: list[SummaryRow], metric: str | None) -> go.Figure | None:
    """Parameters against MACs, coloured by the main metric at each run's selected epoch (its
    final value where a run has none), labelled."""
    shown = [row for row in rows if row.param_count and row.macs]
    if not shown:
        return None
    best = [_result(row, metric) if metric else None for row in shown]
    colored = metric is not None and any(v is not None for v in best)
    hover_best = [format_metric(metric, v) if metric else "–" for v in best]
    marker: dict[str, Any] = {"size": 14, "line": {"width": 1, "color": "#334155"}}
    if colored:
        marker.update(color=best, colorscale="Viridis", showscale=True,
                      colorbar={"title": {"text": metric_label(metric)}})  # fmt: skip
    figure = go.Figure(go.Scatter(
        x=[row.param_count for row in shown], y=[row.macs for row in shown], mode="markers+text",
        text=[plotly_text(row.label) for row in shown], textposition="top center", marker=marker,
        customdata=hover_best, hovertemplate="%{text}<br>%{x:.3s} parameters, %{y:.3s} MACs"
        + ("<br>" + plotly_text(metric_label(metric)) + ": %{customdata}" if metric else "") + "<extra></extra>",
    ))  # fmt: skip
    figure.update_layout(**_layout("parameters vs MACs", "parameters", "MACs per sample"))
    figure.update_xaxes(type="log")
    figure.update_yaxes(type="log")
    return figure


def _result(row: SummaryRow, metric: str) -> float | None:
    """A group's mean at the selected epochs, else its mean final value."""
    selected = row.metrics[metric]["selected"][0]
    return selected if selected is not None else row.metrics[metric]["final"][0]


def epoch_time_figure(rows: list[SummaryRow]) -> go.Figure | None:
    shown = [row for row in rows if row.seconds_per_epoch[0] is not None]
    if not shown:
        return None
    figure = go.Figure(go.Bar(
        x=[row.seconds_per_epoch[0] for row in shown], y=[plotly_text(row.label) for row in shown], orientation="h",
        error_x={"type": "data", "array": [row.seconds_per_epoch[1] or 0 for row in shown], "visible": True},
        marker={"color": PALETTE[0]}, hovertemplate="%{y}: %{x:.3g} s per epoch<extra></extra>",
    ))  # fmt: skip
    figure.update_layout(**_layout("time per epoch", "seconds per epoch", ""))
    figure.update_yaxes(autorange="reversed", automargin=True)
    figure.update_layout(height=max(240, 60 + 32 * len(shown)))
    return figure


def _mean_pm(pair: tuple[float | None, float | None], fmt) -> str:
    mean, std = pair
    if mean is None:
        return "–"
    return fmt(mean) + (f" ± {fmt(std)}" if std is not None else "")


def _summary_table(rows: list[SummaryRow], metrics: list[str], grouped: bool) -> str:
    e = html.escape
    head = "".join(f'<th colspan="2">{e(metric_label(m))}</th>' for m in metrics)
    sub = "".join("<th>at selected epoch</th><th>final</th>" for _ in metrics)
    parts = [
        "<table class='data'><thead>",
        f"<tr><th rowspan='2'>{'group' if grouped else 'run'}</th><th rowspan='2'>n</th>{head}"
        "<th rowspan='2'>selected epoch<br><small>best validation</small></th><th rowspan='2'>s / epoch</th>"
        "<th rowspan='2'>parameters</th><th rowspan='2'>MACs</th></tr>",
        f"<tr>{sub}</tr></thead><tbody>",
    ]
    for row in rows:
        cells = "".join(
            f"<td class='num'>{e(_mean_pm(row.metrics[m]['selected'], lambda v, m=m: format_metric(m, v)))}</td>"
            f"<td class='num'>{e(_mean_pm(row.metrics[m]['final'], lambda v, m=m: format_metric(m, v)))}</td>"
            for m in metrics
        )
        parts.append(
            f"<tr><td>{e(row.label)}</td><td class='num'>{row.n}</td>{cells}"
            f"<td class='num'>{e(_mean_pm(row.selected_epoch, lambda v: f'{v:.3g}'))}</td>"
            f"<td class='num'>{e(_mean_pm(row.seconds_per_epoch, lambda v: f'{v:.3g}'))}</td>"
            f"<td class='num'>{e(human_count(row.param_count))}</td>"
            f"<td class='num'>{e(human_count(row.macs))}</td></tr>"
        )
    parts.append("</tbody></table>")
    return "".join(parts)


def _p(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


def _effect(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _verdict(winner: str | None, note: str | None) -> str:
    if winner:
        return html.escape(f"{winner} better")
    return f"<small>{html.escape(note or 'not significant')}</small>"


def _stats_section(stats: StatsPublic) -> str:
    """The server's tests over the groups: ranking, n/mean/median/std/CI, pairwise p-values with
    Holm's correction, effect sizes, the winner and the warnings."""
    e = html.escape
    metric = stats.metric

    def value(v: float | None) -> str:
        return e(format_metric(metric, v))

    best = stats.ranking[0] if stats.ranking else None
    against = [c for c in stats.comparisons if best in (c.a, c.b)]
    if best is None:
        verdict = "No group has completed runs yet."
    elif against and all(c.winner == best for c in against):
        verdict = (
            f"<b class='winner'>Winner: {e(best)}</b>, significantly better than every other group by "
            f"{e(stats.summary_description)} ({e(stats.test)}, Holm-adjusted p &lt; {stats.alpha})."
        )
    else:
        verdict = (
            f"No significant winner: {e(best)} ranks first by the mean of {e(stats.summary_description)}, "
            f"but is not significantly better than every other group ({e(stats.test)}, Holm-adjusted, "
            f"α = {stats.alpha})."
        )
    confidence = f"{round(stats.confidence * 100)}% CI"
    groups = "".join(
        f"<tr><td class='num'>{g.rank if g.rank is not None else '–'}</td><td>{e(g.label)}</td>"
        f"<td class='num'>{g.n}</td>"
        f"<td class='num'>{value(g.mean)}</td><td class='num'>{value(g.median)}</td><td class='num'>{value(g.std)}</td>"
        f"<td class='num'>{'–' if g.ci_low is None else value(g.ci_low) + ' – ' + value(g.ci_high)}</td>"
        f"<td class='num'>{g.incomplete_runs or ''}</td></tr>"
        for g in stats.groups
    )
    pairs = "".join(
        f"<tr><td>{e(c.a)} <small>vs</small> {e(c.b)}</td><td>{e(c.test)}</td><td class='num'>{_p(c.p_value)}</td>"
        f"<td class='num'>{_p(c.p_holm)}</td><td class='num'>{_effect(c.cliffs_delta)}</td>"
        f"<td class='num'>{_effect(c.cohens_d)}</td><td class='num'>{value(c.mean_difference)}</td>"
        f"<td>{_verdict(c.winner, c.note)}</td></tr>"
        for c in stats.comparisons
    )
    warnings = "".join(f"<li>{e(w)}</li>" for w in stats.warnings)
    return (
        f"<section><h2>Statistics <small>{e(stats.summary_description)} · {e(stats.test)} · "
        f"Holm-adjusted · α = {stats.alpha}</small></h2><p>{verdict}</p>"
        "<div class='scroll'><table class='data'><thead><tr><th>rank</th><th>group</th><th>n</th><th>mean</th>"
        "<th>median</th><th>std</th>"
        f"<th>{confidence}</th><th>not counted</th></tr></thead><tbody>{groups}</tbody></table></div>"
        "<h3>Pairwise comparisons</h3><div class='scroll'><table class='data'><thead><tr><th>comparison</th>"
        "<th>test</th><th>p</th>"
        "<th>p (Holm)</th><th>Cliff's δ</th><th>Cohen's d</th><th>mean difference</th><th>result</th></tr></thead>"
        f"<tbody>{pairs or '<tr><td colspan=8>Fewer than two groups with values.</td></tr>'}</tbody></table></div>"
        + (f"<ul class='warnings'>{warnings}</ul>" if warnings else "")
        + "</section>"
    )


def _runs_table(runs: list[RunPublic], labels: dict[int, str]) -> str:
    e = html.escape
    rows = []
    for run in runs:
        made_by = "config" if run.source == "script" else "spec"  # a script run's recipe is its config
        spec = json.dumps(recipe(run), indent=2, sort_keys=False)
        started = run.started_at.strftime("%Y-%m-%d %H:%M UTC") if run.started_at else "–"
        env = run.environment or {}
        versions = ", ".join(f"{k.removesuffix('_version')} {v}" for k, v in env.items() if k.endswith("_version"))
        rows.append(
            f"<tr><td class='num'>{run.id}</td><td>{e(labels[run.id])}</td><td>{e(run.group or '–')}</td>"
            f"<td>{e(run.status.value)}</td><td class='num'>{run.epochs_completed}</td><td>{e(started)}</td>"
            f"<td>{e(run.device_name or '–')}<br><small>{e(versions)}</small></td>"
            f"<td><details><summary>{made_by}</summary><pre>{e(spec)}</pre></details></td></tr>"
        )
    return (
        "<table class='data'><thead><tr><th>id</th><th>name</th><th>group</th><th>status</th><th>epochs</th>"
        "<th>started</th><th>device</th><th>spec or config</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2933;
       background: #f6f7f9; }
header { background: #0f172a; color: #fff; padding: 1rem 2rem; }
header h1 { margin: 0; font-size: 1.3rem; } header p { margin: .3rem 0 0; color: #cbd5e1; font-size: .9rem; }
main { padding: 1rem 2rem 3rem; }
section { background: #fff; border: 1px solid #e2e5ea; border-radius: 8px; padding: 1rem; margin: 1rem 0; }
h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
table.data { border-collapse: collapse; width: 100%; font-size: .88rem; font-variant-numeric: tabular-nums; }
table.data th, table.data td { padding: .35rem .6rem; border-bottom: 1px solid #e2e5ea; text-align: left;
                               vertical-align: top; }
table.data th { background: #f1f5f9; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
pre { background: #f8fafc; padding: .5rem; border-radius: 4px; font-size: .8rem; max-width: 60rem; overflow: auto; }
small { color: #64748b; font-weight: 400; }
.winner { color: #15803d; } ul.warnings { color: #b45309; font-size: .88rem; }
.scroll { overflow-x: auto; }
main { max-width: 1400px; margin: 0 auto; }
"""


def build_report(
    comparison: Comparison,
    *,
    metric: str | None,
    x_axis: str,
    band: str,
    group: str | None,
    generated_at: datetime,
    stats: StatsPublic | None = None,
) -> str:
    runs = comparison.runs
    metrics = result_metrics(comparison, metric)
    main_metric = metric if metric else (metrics[0] if metrics else None)
    if main_metric and main_metric not in metrics:
        metrics.insert(0, main_metric)
    group_by = comparison.group_by
    grouped = bool(group_by)
    by_id = {run.id: run for run in runs}
    groups = [Group(g.key, g.label, g.cell, [by_id[i] for i in g.run_ids]) for g in comparison.groups]
    labels = run_labels(runs)

    figures: list[tuple[str, go.Figure]] = []
    for name in metrics[:6]:
        curves = []
        for grp in groups:
            members = [
                c
                for c in (run_curve(r, comparison.series.get(r.id, {}), name, x_axis, labels[r.id]) for r in grp.runs)
                if c is not None
            ]
            if not members:
                continue
            curves.append(clip_band(group_curve(grp.label, members, band), name) if grouped else members[0])
        if curves:
            figures.append((name, curve_figure(curves, name, x_axis, band, grouped)))
    rows = summarize(groups, comparison, metrics)
    architecture = architecture_figure(rows, main_metric)
    epoch_time = epoch_time_figure(rows)

    config = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"scale": 2}}

    def embed(figure: go.Figure) -> str:
        return figure.to_html(full_html=False, include_plotlyjs=False, config=config)

    e = html.escape
    what = f"group {group}" if group is not None else f"{len(runs)} runs"
    settings = [f"x: {'epoch' if x_axis == 'epoch' else 'relative time'}"]
    if grouped:
        settings += [f"grouped by {', '.join(group_by)}", {"std": "band: ± std", "ci": "band: 95% CI of the mean",
                                                          "none": "no band"}[band]]  # fmt: skip
    body = [
        f"<header><h1>trainboard comparison: {e(what)}</h1>",
        f"<p>{len(runs)} runs · {e(' · '.join(settings))} · generated {generated_at:%Y-%m-%d %H:%M UTC}</p></header>",
        "<main>",
    ]
    if not runs:
        body.append("<section><p>No runs to compare.</p></section>")
    summary = f"<section><h2>Summary</h2><div class='scroll'>{_summary_table(rows, metrics, grouped)}</div></section>"
    if figures:
        body.append(f"<section>{embed(figures[0][1])}</section>")
    if runs:
        body.append(summary)
    if stats is not None:
        body.append(_stats_section(stats))
    body += [f"<section>{embed(f)}</section>" for f in (architecture, epoch_time) if f is not None]
    body += [f"<section>{embed(figure)}</section>" for _, figure in figures[1:]]
    body.append(
        f"<section><h2>Runs and specs</h2><div class='scroll'>{_runs_table(runs, labels)}</div></section></main>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>trainboard · {e(what)}</title><style>{STYLE}</style>"
        f"<script>{plotly_js()}</script></head><body>" + "".join(body) + "</body></html>"
    )
