// Plotly charts with one look: layout defaults, colours, bands, image export. plotly.js is the
// classic script /vendor/plotly-basic.min.js (the basic bundle, vendored in frontend/vendor), loaded first,
// or by loadPlotly() where a page starts its requests while the browser evaluates it.
// Labels from data go through plotlyText() before they reach Plotly.

import { el, plotlyText } from "./dom.js";

const PLOTLY_SRC = "/vendor/plotly-basic.min.js";
let plotlyLoaded = null;

// Resolves once window.Plotly is there, adding its script to the page if no script has it.
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  plotlyLoaded ??= new Promise((resolve, reject) => {
    const script = document.querySelector(`script[src="${PLOTLY_SRC}"]`)
      ?? document.head.appendChild(Object.assign(document.createElement("script"), { src: PLOTLY_SRC }));
    script.addEventListener("load", () => resolve(window.Plotly));
    script.addEventListener("error", () => reject(new Error("plotly.js did not load")));
  });
  return plotlyLoaded;
}

export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#db2777", "#65a30d",
  "#4f46e5", "#a16207"];
export const color = (index) => PALETTE[index % PALETTE.length];

export function rgba(hex, alpha) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `rgba(${r},${g},${b},${alpha})`;
}

export const CONFIG = {
  displaylogo: false,
  responsive: true,
  modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"],
  toImageButtonOptions: { format: "png", scale: 2 },
};

export function layout({ xTitle = "", yTitle = "", height = 320, ...extra } = {}) {
  return {
    height,
    margin: { l: 56, r: 16, t: 16, b: 44 },
    font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#334155" },
    paper_bgcolor: "#ffffff",
    plot_bgcolor: "#ffffff",
    xaxis: { title: { text: xTitle }, gridcolor: "#eef1f5", zeroline: false, linecolor: "#cbd5e1" },
    yaxis: { title: { text: yTitle }, gridcolor: "#eef1f5", zeroline: false, linecolor: "#cbd5e1" },
    legend: { orientation: "v", bgcolor: "rgba(255,255,255,0.7)" },
    hovermode: "closest",
    hoverlabel: { namelength: -1 },
    ...extra,
  };
}

export function draw(node, traces, chartLayout) {
  return window.Plotly.react(node, traces, chartLayout, CONFIG);
}

// A line with markers; `name` is data (a run name), shown as text.
export function line(x, y, name, hex, extra = {}) {
  return {
    type: "scatter",
    mode: "lines+markers",
    x,
    y,
    name: plotlyText(name),
    line: { color: hex, width: 2 },
    marker: { size: 4, color: hex },
    ...extra,
  };
}

// The band between lower and upper as one filled polygon (points without a band are skipped).
export function band(x, lower, upper, hex, legendgroup) {
  const keep = lower.map((v, i) => (v === null || upper[i] === null ? -1 : i)).filter((i) => i >= 0);
  const xs = keep.map((i) => x[i]);
  return {
    type: "scatter",
    mode: "lines",
    x: [...xs, ...xs.slice().reverse()],
    y: [...keep.map((i) => upper[i]), ...keep.map((i) => lower[i]).reverse()],
    fill: "toself",
    fillcolor: rgba(hex, 0.16),
    line: { width: 0, color: hex },
    hoverinfo: "skip",
    showlegend: false,
    legendgroup,
    meta: "band",
  };
}

// PNG and SVG buttons for a chart.
export function exportButtons(node, filename) {
  const save = (format) => window.Plotly.downloadImage(node, {
    format, filename, scale: format === "png" ? 2 : 1, width: node.clientWidth || 900, height: node.clientHeight || 420,
  });
  return el("span", { class: "export-buttons" },
    el("button", { type: "button", class: "button small", title: "Download as PNG", onclick: () => save("png") }, "PNG"),
    el("button", { type: "button", class: "button small", title: "Download as SVG", onclick: () => save("svg") }, "SVG"));
}

export function purge(node) {
  window.Plotly.purge(node);
}
