// New run page: a form generated from GET /catalog (models, datasets, optimizers, schedulers and
// their options with defaults and bounds) and the TrainSpec schema (the training fields).
//
// A sweep is a Cartesian product: a numeric field may hold several values ("1, 0.3, 0.1"), a
// choice several ticks, a section several entries (resnet, vgg11, convnet), and there may be
// several seeds. The plan is a base spec plus dimensions {path, values}; the form shows the number
// of runs before submitting, then creates them in one group (POST /runs each, or one study when the
// server has POST /studies). A 422 is shown next to the field it names.

import { ApiError, errorText, exists, getJSON, postJSON, query, validationErrors } from "./api.js";
import { $, clear, el, toast } from "./dom.js";
import { cloneableSpec, valueLabel } from "./specs.js";

const SECTIONS = [
  { kind: "model", title: "Model", list: "models", help: "Tick several models to compare architectures." },
  { kind: "dataset", title: "Dataset", list: "datasets", help: "Datasets for another task than the model's are disabled." },
  { kind: "optimizer", title: "Optimizer", list: "optimizers", help: null },
  { kind: "scheduler", title: "Learning-rate schedule", list: "schedulers", help: null },
];
const TRAINING_FIELDS = ["learning_rate", "epochs", "batch_size", "label_smoothing", "grad_clip_norm", "device", "amp",
  "deterministic", "channels_last", "tta"];
const EARLY_STOPPING_METRICS = {
  classification: ["test_loss", "test_accuracy", "test_balanced_accuracy", "train_loss"],
  segmentation: ["test_loss", "test_dice", "test_iou", "train_loss"],
};
const SHORT = { learning_rate: "lr", batch_size: "bs", label_smoothing: "ls", grad_clip_norm: "clip" };
const OMIT = Symbol("omit"); // a field left empty: the server's default applies
const MAX_RUNS = 500;

// The classic studies of the course, one click each.
const PRESETS = [
  {
    title: "MNIST NumPy MLP: learning rates",
    text: "The from-scratch sigmoid MLP, 5 learning rates from 1 to 0.001, 30 epochs.",
    state: {
      group: "mnist-mlp-lr-sweep",
      model: [{ name: "mlp_numpy", options: { activation: ["sigmoid"] } }],
      dataset: [{ name: "mnist" }],
      optimizer: [{ name: "sgd" }],
      scheduler: [{ name: "constant" }],
      fields: { learning_rate: [1, 0.3, 0.1, 0.01, 0.001], epochs: [30], batch_size: [64] },
      seeds: 1,
    },
  },
  {
    title: "CIFAR-10: none vs batch vs group norm",
    text: "The same ConvNet without normalization, with BatchNorm and with GroupNorm (32 groups).",
    state: {
      group: "cifar10-norm",
      model: [{ name: "convnet", options: { norm: ["none", "batch", "group"], num_groups: [32] } }],
      dataset: [{ name: "cifar10" }],
      optimizer: [{ name: "sgd", options: { momentum: [0.9], weight_decay: [0.0005] } }],
      scheduler: [{ name: "cosine" }],
      fields: { learning_rate: [0.05], epochs: [30], batch_size: [128] },
      seeds: 1,
    },
  },
  {
    title: "CIFAR-10: ResNet vs VGG11 vs ConvNet",
    text: "Three architectures on the same recipe; compare against time and parameters/MACs.",
    state: {
      group: "cifar10-architectures",
      model: [{ name: "resnet", options: { depth: [18] } }, { name: "vgg11" }, { name: "convnet", options: { norm: ["batch"] } }],
      dataset: [{ name: "cifar10" }],
      optimizer: [{ name: "sgd", options: { momentum: [0.9], weight_decay: [0.0005] } }],
      scheduler: [{ name: "cosine" }],
      fields: { learning_rate: [0.05], epochs: [50], batch_size: [128] },
      seeds: 1,
    },
  },
  {
    title: "GTSRB: BatchNorm × Adam/SGD × 3 seeds",
    text: "Traffic-sign CNN (ELU) with and without BatchNorm, Adam vs SGD, three trials each.",
    state: {
      group: "gtsrb-bn-optimizer",
      model: [{ name: "traffic_sign_cnn", options: { batch_norm: [false, true], activation: ["elu"] } }],
      dataset: [{ name: "gtsrb" }],
      optimizer: [{ name: "adam" }, { name: "sgd", options: { momentum: [0.9] } }],
      scheduler: [{ name: "constant" }],
      fields: { learning_rate: [0.001], epochs: [400], batch_size: [128] },
      seeds: 3,
    },
  },
  {
    title: "Lung U-Net: upsampling × activation",
    text: "Transposed convolution vs nearest upsampling, ReLU vs ELU, on the lung X-ray masks.",
    state: {
      group: "lung-unet-ablation",
      model: [{ name: "unet", options: { upsampling: ["transposed", "nearest"], activation: ["relu", "elu"] } }],
      dataset: [{ name: "lung_xray" }],
      optimizer: [{ name: "adam" }],
      scheduler: [{ name: "constant" }],
      fields: { learning_rate: [0.001], epochs: [40], batch_size: [8] },
      seeds: 1,
    },
  },
];

