// Form fields of the New Run page: a Field for one option or training field (several values make
// a sweep), the selection metric and early stopping, whose choices follow the task.

import { clear, el } from "./dom.js";
import { valueLabel } from "./specs.js";

export const OMIT = Symbol("omit"); // a field left empty: the server's default applies

// Catalog-style meta {name, type, default, ge, le, gt, lt, choices, description, nullable} of a
// JSON-schema property (the training fields, and options the catalog types as "any").
export function metaOf(name, prop) {
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
export class Field {
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

// The metric a run's best epoch and best checkpoint are chosen by (selection_metric): the server's
// default (the task's validation score) or one the task reports. The same interface as a Field.
export class MetricField {
  constructor(key, meta, { label, metrics, onChange }) {
    this.key = key;
    this.meta = meta;
    this.metrics = metrics;
    this.task = null;
    this.wanted = null; // the value to show once the task's choices are there
    const id = `f-${key}`;
    this.error = el("div", { class: "error", id: `${id}-error`, role: "alert" });
    this.input = el("select", { id, name: key, "aria-describedby": `${id}-error` });
    this.node = el("div", { class: "form-field", dataset: { field: key }, title: meta.description || null },
      el("label", { for: id }, label), this.input, el("div", { class: "hint" }, "default: the validation score"), this.error);
    this.input.addEventListener("change", () => {
      this.wanted = this.input.value || null;
      this.showError(null);
      onChange?.();
    });
  }

  setTask(task) {
    if (task === this.task) return;
    this.task = task;
    clear(this.input, el("option", { value: "" }, "default"), this.metrics[task].map((m) => el("option", { value: m }, m)));
    this.input.value = this.metrics[task].includes(this.wanted) ? this.wanted : "";
  }

  read() {
    return { values: [this.input.value || OMIT] };
  }

  set(values) {
    const value = values.find((v) => typeof v === "string") ?? null;
    this.wanted = value;
    this.input.value = value && this.task && this.metrics[this.task].includes(value) ? value : "";
    this.showError(null);
  }

  showError(message) {
    this.error.textContent = message || "";
    this.input.classList.toggle("invalid", Boolean(message));
  }
}

// Early stopping: off, or a metric of the task (`metrics`: task -> names), a patience and a min delta.
export class EarlyStoppingField {
  constructor(defs, metrics, onChange) {
    this.metrics = metrics;
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
    clear(this.metric, [el("option", { value: "" }, "default: val_loss (test_loss without a validation split)"),
      ...this.metrics[task].map((m) => el("option", { value: m }, m))]);
    if (this.metrics[task].includes(current)) this.metric.value = current;
  }

  set(value) {
    this.enabled.checked = Boolean(value);
    this.options.hidden = !value;
    if (value) {
      this.metric.value = value.metric ?? "";
      this.patience.set([value.patience ?? 10]);
      this.minDelta.set([value.min_delta ?? 0]);
    }
  }

  read() {
    if (!this.enabled.checked) return { value: null, errors: [] };
    const errors = [];
    const value = this.metric.value ? { metric: this.metric.value } : {};
    for (const [key, field] of [["patience", this.patience], ["min_delta", this.minDelta]]) {
      const { values, error } = field.read();
      if (error) errors.push({ field, message: error });
      else if (values[0] !== OMIT) value[key] = values[0];
    }
    return { value, errors };
  }
}
