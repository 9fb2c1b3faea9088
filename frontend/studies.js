// Studies page. Without ?id=: the paginated studies table (GET /studies). With ?id=N: one study
// (GET /studies/{id}) with its cells and runs, extend / cancel / compare, and its statistics
// (GET /studies/{id}/stats) as a forest plot and a ranking table; refreshed while runs are active.
// Everything from data is rendered as text (dom.js) and escaped for Plotly (plotlyText).

import { ApiError, errorText, getJSON, postJSON, query } from "./api.js";
import { $, clear, el, fmtMetric, fmtTime, plotlyText, statusBadge, toast } from "./dom.js";
import { color, draw, layout } from "./charts.js";
import { metricLabel } from "./stats.js";
import { isScript, valueLabel } from "./specs.js";

const REFRESH_MS = 3000;
const PAGE_SIZE = 25;
const CLASSIFICATION_METRICS = ["test_accuracy", "test_balanced_accuracy", "test_loss", "train_loss"];
const SEGMENTATION_METRICS = ["test_dice", "test_iou", "test_loss", "train_loss"];
const ACTIVE = new Set(["queued", "running"]);
const BEST_COLOR = "#16a34a";

const params = new URLSearchParams(location.search);
const studyId = Number(params.get("id"));
let offset = Math.max(0, Number(params.get("offset")) || 0);
const SUMMARIES = ["auto", "selected", "final", "best"];
let view = { metric: params.get("metric") || "", summary: SUMMARIES.includes(params.get("summary")) ? params.get("summary") : "auto" };
let timer = null;
let lastStudy = "";
let lastStats = "";

// --- shared ----------------------------------------------------------------------------------------

function studyProgress(progress, status) {
  const total = progress.total || 0;
  const done = progress.completed || 0;
  const fraction = total ? done / total : 0;
  const kind = status === "completed" ? "done" : progress.failed ? "failed" : status === "cancelled" ? "cancelled" : "";
  const fill = el("span");
  fill.style.width = `${(fraction * 100).toFixed(1)}%`;
  const parts = [`${done} / ${total} completed`];
  if (progress.running) parts.push(`${progress.running} running`);
  if (progress.queued) parts.push(`${progress.queued} queued`);
  if (progress.failed) parts.push(`${progress.failed} failed`);
  if (progress.cancelled) parts.push(`${progress.cancelled} cancelled`);
  return el("div", { class: `progress ${kind}`, title: `${Math.round(fraction * 100)}%` },
    el("div", { class: "bar" }, fill), el("div", { class: "label" }, parts.join(" · ")));
}

function gridSummary(grid) {
  const entries = Object.entries(grid || {});
  if (!entries.length) return el("span", { class: "muted" }, "no grid");
  return entries.map(([path, values]) => el("span", { class: "grid-field" },
    el("code", {}, path), " = ", values.map(valueLabel).join(", ")));
}

// --- list ------------------------------------------------------------------------------------------

async function loadList() {
  clearTimeout(timer);
  $("#study-list").hidden = false;
  try {
    const page = await getJSON(`/studies${query({ offset, limit: PAGE_SIZE })}`);
    if (page.count && offset >= page.count) {
      offset = Math.max(0, Math.floor((page.count - 1) / PAGE_SIZE) * PAGE_SIZE);
      return loadList();
    }
    renderList(page);
    if (page.data.some((s) => ACTIVE.has(s.status))) timer = setTimeout(loadList, REFRESH_MS);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) toast(`Could not load the studies: ${errorText(error)}`);
  }
}

function renderList(page) {
  const rows = page.data.map((study) => el("tr", { dataset: { studyId: study.id } },
    el("td", { class: "name" }, el("a", { href: `/studies.html?id=${study.id}` }, study.name)),
    el("td", {}, statusBadge(study.status)),
    el("td", {}, studyProgress(study.progress, study.status)),
    el("td", { class: "grid-cell" }, gridSummary(study.grid)),
    el("td", { class: "num", title: study.seeds.join(", ") }, study.seeds.length),
    el("td", { class: "num" }, study.progress.total),
    el("td", { class: "nowrap" }, fmtTime(study.created_at))));
  if (!rows.length) {
    rows.push(el("tr", {}, el("td", { class: "empty", colspan: 7 },
      "No studies yet. Submit one with POST /api/v1/studies (a grid of runs with several seeds per cell).")));
  }
  $("#studies").tBodies[0].replaceChildren(...rows);
  const end = offset + page.data.length;
  $("#study-subtitle").textContent = `${page.count} stud${page.count === 1 ? "y" : "ies"}`;
  $("#page-range").textContent = page.count ? `${offset + 1}–${end} of ${page.count}` : "";
  $("#prev-page").disabled = offset === 0;
  $("#next-page").disabled = end >= page.count;
}

