// PublishPanel: the chain, its contracts, the run's transactions and the verification checks.

function render({ model, el }) {
  el.classList.add("olab-widget", "olab-publish");
  const header = h("div", { class: "olab-header" });
  const contracts = h("div", { class: "olab-contracts" });
  const txs = h("div", { class: "olab-transactions" });
  const checks = h("div", { class: "olab-checks" });
  el.append(header, contracts, txs, checks);

  function link(text, url, full) {
    return url
      ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "olab-mono", title: full }, text)
      : h("span", { class: "olab-mono", title: full }, text);
  }

  function drawChain() {
    const chain = model.get("chain");
    put(header,
      h("strong", {}, "Ledger"),
      h("span", { class: "olab-muted" }, ` · ${chain.backend || "chain"}${chain.chain_id !== null && chain.chain_id !== undefined ? ` · chain id ${chain.chain_id}` : ""}`),
      chain.explorer ? h("span", { class: "olab-muted" }, " · ", link("explorer", chain.explorer, chain.explorer)) : null,
    );
    const rows = model.get("contracts");
    put(contracts,
      rows.length
        ? table(
            [
              { key: "name", label: "contract" },
              { key: "address", label: "address", format: (v, r) => link(v, r.url, v) },
            ],
            rows,
          )
        : "",
    );
  }

  function drawTransactions() {
    const rows = model.get("transactions");
    put(txs,
      table(
        [
          { key: "label", label: "transaction" },
          { key: "status", label: "status", format: (v) => statusPill(v) },
          { key: "tx_hash", label: "hash", format: (v, r) => (v ? link(short(v, 10, 8), r.url, v) : r.status === "pending" ? "…" : "—") },
          { key: "block", label: "block", cls: "olab-num" },
          { key: "gas_used", label: "gas", cls: "olab-num" },
          { key: "note", label: "note", cls: "olab-text" },
        ],
        rows,
        { rowKey: "label", empty: "no transactions yet" },
      ),
    );
    txs.dataset.statuses = rows.map((r) => `${r.label}=${r.status}`).join(",");
  }

  function drawChecks() {
    const rows = model.get("checks");
    put(checks,
      rows.length
        ? h(
            "div",
            {},
            h("h4", {}, rows.every((r) => r.ok) ? "Verified: every link holds" : "Verification failed"),
            h(
              "ul",
              { class: "olab-checklist" },
              rows.map((r) =>
                h(
                  "li",
                  { class: r.ok ? "olab-good" : "olab-bad" },
                  `${r.ok ? "✓" : "✗"} ${r.link}`,
                  r.problems.length ? h("ul", {}, r.problems.map((p) => h("li", {}, p))) : null,
                ),
              ),
            ),
          )
        : "",
    );
  }

  drawChain();
  drawTransactions();
  drawChecks();
  const offs = [
    listen(model, ["chain", "contracts"], drawChain),
    listen(model, ["transactions"], drawTransactions),
    listen(model, ["checks"], drawChecks),
  ];
  return () => offs.forEach((off) => off());
}
