// Leaderboard: the shares plot and a ranked table; header click re-ranks (sort_by), row click selects.

function render({ model, el }) {
  el.classList.add("olab-widget", "olab-leaderboard");
  const plot = h("div", { class: "olab-plot" });
  const box = h("div", { class: "olab-board" });
  el.append(plot, box);

  function cell(column, value, row, maxima) {
    if (column === "share_ppm") {
      const pct = (value || 0) / 10000;
      const bounds = row.share_interval; // [low, high] ppm: how sure the share is (bootstrap over the targets)
      const range = bounds ? bounds.map((b) => (b / 10000).toFixed(2)).join(", ") : "";
      const width = maxima.share_ppm ? (100 * (value || 0)) / maxima.share_ppm : 0;
      return h(
        "span",
        { class: "olab-bar-cell", title: `${fmtNumber(value)} ppm` + (range ? ` (95% interval ${range})` : "") },
        h("span", { class: "olab-bar-track" }, h("span", { class: "olab-bar", style: `width:${width.toFixed(1)}%` })),
        h("span", { class: "olab-bar-label" }, `${pct.toFixed(2)}%`),
        range && h("span", { class: "olab-muted" }, `[${range}]`),
      );
    }
    const text = fmtNumber(value);
    return typeof value === "number" && value < 0 ? h("span", { class: "olab-bad" }, text) : text;
  }

  function draw() {
    const rows = model.get("rows");
    const sortBy = model.get("sort_by");
    const maxima = {};
    for (const c of model.get("columns")) maxima[c] = Math.max(0, ...rows.map((r) => r[c] || 0));
    const sortable = (key, label) =>
      h(
        "button",
        {
          class: `olab-sort${key === sortBy ? " olab-sorted" : ""}`,
          dataset: { column: key },
          onclick: () => {
            model.set("sort_by", key);
            model.save_changes();
          },
        },
        label,
        key === sortBy ? " ▾" : "",
      );
    const columns = [
      { key: "rank", label: "#", cls: "olab-num" },
      { key: "contributor", label: "contributor", format: (v, r) => contributorCell(v, r.name) },
      ...model.get("columns").map((c) => ({
        key: c,
        label: sortable(c, c === "share_ppm" ? "share" : c.replaceAll("_", " ")),
        cls: "olab-num",
        format: (v, r) => cell(c, v, r, maxima),
      })),
    ];
    put(box,
      table(columns, rows, {
        rowKey: "contributor",
        selected: model.get("contributor"),
        onSelect: (row) => {
          model.set("contributor", row.contributor === model.get("contributor") ? "" : row.contributor);
          model.save_changes();
        },
      }),
    );
    box.dataset.order = rows.map((r) => r.contributor).join(",");
  }

  draw();
  drawFigure(model, plot, model.get("figure"));
  const offs = [
    listen(model, ["rows", "columns", "sort_by", "contributor"], draw),
    listen(model, ["figure"], () => drawFigure(model, plot, model.get("figure"))),
  ];
  return () => {
    offs.forEach((off) => off());
    purgeFigure(plot);
  };
}
