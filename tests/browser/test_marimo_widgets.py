"""olab widgets under `marimo run`, in headless Chromium: a marimo slider re-runs a cell, the widget's
dropdown reaches Python (`mo.ui.anywidget(...).value`), and the plot and tables follow."""

from __future__ import annotations

import re
import time
from pathlib import Path

from playwright.sync_api import expect

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

APP = """\
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import numpy as np

    from olab.widgets import AttributionExplorer

    rng = np.random.default_rng(0)
    people = ["0x" + c * 40 for c in "abc"]
    train = [{"record_id": f"t{i}", "contributor": people[i % 3], "text": f"text {i}", "label": "World"} for i in range(30)]
    targets = [{"text": f"target headline {j}", "label": "Sports"} for j in range(4)]
    scores = rng.normal(size=(30, 4))
    return AttributionExplorer, mo, scores, targets, train


@app.cell
def _(mo):
    k = mo.ui.slider(1, 8, value=3, label="top k")
    k
    return (k,)


@app.cell
def _(AttributionExplorer, k, mo, scores, targets, train):
    explorer = mo.ui.anywidget(AttributionExplorer(scores, train, targets, k=k.value))
    explorer
    return (explorer,)


@app.cell
def _(explorer, mo):
    mo.md(f"selected target: **{explorer.value['target']}**")
    return


if __name__ == "__main__":
    app.run()
"""


def choose_until_python_reads(page, answer, chosen, choose, timeout_s: float = 90) -> None:
    """Make a choice in a widget that a marimo cell has just rebuilt, until `answer` (what Python shows once it read
    the choice) is visible. A choice made while marimo is still sending the rebuilt widget's state can be overwritten
    by that state (seen in CI: a clicked row never showed as selected), so `choose()` is called again whenever
    `chosen()` is false."""
    deadline = time.monotonic() + timeout_s
    while not answer.is_visible():
        assert time.monotonic() < deadline, f"Python did not read the widget's choice within {timeout_s} s"
        if not chosen():
            choose()
        page.wait_for_timeout(1000)


def test_slider_and_target_choice_update_the_explorer_in_marimo(tmp_path, marimo_app, page, screenshot):
    app = tmp_path / "explorer_app.py"
    app.write_text(APP)
    page.goto(marimo_app(app))
    explorer = page.locator(".olab-attribution")
    expect(explorer.locator(".olab-plot .main-svg").first).to_be_visible(timeout=120_000)  # plotly.js arrived
    proponents = explorer.locator(".olab-proponents")
    assert len(proponents.get_attribute("data-records").split(",")) == 3
    bars_before = explorer.locator(".olab-plot .bars .point").count()

    slider = page.get_by_role("slider").first
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # k: 3 -> 5, the explorer cell re-runs
    expect(explorer.locator(".olab-k")).to_have_value("5")
    assert len(proponents.get_attribute("data-records").split(",")) == 5
    expect(explorer.locator(".olab-plot .bars .point")).not_to_have_count(bars_before)

    before = proponents.get_attribute("data-records")
    target = explorer.locator("select.olab-target-select")
    choose_until_python_reads(
        page,
        page.get_by_text("selected target: 2"),
        lambda: target.input_value() == "2",
        lambda: target.select_option("2"),
    )
    expect(proponents).not_to_have_attribute("data-records", before)
    expect(explorer.locator(".olab-plot .gtitle")).to_contain_text("target headline 2")
    screenshot(page, "marimo-attribution-explorer")


def test_datanet_explorer_app_rebuilds_when_a_slider_moves(marimo_app, page, screenshot):
    page.goto(marimo_app(NOTEBOOKS / "datanet_explorer.py"))
    view = page.locator(".olab-datanet")
    records = view.locator(".olab-records")
    expect(records).to_have_attribute("data-count", "120", timeout=120_000)  # the default: 120 records

    slider = page.get_by_role("slider").first  # "records", 40..400 in steps of 20
    slider.focus()
    page.keyboard.press("ArrowRight")  # 120 -> 140: the Datanet is rebuilt and every view below follows
    expect(records).to_have_attribute("data-count", "140", timeout=120_000)
    expect(page.get_by_text("140 records from 4 contributors")).to_be_visible()

    row = view.locator(".olab-summary tbody tr", has_text="label_noise")
    labels = page.get_by_role("heading", name=re.compile(r"^Labels of 0x[0-9A-Fa-f]{40}"))
    # a selected row is not clicked again: that would clear the choice
    choose_until_python_reads(page, labels, lambda: "olab-selected" in (row.get_attribute("class") or ""), row.click)
    expect(row).to_have_class(re.compile(r"\bolab-selected\b"))  # the widget and Python agree
    expect(page.get_by_text("The proof of")).to_contain_text("holds")
    screenshot(page, "marimo-datanet-explorer")