let catalog;
let schema;
let sections = {};
let fields = {};
let runFields = {};
let seedFields = {};
let earlyStopping;
let studiesAvailable = false;

// --- field meta -------------------------------------------------------------------------------------

// Catalog-style meta {name, type, default, ge, le, gt, lt, choices, description, nullable} of a
// JSON-schema property (the training fields, and options the catalog types as "any").
function metaOf(name, prop) {
  let branch = prop;
  let nullable = false;
  if (prop.anyOf) {
    nullable = prop.anyOf.some((b) => b.type === "null");
    branch = prop.anyOf.find((b) => b.type !== "null") || {};
  }
  const types = { number: "float", integer: "int", boolean: "bool", string: "str" };
  const meta = { name, default: prop.default, description: prop.description, nullable };
  meta.type = branch.enum ? "choice" : types[branch.type] || "any";
  if (branch.enum) meta.choices = branch.enum;
  for (const [key, short] of [["minimum", "ge"], ["maximum", "le"], ["exclusiveMinimum", "gt"], ["exclusiveMaximum", "lt"]]) {
    if (branch[key] !== undefined) meta[short] = branch[key];
  }
  return meta;
}

// The catalog types int-or-null options as "any": read their real type off the entry's JSON schema
// (models and datasets publish theirs, from the worker; optimizers and schedulers are in the spec schema).
function refine(kind, entry, option) {
  if (option.type !== "any") return option;
  let prop = entry.options_schema?.properties?.[option.name];
  if (!prop) {
    const mapping = schema.properties[kind]?.discriminator?.mapping || {};
    const ref = mapping[entry.name]?.split("/").pop();
    prop = schema.$defs?.[ref]?.properties?.[option.name];
  }
  return prop ? { ...metaOf(option.name, prop), description: option.description } : option;
}

// Where an entry comes from and who can train it: "from my-plugin 0.1 · on gpu-box (2 workers)".
function provenance(entry) {
  if (!entry.package) return null;
  const from = entry.package === "trainboard" ? "built in" : `from ${entry.package}${entry.package_version ? ` ${entry.package_version}` : ""}`;
  const workers = entry.workers || [];
  const online = new Set((catalog.workers || []).filter((w) => w.online).map((w) => w.name));
  const live = workers.filter((name) => online.has(name)).length;
  const on = workers.length ? `${workers.length} worker${workers.length > 1 ? "s" : ""}, ${live} online` : "no worker";
  return `${from} · ${on}`;
}

function boundsText(meta) {
  const parts = [];
  if (meta.ge !== undefined) parts.push(`≥ ${meta.ge}`);
  if (meta.gt !== undefined) parts.push(`> ${meta.gt}`);
  if (meta.le !== undefined) parts.push(`≤ ${meta.le}`);
  if (meta.lt !== undefined) parts.push(`< ${meta.lt}`);
  return parts.join(", ");
}

function checkNumber(text, meta, integer) {
  const value = Number(text);
  if (text === "" || !Number.isFinite(value)) return [null, `not a number: “${text}”`];
  if (integer && !Number.isInteger(value)) return [null, `${text} is not a whole number`];
  if ((meta.ge !== undefined && value < meta.ge) || (meta.gt !== undefined && value <= meta.gt)
    || (meta.le !== undefined && value > meta.le) || (meta.lt !== undefined && value >= meta.lt)) {
    return [null, `${text} is out of bounds (${boundsText(meta)})`];
  }
  return [value, null];
}

// --- one field ---------------------------------------------------------------------------------------

