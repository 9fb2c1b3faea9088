// New run page: a form generated from GET /catalog (models, datasets, optimizers, schedulers and
// their options with defaults and bounds, one section each: entry-section.js) and the TrainSpec
// schema (the training fields).
//
// A sweep is a Cartesian product: a numeric field may hold several values ("1, 0.3, 0.1"), a
// choice several ticks, a section several entries (resnet, vgg11, convnet), and there may be
// several seeds. The plan is a base spec plus dimensions {path, values} (sweep-plan.js); the form
// shows the number of runs before submitting, then creates them in one group (POST /runs each, or
// one study when the server has POST /studies). A 422 is shown next to the field it names.

import { ApiError, errorText, exists, getJSON, postJSON, query, validationErrors } from "./api.js";
import { $, clear, el, toast } from "./dom.js";
import { EntrySection } from "./entry-section.js";
import { EarlyStoppingField, Field, MetricField, OMIT, metaOf } from "./fields.js";
import { renderPresets } from "./presets.js";
import { cloneableSpec } from "./specs.js";
import { expand, plan } from "./sweep-plan.js";

const SECTIONS = [
  { kind: "model", title: "Model", list: "models", help: "Tick several models to compare architectures." },
  { kind: "dataset", title: "Dataset", list: "datasets", help: "Datasets for another task than the model's are disabled." },
  { kind: "optimizer", title: "Optimizer", list: "optimizers", help: null },
  { kind: "scheduler", title: "Learning-rate schedule", list: "schedulers", help: null },
];
const TRAINING_FIELDS = ["learning_rate", "epochs", "batch_size", "label_smoothing", "grad_clip_norm", "device", "amp",
  "deterministic", "channels_last", "tta", "val_fraction", "split_seed", "selection_metric", "eval_train"];
const ENTRY_KINDS = ["model", "dataset", "optimizer", "scheduler"];
const MAX_RUNS = 500;

let catalog;
let schema;
let sections = {};
let fields = {};
let runFields = {};
let seedFields = {};
let earlyStopping;
let studiesAvailable = false;

// --- rendering the form --------------------------------------------------------------------------------

function runNameDefault() {
  const model = sections.model.selected();
  const dataset = sections.dataset.selected();
  return `${model.length === 1 ? model[0] : model.join(" vs ")} on ${dataset.join(", ") || "?"}`;
}

function updateCount() {
  const current = plan({ sections, fields, seedFields, earlyStopping });
  const count = $("#run-count");
  const submit = $("#submit");
  const parts = current.dims.map((dim) => `${dim.values.length} ${dim.entries ? `${dim.path}s` : `${dim.path} values`}`);
  if (current.seeds.length > 1) parts.push(`${current.seeds.length} seeds`);
  clear(count, "This will create ", el("b", { id: "run-total" }, String(current.total)), current.total === 1 ? " run" : " runs",
    parts.length ? ` (${parts.join(" × ")})` : "",
    current.total > 1 ? ` in group “${sweepGroup()}”` : "", ".");
  submit.disabled = current.total > MAX_RUNS;
  submit.textContent = current.total > 1 ? `Launch ${current.total} runs` : "Launch run";
  if (current.total > MAX_RUNS) count.append(el("div", { class: "section-error" }, `At most ${MAX_RUNS} runs at once.`));
  runFields.name.input.placeholder = runNameDefault();
  syncCompatibility();
}

// A sweep's group (and study name): the group given, else the name given, else sweep-<time>.
function sweepGroup() {
  return runFields.group.input.value.trim() || runFields.name.input.value.trim() || autoGroup();
}

