// Runs page: the paginated, filtered, sorted runs table (GET /runs), refreshed every few seconds;
// select runs to compare them; cancel, delete, clone. Filters, sort and page live in the URL.
// A script run (reported by the user's own script) is marked "script" and shows its config.

import { ApiError, del, errorText, getJSON, postJSON, query } from "./api.js";
import {
  $, clear, debounce, durationSeconds, el, fmtCount, fmtDuration, fmtMetric, fmtTime, progressBar, progressFraction,
  statusBadge, toast,
} from "./dom.js";
import { configSummary, datasetSummary, hyperparameterSummary, isScript, modelSummary } from "./specs.js";

const STATUSES = ["queued", "running", "completed", "failed", "cancelled"];
const SOURCES = ["worker", "script"];
const REFRESH_MS = 2500;
const DEFAULT_SORT = "-created_at";

// sort: a server-side sort column; page: a sort key for columns the server cannot sort (this page only).
const COLUMNS = [
  { key: "select" },
  { key: "id", label: "ID", sort: "id", num: true },
  { key: "name", label: "Name", sort: "name" },
  { key: "group", label: "Group", sort: "group" },
  { key: "status", label: "Status", sort: "status" },
  { key: "progress", label: "Progress", page: (r) => progressFraction(r) },
  { key: "model", label: "Model · dataset", page: (r) => (isScript(r) ? "~script" : `${modelSummary(r.spec).name} ${datasetSummary(r.spec)}`) },
  { key: "hyper", label: "Hyperparameters", page: (r) => (isScript(r) ? null : r.spec.learning_rate) },
  { key: "result", label: "Test metric", num: true, page: (r) => testResult(r)?.value ?? null },
  { key: "params", label: "Params", sort: "param_count", num: true },
  { key: "macs", label: "MACs", sort: "macs", num: true },
  { key: "duration", label: "Duration", num: true, page: (r) => durationSeconds(r) },
  { key: "actions" },
];

const table = $("#runs");
const form = $("#filters");
const selected = new Set();
let state = readState();
let lastPage = null;
let lastRendered = "";
let timer = null;

function readState() {
  const params = new URLSearchParams(location.search);
  return {
    name: params.get("name") || "",
    group: params.get("group") || "",
    model: params.get("model") || "",
    dataset: params.get("dataset") || "",
    source: SOURCES.includes(params.get("source")) ? params.get("source") : "",
    status: params.getAll("status").filter((s) => STATUSES.includes(s)),
    sort: params.get("sort") || DEFAULT_SORT,
    offset: Math.max(0, Number(params.get("offset")) || 0),
    limit: Number(params.get("limit")) || 50,
  };
}

function writeState() {
  const params = { ...state, sort: state.sort === DEFAULT_SORT ? "" : state.sort, offset: state.offset || "",
    limit: state.limit === 50 ? "" : state.limit };
  history.replaceState(null, "", location.pathname + query(params));
}

// --- derived values --------------------------------------------------------------------------------

// A worker run's test score; a script's metrics have its own names: the first one that reads as a score.
function testMetric(run) {
  const summary = run.summary || {};
  const names = isScript(run) ? Object.keys(summary).sort().filter((n) => /acc|dice|iou/.test(n)) : ["test_accuracy", "test_dice", "test_iou"];
  for (const name of names) {
    if (summary[name]) return { name, ...summary[name] };
  }
  return null;
}

// The run's result: its test score at its selected epoch (the best epoch of its selection metric),
// else the final one; never the best of its test values (selected on the test set: optimistic).
function testResult(run) {
  const metric = testMetric(run);
  if (!metric) return null;
  const selected = metric.selected !== null && metric.selected !== undefined;
  const value = selected ? metric.selected : metric.final;
  if (value === null || value === undefined) return null;
  const how = selected ? `at the best ${run.selection_metric.replaceAll("_", " ")} ${isScript(run) ? "step" : "epoch"} (${run.selected_epoch})` : "final";
  return { ...metric, value, how };
}

// The model and hyperparameter cells: a worker run's spec, or a script run's marker and config.
function recipeCells(run) {
  if (isScript(run)) {
    return [
      el("td", { class: "model" }, el("span", { class: "source-badge", title: "Reported by its own script" }, "script")),
      el("td", { class: "hyper", title: configSummary(run.config, 30) }, configSummary(run.config)),
    ];
  }
  const model = modelSummary(run.spec);
  return [
    el("td", { class: "model", title: model.extras || null }, model.name,
      model.extras ? el("span", { class: "muted extras" }, ` ${model.extras}`) : null,
      el("span", { class: "sub" }, datasetSummary(run.spec))),
    el("td", { class: "hyper" }, hyperparameterSummary(run.spec)),
  ];
}

// --- table -----------------------------------------------------------------------------------------

function sortKeyOf(column) {
  return column.sort || (column.page ? `~${column.key}` : null);
}

