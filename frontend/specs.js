// Reading what made a run, its recipe: a worker run's TrainSpec or a script run's config. Dotted
// field paths ("model.norm", "config.lr"), value labels, the fields in which runs differ (what a
// comparison can group by), and the few hyperparameters or config fields a table shows.

const ENTRY_FIELDS = ["model", "dataset", "optimizer", "scheduler"];

// A run reported by the user's own script (the Python client) rather than trained by a worker.
export const isScript = (run) => run?.source === "script";

// What made the run, shown and compared wherever a spec is: a worker run's spec, a script run's
// config (its spec is {}).
export function recipe(run) {
  return isScript(run) ? run.config || {} : run?.spec || {};
}

// A group_by path read in a run's recipe as the server reads it (a leading "config." dropped):
// config.lr is a script's config["lr"], learning_rate a worker's spec["learning_rate"].
export function recipeValue(run, path) {
  return specValue(recipe(run), path.replace(/^config\./, ""));
}

// The path a run's field is grouped by: a spec path, or config.<path> for a script's config.
function recipePaths(run) {
  const flat = flattenSpec(recipe(run));
  return isScript(run) ? Object.keys(flat).map((path) => `config.${path}`) : Object.keys(flat);
}

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

// Every field path of these runs' recipes: those whose values differ first (model.name,
// learning_rate, config.lr...), the fields most runs have first among them (a worker's spec fields
// do not crowd out the config a mix's scripts share), seed last (grouping by seed is rarely
// wanted); then the others. A script's config.x that a worker's spec also has is offered once, as x.
export function specFields(runs) {
  const paths = new Set(runs.flatMap(recipePaths));
  for (const path of paths) if (path.startsWith("config.") && paths.has(path.slice(7))) paths.delete(path);
  const differing = [];
  const same = [];
  const having = new Map();
  for (const path of paths) {
    const values = runs.map((run) => recipeValue(run, path));
    having.set(path, values.filter((value) => value !== null).length);
    (new Set(values.map(valueLabel)).size > 1 ? differing : same).push(path);
  }
  const seed = (path) => path === "seed" || path === "config.seed";
  const order = (a, b) => seed(a) - seed(b) || having.get(b) - having.get(a);
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

// "lr=0.01 · model.width=64 · +3 more": the first fields of a script's config, for a table cell.
export function configSummary(config, count = 4) {
  const entries = Object.entries(flattenSpec(config));
  if (!entries.length) return "no config";
  const short = (text) => (text.length > 24 ? `${text.slice(0, 23)}…` : text);
  const parts = entries.slice(0, count).map(([path, value]) => `${path}=${short(valueLabel(value))}`);
  if (entries.length > count) parts.push(`+${entries.length - count} more`);
  return parts.join(" · ");
}

// A worker run's spec for the new-run form; a script run has none to clone.
export function cloneableSpec(run) {
  if (isScript(run)) throw new Error(`run ${run.id} is reported by its own script: it has no spec to clone`);
  return run.spec;
}

export function datasetSummary(spec) {
  const dataset = spec.dataset || {};
  return entryName(dataset);
}

export { ENTRY_FIELDS };
