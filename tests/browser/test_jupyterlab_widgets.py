"""olab widgets in a real JupyterLab, in headless Chromium: choosing a target re-ranks proponents via the kernel."""

from __future__ import annotations

import re

import nbformat
from playwright.sync_api import expect

SETUP = """\
import numpy as np
from olab.widgets import AttributionExplorer, Leaderboard

rng = np.random.default_rng(0)
people = ["0x" + c * 40 for c in "abc"]
names = dict(zip(people, ["clean", "label noise", "spam"]))
train = [{"record_id": f"t{i}", "contributor": people[i % 3], "text": f"training text {i}", "label": "World"} for i in range(30)]
targets = [{"text": f"target headline {j}", "label": "Sports"} for j in range(4)]
explorer = AttributionExplorer(rng.normal(size=(30, 4)), train, targets, k=3, labels=names)
explorer"""

BOARD = """\
from olab import intervals, rewards

paid = rewards.compute({people[0]: 6.0, people[1]: 0.0, people[2]: 4.0})
paid.intervals = intervals.ShareIntervals({people[0]: (550_000, 640_000), people[2]: (360_000, 450_000)})
Leaderboard(
    [{"contributor": a, "positive": p, "records": n} for a, p, n in zip(people, [5.0, 1.0, 3.0], [40, 60, 20])],
    shares=paid,
    labels=names,
)"""


def write_notebook(path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(BOARD)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_attribution_explorer_and_leaderboard_respond_in_jupyterlab(jupyterlab, page, screenshot):
    write_notebook(jupyterlab.root / "widgets.ipynb")
    jupyterlab.open(page, "widgets.ipynb")
    jupyterlab.run_all(page)

    explorer = page.locator(".olab-attribution")
    expect(explorer.locator(".olab-plot .main-svg").first).to_be_visible(timeout=120_000)  # plotly.js arrived
    proponents = explorer.locator(".olab-proponents")
    before = proponents.get_attribute("data-records")
    assert before and len(before.split(",")) == 3
    expect(explorer.locator(".olab-plot .gtitle")).to_contain_text("target headline 0")

    explorer.locator("select.olab-target-select").select_option("2")
    # the kernel recomputes proponents/opponents and the plot for target 2, and the view redraws them
    expect(proponents).not_to_have_attribute("data-records", before)
    expect(explorer.locator(".olab-plot .gtitle")).to_contain_text("target headline 2")
    expect(explorer.locator(".olab-target-card")).to_contain_text("target headline 2")
    screenshot(page, "jupyterlab-attribution-explorer", explorer)

    board = page.locator(".olab-leaderboard")
    expect(board.locator(".olab-plot .main-svg").first).to_be_visible()
    order = board.locator(".olab-board")
    expect(order).to_have_attribute("data-order", ",".join("0x" + c * 40 for c in "acb"))
    expect(order.locator("tbody tr").first).to_contain_text("60.00%[55.00, 64.00]")  # the share and its interval
    board.locator("button.olab-sort[data-column='records']").click()
    expect(order).to_have_attribute("data-order", ",".join("0x" + c * 40 for c in "bac"))
    screenshot(page, "jupyterlab-leaderboard", board)
    assert not [e for e in page.console_errors if "olab" in e or "plotly" in e.lower()], page.console_errors


def test_notebook_01_datanet_view_filters_by_contributor(jupyterlab, page, screenshot):
    jupyterlab.copy_notebook("01_datanet.ipynb")
    jupyterlab.open(page, "01_datanet.ipynb")
    jupyterlab.run_all(page)

    view = page.locator(".olab-datanet").first
    records = view.locator(".olab-records")
    expect(records).to_have_attribute("data-count", "64", timeout=120_000)  # every record of the tiny Datanet
    expect(view.locator(".olab-summary tbody tr")).to_have_count(4)  # four contributors
    noisy = view.locator(".olab-summary tbody tr", has_text="label_noise")
    noisy.click()  # sets `contributor` (synced to the kernel): the table pages through its records only
    expect(records).to_have_attribute("data-count", "16")
    expect(records.locator(".olab-pill-injected").first).to_be_visible()  # its flipped labels are marked
    expect(view.locator("select.olab-contributor-select")).not_to_have_value("")
    screenshot(page, "jupyterlab-01-datanet-view", view)
    # the notebook ran to its end: its last cell, the edited text's proof check, printed False
    last = page.locator(".jp-CodeCell").last.locator(".jp-OutputArea-output")
    expect(last).to_have_text("False", timeout=120_000)


LIVE = [
    "from olab.widgets import TrainingProgress\nprogress = TrainingProgress(plot_interval_s=0)\nprogress",
    "import time\nfrom olab.progress import Event\nfrom olab.widgets.training_progress import TRAINING_STAGE\n"
    "for step in range(1, 61):\n"
    "    progress(Event(TRAINING_STAGE, 'step', step, 60, {'epoch': step / 30, 'loss': 2 / step}))\n"
    "    time.sleep(0.25)\n"
    "progress(Event(TRAINING_STAGE, 'end', 60, 60, message='sha256:0'))",
]


def test_training_progress_updates_while_the_training_cell_runs(jupyterlab, page, screenshot):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in LIVE])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, jupyterlab.root / "live.ipynb")
    jupyterlab.open(page, "live.ipynb")
    jupyterlab.run_all(page)

    widget = page.locator(".olab-training")
    bar = widget.locator(".olab-progress")
    expect(bar).to_have_attribute("data-step", re.compile(r"^(1\d|[2-5]\d)$"), timeout=60_000)  # mid-way
    expect(page.locator(".jp-CodeCell").nth(1).locator(".jp-InputPrompt")).to_have_text("[*]:")  # still running
    expect(widget.locator(".olab-plot .main-svg").first).to_be_visible()  # plotly.js came with the widget's state
    screenshot(page, "jupyterlab-training-progress-live", widget)
    expect(widget.locator(".olab-pill-done")).to_be_visible(timeout=60_000)
    expect(bar).to_have_attribute("data-step", "60")