let autoGroupName = null;
function autoGroup() {
  if (!autoGroupName) {
    const now = new Date();
    const pad = (n) => String(n).padStart(2, "0");
    autoGroupName = `sweep-${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  }
  return autoGroupName;
}

// Datasets for another task than the ticked models' are disabled; the metrics to stop early on or to
// select by follow the task.
let syncing = false;
function syncCompatibility() {
  if (syncing) return;
  syncing = true;
  const tasks = new Set(sections.model.selected().map((name) => catalog.models.find((m) => m.name === name).task));
  const before = sections.dataset.selected().join();
  sections.dataset.setDisabled((entry) => tasks.size > 0 && !tasks.has(entry.task));
  if (sections.dataset.selected().join() !== before) sections.dataset.changed();
  const task = tasks.size === 1 ? [...tasks][0] : "classification";
  earlyStopping.setTask(task);
  fields.selection_metric.setTask(task);
  syncing = false;
}

// What a run of each task reports (GET /catalog), validation metrics first: what to watch by default.
function metricsByTask() {
  const valFirst = (names) => [...names.filter((n) => n.startsWith("val_")), ...names.filter((n) => !n.startsWith("val_"))];
  return Object.fromEntries(Object.entries(catalog.metrics_by_task).map(([task, names]) => [task, valFirst(names)]));
}

function build() {
  const container = $("#sections");
  const onChange = () => updateCount();
  runFields = {
    name: new Field("name", { name: "name", type: "str", nullable: true }, { label: "Name", sweep: false, onChange }),
    group: new Field("group", { name: "group", type: "str", nullable: true }, { label: "Group", sweep: false, onChange }),
  };
  runFields.name.node.querySelector(".hint").textContent = "a sweep's runs add their values to it";
  runFields.group.node.querySelector(".hint").textContent = "a sweep's runs share it (default: the name); compare it as a whole";
  sections = Object.fromEntries(SECTIONS.map((section) => [section.kind, new EntrySection(section, catalog, onChange)]));
  fields = {};
  const metrics = metricsByTask();
  for (const name of TRAINING_FIELDS) {
    const meta = metaOf(name, schema.properties[name]);
    const label = name.replaceAll("_", " ");
    fields[name] = name === "selection_metric"
      ? new MetricField(name, meta, { label, metrics, onChange })
      : new Field(name, meta, { label, sweep: meta.type !== "str", onChange });
  }
  seedFields = {
    count: new Field("seeds", { name: "seeds", type: "int", default: 1, ge: 1, le: 100 }, { label: "seeds per combination", sweep: false, onChange }),
    first: new Field("seed", metaOf("seed", schema.properties.seed), { label: "first seed", sweep: false, onChange }),
  };
  seedFields.count.node.querySelector(".hint").textContent = "independent trials: seeds first, first+1, …";
  earlyStopping = new EarlyStoppingField(schema.$defs.EarlyStopping.properties, metrics, onChange);
  clear(container,
    el("fieldset", { id: "section-run" }, el("legend", {}, "Run"), el("div", { class: "fields" }, runFields.name.node, runFields.group.node)),
    Object.values(sections).map((s) => s.node),
    el("fieldset", { id: "section-training" }, el("legend", {}, "Training"),
      el("div", { class: "fields" }, TRAINING_FIELDS.slice(0, 6).map((n) => fields[n].node), seedFields.count.node, seedFields.first.node,
        TRAINING_FIELDS.slice(6).map((n) => fields[n].node)),
      earlyStopping.node));
}

// state: {name, group, model: [{name, options}], dataset, optimizer, scheduler, fields: {name: [values]}, seeds, firstSeed, early_stopping}
function applyState(state) {
  runFields.name.set(state.name ? [state.name] : []);
  runFields.group.set(state.group ? [state.group] : []);
  for (const field of Object.values(fields)) {
    const given = state.fields?.[field.key];
    field.set(given ?? (field.meta.default !== undefined && field.meta.default !== null ? [field.meta.default] : []));
  }
  for (const kind of ENTRY_KINDS) sections[kind].set(state[kind] || []);
  seedFields.count.set([state.seeds ?? 1]);
  seedFields.first.set([state.firstSeed ?? 0]);
  earlyStopping.set(state.early_stopping || null);
  $("#form-error").hidden = true;
  updateCount();
}

// A model, dataset, optimizer or scheduler (a name or {name, ...options}) as a ticked entry of the form.
function entryState(value) {
  const { name, ...options } = typeof value === "string" ? { name: value } : value;
  return { name, options: Object.fromEntries(Object.entries(options).map(([k, v]) => [k, [v]])) };
}

// The form state of one run's spec (for Clone).
function stateOfSpec(spec) {
  const state = { model: [entryState(spec.model)], dataset: [entryState(spec.dataset)],
    optimizer: [entryState(spec.optimizer || "sgd")], scheduler: [entryState(spec.scheduler || "constant")],
    fields: {}, seeds: 1, firstSeed: spec.seed ?? 0, early_stopping: spec.early_stopping || null };
  for (const name of TRAINING_FIELDS) if (name in spec) state.fields[name] = [spec[name] === null ? OMIT : spec[name]];
  return state;
}

// The form state of a study definition (a preset): its base spec's, with each grid path's values where
// the form sweeps them: "model" or "optimizer" ticks several entries, "model.norm" gives one option
// several values, "learning_rate" a training field several values; and the seeds per cell.
function stateOfStudy({ name, base_spec: base, grid, seeds }) {
  const state = stateOfSpec(base);
  state.group = name;
  state.seeds = seeds;
  for (const [path, values] of Object.entries(grid)) {
    const [root, option] = path.split(".");
    if (ENTRY_KINDS.includes(root) && !option) state[root] = values.map(entryState);
    else if (ENTRY_KINDS.includes(root)) state[root][0].options[option] = values;
    else state.fields[root] = values;
  }
  return state;
}

// --- errors ----------------------------------------------------------------------------------------------

function clearErrors() {
  $("#form-error").hidden = true;
  for (const section of Object.values(sections)) section.error.textContent = "";
  earlyStopping.error.textContent = "";
}

function showFormError(...content) {
  const box = $("#form-error");
  clear(box, ...content);
  box.hidden = false;
  box.scrollIntoView({ block: "center", behavior: "smooth" });
}

// Puts each 422 message next to the field its location names; returns the messages it could not place.
function placeServerErrors(detail) {
  const unplaced = [];
  let first = null;
  for (const { loc, message } of validationErrors(detail)) {
    let target = null;
    const parts = loc[0] === "spec" ? loc.slice(1) : loc;
    if (loc[0] === "grid") {
      target = gridField(loc[1]);
      if (!target) {
        unplaced.push(message);
        continue;
      }
    } else if (loc[0] === "name" || loc[0] === "group") target = runFields[loc[0]];
    else if (loc[0] === "spec" && sections[parts[0]]) {
      const section = sections[parts[0]];
      target = parts.length >= 3 ? section.fieldFor(parts[1], parts[2]) : null;
      if (!target) {
        section.error.textContent = message;
        first ??= section.node;
        continue;
      }
    } else if (loc[0] === "spec" && parts[0] === "seed") target = seedFields.first;
    else if (loc[0] === "spec" && parts[0] === "early_stopping") {
      earlyStopping.error.textContent = message;
      first ??= earlyStopping.node;
      continue;
    } else if (loc[0] === "spec" && fields[parts[0]]) target = fields[parts[0]];
    if (target) {
      target.error.textContent = message;
      target.input?.classList.add("invalid");
      first ??= target.node;
    } else {
      unplaced.push(`${loc.join(".")}: ${message}`);
    }
  }
  first?.scrollIntoView({ block: "center", behavior: "smooth" });
  return unplaced;
}

// The field a study's grid path came from: learning_rate, model.norm (the ticked model's option),
// or a whole section (model, optimizer...) for a sweep over entries.
function gridField(path) {
  if (!path) return null;
  if (fields[path]) return fields[path];
  const [kind, option] = path.split(".");
  const section = sections[kind];
  if (!section) return null;
  const names = section.selected();
  if (option && names.length === 1) return section.fieldFor(names[0], option);
  return { error: section.error, node: section.node };
}

// --- submitting --------------------------------------------------------------------------------------------

async function submit(event) {
  event.preventDefault();
  clearErrors();
  const current = plan({ sections, fields, seedFields, earlyStopping });
  if (current.errors.length) {
    for (const { field, section, message } of current.errors) {
      if (field) field.showError(message);
      else if (section) section.error.textContent = message;
    }
    showFormError(`Fix the ${current.errors.length === 1 ? "highlighted field" : `${current.errors.length} highlighted fields`} first.`);
    return;
  }
  const name = runFields.name.input.value.trim() || (current.total > 1 ? runFields.group.input.value.trim() || runNameDefault() : "");
  const group = current.total > 1 ? sweepGroup() : runFields.group.input.value.trim();
  const runs = expand(current, name || runNameDefault(), group);
  const button = $("#submit");
  button.disabled = true;
  try {
    if (studiesAvailable && runs.length > 1) {
      button.textContent = `Launching ${runs.length} runs…`;
      const study = await submitStudy(current, group).catch(() => null); // errors are shown by then
      if (study) location.href = compareURL(study.name, current);
      return;
    }
    const created = [];
    for (const [index, run] of runs.entries()) {
      button.textContent = `Launching ${index + 1} / ${runs.length}…`;
      try {
        const body = { name: run.name, group: run.group, spec: run.spec };
        if (!runFields.name.input.value.trim() && runs.length === 1) delete body.name; // the server names it
        created.push(await postJSON("/runs", body));
      } catch (error) {
        refused(error, index, runs, created, group);
        return;
      }
    }
    location.href = created.length === 1 ? `/run.html?id=${created[0].id}` : compareURL(group, current);
  } finally {
    button.disabled = false;
    updateCount();
  }
}

function refused(error, index, runs, created, group) {
  const which = runs.length > 1 ? `Run ${index + 1} of ${runs.length} (${runs[index].cell || runs[index].name}) was refused` : "The run was refused";
  const made = created.length
    ? [` ${created.length} run${created.length === 1 ? " was" : "s were"} created before it, in group “${group}”: `,
      el("a", { href: `/?group=${encodeURIComponent(group)}` }, "see them"), "."]
    : [" Nothing was created."];
  if (error instanceof ApiError && error.status === 422) {
    const unplaced = placeServerErrors(error.detail);
    showFormError(`${which}: see the messages next to the fields.`, ...made, unplaced.length ? el("div", {}, unplaced.join("; ")) : null);
  } else {
    showFormError(`${which}: ${errorText(error)}.`, ...made);
  }
}

function compareURL(group, current) {
  const groupBy = current.dims.map((dim) => (dim.entries ? `${dim.path}.name` : dim.path));
  return `/compare.html${query({ group, group_by: groupBy, band: current.seeds.length > 1 ? "std" : "" })}`;
}

// --- studies (POST /api/v1/studies, when the server has it) -------------------------------------------------
// A study is the same plan, stored and run as one: base spec, grid {dotted path: [values]}, seeds.
async function submitStudy(current, group) {
  const grid = Object.fromEntries(current.dims.map((dim) => [dim.path, dim.values.map((v) => (v === OMIT ? null : v))]));
  try {
    return await postJSON("/studies", { name: group, base_spec: current.base, grid, seeds: current.seeds });
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      // A study's 422 names base_spec.<field> or grid: show it like a run's.
      const detail = (Array.isArray(error.detail) ? error.detail : []).map((item) => ({
        ...item, loc: (item.loc || []).map((part) => (part === "base_spec" ? "spec" : part)),
      }));
      const unplaced = placeServerErrors(detail);
      showFormError("The study was refused: see the messages next to the fields. Nothing was created.",
        unplaced.length ? el("div", {}, unplaced.join("; ")) : null);
    } else if (error instanceof ApiError && error.status === 409) {
      runFields.group.error.textContent = errorText(error);
      showFormError(`The study was refused: ${errorText(error)}. Choose another group name. Nothing was created.`);
    } else {
      showFormError(`The study was refused: ${errorText(error)}. Nothing was created.`);
    }
    throw error;
  }
}

// --- start ----------------------------------------------------------------------------------------------------

async function start() {
  try {
    [catalog, studiesAvailable] = await Promise.all([getJSON("/catalog"), exists("/studies?limit=1").catch(() => false)]);
  } catch (error) {
    clear($("#sections"), el("p", { class: "form-error" }, `Could not load the catalog: ${errorText(error)}`));
    return;
  }
  schema = catalog.spec_schema;
  if (!catalog.models.length || !catalog.datasets.length) {
    clear($("#sections"), el("p", { class: "form-error" },
      "No worker has published what it can train yet: start one (trainboard worker), then reload this page."));
    return;
  }
  build();
  renderPresets($("#presets"), (preset) => applyState(stateOfStudy(preset)));
  $("#run-form").addEventListener("submit", submit);
  const params = new URLSearchParams(location.search);
  const cloneId = params.get("clone");
  if (cloneId) {
    try {
      const run = await getJSON(`/runs/${encodeURIComponent(cloneId)}`);
      const state = stateOfSpec(cloneableSpec(run));
      state.name = `${run.name} (clone)`.slice(0, 200);
      state.group = run.group || "";
      applyState(state);
      $("#form-title").textContent = `Clone run ${run.id}`;
      document.title = `Clone run ${run.id} · trainboard`;
    } catch (error) {
      toast(`Could not load run ${cloneId}: ${errorText(error)}`);
      applyState({ model: [{ name: "mlp" }], dataset: [{ name: "synthetic_mnist" }] });
    }
  } else {
    applyState({
      model: [{ name: "mlp" }], dataset: [{ name: "synthetic_mnist" }], optimizer: [{ name: "sgd" }], scheduler: [{ name: "constant" }],
      fields: { learning_rate: [0.1], epochs: [10], batch_size: [64] },
    });
  }
  $("#submit").disabled = false;
  updateCount();
}

start();
