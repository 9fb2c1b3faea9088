// The presets of the New Run page: the course studies as GET /presets serves them (trainboard/presets.py),
// each a study definition (base spec, grid, seeds) that a click puts into the form.

import { errorText, getJSON } from "./api.js";
import { clear, el } from "./dom.js";

// One button per preset; `apply(preset)` fills the form. The clicked one stays marked.
export async function renderPresets(container, apply) {
  let presets;
  try {
    presets = (await getJSON("/presets")).data;
  } catch (error) {
    clear(container, el("p", { class: "muted" }, `Could not load the presets: ${errorText(error)}`));
    return;
  }
  clear(container, presets.map((preset) => el("button", {
    type: "button", class: "button preset", dataset: { preset: preset.name },
    onclick: (event) => {
      apply(preset);
      container.querySelectorAll("button.preset").forEach((button) => button.classList.toggle("active", button === event.currentTarget));
    },
  }, el("b", {}, preset.title), el("span", {}, preset.text))));
}