function bindList() {
  const move = (delta) => {
    offset = Math.max(0, offset + delta);
    history.replaceState(null, "", location.pathname + query({ offset: offset || "" }));
    loadList();
  };
  $("#prev-page").addEventListener("click", () => move(-PAGE_SIZE));
  $("#next-page").addEventListener("click", () => move(PAGE_SIZE));
}

// --- one study -------------------------------------------------------------------------------------

async function loadStudy() {
  clearTimeout(timer);
  let study;
  try {
    study = await getJSON(`/studies/${studyId}`);
  } catch (error) {
    $("#study-detail").hidden = true;
    $("#study-actions").hidden = true;
    $("#study-title").textContent = "Study";
    clear($("#study-subtitle"), error instanceof ApiError && error.status === 404 ? errorText(error)
      : `Could not load the study: ${errorText(error)}`, " · ", el("a", { href: "/studies.html" }, "all studies"));
    return;
  }
  renderStudy(study);
  await loadStats(study);
  if (ACTIVE.has(study.status) || study.cells.some((c) => c.runs.some((r) => ACTIVE.has(r.status)))) {
    timer = setTimeout(loadStudy, document.hidden ? REFRESH_MS * 4 : REFRESH_MS);
  }
}

function renderStudy(study) {
  const fingerprint = JSON.stringify(study);
  if (fingerprint === lastStudy) return;
  lastStudy = fingerprint;
  $("#study-detail").hidden = false;
  $("#study-actions").hidden = false;
  $("#study-title").textContent = study.name;
  document.title = `${study.name} · Studies · trainboard`;
  clear($("#study-subtitle"), el("a", { href: "/studies.html" }, "Studies"), ` · study ${study.id} · created ${fmtTime(study.created_at)}`);
  const paths = Object.keys(study.grid || {});
  clear($("#study-strip"),
    statusBadge(study.status),
    el("span", { class: "fact" }, el("b", {}, study.cells.length), ` cell${study.cells.length === 1 ? "" : "s"}`),
    el("span", { class: "fact" }, el("b", {}, study.seeds.length), ` seed${study.seeds.length === 1 ? "" : "s"} (${study.seeds.join(", ")})`),
    el("span", { class: "fact grid-fact" }, "grid: ", gridSummary(study.grid)),
    el("div", { class: "progress-wrap" }, studyProgress(study.progress, study.status)));
  $("#base-spec").textContent = JSON.stringify(study.base_spec, null, 2);
  $("#compare-study").href = `/compare.html${query({ group: study.name, group_by: paths })}`;
  $("#cancel-study").disabled = !(study.progress.queued || study.progress.running);
  $("#cells-note").textContent = `${study.progress.total} run${study.progress.total === 1 ? "" : "s"} · one row per cell, its runs by seed`;

  const head = el("thead", {}, el("tr", {}, el("th", {}, "Cell"), el("th", {}, "Progress"), el("th", {}, "Runs")));
  const body = el("tbody", {}, study.cells.map((cell) => el("tr", { dataset: { cell: cell.label } },
    el("td", { class: "label cell-label" }, cell.label),
    el("td", {}, studyProgress(cell.progress, cell.progress.total && cell.progress.completed === cell.progress.total ? "completed" : "")),
    el("td", {}, el("div", { class: "study-runs" }, cell.runs.map((run) => el("span", { class: "study-run", dataset: { runId: run.id } },
      el("a", { href: `/run.html?id=${run.id}`, title: run.name }, `#${run.id}`),
      el("span", { class: "muted" }, ` seed ${run.seed ?? "–"}`),
      statusBadge(run.status, run.cancel_requested ? "cancel requested" : ""),
      isScript(run) ? el("span", { class: "source-badge", title: "Reported by its own script" }, "script")
        : el("span", { class: "epochs" }, `epoch ${run.epochs_completed} / ${run.epochs ?? "?"}`))))))));
  clear($("#cells"), head, body);
}