// A form field for one option. read() -> {values: [...], error}; every kind may hold several values
// (a sweep), except strings. OMIT in values means "leave it to the server's default".
class Field {
  constructor(key, meta, { label, sweep = true, onChange }) {
    this.key = key;
    this.meta = meta;
    this.sweep = sweep;
    this.onChange = onChange;
    const id = `f-${key.replace(/[^A-Za-z0-9_-]/g, "-")}`;
    this.error = el("div", { class: "error", id: `${id}-error`, role: "alert" });
    this.note = el("div", { class: "sweep-note" });
    const kind = meta.type;
    const hint = [];
    if (meta.default !== undefined && meta.default !== null && kind !== "bool" && kind !== "choice") hint.push(`default ${valueLabel(meta.default)}`);
    if (boundsText(meta)) hint.push(boundsText(meta));
    this.node = el("div", { class: "form-field", dataset: { field: key } });
    if (kind === "choice" || kind === "bool") {
      const options = kind === "bool" ? [false, true] : meta.choices;
      this.inputs = options.map((value) => ({ value, input: el("input", { type: "checkbox", name: id }) }));
      this.node.append(el("div", { class: "label" }, label),
        el("div", { class: "chips", role: "group", "aria-label": label },
          this.inputs.map(({ value, input }) => el("label", { class: "chip" }, input, kind === "bool" ? (value ? "on" : "off") : valueLabel(value)))));

    } else {
      this.input = el("input", { type: "text", id, name: key, "aria-describedby": `${id}-error`,
        inputmode: kind === "float" || kind === "int" ? "decimal" : null,
        placeholder: meta.default !== undefined && meta.default !== null ? valueLabel(meta.default) : (meta.nullable ? "unset" : "") });
      this.node.append(el("label", { for: id }, label), this.input);
      if (kind.startsWith("list")) hint.push(sweep ? "a list; “|” between lists to sweep" : "a list");
    }
    if (meta.description) this.node.title = meta.description;
    this.node.append(el("div", { class: "hint" }, hint.join(" · ")), this.note, this.error);
    this.node.addEventListener("input", () => {
      this.showError(this.read().error);
      this.onChange?.();
    });
    if (meta.default !== undefined && meta.default !== null) this.set([meta.default]);
  }

  read() {
    const kind = this.meta.type;
    if (this.inputs) {
      const values = this.inputs.filter(({ input }) => input.checked).map(({ value }) => value);
      return values.length ? { values } : { values: [], error: "choose at least one" };
    }
    const text = this.input.value.trim();
    if (text === "") {
      if (this.meta.default === undefined && !this.meta.nullable) return { values: [], error: "required" };
      return { values: [OMIT] };
    }
    if (kind === "str") return { values: [text] };
    if (kind.startsWith("list")) {
      const integer = kind === "list[int]";
      const alternatives = (this.sweep ? text.split("|") : [text]).map((part) => part.trim());
      const values = [];
      for (const alternative of alternatives) {
        const items = alternative.split(/[\s,]+/).filter(Boolean);
        if (!items.length) return { values: [], error: "an alternative is empty" };
        const list = [];
        for (const item of items) {
          const [value, error] = checkNumber(item, this.meta, integer);
          if (error) return { values: [], error };
          list.push(value);
        }
        values.push(list);
      }
      return { values };
    }
    const tokens = this.sweep ? text.split(/[\s,;]+/).filter(Boolean) : [text];
    const values = [];
    for (const token of tokens) {
      if (kind === "any" && token.toLowerCase() === "none") {
        values.push(null);
        continue;
      }
      const [value, error] = checkNumber(token, this.meta, kind === "int" || kind === "any");
      if (error) return { values: [], error };
      values.push(value);
    }
    if (new Set(values).size !== values.length) return { values: [], error: "a value is repeated" };
    return { values };
  }

  set(values) {
    if (this.inputs) {
      for (const item of this.inputs) item.input.checked = values.some((v) => v === item.value);
    } else if (this.meta.type.startsWith("list")) {
      this.input.value = values.filter((v) => v !== OMIT && v !== null).map((list) => list.join(", ")).join(" | ");
    } else {
      this.input.value = values.filter((v) => v !== OMIT && v !== null).map((v) => String(v)).join(", ");
    }
    this.showError(null);
  }

  showError(message) {
    this.error.textContent = message || "";
    this.input?.classList.toggle("invalid", Boolean(message));
    const count = message ? 0 : this.read().values.length;
    this.note.textContent = count > 1 ? `sweep: ${count} values` : "";
  }
}

