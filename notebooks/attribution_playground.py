import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="olab · attribution playground")


@app.cell
def _():
    import os

    import marimo as mo

    import olab
    from olab import viz
    from olab.attribution import Attribution
    from olab.widgets import AttributionExplorer, Leaderboard

    return Attribution, AttributionExplorer, Leaderboard, mo, olab, os, viz


@app.cell(hide_code=True)
def _(mo):
    mo.md("""
    # Attribution playground

    Four simulated contributors give news headlines to a Datanet. Make one of them misbehave: flip some of its
    labels, spam near-copies of others' records, or post off-topic text. Choose the LoRA rank and how many
    independently trained adapters to average, then run the pipeline: olab fine-tunes the adapter(s), scores every
    training record's influence on held-out predictions with TRAK, and pays contributors by positive influence.
    Does attribution notice, and who ends up with the smallest reward?

    Each run is cached by its settings, so going back to an earlier setting is instant.
    """)
    return


@app.cell
def _(mo):
    controls = (
        mo.md(
            """
            Contributor {who} is {how} on {rate} of its records.
            LoRA rank {rank}; average over {models} independently trained adapter(s).
            """
        )
        .batch(
            who=mo.ui.dropdown({f"#{i}": i for i in range(4)}, value="#1"),
            how=mo.ui.dropdown(["label_noise", "near_duplicate_spam", "off_topic", "clean"], value="label_noise"),
            rate=mo.ui.slider(0.1, 0.8, step=0.1, value=0.4, show_value=True),
            rank=mo.ui.dropdown({"2": 2, "4": 4, "8": 8, "16": 16}, value="4"),
            models=mo.ui.slider(1, 3, value=1, show_value=True),
        )
        .form(submit_button_label="Run the pipeline", bordered=True)
    )
    controls  # noqa: B018 (the cell's output)
    return (controls,)


@app.cell
def _(controls, mo, olab, os):
    settings = controls.value or {"who": 1, "how": "label_noise", "rate": 0.4, "rank": 4, "models": 1}
    size = os.environ.get("OLAB_NOTEBOOK_SIZE", "small")  # tiny (CI) | small
    workdir = os.environ.get("OLAB_NOTEBOOK_DIR") or str(mo.notebook_dir() / ".." / "runs" / "notebooks")
    config = olab.load_config(
        mo.notebook_dir() / f"{size}.yaml",
        {
            "run": {"name": "playground", "runs_dir": f"{workdir}/runs", "models": settings["models"]},
            "datanet": {
                "name": f"playground-{size}",
                "root_dir": f"{workdir}/datanets",
                "contributors": {
                    "behaviours": [{"contributor": settings["who"], "kind": settings["how"], "rate": settings["rate"]}]
                },
            },
            "finetune": {"lora": {"r": settings["rank"], "alpha": 2 * settings["rank"]}},
            "chain": {"state_dir": f"{workdir}/chain"},
        },
    )
    with mo.status.spinner(title="Fine-tuning, attributing, paying…"):
        run = olab.run(config, progress=False)
    return run, settings


@app.cell
def _(Attribution, olab, run, settings):
    dn = olab.Datanet.open(run.manifest["datanet"]["path"], version=run.manifest["datanet"]["version"])
    train = dn.to_pandas()
    attribution = Attribution.open(run.dir / run.manifest["attribution"]["path"])
    behaviours = {c["address"]: c["behaviour"] for c in dn.contributors if c.get("behaviour")}
    chosen = next(c["address"] for c in dn.contributors if c.get("index") == settings["who"])
    return attribution, behaviours, chosen, train


@app.cell(hide_code=True)
def _(chosen, mo, run, settings):
    ranking = [s.contributor for s in run.rewards.ranked()]
    place = ranking.index(chosen) + 1
    mo.md(
        f"""
        **Run `{run.run_id[:12]}…`** ({run.timings["total"]:.0f} s). Contributor #{settings["who"]}
        (`{chosen[:10]}…`, {settings["how"]}) ranks **{place} of {len(ranking)}** by reward share and receives
        **{run.rewards.share(chosen).share_ppm / 10_000:.2f}%** of the rewards.
        """
    )
    return


@app.cell
def _(Leaderboard, mo, run):
    board = mo.ui.anywidget(Leaderboard.from_run(run))
    mo.vstack([mo.md("## Rewards"), board])
    return


@app.cell
def _(AttributionExplorer, mo, run):
    explorer = mo.ui.anywidget(AttributionExplorer.from_run(run, k=5))
    mo.vstack([mo.md("## One target: who helped, who hurt"), explorer])
    return


@app.cell
def _(attribution, behaviours, mo, train, viz):
    flipped = train.injected == "label_flip"
    if 0 < flipped.sum() < len(train):
        roc = mo.ui.plotly(viz.self_influence_roc(attribution.self_influence, flipped))
    else:
        roc = mo.md("_No flipped labels in this Datanet: choose `label_noise` to see self-influence find them._")
    spread = mo.ui.plotly(
        viz.influence_distribution(train.assign(influence=attribution.record_totals()), labels=behaviours)
    )
    mo.vstack([mo.md("## Records: self-influence and influence"), roc, spread])
    return


@app.cell
def test_the_run_verifies_on_chain(olab, run):
    report = olab.verify(run.dir)
    assert report.ok, report.summary()
    return


@app.cell
def test_shares_are_whole_ppm_summing_to_a_million(run):
    assert sum(s.share_ppm for s in run.rewards.shares) == 1_000_000
    return


@app.cell
def test_the_chosen_contributor_misbehaves_as_set(behaviours, chosen, settings, train):
    assert behaviours[chosen] == settings["how"]
    altered = (train[train.contributor == chosen].injected.notna()).sum()
    assert (altered > 0) == (settings["how"] != "clean")
    return


if __name__ == "__main__":
    app.run()
