// Compare page: the selected runs or a whole group, fetched in one request (GET /compare), then
// shown against epoch (a script run's step) or relative time, per run or grouped by the fields of
// their recipes (spec paths, config.<path> for script runs) with the mean and a band across seeds;
// a summary table, the architecture charts, the specs and configs; CSV, PNG/SVG and an HTML report.
// The groups and their labels are the server's (GET /compare?group_by=..), as in the statistics.
// The view lives in the URL: ?group=..|run_id=..&metric=..&x=epoch|time&group_by=..&band=std|ci|none.

import { ApiError, download, errorText, getJSON, query } from "./api.js";
import { comparisonCurves, exportCSV } from "./compare-curves.js";
import { loadStats } from "./compare-stats.js";
import { $, afterPaint, clear, el, fmtMetric, fmtNumber, plotlyText, statusBadge, toast } from "./dom.js";
import { band, color, draw, exportButtons, layout, line, loadPlotly } from "./charts.js";
import { isScript, recipe, recipeValue, specFields, valueLabel } from "./specs.js";
import { allMetrics, direction, headline, metricLabel, resultMetrics, selectedCaption, summarize } from "./stats.js";

const REFRESH_MS = 4000;
const X_AXES = ["epoch", "time"];
const BANDS = ["std", "ci", "none"];
const BAND_TEXT = { std: "mean ± std", ci: "mean ± 95% CI", none: "mean" };

let view = readView();
let data = null; // {runs, series (of the metric shown, thinned), metrics, time_origins, seconds_per_epoch, group_by, groups}
let timer = null;
let rendered = 0; // renders so far: a deferred part of an older one is dropped
// Beyond this many curves or points, lines without markers (a marker is an SVG node per point).
const MARKERS_UP_TO = { curves: 20, points: 8000 };
// Beyond this many curves, no legend (a hundred names do not fit beside a chart; each line's
// hover names its run).
const LEGEND_UP_TO = 30;

function readView() {
  const params = new URLSearchParams(location.search);
  return {
    runIds: params.getAll("run_id").map(Number).filter((n) => Number.isInteger(n) && n > 0),
    group: params.get("group"),
    metric: params.get("metric") || "",
    x: X_AXES.includes(params.get("x")) ? params.get("x") : "epoch",
    groupBy: params.getAll("group_by").filter(Boolean),
    band: BANDS.includes(params.get("band")) ? params.get("band") : "std",
  };
}

function viewQuery({ forReport = false } = {}) {
  return query({
    run_id: view.runIds,
    group: view.group,
    metric: view.metric || (forReport ? currentMetric() : ""),
    x: view.x === "epoch" ? "" : view.x,
    group_by: view.groupBy,
    band: view.band === "std" ? "" : view.band,
  });
}

function writeView() {
  history.replaceState(null, "", location.pathname + viewQuery());
}

// What the runs call a step and a recipe: a worker run's epoch and spec, a script run's step and
// config, both for a mix ("epoch / step").
function words() {
  const scripts = data.runs.filter(isScript).length;
  const pick = (worker, script) => (!scripts ? worker : scripts === data.runs.length ? script : `${worker} / ${script}`);
  return { step: pick("epoch", "step"), recipe: pick("spec", "config") };
}

function currentMetric() {
  const metrics = allMetrics(data?.metrics ?? []);
  return metrics.includes(view.metric) ? view.metric : resultMetrics(data?.metrics ?? [])[0] || metrics[0] || "";
}

const selection = () => ({ run_id: view.runIds, group: view.group, group_by: view.groupBy });

// --- loading ------------------------------------------------------------------------------------------

async function load() {
  clearTimeout(timer);
  try {
    // The curves of the metric shown only (the server's choice until one is chosen), thinned to
    // the chart's width; the summaries come exact with the runs.
    const shown = view.metric ? { metric: view.metric } : { curves: "main" };
    // plotly.js is evaluated while the server answers.
    [data] = await Promise.all([getJSON(`/compare${query({ ...selection(), ...shown })}`), loadPlotly()]);
    if (view.metric && !data.metrics.includes(view.metric)) {
      view.metric = ""; // a metric the runs do not report: the server's choice instead
      return load();
    }
  } catch (error) {
    showProblem(error instanceof ApiError && error.status === 404 ? errorText(error) : `Could not load the comparison: ${errorText(error)}`);
    return;
  }
  render();
  if (data.runs.some((run) => run.status === "queued" || run.status === "running")) {
    timer = setTimeout(load, REFRESH_MS); // one request per refresh, whatever the number of runs
  }
}

