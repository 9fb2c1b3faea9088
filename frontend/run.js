// Run page: live curves over the run's event stream (run-charts.js), status and progress, results,
// the full spec (a script run's config), device and versions, the error, segmentation overlays;
// cancel, clone with edits (a worker run), compare, delete.

import { ApiError, del, errorText, followEvents, getJSON, imageURL, postJSON, query } from "./api.js";
import {
  $, clear, durationSeconds, el, fmtCount, fmtDuration, fmtMetric, fmtTime, fmtValue, lastStep, progressBar, statusBadge,
  toast,
} from "./dom.js";
import { exportButtons } from "./charts.js";
import { drawCharts, stepName, task } from "./run-charts.js";
import { isScript, recipe } from "./specs.js";
import { metricLabel, runResult } from "./stats.js";

const runId = Number(new URLSearchParams(location.search).get("id"));
let run = null;
const points = new Map(); // metric -> Map(step -> value)
let live = false;
let chartsPending = false;
let overlayNames = [];
let overlayFollow = true;
let overlayURL = null;
let lastOverlayCheck = 0;

// --- header, status, details --------------------------------------------------------------------------

// The highest step of any point received, or the run's summary's before the points arrive.
function currentStep() {
  const steps = [...points.values()].flatMap((byStep) => [...byStep.keys()]);
  return steps.length ? Math.max(...steps) : lastStep(run);
}

function renderHeader() {
  document.title = `${run.name} · trainboard`;
  $("#run-name").textContent = run.name;
  clear($("#run-subtitle"), `Run #${run.id}`,
    run.group ? [" · group ", el("a", { href: `/?group=${encodeURIComponent(run.group)}` }, run.group)] : null,
    ` · created ${fmtTime(run.created_at)}`,
    isScript(run) ? [" · ", el("span", { class: "source-badge", title: "Reported by its own script" }, "script")] : null,
    live ? [" · ", el("span", { class: "live-dot" }), "live"] : null);
  const active = run.status === "queued" || run.status === "running";
  clear($("#run-actions"),
    active ? el("button", { type: "button", class: "button danger", id: "cancel-run", disabled: run.cancel_requested,
      onclick: cancel }, run.cancel_requested ? "Cancelling…" : "Cancel") : null,
    isScript(run) ? null : el("a", { class: "button", href: `/new.html?clone=${run.id}`, id: "clone-run" }, "Clone with edits"),
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
  // A queued run no online worker can take says why (no GPU, a package missing).
  const waiting = run.waiting_for ? el("span", { id: "run-waiting", class: "waiting-for" }, run.waiting_for) : null;
  clear($("#status-strip"), el("span", { id: "run-status" }, statusBadge(run.status)), waiting, progressBar(run, true, currentStep()),
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
  return run.status === "queued" && !isScript(run) ? "measured when a worker starts the run" : "–";
}

function renderDetails() {
  kvRows($("#details"), [
    ["status", [statusBadge(run.status), run.cancel_requested && run.status === "running" ? " cancel requested" : ""]],
    isScript(run) ? ["source", "its own script (Python client)"] : ["epochs", `${run.epochs_completed} of ${run.spec.epochs}`],
    ["parameters", run.param_count === null ? notMeasured() : `${run.param_count.toLocaleString()} (${fmtCount(run.param_count)})`],
    ["MACs per sample", run.macs === null ? notMeasured() : `${run.macs.toLocaleString()} (${fmtCount(run.macs)})`],
    ["device", run.device_name || "–"],
    ["worker", run.worker_host || "–"],
    ["attempt", String(run.attempt)],
    ["created", fmtTime(run.created_at)],
    ["started", fmtTime(run.started_at)],
    ["finished", fmtTime(run.finished_at)],
  ]);
  $("#spec-title").textContent = isScript(run) ? "Config" : "Spec";
  $("#spec").textContent = JSON.stringify(recipe(run), null, 2);
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
    el("th", { class: "num" }, stepName(run)), el("th", { class: "num" }, "final")));
  const rows = names.map((name) => {
    const result = runResult(series, name);
    // The best of many test values is chosen by looking at the test set: optimistic, and labelled so.
    const onTest = name.startsWith("test_") && result.best !== null;
    const best = onTest
      ? el("td", { class: "num", title: "The best over all epochs, selected on the test set: optimistic" }, fmtMetric(name, result.best), el("span", { class: "sub" }, " (selected on test)"))
      : el("td", { class: "num" }, fmtMetric(name, result.best));
    return el("tr", {}, el("td", {}, metricLabel(name)), best,
      el("td", { class: "num" }, result.bestStep ?? "–"), el("td", { class: "num" }, fmtMetric(name, result.final)));
  });
  clear($("#results"), head, el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 4, class: "muted" }, isScript(run) ? "No point reported yet." : "No epoch finished yet."))));
}

const ORDER = ["test_accuracy", "test_balanced_accuracy", "test_dice", "test_iou", "test_loss", "train_loss", "epoch_seconds"];
const order = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);

function renderAll() {
  renderHeader();
  renderStatus();
  renderDetails();
}

// --- charts -------------------------------------------------------------------------------------------

function scheduleCharts() {
  if (chartsPending) return;
  chartsPending = true;
  requestAnimationFrame(() => {
    chartsPending = false;
    drawCharts(run, points);
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
  if (!force && (task(run, points) !== "segmentation" || Date.now() - lastOverlayCheck < 1500)) return;
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
    const stops = isScript(run) ? "its script is told at its next heartbeat (run.should_stop)" : "the run stops at its next batch";
    toast(run.status === "running" ? `Cancel requested: ${stops}.` : "Run cancelled.", "ok");
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
      await navigator.clipboard.writeText(JSON.stringify(recipe(run), null, 2));
      toast(`${isScript(run) ? "Config" : "Spec"} copied.`, "ok");
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
