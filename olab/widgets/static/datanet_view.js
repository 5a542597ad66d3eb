// DatanetView: summary per contributor (click to filter) and a paged table of records.

function render({ model, el }) {
  el.classList.add("olab-widget", "olab-datanet");
  let page = 0;

  const header = h("div", { class: "olab-header" });
  const contributorSelect = h("select", {
    class: "olab-contributor-select",
    "aria-label": "contributor",
    onchange: (e) => {
      model.set("contributor", e.target.value);
      model.save_changes();
    },
  });
  const statusSelect = h(
    "select",
    {
      class: "olab-status-select",
      "aria-label": "status",
      onchange: (e) => {
        model.set("status", e.target.value);
        model.save_changes();
      },
    },
    ["all", "valid", "rejected"].map((s) => h("option", { value: s }, s)),
  );
  const pager = h("span", { class: "olab-pager" });
  const summary = h("div", { class: "olab-summary" });
  const recordsBox = h("div", { class: "olab-records" });
  const plot = h("div", { class: "olab-plot" });
  el.append(
    header,
    summary,
    h("div", { class: "olab-toolbar" }, h("label", {}, "contributor ", contributorSelect), h("label", {}, "status ", statusSelect), pager),
    recordsBox,
    plot,
  );

  function visible() {
    const who = (model.get("contributor") || "").toLowerCase();
    const status = model.get("status");
    return model
      .get("records")
      .filter((r) => (!who || r.contributor.toLowerCase() === who) && (status === "all" || r.status === status));
  }

  function drawHeader() {
    const info = model.get("info") || {};
    put(header,
      h("strong", {}, info.name ? `Datanet ${info.name}` : "Datanet"),
      info.version !== undefined ? h("span", { class: "olab-muted" }, ` v${info.version}`) : null,
      h("span", { class: "olab-muted" }, ` · ${fmtNumber(info.n_records ?? model.get("records").length)} records`),
      info.root ? h("span", { class: "olab-mono olab-muted", title: info.root }, ` · root ${short(info.root, 10, 6)}`) : null,
    );
  }

  function drawSummary() {
    const contributors = model.get("contributors");
    const selected = model.get("contributor");
    put(contributorSelect,
      h("option", { value: "" }, `all (${contributors.length})`),
      contributors.map((c) =>
        h("option", { value: c.contributor, selected: c.contributor === selected }, `${c.name ? c.name + " · " : ""}${short(c.contributor)}`),
      ),
    );
    contributorSelect.value = selected;
    statusSelect.value = model.get("status");
    const columns = [
      { key: "contributor", label: "contributor", format: (v, r) => contributorCell(v, r.name) },
      { key: "records", label: "records", cls: "olab-num" },
      { key: "valid", label: "valid", cls: "olab-num" },
      { key: "rejected", label: "rejected", cls: "olab-num", format: (v) => (v ? h("span", { class: "olab-bad" }, fmtNumber(v)) : "0") },
    ];
    put(summary,
      table(columns, contributors, {
        rowKey: "contributor",
        selected,
        onSelect: (row) => {
          model.set("contributor", row.contributor === model.get("contributor") ? "" : row.contributor);
          model.save_changes();
        },
      }),
    );
  }

  function drawRecords() {
    const rows = visible();
    const size = Math.max(1, model.get("page_size"));
    const pages = Math.max(1, Math.ceil(rows.length / size));
    page = Math.min(page, pages - 1);
    const shown = rows.slice(page * size, (page + 1) * size);
    const columns = [
      { key: "record_id", label: "record", cls: "olab-mono" },
      { key: "contributor", label: "contributor", format: (v) => h("span", { class: "olab-mono", title: v }, short(v)) },
      { key: "label", label: "label" },
      {
        key: "status",
        label: "status",
        format: (v, r) => h("span", { title: r.reason || "" }, statusPill(v), r.injected ? h("span", { class: "olab-pill olab-pill-injected", title: "simulated behaviour (ground truth)" }, r.injected) : null),
      },
      { key: "text", label: "text", cls: "olab-text", format: (v, r) => h("span", { title: v }, r.reason ? `${v}  — ${r.reason}` : v) },
    ];
    put(recordsBox, table(columns, shown, { rowKey: "record_id", empty: "no records match" }));
    recordsBox.dataset.count = String(rows.length);
    put(pager,
      h("button", { class: "olab-prev", disabled: page === 0, onclick: () => ((page -= 1), drawRecords()) }, "‹"),
      ` ${rows.length ? page * size + 1 : 0}–${page * size + shown.length} of ${rows.length} `,
      h("button", { class: "olab-next", disabled: page >= pages - 1, onclick: () => ((page += 1), drawRecords()) }, "›"),
    );
  }

  drawHeader();
  drawSummary();
  drawRecords();
  drawFigure(model, plot, model.get("figure"));
  const offs = [
    listen(model, ["info", "records"], drawHeader),
    listen(model, ["contributors", "contributor", "status"], drawSummary),
    listen(model, ["records", "contributor", "status", "page_size"], () => ((page = 0), drawRecords())),
    listen(model, ["figure"], () => drawFigure(model, plot, model.get("figure"))),
  ];
  return () => {
    offs.forEach((off) => off());
    purgeFigure(plot);
  };
}
