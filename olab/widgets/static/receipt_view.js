// ReceiptView: a served answer beside its receipt (top records with proof status, shares, fee, signature).

function render({ model, el }) {
  el.classList.add("olab-widget", "olab-receipt");
  const card = h("div", { class: "olab-target-card olab-answer" });
  const summary = h("div", { class: "olab-receipt-summary" });
  const records = h("div", { class: "olab-records" });
  const shares = h("div", { class: "olab-shares" });
  el.append(card, summary, h("div", { class: "olab-columns" }, records, shares));

  const mark = (ok) => h("span", { class: ok ? "olab-good" : "olab-bad" }, ok ? "✓" : "✗");

  function draw() {
    const a = model.get("answer");
    if (!a || !a.receipt_id) {
      put(card, h("span", { class: "olab-empty" }, "no answer yet: ask the model"));
      put(summary);
      put(records);
      put(shares);
      delete el.dataset.receipt;
      return;
    }
    el.dataset.receipt = a.receipt_id;
    put(card,
      h("div", { class: "olab-muted" }, `${a.adapter} · ${a.task}`),
      h("div", {}, h("strong", {}, "Q: "), a.question),
      h("div", { class: "olab-answer-text" }, h("strong", {}, "A: "), a.text),
    );
    put(summary,
      h("div", { class: "olab-verdict", dataset: { ok: String(a.ok) } },
        mark(a.ok), a.ok ? " receipt holds: signature, proofs, shares, run and recomputed scores" : " receipt does not hold"),
      h("div", { class: "olab-muted" },
        "receipt ", h("span", { class: "olab-mono", title: a.receipt_id }, short(a.receipt_id, 10, 8)),
        ` · fee ${fmtNumber(a.fee)} · signature `, mark(a.signature_ok),
        " by ", h("span", { class: "olab-mono", title: a.signer }, short(a.signer, 6, 4)),
        ` · run `, h("span", { class: "olab-mono", title: a.run_id }, short(a.run_id, 10, 4)),
      ),
      a.problems.length ? h("ul", { class: "olab-bad" }, a.problems.map((p) => h("li", {}, p))) : null,
    );
    const rows = model.get("records");
    records.dataset.records = rows.map((r) => r.record_id).join(",");
    records.dataset.proofs = rows.map((r) => (r.proof_ok ? "1" : "0")).join("");
    put(records,
      h("h4", {}, "The training records behind this answer"),
      table(
        [
          { key: "rank", label: "#", cls: "olab-num" },
          { key: "record_id", label: "record", format: (v) => h("span", { class: "olab-mono" }, v) },
          { key: "contributor", label: "contributor", format: (v, r) => contributorCell(v, r.name) },
          { key: "score", label: "score", cls: "olab-num" },
          { key: "proof_ok", label: "proof", format: (v) => mark(v) },
          { key: "label", label: "label" },
          { key: "text", label: "text", cls: "olab-text", format: (v) => h("span", { title: v }, v) },
        ],
        rows,
        { rowKey: "record_id", empty: "no records" },
      ),
    );
    put(shares,
      h("h4", {}, "Who this answer pays"),
      table(
        [
          { key: "contributor", label: "contributor", format: (v, r) => contributorCell(v, r.name) },
          { key: "share_ppm", label: "share (ppm)", cls: "olab-num" },
        ],
        model.get("shares"),
        { rowKey: "contributor", empty: "nobody's records helped this answer: its fee stays in the pool" },
      ),
    );
  }

  draw();
  const off = listen(model, ["answer", "records", "shares"], draw);
  return () => off();
}
