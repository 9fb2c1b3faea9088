// Reading TrainSpecs: dotted field paths ("model.norm"), value labels, the fields in which runs
// differ (what a comparison can group by), and the few hyperparameters a table shows.

const ENTRY_FIELDS = ["model", "dataset", "optimizer", "scheduler"];

export function specValue(spec, path) {
  let node = spec;
  for (const key of path.split(".")) {
    if (node === null || typeof node !== "object" || Array.isArray(node) || !(key in node)) return null;
    node = node[key];
  }
  return node;
}

// A spec value in a table cell: 0.1, true, none, [128, 64]. (Group labels are the server's: GET /compare.)
export function valueLabel(value) {
  if (value === null || value === undefined) return "none";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  if (Array.isArray(value)) return `[${value.map(valueLabel).join(", ")}]`;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// {"model.name": "mlp", "model.hidden_sizes": [128, 64], "learning_rate": 0.1, ...}; lists are leaves.
export function flattenSpec(spec, prefix = "", into = {}) {
  for (const [key, value] of Object.entries(spec || {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value)) flattenSpec(value, path, into);
    else into[path] = value;
  }
  return into;
}

// Every field path of these runs: those whose values differ first (model.name, learning_rate...),
// then the others; seed last among the differing ones (grouping by seed is rarely wanted).
export function specFields(runs) {
  const values = new Map();
  for (const run of runs) {
    const flat = flattenSpec(run.spec);
    for (const path of Object.keys(flat)) if (!values.has(path)) values.set(path, new Set());
    for (const [path, set] of values) set.add(valueLabel(path in flat ? flat[path] : null));
  }
  const differing = [];
  const same = [];
  for (const [path, set] of values) (set.size > 1 ? differing : same).push(path);
  const order = (a, b) => (a === "seed") - (b === "seed");
  return { differing: differing.sort(order), same };
}

export function entryName(value) {
  if (value && typeof value === "object") return value.name ?? "?";
  return value ?? "?";
}

// "lr 0.1 · sgd m=0.9 · bs 64 · seed 1" and the model's options that are not defaults are in the spec view.
export function hyperparameterSummary(spec) {
  const parts = [`lr ${valueLabel(spec.learning_rate)}`];
  const optimizer = spec.optimizer || {};
  let opt = entryName(optimizer);
  if (optimizer.momentum) opt += ` m=${valueLabel(optimizer.momentum)}`;
  if (optimizer.weight_decay) opt += ` wd=${valueLabel(optimizer.weight_decay)}`;
  parts.push(opt);
  const scheduler = entryName(spec.scheduler);
  if (scheduler && scheduler !== "constant") parts.push(scheduler);
  parts.push(`bs ${spec.batch_size}`);
  parts.push(`seed ${spec.seed ?? 0}`);
  return parts.join(" · ");
}

// The model's notable options for a table cell, as short values: "sigmoid · 128-64", "batch norm · relu".
export function modelSummary(spec) {
  const model = spec.model || {};
  const extras = [];
  if (model.depth !== undefined) extras.push(`depth ${model.depth}`);
  if (Array.isArray(model.hidden_sizes)) extras.push(model.hidden_sizes.join("-"));
  if (model.norm !== undefined) extras.push(model.norm === "none" ? "no norm" : `${model.norm} norm`);
  if (model.batch_norm !== undefined) extras.push(model.batch_norm ? "BN" : "no BN");
  if (model.upsampling !== undefined) extras.push(model.upsampling);
  if (model.activation !== undefined) extras.push(model.activation);
  return { name: entryName(model), extras: extras.join(" · ") };
}

export function datasetSummary(spec) {
  const dataset = spec.dataset || {};
  return entryName(dataset);
}

export { ENTRY_FIELDS };