// --- an entry section (model, dataset, optimizer, scheduler) -------------------------------------------

class EntrySection {
  constructor({ kind, title, list, help }, onChange) {
    this.kind = kind;
    this.entries = catalog[list];
    this.onChange = onChange;
    this.cards = new Map();
    this.error = el("div", { class: "section-error", role: "alert" });
    this.chips = this.entries.map((entry) => {
      const input = el("input", { type: "checkbox", name: `${kind}-entry`, value: entry.name });
      input.addEventListener("change", () => this.changed());
      return { entry, input, label: el("label", { class: "chip", title: entry.description || null }, input, entry.name) };
    });
    this.body = el("div");
    this.node = el("fieldset", { id: `section-${kind}` }, el("legend", {}, title),
      help ? el("p", { class: "section-help" }, help) : null,
      el("div", { class: "chips" }, this.chips.map((chip) => chip.label)), this.error, this.body);
  }

  card(name) {
    if (!this.cards.has(name)) {
      const entry = this.entries.find((e) => e.name === name);
      const fieldsOf = new Map();
      for (const option of entry.options) {
        const meta = refine(this.kind, entry, option);
        fieldsOf.set(option.name, new Field(`${this.kind}.${name}.${option.name}`, meta, {
          label: option.name.replaceAll("_", " "), sweep: meta.type !== "str", onChange: this.onChange,
        }));
      }
      const description = [entry.description, entry.task && this.kind === "model" ? `${entry.task}, ${entry.framework}` : null,
        entry.input_shape ? `input ${entry.input_shape.join("×")}, ${entry.num_classes} classes` : null,
        provenance(entry)].filter(Boolean).join(" · ");
      const node = el("div", { class: "entry-card", dataset: { entry: name } }, el("h3", {}, name),
        description ? el("p", { class: "desc" }, description) : null,
        fieldsOf.size ? el("div", { class: "fields" }, [...fieldsOf.values()].map((f) => f.node)) : el("p", { class: "muted desc" }, "No options."));
      this.cards.set(name, { node, fields: fieldsOf, entry });
    }
    return this.cards.get(name);
  }

  selected() {
    return this.chips.filter((c) => c.input.checked && !c.input.disabled).map((c) => c.entry.name);
  }

  changed() {
    this.error.textContent = "";
    clear(this.body, this.selected().map((name) => this.card(name).node));
    this.onChange?.();
  }

  // [{name, options: {option: [values]}}]: the entries to tick and their options' values.
  set(entries) {
    for (const chip of this.chips) chip.input.checked = entries.some((e) => e.name === chip.entry.name);
    for (const { name, options = {} } of entries) {
      const card = this.card(name);
      for (const [option, field] of card.fields) {
        if (option in options) field.set(options[option]);
        else field.set(field.meta.default !== undefined && field.meta.default !== null ? [field.meta.default] : []);
      }
    }
    this.changed();
  }

  setDisabled(predicate) {
    for (const chip of this.chips) {
      const disabled = predicate(chip.entry);
      chip.input.disabled = disabled;
      if (disabled) chip.input.checked = false;
    }
  }

  // Each ticked entry's options' values, the sweeps within it, and errors.
  read() {
    const names = this.selected();
    const errors = [];
    if (!names.length) errors.push({ field: null, section: this, message: `choose a ${this.kind}` });
    const entries = names.map((name) => {
      const card = this.card(name);
      const options = {};
      for (const [option, field] of card.fields) {
        const { values, error } = field.read();
        if (error) errors.push({ field, message: error });
        options[option] = values;
      }
      return { name, options };
    });
    return { entries, errors };
  }

  fieldFor(entryName, option) {
    return this.cards.get(entryName)?.fields.get(option) || null;
  }
}

// --- the plan: a base spec and dimensions ------------------------------------------------------------

function product(lists) {
  return lists.reduce((acc, list) => acc.flatMap((prefix) => list.map((item) => [...prefix, item])), [[]]);
}

function setPath(target, path, value) {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] ??= {};
  if (value === OMIT) delete node[keys[keys.length - 1]];
  else node[keys[keys.length - 1]] = value;
}

function shortLabel(path, value) {
  const key = path.split(".").pop();
  return `${SHORT[key] || key}=${valueLabel(value)}`;
}

