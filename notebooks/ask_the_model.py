import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="olab · ask the model")


@app.cell
def _():
    import marimo as mo

    import olab
    from olab.notebook import notebook_size, notebook_workdir
    from olab.serve.session import ServeSession
    from olab.widgets import PublishPanel, ReceiptView, UsageRewards

    return PublishPanel, ReceiptView, ServeSession, UsageRewards, mo, notebook_size, notebook_workdir, olab


@app.cell(hide_code=True)
def _(mo):
    mo.md("""
    # Ask the model, see who taught it, pay them

    The notebooks' run (a LoRA headline classifier on all-MiniLM-L6-v2, published on the local chain) is served by
    `olab serve` inside this app on a free port of 127.0.0.1, and asked through the official `openai` client. Every
    answer comes with a signed receipt: the training records that shaped it, who contributed them, each record's
    Merkle proof against the Datanet root, and the contributors' shares of the answer's fee. The receipt is verified
    here as `olab receipt verify` does. Fees accumulate per contributor; settle an epoch to publish its reward root
    on chain, then claim a contributor's part, once.
    """)
    return


@app.cell
def _(notebook_size):
    size = notebook_size()  # tiny (CI) | small | full, from $OLAB_NOTEBOOK_SIZE
    return (size,)


@app.cell
def _(mo, notebook_workdir):
    workdir = notebook_workdir(mo.notebook_dir())  # $OLAB_NOTEBOOK_DIR, else ../runs/notebooks
    return (workdir,)


@app.cell
def _(mo, olab, size, workdir):
    config = olab.notebook_config(size, workdir=workdir, notebooks_dir=mo.notebook_dir())
    return (config,)


@app.cell
def _(config, olab):
    run = olab.run(config, progress=False)  # the notebooks' run: cached when notebooks 1-5 made it
    return (run,)


@app.cell
def _(ServeSession, run):
    live = ServeSession([run], fee=1_000)  # olab serve RUN --receipts STORE --fee 1000, in this process
    return (live,)


@app.cell
def _(live, mo):
    ask = mo.ui.form(
        mo.ui.batch(
            mo.md("Ask {adapter}\n\n{question}"),
            {
                "adapter": mo.ui.dropdown(live.adapters, value=live.adapters[0]),
                "question": mo.ui.text_area(
                    value="The striker scored twice as the champions stayed top of the league.", full_width=True
                ),
            },
        ),
        submit_button_label="Ask",
        bordered=True,
    )
    ask  # noqa: B018 (the cell's output)
    return (ask,)


@app.cell
def _(ask, live):
    asked = ask.value or {"adapter": live.adapters[0], "question": ask.element.value["question"]}  # before any Ask
    return (asked,)


@app.cell
def _(asked, live):
    answer = live.ask(asked["adapter"], asked["question"])  # the answer, its receipt fetched and verified
    return (answer,)


@app.cell
def _(ReceiptView, answer, live, mo):
    mo.vstack([mo.md("## The answer and its receipt"), mo.ui.anywidget(ReceiptView(answer, names=live.names()))])
    return


@app.cell
def _(PublishPanel, live):
    panel = PublishPanel(backend=live.ledger.backend, chain_id=live.ledger.chain_id, addresses=live.ledger.addresses)
    return (panel,)


@app.cell
def _(mo):
    settle_button = mo.ui.run_button(label="Settle the epoch")
    return (settle_button,)


@app.cell
def _(live, panel, settle_button):
    settled = (
        panel.send("settle: publish the epoch's root", lambda: live.settle().chain["transactions"]["publish"])
        if settle_button.value
        else None
    )
    return (settled,)


@app.cell
def _(live, mo, settled):
    settled  # noqa: B018 (after a settle, the new epoch's contributors)
    claim = mo.ui.form(mo.ui.dropdown(live.claimants(), label="contributor"), submit_button_label="Claim")
    return (claim,)


@app.cell
def _(claim, live, panel):
    claimed = panel.send(f"claim: {claim.value}", lambda: live.claim(claim.value)) if claim.value else None
    return (claimed,)


@app.cell
def _(UsageRewards, answer, claimed, live, mo, settled):
    (answer, settled, claimed)  # noqa: B018 (redrawn after each answer, settle and claim)
    mo.vstack([mo.md("## Usage rewards so far (test-token units)"), mo.ui.anywidget(UsageRewards.of(live))])
    return


@app.cell
def _(claim, mo, panel, settle_button):
    mo.vstack([mo.md("## Settle and claim"), mo.hstack([settle_button, claim], justify="start"),
               mo.ui.anywidget(panel)])  # fmt: skip
    return


@app.cell
def test_the_answer_has_a_receipt_that_holds_and_its_fee_is_shared_out_exactly(answer, live):
    assert answer.ok and answer.signature_ok, answer.problems
    assert answer.records and all(r["proof_ok"] for r in answer.records) and answer.receipt["fee"] == 1_000
    since = [r for _, r in live.store.after(live.epochs()[-1].record["last_seq"] if live.epochs() else 0)]
    assert answer.receipt["receipt_id"] in {r["receipt_id"] for r in since}
    assert round(live.usage()["pending"].sum()) == 1_000 * len(since)
    return


@app.cell
def test_the_served_run_is_on_the_chain_epochs_settle_on(run):
    assert run.ledger().get_run(run.run_id)["rewards_root"] == run.rewards.root
    return


if __name__ == "__main__":
    app.run()
