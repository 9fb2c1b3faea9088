// What a comparison computes from the runs and their series (GET /compare): curves per run or
// per group (mean and band across seeds), best/final values and summaries. The same rules as the
// downloadable report (backend/services/reports.py); the groups and their labels are the server's.

// Reported every epoch, but settings or costs rather than results.
export const SETTING_METRICS = ["lr", "epoch_seconds", "samples_per_second", "peak_memory_mb"];
export const PREFERRED_METRICS = ["test_accuracy", "test_dice", "test_iou", "test_balanced_accuracy", "test_loss", "train_loss"];
const LOWER_IS_BETTER = new Set(["train_loss", "test_loss", "epoch_seconds", "peak_memory_mb"]);

// "min", "max", or null for lr (as worker/engine/metrics.py direction()).
export function direction(name) {
  if (name === "lr") return null;
  if (LOWER_IS_BETTER.has(name) || /(loss|_seconds|error)$/.test(name)) return "min";
  return "max";
}

export const metricLabel = (name) => name.replaceAll("_", " ");

export function meanStd(values) {
  const clean = values.filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  if (!clean.length) return { mean: null, std: null, n: 0 };
  const mean = clean.reduce((a, b) => a + b, 0) / clean.length;
  if (clean.length < 2) return { mean, std: null, n: 1 };
  const variance = clean.reduce((a, v) => a + (v - mean) ** 2, 0) / (clean.length - 1);
  return { mean, std: Math.sqrt(variance), n: clean.length };
}

// Student t quantile 0.975 for 1..30 degrees of freedom; beyond, a Cornish-Fisher correction of 1.96.
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145,
  2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