// {base, dims: [{path, values, labels}], seeds, errors}. A section with several ticked entries is
// one dimension over whole entries; a single entry's swept options are one dimension each.
function plan() {
  const errors = [];
  const base = {};
  const dims = [];
  for (const section of Object.values(sections)) {
    const { entries, errors: sectionErrors } = section.read();
    errors.push(...sectionErrors);
    if (!entries.length) continue;
    if (entries.length === 1) {
      const [{ name, options }] = entries;
      base[section.kind] = { name };
      for (const [option, values] of Object.entries(options)) {
        if (!values.length) continue;
        setPath(base, `${section.kind}.${option}`, values[0]);
        if (values.length > 1) {
          const path = `${section.kind}.${option}`;
          dims.push({ path, values, labels: values.map((v) => shortLabel(path, v)) });
        }
      }
    } else {
      const variants = [];
      const labels = [];
      for (const { name, options } of entries) {
        const swept = Object.entries(options).filter(([, values]) => values.length > 1).map(([option]) => option);
        const keys = Object.keys(options).filter((option) => options[option].length);
        for (const combo of product(keys.map((option) => options[option]))) {
          const variant = { name };
          keys.forEach((option, i) => setPath(variant, option, combo[i]));
          variants.push(variant);
          labels.push([name, ...swept.map((option) => shortLabel(option, combo[keys.indexOf(option)]))].join(" "));
        }
      }
      base[section.kind] = variants[0];
      dims.push({ path: section.kind, values: variants, labels, entries: true });
    }
  }
  for (const [name, field] of Object.entries(fields)) {
    const { values, error } = field.read();
    if (error) {
      errors.push({ field, message: error });
      continue;
    }
    setPath(base, name, values[0]);
    if (values.length > 1) dims.push({ path: name, values, labels: values.map((v) => shortLabel(name, v)) });
  }
  const count = seedFields.count.read();
  const first = seedFields.first.read();
  if (count.error) errors.push({ field: seedFields.count, message: count.error });
  if (first.error) errors.push({ field: seedFields.first, message: first.error });
  const n = count.values[0] === OMIT || count.error ? 1 : count.values[0];
  const start = first.values[0] === OMIT || first.error ? 0 : first.values[0];
  const seeds = Array.from({ length: n }, (_, i) => start + i);
  base.seed = seeds[0];
  const stopping = earlyStopping.read();
  errors.push(...stopping.errors);
  base.early_stopping = stopping.value;
  const total = dims.reduce((acc, dim) => acc * dim.values.length, 1) * seeds.length;
  return { base, dims, seeds, total, errors };
}

// Every run of the plan: {name, group, spec}.
function expand({ base, dims, seeds }, name, group) {
  const runs = [];
  const choices = product(dims.map((dim) => dim.values.map((value, i) => ({ value, label: dim.labels[i] }))));
  for (const combo of choices) {
    for (const seed of seeds) {
      const spec = structuredClone(base);
      combo.forEach((choice, i) => setPath(spec, dims[i].path, structuredClone(choice.value)));
      spec.seed = seed;
      const parts = combo.map((choice) => choice.label);
      if (seeds.length > 1) parts.push(`seed=${seed}`);
      const fullName = parts.length ? `${name} · ${parts.join(" ")}` : name;
      runs.push({ name: fullName.slice(0, 200), group: group || null, spec, cell: combo.map((c) => c.label).join(" ") });
    }
  }
  return runs;
}

// --- rendering the form --------------------------------------------------------------------------------

function runNameDefault() {
  const model = sections.model.selected();
  const dataset = sections.dataset.selected();
  return `${model.length === 1 ? model[0] : model.join(" vs ")} on ${dataset.join(", ") || "?"}`;
}