function showProblem(message) {
  $("#comparison").hidden = true;
  $("#compare-actions").hidden = true;
  clear($("#compare-subtitle"), message);
}

// --- controls -------------------------------------------------------------------------------------------

function renderControls() {
  const metricSelect = $("#metric");
  const metrics = allMetrics(data.metrics);
  clear(metricSelect, metrics.map((m) => el("option", { value: m }, metricLabel(m))));
  metricSelect.value = currentMetric();
  $("#x-axis").value = view.x;
  $("#x-axis option[value=epoch]").textContent = words().step;
  $("#band").value = view.band;
  $("#band").disabled = !view.groupBy.length;

  const { differing, same } = specFields(data.runs);
  const shown = [...differing, ...view.groupBy.filter((p) => !differing.includes(p))];
  clear($("#group-by"), shown.length ? shown.map((path) => el("label", { class: "chip", title: `Group the runs by ${path}` },
    el("input", { type: "checkbox", value: path, checked: view.groupBy.includes(path), onchange: (event) => {
      view.groupBy = event.target.checked ? [...view.groupBy, path] : view.groupBy.filter((p) => p !== path);
      regrouped();
    } }), path)) : el("span", { class: "muted" }, `the runs have the same ${words().recipe}`));
  const more = $("#group-by-more");
  clear(more, el("option", { value: "" }, "add a field…"),
    same.filter((p) => !view.groupBy.includes(p)).map((p) => el("option", { value: p }, p)));
}

function changed() {
  writeView();
  render();
}

// The server groups and labels the runs: a new grouping is a new request.
function regrouped() {
  writeView();
  load();
}

function bindControls() {
  $("#metric").addEventListener("change", (event) => {
    view.metric = event.target.value;
    regrouped(); // the page holds the curves of the metric shown only
  });
  $("#x-axis").addEventListener("change", (event) => {
    view.x = event.target.value;
    changed();
  });
  $("#band").addEventListener("change", (event) => {
    view.band = event.target.value;
    changed();
  });
  $("#group-by-more").addEventListener("change", (event) => {
    if (event.target.value) view.groupBy = [...view.groupBy, event.target.value];
    regrouped();
  });
  $("#controls").addEventListener("submit", (event) => event.preventDefault());
  $("#copy-link").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      toast("Link copied: it opens this same view.", "ok");
    } catch {
      toast("The browser refused the clipboard; copy the address bar.");
    }
  });
  $("#export-csv").addEventListener("click", async () => {
    const metric = currentMetric();
    try {
      await exportCSV(selection(), metric, { x: view.x, band: view.band }, `${fileStem()}-${metric}.csv`);
    } catch (error) {
      toast(`Could not export the CSV: ${errorText(error)}`);
    }
  });
  $("#export-report").addEventListener("click", async () => {
    const button = $("#export-report");
    button.disabled = true;
    button.textContent = "Building…";
    try {
      await download(`/compare/report${viewQuery({ forReport: true })}`, `${fileStem()}.html`);
    } catch (error) {
      toast(`Could not build the report: ${errorText(error)}`);
    } finally {
      button.disabled = false;
      button.textContent = "HTML report";
    }
  });
  $("#main-tools").append(exportButtons($("#chart-main"), "comparison"));
  $("#arch-tools").append(exportButtons($("#chart-arch"), "architecture"));
  $("#time-tools").append(exportButtons($("#chart-time"), "time-per-epoch"));
}

function fileStem() {
  const what = view.group ?? `runs-${view.runIds.slice(0, 6).join("-")}`;
  return `trainboard-${what.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "").slice(0, 80) || "comparison"}`;
}

// --- rendering -------------------------------------------------------------------------------------------

