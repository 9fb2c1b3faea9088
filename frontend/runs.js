// Runs table: the newest runs from the REST API, rendered as text (never as HTML).
const tbody = document.querySelector("#runs tbody");

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}

async function load() {
  const response = await fetch("/api/v1/runs?limit=100");
  const { data } = await response.json();
  tbody.replaceChildren(...data.map((run) => {
    const tr = document.createElement("tr");
    tr.append(cell(run.id), cell(run.name), cell(run.status), cell(run.spec.model.name),
      cell(run.spec.dataset.name), cell(`${run.epochs_completed} / ${run.spec.epochs}`),
      cell(run.param_count?.toLocaleString()), cell(run.macs?.toLocaleString()));
    return tr;
  }));
}

load();
