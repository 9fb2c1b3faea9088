// The compare page's statistics card (GET /api/v1/stats): the server's tests over the view's
// groups: per group n/mean/median/std/CI, every pair compared (p-value, Holm-adjusted p, effect
// sizes), the winner and warnings. Shown when the view groups runs.

import { ApiError, errorText, getJSON, query } from "./api.js";
import { $, clear, el, fmtMetric } from "./dom.js";

let statsAvailable = null;

// selection: {group} or {run_id: [...]}, as the view chose its runs; groupBy: the server's.
export async function loadStats(selection, groupBy, metric) {
  const card = $("#stats-card");
  if (!groupBy.length || !metric || statsAvailable === false) {
    card.hidden = true;
    return;
  }
  try {
    const stats = await getJSON(`/stats${query({ ...selection, group_by: groupBy, metric })}`);
    statsAvailable = true;
    renderStats(stats);
    card.hidden = false;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && error.detail === "Not Found") {
      statsAvailable = false; // a server without the statistics routes
      card.hidden = true;
      return;
    }
    card.hidden = false;
    $("#stats-note").textContent = "";
    clear($("#stats"), el("p", { class: "muted" }, `No statistics for this view: ${errorText(error)}`));
  }
}

const fmtP = (p) => (p === null || p === undefined ? "–" : p < 0.001 ? p.toExponential(1) : p.toFixed(3));
const fmtEffect = (v) => (v === null || v === undefined ? "–" : v.toFixed(2));

function renderStats(stats) {
  const metric = stats.metric;
  const value = (v) => fmtMetric(metric, v);
  const best = stats.ranking[0];
  const againstBest = stats.comparisons.filter((c) => c.a === best || c.b === best);
  const wins = againstBest.length > 0 && againstBest.every((c) => c.winner === best);
  const verdict = !best
    ? el("p", { class: "muted" }, "No group has completed runs yet.")
    : wins
      ? el("p", { id: "stats-verdict" }, el("span", { class: "winner" }, "Winner: "), best,
        ` — significantly better than every other group by ${stats.summary_description} (${stats.test}, Holm-adjusted p < ${stats.alpha}).`)
      : el("p", { id: "stats-verdict" }, "No significant winner: ", best, ` ranks first by mean ${stats.summary_description}, `,
        `but is not significantly better than every other group (${stats.test}, Holm-adjusted, α = ${stats.alpha}).`);
  const confidence = `${Math.round(stats.confidence * 100)}% CI`;
  const groups = el("table", { class: "data compact", id: "stats-groups" },
    el("thead", {}, el("tr", {}, ["rank", "group", "n", "mean", "median", "std", confidence, "min", "max", "not counted"]
      .map((h, i) => el("th", { class: i === 1 ? "" : "num" }, h)))),
    el("tbody", {}, stats.groups.map((g) => el("tr", {},
      el("td", { class: "num" }, g.rank ?? "–"),
      el("td", { class: "label" }, g.label),
      el("td", { class: "num" }, g.n),
      el("td", { class: "num" }, value(g.mean)),
      el("td", { class: "num" }, value(g.median)),
      el("td", { class: "num" }, value(g.std)),
      el("td", { class: "num" }, g.ci_low === null ? "–" : `${value(g.ci_low)} – ${value(g.ci_high)}`),
      el("td", { class: "num" }, value(g.min)),
      el("td", { class: "num" }, value(g.max)),
      el("td", { class: "num", title: g.excluded_runs.map((r) => `#${r.id}: ${r.reason}`).join("\n") || null }, g.incomplete_runs || "")))));
  const pairs = el("table", { class: "data compact", id: "stats-pairs" },
    el("thead", {}, el("tr", {}, ["comparison", "test", "p", "p (Holm)", "Cliff's δ", "Cohen's d", "mean difference", "result"]
      .map((h, i) => el("th", { class: i <= 1 || i === 7 ? "" : "num" }, h)))),
    el("tbody", {}, stats.comparisons.length ? stats.comparisons.map((c) => el("tr", {},
      el("td", { class: "label" }, c.a, el("span", { class: "muted" }, " vs "), c.b),
      el("td", { title: c.method }, c.test),
      el("td", { class: "num" }, fmtP(c.p_value)),
      el("td", { class: "num" }, fmtP(c.p_holm)),
      el("td", { class: "num" }, fmtEffect(c.cliffs_delta)),
      el("td", { class: "num" }, fmtEffect(c.cohens_d)),
      el("td", { class: "num" }, value(c.mean_difference)),
      el("td", {}, c.winner ? el("span", { class: "winner" }, `${c.winner} better`) : el("span", { class: "muted" }, c.note || "not significant"))))
      : el("tr", {}, el("td", { colspan: 8, class: "muted" }, "Nothing to compare: fewer than two groups with values."))));
  const warnings = stats.warnings.length ? el("ul", { class: "warning-list", id: "stats-warnings" }, stats.warnings.map((w) => el("li", {}, w))) : null;
  $("#stats-note").textContent = `${stats.summary_description} · ${stats.test} · Holm-adjusted · α = ${stats.alpha}`;
  clear($("#stats"), verdict, groups, el("h3", { class: "spaced-top" }, "Pairwise comparisons"), pairs, warnings);
}