function render() {
  $("#picker").hidden = true;
  $("#comparison").hidden = false;
  $("#compare-actions").hidden = false;
  const runs = data.runs;
  const counts = {};
  for (const run of runs) counts[run.status] = (counts[run.status] || 0) + 1;
  const what = view.group !== null ? `Group “${view.group}”` : `${runs.length} selected run${runs.length === 1 ? "" : "s"}`;
  $("#compare-title").textContent = view.group !== null ? `Compare: ${view.group}` : "Compare runs";
  document.title = `${view.group ?? "Compare runs"} · trainboard`;
  clear($("#compare-subtitle"), `${what} · ${runs.length} runs · `,
    Object.entries(counts).map(([status, n], i) => [i ? ", " : "", `${n} ${status}`]));
  if (!runs.length) {
    showProblem(view.group !== null ? `No runs in group “${view.group}”.` : "No runs.");
    return;
  }
  renderControls();
  const metric = currentMetric();
  const metrics = resultMetrics(data.metrics, metric);
  if (metric && !metrics.includes(metric)) metrics.unshift(metric);
  const byId = new Map(runs.map((run) => [run.id, run]));
  const groups = data.groups.map((group) => ({ label: group.label, runs: group.run_ids.map((id) => byId.get(id)) }));
  const rows = summarize(groups, data.series, metrics, data.seconds_per_epoch);
  renderMain(metric);
  // The main chart on screen first; the tables and the other charts (a hundred runs' bars and
  // points take Plotly as long again) right after it is painted.
  const current = ++rendered;
  afterPaint(() => {
    if (current !== rendered) return;
    renderSummary(rows, metrics);
    renderArchitecture(rows, metric);
    renderEpochTime(rows);
    renderRuns();
    const selection = view.group !== null && !view.runIds.length ? { group: view.group } : { run_id: runs.map((r) => r.id) };
    loadStats(selection, data.group_by, metric);
  });
}

