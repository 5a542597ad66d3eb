// UsageRewards: per contributor, what served answers earned (claimed, settled, pending), and the epochs so far.

function render({ model, el }) {
  el.classList.add("olab-widget", "olab-usage");
  const plot = h("div", { class: "olab-plot" });
  const rows = h("div", { class: "olab-usage-rows" });
  const epochs = h("div", { class: "olab-epochs" });
  el.append(plot, rows, epochs);

  function drawRows() {
    const data = model.get("rows");
    rows.dataset.count = String(data.length);
    put(rows,
      table(
        [
          { key: "address", label: "contributor", format: (v, r) => contributorCell(v, r.name) },
          { key: "pending", label: "since last epoch", cls: "olab-num" },
          { key: "settled", label: "settled", cls: "olab-num" },
          { key: "claimed", label: "claimed", cls: "olab-num" },
        ],
        data,
        { rowKey: "address", empty: "no answers yet" },
      ),
    );
  }

  function drawEpochs() {
    const data = model.get("epochs");
    epochs.dataset.count = String(data.length);
    put(epochs,
      data.length
        ? table(
            [
              { key: "number", label: "epoch", cls: "olab-num" },
              { key: "receipts", label: "receipts", cls: "olab-num" },
              { key: "total_fee", label: "fees", cls: "olab-num" },
              { key: "settled", label: "on chain", format: (v) => statusPill(v ? "confirmed" : "pending") },
              { key: "root", label: "reward root", format: (v) => h("span", { class: "olab-mono", title: v }, short(v, 10, 8)) },
            ],
            data,
            { rowKey: "number" },
          )
        : h("span", { class: "olab-muted" }, "no epoch settled yet"),
    );
  }

  drawRows();
  drawEpochs();
  drawFigure(model, plot, model.get("figure"));
  const offs = [
    listen(model, ["rows"], drawRows),
    listen(model, ["epochs"], drawEpochs),
    listen(model, ["figure"], () => drawFigure(model, plot, model.get("figure"))),
  ];
  return () => {
    offs.forEach((off) => off());
    purgeFigure(plot);
  };
}