function metricChoices(stats) {
  const segmentation = /dice|iou/.test(stats?.metric || view.metric);
  const list = segmentation ? SEGMENTATION_METRICS : CLASSIFICATION_METRICS;
  const current = stats?.metric || view.metric;
  return current && !list.includes(current) ? [current, ...list] : list;
}

function renderControls(stats) {
  const select = $("#metric");
  const choices = metricChoices(stats);
  if (select.options.length !== choices.length || [...select.options].some((o, i) => o.value !== choices[i])) {
    clear(select, choices.map((m) => el("option", { value: m }, metricLabel(m))));
  }
  select.value = stats?.metric || view.metric || choices[0];
  $("#summary").value = view.summary;
}

async function loadStats() {
  let stats;
  try {
    stats = await getJSON(`/studies/${studyId}/stats${query({ metric: view.metric, summary: view.summary, ci: "t" })}`);
  } catch (error) {
    renderControls(null);
    clear($("#ranking"));
    $("#stats-note").textContent = `No statistics: ${errorText(error)}`;
    lastStats = "";
    return;
  }
  renderControls(stats);
  const fingerprint = JSON.stringify(stats);
  if (fingerprint === lastStats) return;
  lastStats = fingerprint;
  renderForest(stats);
  renderRanking(stats);
}

function renderForest(stats) {
  const metric = stats.metric;
  const ranked = stats.groups.filter((g) => g.mean !== null && g.mean !== undefined)
    .sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity));
  const best = stats.ranking[0];
  // Accuracies, Dice and IoU lie in [0, 1], losses above 0: the bars stop there (a t interval of
  // n = 2 easily reaches beyond); the table and the hover show the interval as computed.
  const bounded = /accuracy|dice|iou/.test(metric);
  const positive = /loss|seconds/.test(metric);
  const clip = (v) => (bounded ? Math.min(1, Math.max(0, v)) : positive ? Math.max(0, v) : v);
  const trace = (groups, hex, name) => ({
    type: "scatter",
    mode: "markers",
    name,
    x: groups.map((g) => g.mean),
    y: groups.map((g) => plotlyText(g.label)),
    error_x: {
      type: "data", symmetric: false, color: hex, thickness: 2, width: 6,
      array: groups.map((g) => (g.ci_high === null ? 0 : Math.max(0, clip(g.ci_high) - g.mean))),
      arrayminus: groups.map((g) => (g.ci_low === null ? 0 : Math.max(0, g.mean - clip(g.ci_low)))),
    },
    marker: { size: 11, color: hex, symbol: "square" },
    customdata: groups.map((g) => [g.n, g.ci_low === null ? "–" : `${fmtMetric(metric, g.ci_low)} – ${fmtMetric(metric, g.ci_high)}`, fmtMetric(metric, g.mean), g.rank]),
    hovertemplate: `%{y}<br>rank %{customdata[3]} · n=%{customdata[0]}<br>mean %{customdata[2]}<br>95% CI %{customdata[1]}<extra></extra>`,
  });
  const winners = ranked.filter((g) => g.label === best);
  const others = ranked.filter((g) => g.label !== best);
  const traces = [];
  if (winners.length) traces.push(trace(winners, BEST_COLOR, "best"));
  if (others.length) traces.push(trace(others, color(0), "others"));
  const base = layout({ xTitle: `${stats.summary_description} (mean, 95% CI)`, height: Math.max(200, 90 + 48 * ranked.length) });
  draw($("#chart-forest"), traces, {
    ...base,
    showlegend: false,
    margin: { l: 24, r: 24, t: 12, b: 48 },
    xaxis: { ...base.xaxis, ...(metric.includes("accuracy") ? { tickformat: ".1%" } : {}), visible: ranked.length > 0 },
    yaxis: { ...base.yaxis, title: { text: "" }, type: "category", automargin: true,
      categoryorder: "array", categoryarray: ranked.map((g) => plotlyText(g.label)).reverse(), visible: ranked.length > 0 },
    annotations: ranked.length ? [] : [{ text: "no completed run yet", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#94a3b8" } }],
  });
  $("#chart-forest").dataset.rows = String(ranked.length);
  $("#stats-note").textContent = `${stats.summary_description} · ${stats.direction === "min" ? "lower" : "higher"} is better · completed runs only`;
}

function renderRanking(stats) {
  const value = (v) => fmtMetric(stats.metric, v);
  const confidence = `${Math.round((stats.confidence ?? 0.95) * 100)}% CI`;
  const groups = stats.groups.slice().sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity));
  const head = el("thead", {}, el("tr", {}, ["rank", "group", "n", "mean", "median", confidence]
    .map((h, i) => el("th", { class: i === 1 ? "" : "num" }, h))));
  const body = el("tbody", {}, groups.map((g) => el("tr", { class: g.label === stats.ranking[0] && groups.length > 1 ? "best-row" : "" },
    el("td", { class: "num" }, g.rank ?? "–"),
    el("td", { class: "label" }, g.label, g.label === stats.ranking[0] && groups.length > 1 ? el("span", { class: "winner", title: "best mean" }, " ★") : null),
    el("td", { class: "num" }, g.n),
    el("td", { class: "num" }, value(g.mean)),
    el("td", { class: "num" }, value(g.median)),
    el("td", { class: "num" }, g.ci_low === null ? "–" : `${value(g.ci_low)} – ${value(g.ci_high)}`))));
  clear($("#ranking"), head, body);
  const warnings = $("#stats-warnings");
  clear(warnings, stats.warnings.map((w) => el("li", {}, w)));
  warnings.hidden = !stats.warnings.length;
}

