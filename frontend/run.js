// Run page: live curves over the run's event stream (train/test loss, accuracy or Dice/IoU,
// learning rate, epoch time), status and progress, results, the full spec, device and versions,
// the error, segmentation overlays; cancel, clone with edits, compare, delete.

import { ApiError, del, errorText, followEvents, getJSON, imageURL, postJSON, query } from "./api.js";
import {
  $, clear, durationSeconds, el, fmtCount, fmtDuration, fmtMetric, fmtTime, fmtValue, progressBar, statusBadge, toast,
} from "./dom.js";
import { color, draw, exportButtons, layout, line } from "./charts.js";
import { metricLabel, runResult } from "./stats.js";

const runId = Number(new URLSearchParams(location.search).get("id"));
const CHARTS = {
  loss: { node: "chart-loss", metrics: ["train_loss", "test_loss"], y: "loss" },
  score: { node: "chart-score", metrics: [], y: "" }, // set from the task
  lr: { node: "chart-lr", metrics: ["lr"], y: "learning rate" },
  time: { node: "chart-time", metrics: ["epoch_seconds"], y: "seconds" },
};
const SCORES = {
  classification: { title: "Accuracy", metrics: ["test_accuracy", "test_balanced_accuracy"], y: "accuracy" },
  segmentation: { title: "Dice and IoU", metrics: ["test_dice", "test_iou"], y: "score" },
};

let run = null;
const points = new Map(); // metric -> Map(step -> value)
let live = false;
let chartsPending = false;
let overlayNames = [];
let overlayFollow = true;
let overlayURL = null;
let lastOverlayCheck = 0;

// --- header, status, details --------------------------------------------------------------------------

function task() {
  if (points.has("test_dice") || points.has("test_iou")) return "segmentation";
  const dataset = typeof run?.spec.dataset === "object" ? run.spec.dataset.name : run?.spec.dataset;
  return ["lung_xray", "synthetic_segmentation"].includes(dataset) ? "segmentation" : "classification";
}

function renderHeader() {
  document.title = `${run.name} · trainboard`;
  $("#run-name").textContent = run.name;
  clear($("#run-subtitle"), `Run #${run.id}`,
    run.group ? [" · group ", el("a", { href: `/?group=${encodeURIComponent(run.group)}` }, run.group)] : null,
    ` · created ${fmtTime(run.created_at)}`,
    live ? [" · ", el("span", { class: "live-dot" }), "live"] : null);
  const active = run.status === "queued" || run.status === "running";
  clear($("#run-actions"),
    active ? el("button", { type: "button", class: "button danger", id: "cancel-run", disabled: run.cancel_requested,
      onclick: cancel }, run.cancel_requested ? "Cancelling…" : "Cancel") : null,
    el("a", { class: "button", href: `/new.html?clone=${run.id}`, id: "clone-run" }, "Clone with edits"),
    el("a", { class: "button", href: `/compare.html${query({ run_id: run.id })}` }, "Compare"),
    run.group ? el("a", { class: "button", href: `/compare.html${query({ group: run.group })}` }, "Compare group") : null,
    run.status !== "running" ? el("button", { type: "button", class: "button", onclick: remove }, "Delete") : null);
}

function renderStatus() {
  const facts = [
    ["duration", fmtDuration(durationSeconds(run))],
    ["device", run.device_name || "–"],
    ["parameters", fmtCount(run.param_count)],
    ["MACs", fmtCount(run.macs)],
  ];
  clear($("#status-strip"), el("span", { id: "run-status" }, statusBadge(run.status)), progressBar(run, true),
    facts.map(([label, value]) => el("span", { class: "fact" }, `${label} `, el("b", {}, value))));
  const box = $("#run-error");
  box.hidden = !run.error;
  box.querySelector("b").textContent = run.status === "cancelled" ? "The run was cancelled." : "The run failed.";
  box.querySelector("pre").textContent = run.error || "";
}

function kvRows(table, rows) {
  clear(table, el("tbody", {}, rows.map(([key, value]) => el("tr", {}, el("th", {}, key), el("td", {}, value)))));
}

// Sizes are measured by the worker that trains the run (on the meta device, before any data is loaded).
function notMeasured() {
  return run.status === "queued" ? "measured when a worker starts the run" : "–";
}

