import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="olab · Datanet explorer")


@app.cell
def _():
    import marimo as mo

    import olab
    from olab.datanet import verify_record_proof
    from olab.datanet.contributors import STRATEGIES, strategy_behaviour
    from olab.hashing import hash_json
    from olab.notebook import notebook_workdir
    from olab.widgets import DatanetView

    return DatanetView, STRATEGIES, hash_json, mo, notebook_workdir, olab, strategy_behaviour, verify_record_proof


@app.cell(hide_code=True)
def _(mo):
    mo.md("""
    # Datanet explorer

    A **Datanet** ties every record to the contributor who gave it and commits each version to one Merkle
    root. Choose how many records and contributors to simulate and how contributor 1 misbehaves; olab builds
    the Datanet (offline, from its synthetic news generator) and everything below follows: the records with
    their contributors, one contributor's label mix, and an inclusion proof for any record.
    """)
    return


@app.cell
def _(STRATEGIES, mo):
    controls = mo.ui.batch(
        mo.md("{n_records} {n_contributors} {behaviour} {rate}"),
        {
            "n_records": mo.ui.slider(40, 400, step=20, value=120, label="records", show_value=True),
            "n_contributors": mo.ui.slider(2, 8, value=4, label="contributors", show_value=True),
            "behaviour": mo.ui.dropdown(
                list(STRATEGIES),  # withhold_then_copy: every record a near-copy, whatever the rate
                value="label_noise",
                label="contributor 1 is",
            ),
            "rate": mo.ui.slider(0.0, 1.0, step=0.1, value=0.4, label="affected share of its records", show_value=True),
        },
    )
    controls  # noqa: B018 (the cell's output)
    return (controls,)


@app.cell
def _(controls, strategy_behaviour):
    settings = {
        "source": {"kind": "synthetic", "n": controls.value["n_records"], "seed": 0},
        "contributors": {
            "n": controls.value["n_contributors"],
            "seed": 0,
            "behaviours": [strategy_behaviour(1, controls.value["behaviour"], controls.value["rate"])],
        },
    }
    return (settings,)


@app.cell
def _(mo, notebook_workdir):
    workdir = notebook_workdir(mo.notebook_dir())  # $OLAB_NOTEBOOK_DIR, else ../runs/notebooks
    return (workdir,)


@app.cell
def _(hash_json, olab, settings, workdir):
    dn = olab.Datanet.build(
        {
            "name": "explorer-" + hash_json(settings)[7:17],
            "root_dir": f"{workdir}/datanets",
            **settings,
        },  # one per setting
        progress=False,
    )
    return (dn,)


@app.cell(hide_code=True)
def _(dn, mo):
    mo.md(
        f"**{dn.name}** version {dn.version}: {len(dn)} records from {len(dn.contributors)} contributors, "
        f"Merkle root `{dn.root}`"
    )
    return


@app.cell
def _(DatanetView, dn, mo):
    view = mo.ui.anywidget(DatanetView.from_datanet(dn))
    view  # noqa: B018 (the cell's output)
    return (view,)


@app.cell
def _(dn, mo, view):
    mo.vstack(
        [
            mo.md(f"### Labels of {view.value['contributor'] or 'every contributor (click one in the table above)'}"),
            mo.ui.table(dn.label_mix(view.value["contributor"]).reset_index(), selection=None),
        ]
    )
    return


@app.cell
def _(dn, mo):
    record_id = mo.ui.text(value=dn.to_pandas().record_id.iloc[1], label="record id")
    record_id  # noqa: B018 (the cell's output)
    return (record_id,)


@app.cell
def _(dn, record_id):
    proof = dn.proof(record_id.value.strip())  # an unknown id stops here, naming the ids that exist
    return (proof,)


@app.cell
def _(dn, mo, proof, verify_record_proof):
    mo.vstack(
        [
            mo.md(
                f"The proof of **{proof['record_id']}** against root `{dn.root[:18]}…` "
                f"{'holds' if verify_record_proof(proof, root=dn.root) else 'does NOT hold'}."
            ),
            mo.json(proof),
        ]
    )
    return


@app.cell
def test_the_datanet_verifies_and_every_proof_holds(dn, verify_record_proof):
    assert dn.verify()["ok"]
    for rid in dn.to_pandas().record_id:
        assert verify_record_proof(dn.proof(rid), root=dn.root)
    return


@app.cell
def test_contributor_1_misbehaves_as_chosen(controls, dn):
    one = next(c for c in dn.contributors if c.get("index") == 1)
    assert one["behaviour"] == controls.value["behaviour"]
    altered = sum(one["injected"].values())
    expected = round(controls.value["rate"] * one["records"]) if controls.value["behaviour"] != "clean" else 0
    assert abs(altered - expected) <= 1, (altered, expected)
    return


@app.cell
def test_the_view_shows_every_record(dn, view):
    assert view.value["info"]["n_records"] == len(dn)
    assert {r["record_id"] for r in view.value["records"]} >= set(dn.to_pandas().record_id)
    return


if __name__ == "__main__":
    app.run()