function updateCount() {
  const current = plan();
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

// Datasets for another task than the ticked models' are disabled; early-stopping metrics follow the task.
let syncing = false;
function syncCompatibility() {
  if (syncing) return;
  syncing = true;
  const tasks = new Set(sections.model.selected().map((name) => catalog.models.find((m) => m.name === name).task));
  const before = sections.dataset.selected().join();
  sections.dataset.setDisabled((entry) => tasks.size > 0 && !tasks.has(entry.task));
  if (sections.dataset.selected().join() !== before) sections.dataset.changed();
  earlyStopping.setTask(tasks.size === 1 ? [...tasks][0] : "classification");
  syncing = false;
}

class EarlyStoppingField {
  constructor(onChange) {
    const defs = schema.$defs.EarlyStopping.properties;
    this.enabled = el("input", { type: "checkbox", id: "early-stopping" });
    this.metric = el("select", { id: "early-stopping-metric" });
    this.patience = new Field("early_stopping.patience", metaOf("patience", defs.patience), { label: "patience (epochs)", sweep: false, onChange });
    this.minDelta = new Field("early_stopping.min_delta", metaOf("min_delta", defs.min_delta), { label: "min delta", sweep: false, onChange });
    this.error = el("div", { class: "section-error", role: "alert" });
    this.options = el("div", { class: "fields" },
      el("div", { class: "form-field" }, el("label", { for: "early-stopping-metric" }, "metric"), this.metric),
      this.patience.node, this.minDelta.node);
    this.node = el("div", { class: "form-field early-stopping" },
      el("label", { class: "label" }, this.enabled, " Stop early when a metric stops improving"), this.error, this.options);
    this.enabled.addEventListener("change", () => {
      this.options.hidden = !this.enabled.checked;
      onChange();
    });
    this.options.hidden = true;
    this.task = null;
  }

  setTask(task) {
    if (task === this.task) return;
    this.task = task;
    const current = this.metric.value;
    clear(this.metric, EARLY_STOPPING_METRICS[task].map((m) => el("option", { value: m }, m)));
    if (EARLY_STOPPING_METRICS[task].includes(current)) this.metric.value = current;
  }

  set(value) {
    this.enabled.checked = Boolean(value);
    this.options.hidden = !value;
    if (value) {
      this.metric.value = value.metric ?? "test_loss";
      this.patience.set([value.patience ?? 10]);
      this.minDelta.set([value.min_delta ?? 0]);
    }
  }

  read() {
    if (!this.enabled.checked) return { value: null, errors: [] };
    const errors = [];
    const value = { metric: this.metric.value };
    for (const [key, field] of [["patience", this.patience], ["min_delta", this.minDelta]]) {
      const { values, error } = field.read();
      if (error) errors.push({ field, message: error });
      else if (values[0] !== OMIT) value[key] = values[0];
    }
    return { value, errors };
  }
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
  sections = Object.fromEntries(SECTIONS.map((section) => [section.kind, new EntrySection(section, onChange)]));
  fields = {};
  for (const name of TRAINING_FIELDS) {
    const meta = metaOf(name, schema.properties[name]);
    fields[name] = new Field(name, meta, {
      label: name.replaceAll("_", " "), sweep: meta.type !== "str", onChange,
    });
  }
  seedFields = {
    count: new Field("seeds", { name: "seeds", type: "int", default: 1, ge: 1, le: 100 }, { label: "seeds per combination", sweep: false, onChange }),
    first: new Field("seed", metaOf("seed", schema.properties.seed), { label: "first seed", sweep: false, onChange }),
  };
  seedFields.count.node.querySelector(".hint").textContent = "independent trials: seeds first, first+1, …";
  earlyStopping = new EarlyStoppingField(onChange);
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
  for (const kind of ["model", "dataset", "optimizer", "scheduler"]) sections[kind].set(state[kind] || []);
  seedFields.count.set([state.seeds ?? 1]);
  seedFields.first.set([state.firstSeed ?? 0]);
  earlyStopping.set(state.early_stopping || null);
  $("#form-error").hidden = true;
  updateCount();
}

// The form state of one run's spec (for Clone).
function stateOfSpec(spec) {
  const entry = (value) => {
    const { name, ...options } = typeof value === "string" ? { name: value } : value;
    return [{ name, options: Object.fromEntries(Object.entries(options).map(([k, v]) => [k, [v]])) }];
  };
  const state = { model: entry(spec.model), dataset: entry(spec.dataset), optimizer: entry(spec.optimizer || "sgd"),
    scheduler: entry(spec.scheduler || "constant"), fields: {}, seeds: 1, firstSeed: spec.seed ?? 0,
    early_stopping: spec.early_stopping || null };
  for (const name of TRAINING_FIELDS) if (name in spec) state.fields[name] = [spec[name] === null ? OMIT : spec[name]];
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
  const current = plan();
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

function renderPresets() {
  clear($("#presets"), PRESETS.map((preset, index) => el("button", {
    type: "button", class: "button preset", dataset: { preset: String(index) },
    onclick: (event) => {
      applyState(preset.state);
      document.querySelectorAll("button.preset").forEach((button) => button.classList.toggle("active", button === event.currentTarget));
    },
  }, el("b", {}, preset.title), el("span", {}, preset.text))));
}

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
  renderPresets();
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