function renderDetails() {
  kvRows($("#details"), [
    ["status", [statusBadge(run.status), run.cancel_requested && run.status === "running" ? " cancel requested" : ""]],
    ["epochs", `${run.epochs_completed} of ${run.spec.epochs}`],
    ["parameters", run.param_count === null ? notMeasured() : `${run.param_count.toLocaleString()} (${fmtCount(run.param_count)})`],
    ["MACs per sample", run.macs === null ? notMeasured() : `${run.macs.toLocaleString()} (${fmtCount(run.macs)})`],
    ["device", run.device_name || "–"],
    ["worker", run.worker_host || "–"],
    ["attempt", String(run.attempt)],
    ["created", fmtTime(run.created_at)],
    ["started", fmtTime(run.started_at)],
    ["finished", fmtTime(run.finished_at)],
  ]);
  $("#spec").textContent = JSON.stringify(run.spec, null, 2);
  const environment = run.environment || {};
  const entries = Object.entries(environment).sort(([a], [b]) => (b.endsWith("_version") - a.endsWith("_version")) || a.localeCompare(b));
  kvRows($("#environment"), entries.length ? entries.map(([k, v]) => [k.replaceAll("_", " "), fmtValue(v)]) : [["", "reported when the run starts"]]);
}

function renderResults() {
  const series = {};
  for (const [name, byStep] of points) {
    const steps = [...byStep.keys()].sort((a, b) => a - b);
    series[name] = { steps, values: steps.map((s) => byStep.get(s)) };
  }
  const names = [...points.keys()].filter((n) => n !== "lr").sort((a, b) => order(a) - order(b));
  const head = el("thead", {}, el("tr", {}, el("th", {}, "metric"), el("th", { class: "num" }, "best"),
    el("th", { class: "num" }, "epoch"), el("th", { class: "num" }, "final")));
  const rows = names.map((name) => {
    const result = runResult(series, name);
    return el("tr", {}, el("td", {}, metricLabel(name)), el("td", { class: "num" }, fmtMetric(name, result.best)),
      el("td", { class: "num" }, result.bestStep ?? "–"), el("td", { class: "num" }, fmtMetric(name, result.final)));
  });
  clear($("#results"), head, el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No epoch finished yet."))));
}

const ORDER = ["test_accuracy", "test_balanced_accuracy", "test_dice", "test_iou", "test_loss", "train_loss", "epoch_seconds"];
const order = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);

function renderAll() {
  renderHeader();
  renderStatus();
  renderDetails();
}

// --- charts -------------------------------------------------------------------------------------------

