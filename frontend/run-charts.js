// The run page's charts, redrawn as points arrive: the engine's four (loss, accuracy or Dice/IoU,
// learning rate, epoch time), then one chart for each other name the run reports, names sharing
// their last part drawn together ("loss", "train/loss" and "val/loss" in one chart "loss"). A
// worker run is drawn against its epochs, up to its spec's; a script run against its steps, as
// far as its data goes, without the engine's charts it does not report.

import { $, el, plotlyText } from "./dom.js";
import { color, draw, exportButtons, layout, line } from "./charts.js";
import { isScript } from "./specs.js";
import { metricLabel } from "./stats.js";

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
const FIXED = new Set([CHARTS.loss, CHARTS.lr, CHARTS.time, ...Object.values(SCORES)].flatMap((c) => c.metrics));

const chartKey = (name) => name.split("/").pop();

export function task(run, points) {
  if (points.has("test_dice") || points.has("test_iou")) return "segmentation";
  const dataset = typeof run?.spec.dataset === "object" ? run.spec.dataset.name : run?.spec.dataset;
  return ["lung_xray", "synthetic_segmentation"].includes(dataset) ? "segmentation" : "classification";
}

export const stepName = (run) => (isScript(run) ? "step" : "epoch");

// points: metric name -> Map(step -> value)
export function drawCharts(run, points) {
  const score = SCORES[task(run, points)];
  CHARTS.score.metrics = score.metrics;
  CHARTS.score.y = score.y;
  $("#score-title").textContent = score.title;
  for (const chart of Object.values(CHARTS)) {
    const node = document.getElementById(chart.node);
    const section = node.closest("section");
    const traces = tracesOf(run, points, chart.metrics);
    section.hidden = isScript(run) && !traces.length; // a script reports its own names
    if (section.hidden) continue;
    const values = traces.flatMap((t) => t.y).filter((v) => v > 0);
    const wide = values.length && Math.max(...values) / Math.min(...values) > 10; // a decaying schedule
    const yaxis = chart === CHARTS.lr && wide ? { type: "log", exponentformat: "power" } : {};
    if (chart !== CHARTS.loss && !yaxis.type) yaxis.rangemode = "tozero"; // scores, lr, seconds start at 0
    if (chart === CHARTS.score && score.y === "accuracy") yaxis.tickformat = ".0%";
    drawChart(run, node, traces, chart.y, yaxis, "waiting for the first epoch…");
  }
  drawOtherCharts(run, points);
}

function tracesOf(run, points, metrics) {
  return metrics.filter((m) => points.has(m)).map((metric) => {
    const byStep = points.get(metric);
    const steps = [...byStep.keys()].sort((a, b) => a - b);
    return line(steps, steps.map((s) => byStep.get(s)), metricLabel(metric), color(metrics.indexOf(metric)), {
      hovertemplate: `${plotlyText(metricLabel(metric))}<br>${stepName(run)} %{x}: %{y:.4g}<extra></extra>`,
    });
  });
}

function drawChart(run, node, traces, yTitle, yaxis, waiting) {
  const base = layout({ xTitle: stepName(run), yTitle, height: 300 });
  const epochs = isScript(run) ? null : Math.max(run?.spec.epochs || 1, 1);
  const xaxis = epochs === null ? {} : { range: [0.5, epochs + 0.5], ...(epochs <= 20 ? { dtick: 1 } : {}) };
  draw(node, traces, {
    ...base,
    xaxis: { ...base.xaxis, ...xaxis },
    yaxis: { ...base.yaxis, ...yaxis },
    legend: { orientation: "h", x: 0, y: 1.12 },
    margin: { l: 56, r: 16, t: 28, b: 44 },
    annotations: traces.length ? [] : [{ text: waiting, showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { color: "#94a3b8" } }],
  });
  node.dataset.points = String(traces.reduce((n, t) => n + t.x.length, 0));
}

// One card per chart key, made when its first name arrives, kept in the keys' order.
function drawOtherCharts(run, points) {
  const box = $("#metric-charts");
  const groups = new Map();
  for (const name of [...points.keys()].filter((n) => !FIXED.has(n)).sort()) {
    const key = chartKey(name);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(name);
  }
  const keys = [...groups.keys()].sort();
  const cards = keys.map((key) => box.querySelector(`section[data-chart="${CSS.escape(key)}"]`) || newCard(run, key));
  if (cards.some((card, i) => box.children[i] !== card)) box.append(...cards);
  const waiting = $("#charts-waiting");
  waiting.hidden = !isScript(run) || points.size > 0;
  keys.forEach((key, i) => {
    const node = cards[i].querySelector(".chart");
    node.dataset.metrics = groups.get(key).join(" ");
    drawChart(run, node, tracesOf(run, points, groups.get(key)), plotlyText(metricLabel(key)), {}, "");
  });
}

function newCard(run, key) {
  const node = el("div", { class: "chart" });
  const slug = key.replace(/[^A-Za-z0-9_-]+/g, "-");
  return el("section", { class: "card", dataset: { chart: key } },
    el("div", { class: "card-head" }, el("h3", {}, metricLabel(key)),
      el("span", { class: "chart-tools" }, exportButtons(node, `run-${run?.id}-${slug}`))),
    node);
}
