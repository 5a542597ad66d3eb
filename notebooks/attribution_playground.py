import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="olab · attribution playground")


@app.cell
def _():
    import marimo as mo

    import olab
    from olab import viz
    from olab.datanet.contributors import STRATEGIES, strategy_behaviour
    from olab.notebook import notebook_size
    from olab.widgets import AttributionExplorer, Leaderboard

    return AttributionExplorer, Leaderboard, STRATEGIES, mo, notebook_size, olab, strategy_behaviour, viz


@app.cell(hide_code=True)
def _(mo):
    mo.md("""
    # Attribution playground

    Four simulated contributors give news headlines to a Datanet. Make one of them misbehave: flip some of its
    labels, spam near-copies of others' records, pad with paraphrases, withhold and then only copy, or post
    off-topic text. Choose the LoRA rank and how many independently trained adapters to average, then run the
    pipeline: olab fine-tunes the adapter(s), scores every training record's influence on held-out predictions with
    TRAK, and pays contributors by positive influence.
    Does attribution notice, and who ends up with the smallest reward?

    Each run is cached by its settings, so going back to an earlier setting is instant.
    """)
    return


@app.cell
def _(STRATEGIES, mo):
    controls = mo.ui.form(
        mo.ui.batch(
            mo.md(
                """
                Contributor {who} is {how} on {rate} of its records.
                LoRA rank {rank}; average over {models} independently trained adapter(s).
                """
            ),
            {
                "who": mo.ui.dropdown({f"#{i}": i for i in range(4)}, value="#1"),
                "how": mo.ui.dropdown(list(STRATEGIES), value="label_noise"),  # withhold_then_copy: rate 1
                "rate": mo.ui.slider(0.1, 0.8, step=0.1, value=0.4, show_value=True),
                "rank": mo.ui.dropdown({"2": 2, "4": 4, "8": 8, "16": 16}, value="4"),
                "models": mo.ui.slider(1, 3, value=1, show_value=True),
            },
        ),
        submit_button_label="Run the pipeline",
        bordered=True,
    )
    controls  # noqa: B018 (the cell's output)
    return (controls,)


@app.cell
def _(controls, notebook_size):
    settings = controls.value or {"who": 1, "how": "label_noise", "rate": 0.4, "rank": 4, "models": 1}
    size = notebook_size()  # tiny (CI) | small, from $OLAB_NOTEBOOK_SIZE
    return settings, size


@app.cell
def _(mo, olab, settings, size, strategy_behaviour):
    config = olab.notebook_config(
        size,
        notebooks_dir=mo.notebook_dir(),
        overrides={
            "run": {"name": "playground", "models": settings["models"]},
            "datanet": {
                "name": f"playground-{size}",
                "contributors": {
                    "behaviours": [strategy_behaviour(settings["who"], settings["how"], settings["rate"])]
                },
            },
            "finetune": {"lora": {"r": settings["rank"], "alpha": 2 * settings["rank"]}},
        },
    )
    return (config,)


@app.cell
def _(config, olab):
    run = olab.run(config, progress=False)  # fine-tune, attribute, pay: each stage cached by its inputs
    return (run,)


@app.cell
def _(run, settings):
    chosen = run.datanet.contributors[settings["who"]]["address"]  # the simulated contributor you set
    return (chosen,)


@app.cell(hide_code=True)
def _(chosen, mo, run, settings):
    mo.md(
        f"""
        **Run `{run.run_id[:12]}…`** ({run.timings["total"]:.0f} s). Contributor #{settings["who"]}
        (`{chosen[:10]}…`, {settings["how"]}) ranks **{run.rewards.rank(chosen)} of {len(run.rewards.shares)}** by
        reward share and receives **{run.rewards.share(chosen).share_ppm / 10_000:.2f}%** of the rewards.
        """
    )
    return


@app.cell
def _(Leaderboard, mo, run):
    mo.vstack([mo.md("## Rewards"), mo.ui.anywidget(Leaderboard.from_run(run))])
    return


@app.cell
def _(AttributionExplorer, mo, run):
    mo.vstack([mo.md("## One target: who helped, who hurt"), mo.ui.anywidget(AttributionExplorer.from_run(run, k=5))])
    return


@app.cell
def _(run):
    records = run.records()  # the Datanet's records with their influence and self-influence
    return (records,)


@app.cell
def _(mo, records, run, viz):
    mo.vstack(
        [
            mo.md(
                "## Records: influence and self-influence (mislabelled records are hard to fit: high self-influence)"
            ),
            mo.ui.plotly(viz.influence_distribution(records, labels=run.names())),
            mo.ui.plotly(viz.influence_distribution(records, value="self_influence", labels=run.names())),
        ]
    )
    return


@app.cell
def test_the_run_verifies_on_chain(run):
    report = run.verify()
    assert report.ok, report.summary()
    return


@app.cell
def test_shares_are_whole_ppm_summing_to_a_million(run):
    assert sum(s.share_ppm for s in run.rewards.shares) == 1_000_000
    return


@app.cell
def test_the_chosen_contributor_misbehaves_as_set(chosen, records, run, settings):
    assert run.datanet.contributors[settings["who"]]["index"] == settings["who"]
    assert run.behaviours()[chosen] == settings["how"]
    altered = (records[records.contributor == chosen].injected.notna()).sum()
    assert (altered > 0) == (settings["how"] != "clean")
    return


if __name__ == "__main__":
    app.run()
