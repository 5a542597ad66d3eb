import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="olab · who taught the model that answer?")


@app.cell
def _():
    import marimo as mo

    import olab
    from olab import viz
    from olab.config import deep_merge
    from olab.notebook import notebook_size, notebook_workdir
    from olab.widgets import AttributionExplorer, Leaderboard

    return AttributionExplorer, Leaderboard, deep_merge, mo, notebook_size, notebook_workdir, olab, viz


@app.cell(hide_code=True)
def _(mo):
    mo.md("""
    # Who taught the model that answer?

    Five simulated contributors give short questions with one checkable answer (arithmetic, unit conversions,
    capital cities) to an instruction Datanet; one of them answers half of its questions wrongly. olab fine-tunes
    a LoRA adapter on SmolLM2-135M-Instruct (offline), lets it answer held-out questions, and attributes each
    generated answer (its log-probability given the prompt) to the training records with TRAK. Pick an answer
    below to see the records that made it more likely and those that made it less likely.

    This is `configs/quickstart_llm.yaml`; `OLAB_NOTEBOOK_SIZE=tiny` (what CI runs) shrinks it to seconds of
    training, too little for the answers to be right.
    """)
    return


@app.cell
def _(notebook_size):
    size = notebook_size()  # tiny (CI) | small (the quickstart's size), from $OLAB_NOTEBOOK_SIZE
    return (size,)


@app.cell
def _(mo, notebook_workdir):
    workdir = notebook_workdir(mo.notebook_dir())  # $OLAB_NOTEBOOK_DIR, else ../runs/notebooks
    return (workdir,)


@app.cell
def _(deep_merge, mo, olab, size, workdir):
    tiny = {"datanet": {"source": {"n": 40}}, "targets": {"source": {"n": 4}}, "finetune": {"epochs": 1}}
    place = {
        "run": {"name": f"llm-answers-{size}", "runs_dir": f"{workdir}/runs"},
        "datanet": {"name": f"llm-answers-{size}", "root_dir": f"{workdir}/datanets"},
        "chain": {"state_dir": f"{workdir}/chain"},
    }
    config = olab.load_config(
        mo.notebook_dir() / ".." / "configs" / "quickstart_llm.yaml", deep_merge(tiny if size == "tiny" else {}, place)
    )
    return (config,)


@app.cell
def _(config, olab):
    run = olab.run(config, progress=False)  # fine-tune, answer, attribute, pay: each stage cached by its inputs
    return (run,)


@app.cell
def _(run):
    answers = run.targets.to_pandas()  # text: the prompt; label: the adapter's answer; reference: the right one
    return (answers,)


@app.cell
def _(answers, mo, run):
    mo.vstack(
        [mo.md(f"## The adapter's answers ({run.timings['total']:.0f} s for the whole run)"), mo.ui.table(answers)]
    )
    return


@app.cell
def _(AttributionExplorer, mo, run):
    mo.vstack([mo.md("## One answer: who helped, who hurt"), mo.ui.anywidget(AttributionExplorer.from_run(run, k=5))])
    return


@app.cell
def _(Leaderboard, mo, run):
    mo.vstack([mo.md("## Rewards"), mo.ui.anywidget(Leaderboard.from_run(run))])
    return


@app.cell
def _(run):
    train = run.datanet.to_pandas()  # the records, with the ground truth: injected == "label_flip" is a wrong answer
    return (train,)


@app.cell
def _(mo, run, train, viz):
    mo.vstack([
        mo.md("## Do wrong answers stand out by self-influence?"),
        mo.ui.plotly(viz.self_influence_roc(run.attribution.self_influence, train.injected == "label_flip")),
    ])  # fmt: skip
    return


@app.cell
def test_the_run_verifies_on_chain(olab, run):
    report = olab.verify(run.dir)
    assert report.ok, report.summary()
    return


@app.cell
def test_every_target_has_a_generated_and_a_reference_answer(run):
    targets = run.targets.to_pandas()
    assert run.manifest.targets.count == len(targets) and targets.reference.str.len().gt(0).all()
    assert run.attribution.scores.shape == (len(run.datanet.to_pandas()), len(targets))
    return


@app.cell
def test_the_wrong_answer_contributor_is_ground_truth(train):
    wrong = train[train.injected == "label_flip"]
    assert len(wrong) > 0 and wrong.contributor.nunique() == 1
    return


if __name__ == "__main__":
    app.run()