function drawCharts() {
  chartsPending = false;
  const score = SCORES[task()];
  CHARTS.score.metrics = score.metrics;
  CHARTS.score.y = score.y;
  $("#score-title").textContent = score.title;
  for (const chart of Object.values(CHARTS)) {
    const traces = chart.metrics.filter((m) => points.has(m)).map((metric) => {
      const byStep = points.get(metric);
      const steps = [...byStep.keys()].sort((a, b) => a - b);
      return line(steps, steps.map((s) => byStep.get(s)), metricLabel(metric), color(chart.metrics.indexOf(metric)), {
        hovertemplate: `${metricLabel(metric)}<br>epoch %{x}: %{y:.4g}<extra></extra>`,
      });
    });
    const node = document.getElementById(chart.node);
    const values = traces.flatMap((t) => t.y).filter((v) => v > 0);
    const wide = values.length && Math.max(...values) / Math.min(...values) > 10; // a decaying schedule
    const yaxisExtra = chart === CHARTS.lr && wide ? { type: "log", exponentformat: "power" } : {};
    if (chart !== CHARTS.loss && !yaxisExtra.type) yaxisExtra.rangemode = "tozero"; // scores, lr, seconds start at 0
    const base = layout({ xTitle: "epoch", yTitle: chart.y, height: 300 });
    draw(node, traces, {
      ...base,
      xaxis: { ...base.xaxis, range: [0.5, Math.max(run?.spec.epochs || 1, 1) + 0.5], ...(run?.spec.epochs <= 20 ? { dtick: 1 } : {}) },
      yaxis: { ...base.yaxis, ...yaxisExtra, ...(chart === CHARTS.score && score.y === "accuracy" ? { tickformat: ".0%" } : {}) },
      legend: { orientation: "h", x: 0, y: 1.12 },
      margin: { l: 56, r: 16, t: 28, b: 44 },
      annotations: traces.length ? [] : [{ text: "waiting for the first epoch…", showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#94a3b8" } }],
    });
    node.dataset.points = String(traces.reduce((n, t) => n + t.x.length, 0));
  }
}

function scheduleCharts() {
  if (chartsPending) return;
  chartsPending = true;
  requestAnimationFrame(() => {
    drawCharts();
    renderResults();
  });
}

function addPoints(list) {
  for (const point of list) {
    if (!points.has(point.name)) points.set(point.name, new Map());
    points.get(point.name).set(point.step, point.value);
  }
  scheduleCharts();
}

// --- overlays (segmentation) ----------------------------------------------------------------------------

async function checkOverlays(force = false) {
  if (!force && (task() !== "segmentation" || Date.now() - lastOverlayCheck < 1500)) return;
  lastOverlayCheck = Date.now();
  try {
    const artifacts = await getJSON(`/runs/${runId}/artifacts`);
    const names = artifacts.map((a) => a.name).filter((n) => /^overlays\/.+\.png$/.test(n)).sort();
    if (names.join() === overlayNames.join()) return;
    overlayNames = names;
    const slider = $("#overlay-epoch");
    $("#overlays").hidden = !names.length;
    if (!names.length) return;
    slider.max = String(names.length - 1);
    if (overlayFollow) slider.value = slider.max;
    showOverlay();
  } catch {
    // overlays are a bonus: the next epoch tries again
  }
}

async function showOverlay() {
  const name = overlayNames[Number($("#overlay-epoch").value)];
  if (!name) return;
  const epoch = Number((name.match(/(\d+)\.png$/) || [])[1]);
  $("#overlay-label").textContent = Number.isFinite(epoch) ? `epoch ${epoch}` : name;
  try {
    const url = await imageURL(`/runs/${runId}/artifacts/${name.split("/").map(encodeURIComponent).join("/")}`);
    if (overlayURL) URL.revokeObjectURL(overlayURL);
    overlayURL = url;
    $("#overlay-image").src = url;
  } catch (error) {
    toast(`Could not load ${name}: ${errorText(error)}`);
  }
}

// --- actions --------------------------------------------------------------------------------------------

async function cancel() {
  try {
    run = await postJSON(`/runs/${runId}/cancel`);
    toast(run.status === "running" ? "Cancel requested: the run stops at its next batch." : "Run cancelled.", "ok");
    renderAll();
  } catch (error) {
    toast(errorText(error));
  }
}

async function remove() {
  if (!confirm(`Delete run ${runId} with its metrics and files?`)) return;
  try {
    await del(`/runs/${runId}`);
    location.href = "/";
  } catch (error) {
    toast(errorText(error));
  }
}

// --- the stream ------------------------------------------------------------------------------------------

function onEvent(type, data) {
  if (type === "state") {
    run = data;
    live = !["completed", "failed", "cancelled"].includes(run.status);
    renderAll();
    scheduleCharts();
  } else if (type === "metrics") {
    addPoints(data.points);
    checkOverlays();
  } else if (type === "heartbeat") {
    if (run) {
      run.epochs_completed = data.epochs_completed;
      run.heartbeat_at = data.heartbeat_at;
      renderStatus();
    }
  } else if (type === "end") {
    live = false;
    if (data.status === "deleted") {
      toast("This run was deleted.");
      return;
    }
    getJSON(`/runs/${runId}`).then((fresh) => {
      run = fresh;
      renderAll();
    }).catch(() => {});
    checkOverlays(true);
  } else if (type === "error") {
    live = false;
    if (data.status === 404) {
      $("#run-name").textContent = `Run ${runId} not found`;
      clear($("#run-subtitle"), "It may have been deleted. ", el("a", { href: "/" }, "Back to the runs."));
    } else {
      toast(data.message);
    }
  }
}

async function start() {
  if (!Number.isInteger(runId) || runId < 1) {
    $("#run-name").textContent = "No run given";
    clear($("#run-subtitle"), "Open a run from the ", el("a", { href: "/" }, "runs table"), ".");
    return;
  }
  document.querySelectorAll(".chart-tools").forEach((tools) => {
    const node = document.getElementById(tools.dataset.for);
    tools.append(exportButtons(node, `run-${runId}-${tools.dataset.for.replace("chart-", "")}`));
  });
  $("#overlay-epoch").addEventListener("input", () => {
    overlayFollow = Number($("#overlay-epoch").value) === overlayNames.length - 1;
    showOverlay();
  });
  $("#copy-spec").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(JSON.stringify(run?.spec ?? {}, null, 2));
      toast("Spec copied.", "ok");
    } catch {
      toast("The browser refused the clipboard.");
    }
  });
  setInterval(() => run && live && renderStatus(), 1000); // duration and ETA tick
  checkOverlays(true);
  try {
    await followEvents(`/runs/${runId}/events`, onEvent);
  } catch (error) {
    if (!(error instanceof ApiError)) toast(errorText(error));
  }
}

start();
