import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="olab · Datanet explorer")


@app.cell
def _():
    import os

    import marimo as mo
    import pandas as pd

    import olab
    from olab.datanet import verify_record_proof
    from olab.errors import OlabError
    from olab.hashing import hash_json
    from olab.widgets import DatanetView

    return (
        DatanetView,
        OlabError,
        hash_json,
        mo,
        olab,
        os,
        pd,
        verify_record_proof,
    )


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
def _(mo):
    n_records = mo.ui.slider(40, 400, step=20, value=120, label="records", show_value=True)
    n_contributors = mo.ui.slider(2, 8, value=4, label="contributors", show_value=True)
    behaviour = mo.ui.dropdown(
        ["label_noise", "near_duplicate_spam", "off_topic", "clean"], value="label_noise", label="contributor 1 is"
    )
    rate = mo.ui.slider(0.0, 1.0, step=0.1, value=0.4, label="affected share of its records", show_value=True)
    mo.hstack([n_records, n_contributors, behaviour, rate], justify="start", gap=2)
    return behaviour, n_contributors, n_records, rate


@app.cell
def _(behaviour, hash_json, mo, n_contributors, n_records, olab, os, rate):
    settings = {
        "source": {"kind": "synthetic", "n": n_records.value, "seed": 0},
        "contributors": {
            "n": n_contributors.value,
            "seed": 0,
            "behaviours": [{"contributor": 1, "kind": behaviour.value, "rate": rate.value}],
        },
    }
    workdir = os.environ.get("OLAB_NOTEBOOK_DIR") or str(mo.notebook_dir() / ".." / "runs" / "notebooks")
    name = "explorer-" + hash_json(settings).split(":")[1][:10]  # one Datanet per setting
    dn = olab.Datanet.build({"name": name, "root_dir": f"{workdir}/datanets", **settings}, progress=False)
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
def _(dn, mo, pd, view):
    chosen = view.value["contributor"]
    records = dn.to_pandas()
    who = {c["address"]: c for c in dn.contributors}
    if chosen:
        mine = records[records.contributor == chosen]
        profile = who[chosen]
        title = f"### {chosen}: {profile.get('behaviour', 'clean')}, {len(mine)} records"
        flips = mine.injected.value_counts().to_dict()
        detail = f"altered records: {flips or 'none'}"
    else:
        mine = records
        title, detail = "### every contributor (click one in the table above)", ""
    mix = pd.crosstab(mine.contributor.str.slice(0, 10) + "…", mine.label)
    mo.vstack([mo.md(title), mo.md(detail), mo.ui.table(mix.reset_index(), selection=None)])
    return


@app.cell
def _(dn, mo):
    record_id = mo.ui.text(value=dn.to_pandas().record_id.iloc[1], label="record id")
    record_id  # noqa: B018 (the cell's output)
    return (record_id,)


@app.cell
def _(OlabError, dn, mo, record_id, verify_record_proof):
    try:
        proof = dn.proof(record_id.value.strip())
    except OlabError as e:
        shown = mo.callout(str(e), kind="danger")
    else:
        holds = verify_record_proof(proof, root=dn.root)
        verdict = "holds" if holds else "does NOT hold"
        shown = mo.vstack(
            [
                mo.md(f"The proof of **{proof['record_id']}** against root `{dn.root[:18]}…` {verdict}."),
                mo.json(proof),
            ]
        )
    shown  # noqa: B018 (the cell's output)
    return


@app.cell
def test_the_datanet_verifies_and_every_proof_holds(dn, verify_record_proof):
    assert dn.verify()["ok"]
    for rid in dn.to_pandas().record_id:
        assert verify_record_proof(dn.proof(rid), root=dn.root)
    return


@app.cell
def test_contributor_1_misbehaves_as_chosen(behaviour, dn, rate):
    one = next(c for c in dn.contributors if c.get("index") == 1)
    assert one["behaviour"] == behaviour.value
    altered = sum(one["injected"].values())
    expected = round(rate.value * one["records"]) if behaviour.value != "clean" else 0
    assert abs(altered - expected) <= 1, (altered, expected)
    return


@app.cell
def test_the_view_shows_every_record(dn, view):
    assert view.value["info"]["n_records"] == len(dn)
    assert {r["record_id"] for r in view.value["records"]} >= set(dn.to_pandas().record_id)
    return


if __name__ == "__main__":
    app.run()
