// AttributionExplorer: a target picker, the target's text, the top_records plot, proponents and opponents.

function render({ model, el }) {
  el.classList.add("olab-widget", "olab-attribution");
  const select = h("select", {
    class: "olab-target-select",
    "aria-label": "target",
    onchange: (e) => choose(Number(e.target.value)),
  });
  const prev = h("button", { class: "olab-prev", title: "previous target", onclick: () => choose(model.get("target") - 1) }, "‹");
  const next = h("button", { class: "olab-next", title: "next target", onclick: () => choose(model.get("target") + 1) }, "›");
  const kInput = h("input", {
    class: "olab-k",
    type: "number",
    min: 1,
    max: 50,
    "aria-label": "k",
    onchange: (e) => {
      const k = Math.max(1, Math.min(50, Number(e.target.value) || 1));
      model.set("k", k);
      model.save_changes();
    },
  });
  const card = h("div", { class: "olab-target-card" });
  const plot = h("div", { class: "olab-plot" });
  const pro = h("div", { class: "olab-proponents" });
  const con = h("div", { class: "olab-opponents" });
  el.append(
    h("div", { class: "olab-toolbar" }, h("label", {}, "target ", select), prev, next, h("label", {}, "top ", kInput)),
    card,
    plot,
    h("div", { class: "olab-columns" }, h("div", {}, h("h4", {}, "Proponents (helped)"), pro), h("div", {}, h("h4", {}, "Opponents (hurt)"), con)),
  );

  function choose(index) {
    const n = model.get("targets").length;
    if (index < 0 || index >= n) return;
    model.set("target", index);
    model.save_changes();
  }

  function drawTargets() {
    const targets = model.get("targets");
    put(select,
      targets.map((t) => h("option", { value: t.index }, `#${t.index} [${t.label}] ${t.text.length > 70 ? t.text.slice(0, 69) + "…" : t.text}`)),
    );
    drawSelection();
  }

  function drawSelection() {
    const targets = model.get("targets");
    const i = model.get("target");
    const t = targets[i] || {};
    select.value = String(i);
    prev.disabled = i <= 0;
    next.disabled = i >= targets.length - 1;
    kInput.value = String(model.get("k"));
    const extra = Object.entries(t).filter(([key]) => !["index", "text", "label"].includes(key));
    put(card,
      h("div", {}, h("span", { class: "olab-pill" }, t.label ?? ""), " ", h("span", { class: "olab-target-text" }, t.text ?? "")),
      extra.length ? h("div", { class: "olab-muted" }, extra.map(([k, v]) => `${k}: ${fmtCell(v)}`).join(" · ")) : null,
    );
    card.dataset.target = String(i);
  }

  const columns = [
    { key: "rank", label: "#", cls: "olab-num" },
    { key: "score", label: "score", cls: "olab-num" },
    { key: "contributor", label: "contributor", format: (v, r) => contributorCell(v, r.name) },
    { key: "label", label: "label" },
    { key: "text", label: "text", cls: "olab-text", format: (v) => h("span", { title: v }, v) },
  ];

  function drawLists() {
    put(pro, table(columns, model.get("proponents"), { rowKey: "record_id", empty: "no record helped this target" }));
    put(con, table(columns, model.get("opponents"), { rowKey: "record_id", empty: "no record hurt this target" }));
    pro.dataset.records = model.get("proponents").map((r) => r.record_id).join(",");
    con.dataset.records = model.get("opponents").map((r) => r.record_id).join(",");
  }

  drawTargets();
  drawLists();
  drawFigure(model, plot, model.get("figure"));
  const offs = [
    listen(model, ["targets"], drawTargets),
    listen(model, ["target", "k"], drawSelection),
    listen(model, ["proponents", "opponents"], drawLists),
    listen(model, ["figure"], () => drawFigure(model, plot, model.get("figure"))),
  ];
  return () => {
    offs.forEach((off) => off());
    purgeFigure(plot);
  };
}