export function t975(df) {
  if (df < 1) return NaN;
  if (df <= 30) return T975[df - 1];
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

// Half the band's height: the std, or the 95% confidence interval of the mean.
export function bandHalfWidth(std, n, band) {
  if (std === null || n < 2 || band === "none") return null;
  return band === "ci" ? (t975(n - 1) * std) / Math.sqrt(n) : std;
}

// Where a run's relative time starts: its start, or the start of its first reported epoch if earlier.
export function timeOrigin(run, series) {
  const firsts = Object.values(series || {}).filter((s) => s.wall_times.length).map((s) => s.wall_times[0]);
  if (!firsts.length) return null;
  let first = Math.min(...firsts);
  const epochSeconds = series.epoch_seconds;
  if (epochSeconds?.values.length && epochSeconds.values[0] !== null) first -= epochSeconds.values[0];
  const started = run.started_at ? Date.parse(run.started_at) / 1000 : null;
  return started !== null && Number.isFinite(started) ? Math.min(first, started) : first;
}

// {label, runIds, steps, x, y, lower, upper, n} for one run's metric against epoch or time; `origin`:
// where the run's time starts, when the server says (GET /compare's time_origins, over every metric).
export function runCurve(run, series, metric, xAxis, label, origin = undefined) {
  const found = series?.[metric];
  if (!found || !found.steps.length) return null;
  origin = xAxis === "time" ? origin ?? timeOrigin(run, series) ?? 0 : 0;
  const x = xAxis === "time" ? found.wall_times.map((t) => t - origin) : found.steps.slice();
  return { label, runIds: [run.id], steps: found.steps.slice(), x, y: found.values.slice(), lower: [], upper: [],
    n: found.steps.map(() => 1) };
}

// The mean over the runs at each step they reached, with the band; x: the step or the mean time.
export function groupCurve(label, curves, band) {
  const byStep = new Map();
  for (const curve of curves) {
    curve.steps.forEach((step, i) => {
      if (!byStep.has(step)) byStep.set(step, []);
      byStep.get(step).push([curve.x[i], curve.y[i]]);
    });
  }
  const result = { label, runIds: curves.flatMap((c) => c.runIds), steps: [], x: [], y: [], lower: [], upper: [], n: [] };
  for (const step of [...byStep.keys()].sort((a, b) => a - b)) {
    const pairs = byStep.get(step);
    const { mean, std, n } = meanStd(pairs.map(([, y]) => y));
    const width = bandHalfWidth(std, n, band);
    result.steps.push(step);
    result.x.push(pairs.reduce((a, [x]) => a + x, 0) / pairs.length);
    result.y.push(mean);
    result.lower.push(width !== null && mean !== null ? mean - width : null);
    result.upper.push(width !== null && mean !== null ? mean + width : null);
    result.n.push(n);
  }
  return result;
}

// The metric names of GET /compare's `metrics`, or of a {run id: {metric: series}} map.
function metricNames(source) {
  if (Array.isArray(source)) return new Set(source);
  const names = new Set();
  for (const perRun of Object.values(source || {})) for (const name of Object.keys(perRun)) names.add(name);
  return names;
}

// The metrics measuring a result, `first` first, then the preferred order.
export function resultMetrics(source, first) {
  const names = metricNames(source);
  for (const name of SETTING_METRICS) names.delete(name);
  const ordered = [...PREFERRED_METRICS.filter((m) => names.has(m)), ...[...names].filter((m) => !PREFERRED_METRICS.includes(m)).sort()];
  if (first && ordered.includes(first)) {
    ordered.splice(ordered.indexOf(first), 1);
    ordered.unshift(first);
  }
  return ordered;
}

export function allMetrics(source) {
  const names = metricNames(source);
  return [...resultMetrics(source), ...SETTING_METRICS.filter((m) => names.has(m))];
}

// Best value (lowest for losses and times; the earliest of equals), its step, and the final value.
export function runResult(series, metric) {
  const found = series?.[metric];
  const pairs = [];
  if (found) found.steps.forEach((step, i) => found.values[i] !== null && pairs.push([step, found.values[i]]));
  if (!pairs.length) return { best: null, bestStep: null, final: null };
  const sign = direction(metric) === "min" ? 1 : -1;
  let best = pairs[0];
  for (const pair of pairs) if (sign * pair[1] < sign * best[1]) best = pair;
  return { best: best[1], bestStep: best[0], final: pairs[pairs.length - 1][1] };
}

export function secondsPerEpoch(series) {
  return series?.epoch_seconds ? meanStd(series.epoch_seconds.values).mean : null;
}

// A run's best, its step, its final value and its value at its selected epoch (the best epoch of its
// selection metric): the server's, computed over every point (the curves may be thinned), or from
// the series when the run has no summary of the metric (then nothing is selected).
function exactResult(run, series, metric) {
  const summary = run.summary?.[metric];
  if (summary && summary.best !== null && summary.best !== undefined) {
    return { best: summary.best, bestStep: summary.best_step, final: summary.final, selected: summary.selected ?? null };
  }
  return { ...runResult(series, metric), selected: null };
}

// The value a comparison leads with: at the selected epoch, else the final one; never the best of
// many test values (selected on the test set: optimistic).
export function headline(result) {
  return result.selected.mean ?? result.final.mean;
}

// In words, for a caption: "selected: at each run's best val accuracy epoch".
export function selectedCaption(runs) {
  const by = [...new Set(runs.map((run) => run.selection_metric).filter(Boolean))].sort();
  return by.length ? `selected: at each run's best ${by.map(metricLabel).join(" or ")} epoch` : "no run has a selected epoch";
}

// One row per group: n, selected/final mean±std of each metric, selected epoch, s/epoch;
// `seconds`: GET /compare's seconds_per_epoch (the mean over every epoch), else from the series.
export function summarize(groups, seriesByRun, metrics, seconds = null) {
  return groups.map((group) => {
    const perRun = group.runs.map((run) => seriesByRun[run.id] || {});
    const values = {};
    for (const metric of metrics) {
      const results = group.runs.map((run, i) => exactResult(run, perRun[i], metric));
      values[metric] = { selected: meanStd(results.map((r) => r.selected)), final: meanStd(results.map((r) => r.final)) };
    }
    const perEpoch = group.runs.map((run, i) => (seconds ? seconds[run.id] ?? null : secondsPerEpoch(perRun[i])));
    return {
      label: group.label,
      runs: group.runs,
      n: group.runs.length,
      metrics: values,
      selectedEpoch: meanStd(group.runs.map((run) => run.selected_epoch ?? null)),
      secondsPerEpoch: meanStd(perEpoch),
      paramCount: meanStd(group.runs.map((r) => r.param_count)).mean,
      macs: meanStd(group.runs.map((r) => r.macs)).mean,
    };
  });
}