// --- actions ---------------------------------------------------------------------------------------

function bindStudy() {
  const statsChanged = () => {
    history.replaceState(null, "", location.pathname + query({ id: studyId, metric: view.metric, summary: view.summary === "auto" ? "" : view.summary }));
    loadStats();
  };
  $("#metric").addEventListener("change", (event) => {
    view.metric = event.target.value;
    statsChanged();
  });
  $("#summary").addEventListener("change", (event) => {
    view.summary = event.target.value;
    statsChanged();
  });
  $("#stats-controls").addEventListener("submit", (event) => event.preventDefault());

  $("#extend-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const seeds = Number($("#extend-seeds").value);
    if (!Number.isInteger(seeds) || seeds < 1) {
      toast("Add at least one seed.");
      return;
    }
    $("#extend-button").disabled = true;
    try {
      const study = await postJSON(`/studies/${studyId}/extend`, { seeds });
      toast(`Added ${seeds} seed${seeds === 1 ? "" : "s"} to every cell.`, "ok");
      renderStudy(study);
    } catch (error) {
      toast(`Could not add seeds: ${errorText(error)}`);
    } finally {
      $("#extend-button").disabled = false;
    }
    loadStudy();
  });

  // A second click confirms (no window.confirm: a dialog would block the page and its tests).
  const cancel = $("#cancel-study");
  let armed = null;
  const disarm = () => {
    clearTimeout(armed);
    armed = null;
    cancel.textContent = "Cancel study";
    cancel.classList.remove("armed");
  };
  cancel.addEventListener("click", async () => {
    if (!armed) {
      cancel.textContent = "Click again to cancel every run";
      cancel.classList.add("armed");
      armed = setTimeout(disarm, 4000);
      return;
    }
    disarm();
    cancel.disabled = true;
    try {
      const study = await postJSON(`/studies/${studyId}/cancel`);
      toast("Study cancelled: queued runs stop now, running ones at their next batch.", "ok");
      renderStudy(study);
    } catch (error) {
      toast(`Could not cancel the study: ${errorText(error)}`);
      cancel.disabled = false;
    }
    loadStudy();
  });
  document.addEventListener("visibilitychange", () => !document.hidden && loadStudy());
}

if (Number.isInteger(studyId) && studyId > 0) {
  $("#study-title").textContent = "Study";
  bindStudy();
  loadStudy();
} else {
  bindList();
  loadList();
}
