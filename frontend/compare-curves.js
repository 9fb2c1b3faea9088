// The Compare page's main curves, from GET /compare's answer: one per run, or one per group (the
// mean at each step with its band). The chart draws them from the thinned curves the page loads
// (at most a chart's width of points each); the CSV asks the server for every point and builds the
// same curves from them.

import { getJSON, query, saveBlob } from "./api.js";
import { groupCurve, runCurve } from "./stats.js";

// Accuracies, Dice and IoU lie in [0, 1], losses and times above 0: a band drawn beyond is noise
// of a small n (the CSV keeps the same clipped band as the chart).
export function clipBand(curve, metric) {
  const bounded = /accuracy|dice|iou/.test(metric);
  const positive = /loss|seconds|lr|memory/.test(metric);
  if (!bounded && !positive) return curve;
  const clip = (v) => (v === null ? null : Math.max(0, bounded ? Math.min(1, v) : v));
  return { ...curve, lower: curve.lower.map(clip), upper: curve.upper.map(clip) };
}

// [{index, n, curve}]: index is the group's (its colour), n its runs with a curve of `metric`.
export function comparisonCurves(source, metric, { x, band }) {
  const byId = new Map(source.runs.map((run) => [run.id, run]));
  const grouped = source.group_by.length > 0;
  const found = [];
  source.groups.forEach((group, index) => {
    const members = group.run_ids.map((id) => byId.get(id)).filter(Boolean)
      .map((run) => runCurve(run, source.series[run.id], metric, x, group.label, source.time_origins?.[run.id]))
      .filter(Boolean);
    if (!members.length) return;
    const curve = grouped ? clipBand(groupCurve(group.label, members, band), metric) : members[0];
    found.push({ index, n: members.length, curve });
  });
  return found;
}

function csvCell(value) {
  if (value === null || value === undefined) return "";
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text) && typeof value === "string") text = `'${text}`; // no formulas in spreadsheets
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

// The main chart's curves at full resolution as CSV: `selection` is the page's {run_id, group, group_by}.
export async function exportCSV(selection, metric, options, filename) {
  const full = await getJSON(`/compare${query({ ...selection, metric, max_points: 0 })}`);
  const header = ["series", "run_ids", "metric", "epoch", options.x === "epoch" ? "epoch_x" : "seconds_since_start", "value",
    "band_lower", "band_upper", "n"];
  const lines = [header.join(",")];
  for (const { curve } of comparisonCurves(full, metric, options)) {
    curve.steps.forEach((step, i) => {
      lines.push([curve.label, curve.runIds.join(" "), metric, step, curve.x[i], curve.y[i], curve.lower[i] ?? "",
        curve.upper[i] ?? "", curve.n[i]].map(csvCell).join(","));
    });
  }
  saveBlob(new Blob([`${lines.join("\n")}\n`], { type: "text/csv" }), filename);
}
