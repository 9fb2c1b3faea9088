// Building the page from data, as text only: nothing here parses a string as HTML, so a run named
// "<img src=x onerror=...>" shows those characters and runs nothing. Also the number formats.

import { isScript } from "./specs.js";

// el("td", {class: "num", title: "..."}, "text", childNode, [more, children])
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "disabled" || key === "selected") node[key] = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);

// Runs fn once the browser has painted what the page holds now: what a user looks at first is on
// screen before the rest of the page is built.
export const afterPaint = (fn) => requestAnimationFrame(() => setTimeout(fn, 0));

// Text for a Plotly label (trace name, hover text, annotation): Plotly reads <b>, <br>, <a> and
// entities in labels, so the characters that start markup become entities, shown literally.
export function plotlyText(value) {
  return String(value ?? "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// A one-line message at the top of the page that fades away (kind: "error" | "ok").
export function toast(message, kind = "error") {
  let box = document.getElementById("toasts");
  if (!box) {
    box = el("div", { id: "toasts", class: "toasts", role: "status" });
    document.body.append(box);
  }
  const item = el("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 3500);
}

export function statusBadge(status, extra = "") {
  return el("span", { class: `badge status-${status}`, title: extra || null }, status);
}

// --- runs: progress, ETA, duration -----------------------------------------------------------------
// A worker run counts epochs up to its spec's; a script run has no total to reach: it shows its
// last step, with an open bar while it runs.

const ENDED = ["completed", "failed", "cancelled"];

export function progressFraction(run) {
  if (isScript(run)) return ENDED.includes(run.status) ? 1 : 0;
  const epochs = run.spec.epochs || 1;
  return Math.min(1, (run.epochs_completed || 0) / epochs);
}

// The highest step a run reported a metric at (from its summary), or null.
export function lastStep(run) {
  const steps = Object.values(run.summary || {}).map((s) => s.final_step).filter(Number.isInteger);
  return steps.length ? Math.max(...steps) : null;
}

export function durationSeconds(run) {
  if (!run.started_at) return null;
  const end = run.finished_at ? Date.parse(run.finished_at) : Date.now();
  return Math.max(0, (end - Date.parse(run.started_at)) / 1000);
}

export function etaSeconds(run) {
  const done = run.epochs_completed || 0;
  if (isScript(run) || run.status !== "running" || !done || !run.started_at) return null;
  const perEpoch = (Date.now() - Date.parse(run.started_at)) / 1000 / done;
  return perEpoch * Math.max(0, run.spec.epochs - done);
}

// `step`: a script run's last step when the page knows a newer one than the run's summary.
export function progressBar(run, large = false, step = lastStep(run)) {
  const script = isScript(run);
  const fraction = progressFraction(run);
  const eta = etaSeconds(run);
  const kind = { completed: "done", failed: "failed", cancelled: "cancelled" }[run.status] || "";
  const open = script && run.status === "running";
  let label = script ? (step === null ? "no step yet" : `step ${step}`) : `epoch ${run.epochs_completed || 0} / ${run.spec.epochs}`;
  if (eta !== null) label += ` · ETA ${fmtDuration(eta)}`;
  if (run.status === "running" && run.cancel_requested) label += " · cancelling";
  const title = script ? label : `${Math.round(fraction * 100)}%`;
  return el("div", { class: `progress ${kind} ${open ? "open" : ""} ${large ? "large" : ""}`, title },
    el("div", { class: "bar" }, barFill(open ? 1 : fraction)),
    el("div", { class: "label" }, label));
}

function barFill(fraction) {
  const fill = el("span");
  fill.style.width = `${(fraction * 100).toFixed(1)}%`;
  return fill;
}

export function debounce(fn, ms = 300) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// --- formats ---------------------------------------------------------------------------------------

export function fmtCount(value) {
  if (value === null || value === undefined) return "–";
  for (const [unit, size] of [["G", 1e9], ["M", 1e6], ["k", 1e3]]) {
    if (Math.abs(value) >= size) return `${(value / size).toPrecision(3).replace(/\.?0+$/, "")}${unit}`;
  }
  return String(Math.round(value));
}

export function fmtNumber(value, digits = 4) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) return value.toExponential(2);
  return String(Number(value.toPrecision(digits)));
}

export function fmtMetric(name, value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (name.includes("accuracy")) return `${(100 * value).toFixed(2)}%`;
  if (/dice|iou/.test(name)) return value.toFixed(3);
  if (name.endsWith("_seconds")) return fmtDuration(value, true);
  return fmtNumber(value);
}

export function fmtDuration(seconds, precise = false) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  if (precise && seconds < 10) return `${seconds.toFixed(seconds < 1 ? 2 : 1)}s`;
  const total = Math.round(seconds);
  if (total >= 3600) return `${Math.floor(total / 3600)}h ${String(Math.floor((total % 3600) / 60)).padStart(2, "0")}m`;
  if (total >= 60) return `${Math.floor(total / 60)}m ${String(total % 60).padStart(2, "0")}s`;
  return `${total}s`;
}

export function fmtTime(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  });
}

export function fmtValue(value) {
  if (value === null || value === undefined) return "none";
  if (typeof value === "number") return fmtNumber(value, 6);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
