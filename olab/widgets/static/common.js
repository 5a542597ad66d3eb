// Shared by every olab widget (prepended to each widget's ESM by olab/widgets/_base.py).
// plotly.js is loaded offline: the first view asks its Python model for the plotly.min.js bundled with
// the `plotly` package (a custom message answered with one binary buffer), imports it once per page,
// and every later view reuses window.Plotly.

const PLOTLY_REQUEST = "olab:plotly-js?";
const PLOTLY_REPLY = "olab:plotly-js";
const PLOTLY_RETRY_MS = 10000;

// One deferred per page: resolved with window.Plotly once plotly.js has been imported.
function plotlyDeferred() {
  if (!globalThis.__olabPlotly) {
    let resolve;
    const promise = new Promise((r) => (resolve = r));
    globalThis.__olabPlotly = { promise, resolve, importing: false, requestedAt: 0, listening: new WeakSet() };
  }
  return globalThis.__olabPlotly;
}

async function importPlotly(bytes) {
  const d = plotlyDeferred();
  if (globalThis.Plotly) return d.resolve(globalThis.Plotly);
  if (d.importing) return;
  d.importing = true;
  const url = URL.createObjectURL(new Blob([bytes], { type: "text/javascript" }));
  try {
    await import(/* webpackIgnore: true */ url);
    d.resolve(globalThis.Plotly);
  } catch (err) {
    d.importing = false;
    console.error("olab: loading plotly.js failed", err);
  } finally {
    URL.revokeObjectURL(url);
  }
}

// plotly.js from this model's state (the carrier widget), else asked of the kernel (answered when it is idle).
function loadPlotly(model) {
  const d = plotlyDeferred();
  if (globalThis.Plotly) {
    d.resolve(globalThis.Plotly);
    return d.promise;
  }
  const carried = model.get("_plotly");
  if (carried && carried.byteLength) {
    importPlotly(carried);
    return d.promise;
  }
  if (!d.listening.has(model)) {
    d.listening.add(model);
    model.on("msg:custom", (msg, buffers) => {
      if (msg && msg.type === PLOTLY_REPLY) importPlotly(buffers[0]);
    });
  }
  if (!d.importing && Date.now() - d.requestedAt > PLOTLY_RETRY_MS) {
    d.requestedAt = Date.now();
    model.send({ type: PLOTLY_REQUEST });
  }
  return d.promise;
}

// anywidget calls this once per model, before any view: start loading plotly.js as soon as it is in the state.
function initialize({ model }) {
  const carried = model.get("_plotly");
  if (carried && carried.byteLength) importPlotly(carried);
}

// Draw (or redraw in place) a figure serialised by `fig.to_plotly_json()` on the Python side.
async function drawFigure(model, container, figure) {
  const area = container.querySelector(":scope > .olab-plot-area") || container.appendChild(h("div", { class: "olab-plot-area" }));
  const status = container.querySelector(":scope > .olab-plot-status") || container.appendChild(h("div", { class: "olab-plot-status olab-muted" }));
  if (!figure || !figure.data) {
    purgeFigure(area);
    put(status);
    container.dataset.traces = "0";
    return;
  }
  if (!globalThis.Plotly) put(status, "loading the plot…");
  const Plotly = await loadPlotly(model);
  try {
    const layout = Object.assign({}, figure.layout || {}, { autosize: true });
    await Plotly.react(area, figure.data, layout, { responsive: true, displaylogo: false });
    put(status);
    container.dataset.traces = String(figure.data.length);
    container.dataset.rendered = String(Number(container.dataset.rendered || 0) + 1);
  } catch (err) {
    put(status, h("span", { class: "olab-error" }, `plot failed: ${err.message}`));
  }
}

function purgeFigure(container) {
  const area = container.querySelector(":scope > .olab-plot-area") || container;
  if (globalThis.Plotly && area.classList.contains("js-plotly-plot")) globalThis.Plotly.purge(area);
}

// Nodes and text from nested arrays, skipping null/undefined/false (which DOM methods would print as text).
function nodes(children) {
  return children
    .flat(Infinity)
    .filter((c) => c !== undefined && c !== null && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

// Replace el's children with `children` (nested arrays allowed, nulls skipped).
function put(el, ...children) {
  el.replaceChildren(...nodes(children));
}

// h("div", {class: "x", onclick: f}, child, "text") -> element
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  el.append(...nodes(children));
  return el;
}

function short(value, head = 8, tail = 6) {
  const s = String(value ?? "");
  return s.length > head + tail + 1 ? `${s.slice(0, head)}…${s.slice(-tail)}` : s;
}

function fmtNumber(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Math.abs(value) >= 1e4 || (value !== 0 && Math.abs(value) < 1e-3) ? value.toExponential(2) : value.toFixed(digits);
}

// A table of `rows` (objects) with `columns` [{key, label, format?: (value, row) -> Node|string, cls?}].
function table(columns, rows, { rowKey, selected, onSelect, empty = "nothing to show" } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.cls }, c.label))));
  const body = h("tbody", {});
  for (const row of rows) {
    const key = rowKey ? row[rowKey] : undefined;
    const tr = h(
      "tr",
      {
        class: key !== undefined && key === selected ? "olab-selected" : undefined,
        dataset: key !== undefined ? { key: String(key) } : undefined,
        onclick: onSelect ? () => onSelect(row) : undefined,
      },
      columns.map((c) => h("td", { class: c.cls }, c.format ? c.format(row[c.key], row) : fmtCell(row[c.key]))),
    );
    body.append(tr);
  }
  if (!rows.length) body.append(h("tr", {}, h("td", { colspan: columns.length, class: "olab-empty" }, empty)));
  return h("table", { class: "olab-table" }, head, body);
}

function fmtCell(value) {
  return typeof value === "number" ? fmtNumber(value) : String(value ?? "");
}

function statusPill(status) {
  const s = String(status ?? "");
  return h("span", { class: `olab-pill olab-pill-${s.replace(/[^a-z0-9_-]/gi, "")}` }, s);
}

// Subscribe to model changes; returns a function that unsubscribes them all.
function listen(model, names, handler) {
  const events = names.map((n) => `change:${n}`);
  for (const e of events) model.on(e, handler);
  return () => {
    for (const e of events) model.off(e, handler);
  };
}

// A contributor as `name 0x1234…abcd` (full address on hover).
function contributorCell(address, name) {
  return h("span", { title: address }, name ? h("span", {}, `${name} `) : null, h("span", { class: "olab-mono olab-muted" }, short(address, 6, 4)));
}