function renderHead() {
  const current = state.sort.replace(/^-/, "");
  const descending = state.sort.startsWith("-");
  const row = el("tr");
  for (const column of COLUMNS) {
    if (column.key === "select") {
      const all = el("input", { type: "checkbox", "aria-label": "Select all runs on this page",
        onchange: (event) => {
          for (const run of lastPage?.data || []) {
            if (event.target.checked) selected.add(run.id);
            else selected.delete(run.id);
          }
          renderSelection();
          render(lastPage, true);
        } });
      row.append(el("th", {}, all));
      continue;
    }
    const key = sortKeyOf(column);
    const th = el("th", { class: [column.num ? "num" : "", key ? "sortable" : "", column.page ? "page-sort" : ""].join(" "),
      title: column.page ? "Sorts the runs on this page" : key ? "Sort" : null, dataset: { column: column.key } });
    if (key) {
      const active = current === key;
      th.append(column.label || "", el("span", { class: "arrow" }, active ? (descending ? "▼" : "▲") : ""));
      th.addEventListener("click", () => {
        state.sort = active && !descending ? `-${key}` : key;
        if (!column.page) state.offset = 0;
        writeState();
        refresh();
        renderHead();
      });
    } else {
      th.append(column.label || "");
    }
    row.append(th);
  }
  clear(table.tHead, row);
}

function cells(run) {
  const metric = testResult(run);
  const unit = isScript(run) ? "step" : "epoch";
  const metricCell = () => {
    if (!metric) return el("td", { class: "num muted" }, "–");
    const label = metric.name.replaceAll("_", " ");
    const onTest = metric.name.startsWith("test_") ? " (selected on test: optimistic)" : "";
    return el("td", { class: "num", title: `${label} ${metric.how}; best ${fmtMetric(metric.name, metric.best)} at ${unit} ${metric.best_step}${onTest}` },
      el("b", { class: "metric" }, fmtMetric(metric.name, metric.value)),
      el("span", { class: "sub" }, `${metric.how} · ${metric.name.replace("test_", "")}`));
  };
  const checkbox = el("input", { type: "checkbox", checked: selected.has(run.id), "aria-label": `Select run ${run.id}`,
    onchange: (event) => {
      if (event.target.checked) selected.add(run.id);
      else selected.delete(run.id);
      event.target.closest("tr").classList.toggle("selected", event.target.checked);
      renderSelection();
    } });
  const active = run.status === "queued" || run.status === "running";
  return [
    el("td", {}, checkbox),
    el("td", { class: "num", title: `created ${fmtTime(run.created_at)}` }, run.id),
    el("td", { class: "name" }, el("a", { href: `/run.html?id=${run.id}` }, run.name)),
    el("td", {}, run.group ? el("a", { class: "group-tag", href: `/?group=${encodeURIComponent(run.group)}`, title: run.group }, run.group) : el("span", { class: "muted" }, "–")),
    el("td", {}, statusBadge(run.status, run.error ? run.error.split("\n")[0] : ""),
      run.waiting_for ? el("small", { class: "waiting-for" }, run.waiting_for) : null),
    el("td", {}, progressBar(run)),
    recipeCells(run),
    metricCell(),
    el("td", { class: "num", title: run.param_count?.toLocaleString() ?? "" }, fmtCount(run.param_count)),
    el("td", { class: "num", title: run.macs?.toLocaleString() ?? "" }, fmtCount(run.macs)),
    el("td", { class: "num" }, fmtDuration(durationSeconds(run), true)),
    el("td", { class: "actions-cell" },
      active ? el("button", { type: "button", class: "button small danger", disabled: run.cancel_requested,
        onclick: () => act(() => postJSON(`/runs/${run.id}/cancel`), `Run ${run.id}: cancel requested`) }, "Cancel") : null,
      isScript(run) ? null : el("a", { class: "button small", href: `/new.html?clone=${run.id}`, title: "A new run from this one's spec" }, "Clone"),
      run.status !== "running" ? el("button", { type: "button", class: "button small", title: "Delete the run and its metrics",
        onclick: () => {
          if (confirm(`Delete run ${run.id} with its metrics and files?`)) act(() => del(`/runs/${run.id}`), `Run ${run.id} deleted`);
        } }, "Delete") : null),
  ];
}

function pageSorted(runs) {
  if (!state.sort.replace(/^-/, "").startsWith("~")) return runs;
  const key = state.sort.replace(/^-?~/, "");
  const column = COLUMNS.find((c) => c.key === key);
  if (!column?.page) return runs;
  const sign = state.sort.startsWith("-") ? -1 : 1;
  return runs.slice().sort((a, b) => {
    const x = column.page(a);
    const y = column.page(b);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1; // missing values last either way
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * sign;
  });
}

