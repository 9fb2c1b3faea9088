// The plan of a New Run form: a base spec plus dimensions {path, values}, and every run of their
// Cartesian product (times the seeds), each with its name and the cell it belongs to.

import { OMIT } from "./fields.js";
import { valueLabel } from "./specs.js";

const SHORT = { learning_rate: "lr", batch_size: "bs", label_smoothing: "ls", grad_clip_norm: "clip" };

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
// The form: its entry sections, training fields, seed fields and early-stopping field.
export function plan({ sections, fields, seedFields, earlyStopping }) {
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
export function expand({ base, dims, seeds }, name, group) {
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
