// One section of the New Run form: a model, dataset, optimizer or scheduler. Its catalog entries are
// chips to tick; each ticked entry shows a card of its options (fields.js), each of which may hold
// several values for a sweep.

import { clear, el } from "./dom.js";
import { Field, metaOf } from "./fields.js";

// --- entry meta -------------------------------------------------------------------------------------

// The catalog types int-or-null options as "any": read their real type off the entry's JSON schema
// (models and datasets publish theirs, from the worker; optimizers and schedulers are in the spec schema).
function refine(schema, kind, entry, option) {
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
function provenance(catalog, entry) {
  if (!entry.package) return null;
  const from = entry.package === "trainboard" ? "built in" : `from ${entry.package}${entry.package_version ? ` ${entry.package_version}` : ""}`;
  const workers = entry.workers || [];
  const online = new Set((catalog.workers || []).filter((w) => w.online).map((w) => w.name));
  const live = workers.filter((name) => online.has(name)).length;
  const on = workers.length ? `${workers.length} worker${workers.length > 1 ? "s" : ""}, ${live} online` : "no worker";
  return `${from} · ${on}`;
}

// --- an entry section (model, dataset, optimizer, scheduler) -------------------------------------------

export class EntrySection {
  constructor({ kind, title, list, help }, catalog, onChange) {
    this.kind = kind;
    this.catalog = catalog;
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
        const meta = refine(this.catalog.spec_schema, this.kind, entry, option);
        fieldsOf.set(option.name, new Field(`${this.kind}.${name}.${option.name}`, meta, {
          label: option.name.replaceAll("_", " "), sweep: meta.type !== "str", onChange: this.onChange,
        }));
      }
      const description = [entry.description, entry.task && this.kind === "model" ? `${entry.task}, ${entry.framework}` : null,
        entry.input_shape ? `input ${entry.input_shape.join("×")}, ${entry.num_classes} classes` : null,
        provenance(this.catalog, entry)].filter(Boolean).join(" · ");
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