function renderMain(metric) {
  const grouped = data.group_by.length > 0;
  const step = words().step;
  const plotted = comparisonCurves(data, metric, { x: view.x, band: view.band });
  const points = plotted.reduce((sum, { curve }) => sum + curve.steps.length, 0);
  const mode = plotted.length <= MARKERS_UP_TO.curves && points <= MARKERS_UP_TO.points ? "lines+markers" : "lines";
  const traces = [];
  for (const { index, n, curve } of plotted) {
    const hex = color(index);
    if (!grouped) {
      traces.push(line(curve.x, curve.y, curve.label, hex, {
        mode,
        customdata: curve.steps,
        hovertemplate: `%{fullData.name}<br>${step} %{customdata}: %{y:.4g}${view.x === "time" ? "<br>%{x:.1f} s" : ""}<extra></extra>`,
      }));
      continue;
    }
    const legendgroup = `g${index}`;
    if (curve.lower.some((v) => v !== null)) traces.push(band(curve.x, curve.lower, curve.upper, hex, legendgroup));
    traces.push(line(curve.x, curve.y, `${curve.label} (n=${n})`, hex, {
      mode,
      legendgroup,
      customdata: curve.steps.map((step, i) => [step, curve.n[i], curve.lower[i] === null ? "" : `${fmtNumber(curve.lower[i])} – ${fmtNumber(curve.upper[i])}`]),
      hovertemplate: `%{fullData.name}<br>${step} %{customdata[0]}: %{y:.4g} (n=%{customdata[1]})<br>${BAND_TEXT[view.band]}: %{customdata[2]}<extra></extra>`,
    }));
  }
  const xTitle = view.x === "epoch" ? step : "time since start (s)";
  const base = layout({ xTitle, yTitle: metricLabel(metric), height: 460 });
  const lastEpoch = Math.max(0, ...plotted.map(({ curve }) => curve.steps[curve.steps.length - 1]));
  draw($("#chart-main"), traces, {
    ...base,
    xaxis: { ...base.xaxis, ...(view.x === "epoch" && lastEpoch <= 20 ? { dtick: 1 } : {}) },
    yaxis: { ...base.yaxis, ...(metric.includes("accuracy") ? { tickformat: ".0%" } : {}), ...(metric === "lr" ? { type: "log" } : {}) },
    margin: { l: 64, r: 16, t: 16, b: 48 },
    showlegend: plotted.length <= LEGEND_UP_TO,
    annotations: traces.length ? [] : [{ text: `no run reported ${metricLabel(metric)} yet`, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#94a3b8" } }],
  });
  $("#chart-main").dataset.traces = String(traces.length);
  performance.mark("compare:main-chart-drawn"); // what bench/compare_scale.py times
  $("#main-title").textContent = `${metricLabel(metric)} vs ${view.x === "epoch" ? step : "relative time"}`
    + (grouped ? ` · ${BAND_TEXT[view.band]} by ${data.group_by.join(", ")}` : "");
  $("#main-note").textContent = grouped
    ? `Each line is the mean over the runs of a group at each ${step}; the shaded band is ${view.band === "ci" ? "the 95% confidence interval of the mean (Student t)" : view.band === "std" ? "± one standard deviation" : "off"}.`
    : `Each line is one run. Group by a ${words().recipe} field to see means and bands across seeds.`;
  if (plotted.length > LEGEND_UP_TO) $("#main-note").textContent += ` No legend for ${plotted.length} lines: hover a line for its name.`;
}

// "94.75% ± 3.89%", "0.4672 ± 0.088": the spread with two significant digits unless it is a percentage.
function pm(stat, format, metric = "") {
  if (stat.mean === null) return "–";
  const spread = metric.includes("accuracy") ? format : (v) => fmtNumber(v, 2);
  return [format(stat.mean), stat.std !== null ? el("span", { class: "pm" }, ` ± ${spread(stat.std)}`) : null];
}

function renderSummary(rows, metrics) {
  const grouped = data.group_by.length > 0;
  const main = metrics[0];
  const sign = main && (main.includes("loss") || main.endsWith("_seconds")) ? -1 : 1;
  let bestIndex = -1;
  rows.forEach((row, i) => {
    const value = row.metrics[main] ? headline(row.metrics[main]) : null;
    if (value !== null && (bestIndex < 0 || sign * value > sign * headline(rows[bestIndex].metrics[main]))) bestIndex = i;
  });
  const head = el("thead", {},
    el("tr", {}, el("th", { rowspan: 2 }, grouped ? "group" : "run"), el("th", { rowspan: 2, class: "num" }, "n"),
      metrics.map((m) => el("th", { colspan: 2, class: "num" }, metricLabel(m))),
      el("th", { rowspan: 2, class: "num", title: `The ${words().step} each run's selection metric is best` }, `selected ${words().step}`),
      el("th", { rowspan: 2, class: "num" }, "s / epoch")),
    el("tr", {}, metrics.map(() => [el("th", { class: "num", title: "At each run's selected epoch" }, "selected"), el("th", { class: "num" }, "final")])));
  const body = el("tbody", {}, rows.map((row, i) => el("tr", { class: i === bestIndex && rows.length > 1 ? "best-row" : "" },
    el("td", { class: "label" }, grouped ? row.label : el("a", { href: `/run.html?id=${row.runs[0].id}` }, row.label),
      i === bestIndex && rows.length > 1 ? el("span", { class: "winner", title: `best ${metricLabel(main)}` }, " ★") : null),
    el("td", { class: "num" }, row.n),
    metrics.map((m) => [el("td", { class: "num" }, pm(row.metrics[m].selected, (v) => fmtMetric(m, v), m)),
      el("td", { class: "num" }, pm(row.metrics[m].final, (v) => fmtMetric(m, v), m))]),
    el("td", { class: "num" }, pm(row.selectedEpoch, (v) => fmtNumber(v, 3))),
    el("td", { class: "num" }, pm(row.secondsPerEpoch, (v) => fmtNumber(v, 3))))));
  clear($("#summary"), head, body);
  const runs = rows.flatMap((row) => row.runs);
  $("#summary-note").textContent = `${selectedCaption(runs)} · ${grouped ? "mean ± std over the runs of each group" : "one row per run"}`;
}

// Runs or groups of one architecture share a point, labelled with all of them.
function architecturePoints(rows, metric) {
  const points = new Map();
  for (const row of rows.filter((r) => r.paramCount && r.macs)) {
    const key = `${row.paramCount}|${row.macs}`;
    if (!points.has(key)) points.set(key, { paramCount: row.paramCount, macs: row.macs, labels: [], values: [] });
    const point = points.get(key);
    point.labels.push(row.label);
    point.values.push(row.metrics[metric] ? headline(row.metrics[metric]) : null);
  }
  const sign = direction(metric) === "min" ? -1 : 1;
  return [...points.values()].map((point) => {
    const known = point.values.filter((v) => v !== null);
    return { ...point, label: point.labels.join(" · "), best: known.length ? sign * Math.max(...known.map((v) => sign * v)) : null };
  });
}

function renderArchitecture(rows, metric) {
  const shown = architecturePoints(rows, metric);
  const best = shown.map((point) => point.best);
  const colored = new Set(best.filter((v) => v !== null)).size > 1; // a scale needs two values
  const trace = {
    type: "scatter",
    mode: "markers+text",
    x: shown.map((row) => row.paramCount),
    y: shown.map((row) => row.macs),
    text: shown.map((row) => plotlyText(row.label)),
    textposition: "top center",
    textfont: { size: 11 },
    customdata: shown.map((point) => point.labels.map((label, i) => `${plotlyText(label)}: ${fmtMetric(metric, point.values[i])}`).join("<br>")),
    hovertemplate: `%{x:.3s} parameters · %{y:.3s} MACs<br>${metricLabel(metric)} (selected, else final)<br>%{customdata}<extra></extra>`,
    marker: {
      size: 16,
      line: { width: 1, color: "#334155" },
      ...(colored ? { color: best, colorscale: "Viridis", showscale: true, colorbar: { title: { text: metricLabel(metric), side: "right" }, thickness: 12 } } : { color: color(0) }),
    },
  };
  const base = layout({ xTitle: "parameters", yTitle: "MACs per sample", height: 360 });
  draw($("#chart-arch"), shown.length ? [trace] : [], {
    ...base,
    xaxis: { ...base.xaxis, type: "log" },
    yaxis: { ...base.yaxis, type: "log" },
    showlegend: false,
    margin: { l: 64, r: 16, t: 24, b: 48 },
  });
}

function renderEpochTime(rows) {
  const shown = rows.filter((row) => row.secondsPerEpoch.mean !== null);
  const base = layout({ xTitle: "seconds per epoch", height: Math.max(260, 70 + 30 * shown.length) });
  draw($("#chart-time"), shown.length ? [{
    type: "bar",
    orientation: "h",
    x: shown.map((row) => row.secondsPerEpoch.mean),
    y: shown.map((row) => plotlyText(row.label)),
    error_x: { type: "data", array: shown.map((row) => row.secondsPerEpoch.std ?? 0), visible: true, color: "#475569" },
    marker: { color: shown.map((_, i) => color(i)) },
    hovertemplate: "%{y}: %{x:.3g} s per epoch<extra></extra>",
  }] : [], {
    ...base,
    yaxis: { ...base.yaxis, autorange: "reversed", automargin: true },
    showlegend: false,
    margin: { l: 16, r: 16, t: 16, b: 48 },
  });
}

function renderRuns() {
  const { differing } = specFields(data.runs);
  const columns = differing.slice(0, 8);
  const head = el("thead", {}, el("tr", {}, el("th", { class: "num" }, "ID"), el("th", {}, "name"), el("th", {}, "status"),
    el("th", {}, "group"), columns.map((path) => el("th", {}, path)), el("th", {}, words().recipe)));
  const body = el("tbody", {}, data.runs.map((run) => el("tr", {},
    el("td", { class: "num" }, run.id),
    el("td", { class: "name" }, el("a", { href: `/run.html?id=${run.id}` }, run.name)),
    el("td", {}, statusBadge(run.status)),
    el("td", {}, run.group ?? "–"),
    columns.map((path) => el("td", {}, valueLabel(recipeValue(run, path)))),
    el("td", {}, el("details", {}, el("summary", {}, isScript(run) ? "config" : "spec"),
      el("pre", { class: "spec" }, JSON.stringify(recipe(run), null, 2)))))));
  clear($("#compare-runs"), head, body);
  $("#runs-note").textContent = differing.length ? `columns: the fields in which the runs differ` : `the runs share one ${words().recipe}`;
}

// --- start ---------------------------------------------------------------------------------------------------

async function showPicker() {
  $("#picker").hidden = false;
  $("#compare-subtitle").textContent = "Nothing chosen yet.";
  $("#group-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const group = event.target.elements.group.value.trim();
    if (group) location.href = `/compare.html${query({ group })}`;
  });
  try {
    const page = await getJSON("/runs?limit=500&sort=-created_at");
    const groups = [...new Set(page.data.map((run) => run.group).filter(Boolean))].slice(0, 30);
    clear($("#known-groups"), groups.map((g) => el("option", { value: g })));
    clear($("#group-links"), groups.map((g) => el("a", { class: "chip", href: `/compare.html${query({ group: g })}` }, g)));
  } catch {
    // the form still works
  }
}

bindControls();
if (!view.runIds.length && view.group === null) showPicker();
else load();