function render(page, force = false) {
  const fingerprint = JSON.stringify(page) + state.sort;
  if (!force && fingerprint === lastRendered) return;
  lastRendered = fingerprint;
  const runs = pageSorted(page.data);
  const rows = runs.map((run) => el("tr", { class: selected.has(run.id) ? "selected" : "", dataset: { runId: run.id } }, cells(run)));
  if (!rows.length) {
    const filtered = state.name || state.group || state.model || state.dataset || state.source || state.status.length;
    rows.push(el("tr", {}, el("td", { class: "empty", colspan: COLUMNS.length },
      filtered ? "No runs match these filters." : "No runs yet. ", filtered ? null : el("a", { href: "/new.html" }, "Launch the first one."))));
  }
  table.tBodies[0].replaceChildren(...rows);
  const end = state.offset + page.data.length;
  $("#runs-count").textContent = `${page.count} run${page.count === 1 ? "" : "s"}${state.group ? ` in group “${state.group}”` : ""}`;
  $("#page-range").textContent = page.count ? `${state.offset + 1}–${end} of ${page.count}` : "";
  $("#prev-page").disabled = state.offset === 0;
  $("#next-page").disabled = end >= page.count;
}

function renderSelection() {
  const ids = [...selected];
  const link = $("#compare-selected");
  link.href = `/compare.html${query({ run_id: ids })}`;
  link.setAttribute("aria-disabled", ids.length ? "false" : "true");
  link.textContent = ids.length ? `Compare ${ids.length} selected` : "Compare selected";
  $("#selection-count").textContent = ids.length ? `${ids.length} run${ids.length === 1 ? "" : "s"} selected` : "Select runs to compare them.";
  $("#clear-selection").hidden = !ids.length;
}

async function act(action, message) {
  try {
    await action();
    toast(message, "ok");
  } catch (error) {
    toast(errorText(error));
  }
  refresh();
}

// --- loading ---------------------------------------------------------------------------------------

async function refresh() {
  clearTimeout(timer);
  const serverSort = state.sort.includes("~") ? DEFAULT_SORT : state.sort;
  try {
    const page = await getJSON(`/runs${query({
      name: state.name, group: state.group, model: state.model, dataset: state.dataset, source: state.source, status: state.status,
      sort: serverSort, offset: state.offset, limit: state.limit,
    })}`);
    if (page.count && state.offset >= page.count) {
      state.offset = Math.max(0, Math.floor((page.count - 1) / state.limit) * state.limit);
      writeState();
      return refresh();
    }
    lastPage = page;
    render(page);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) toast(`Could not load the runs: ${errorText(error)}`);
  }
  timer = setTimeout(refresh, document.hidden ? REFRESH_MS * 4 : REFRESH_MS);
}

async function loadCatalog() {
  try {
    const catalog = await getJSON("/catalog");
    for (const [field, entries] of [["model", catalog.models], ["dataset", catalog.datasets]]) {
      const select = form.elements[field];
      for (const entry of entries) select.append(el("option", { value: entry.name }, entry.name));
      select.value = state[field];
    }
  } catch (error) {
    toast(`Could not load the catalog: ${errorText(error)}`);
  }
}

function initFilters() {
  form.elements.name.value = state.name;
  form.elements.group.value = state.group;
  form.elements.source.value = state.source;
  const chips = $("#status-filter");
  for (const status of STATUSES) {
    chips.append(el("label", { class: "chip status-filter" },
      el("input", { type: "checkbox", name: "status", value: status, checked: state.status.includes(status) }), status));
  }
  const apply = () => {
    state.name = form.elements.name.value.trim();
    state.group = form.elements.group.value.trim();
    state.model = form.elements.model.value;
    state.dataset = form.elements.dataset.value;
    state.source = form.elements.source.value;
    state.status = [...form.querySelectorAll("input[name=status]:checked")].map((input) => input.value);
    state.offset = 0;
    writeState();
    updateGroupLink();
    refresh();
  };
  const typed = debounce(apply, 300);
  form.addEventListener("input", (event) => (event.target.type === "search" ? typed() : apply()));
  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("reset", () => setTimeout(apply, 0));
  $("#prev-page").addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit);
    writeState();
    refresh();
  });
  $("#next-page").addEventListener("click", () => {
    state.offset += state.limit;
    writeState();
    refresh();
  });
  const size = $("#page-size");
  size.value = String(state.limit);
  size.addEventListener("change", () => {
    state.limit = Number(size.value);
    state.offset = 0;
    writeState();
    refresh();
  });
  $("#clear-selection").addEventListener("click", () => {
    selected.clear();
    renderSelection();
    if (lastPage) render(lastPage, true);
  });
  document.addEventListener("visibilitychange", () => !document.hidden && refresh());
  updateGroupLink();
}

function updateGroupLink() {
  const link = $("#compare-group");
  link.hidden = !state.group;
  link.href = `/compare.html${query({ group: state.group })}`;
}

renderHead();
initFilters();
renderSelection();
loadCatalog();
refresh();
