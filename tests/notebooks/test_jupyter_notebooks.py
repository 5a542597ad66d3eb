"""Every JupyterLab notebook runs top to bottom with nbclient, leaves no error output, and shows what it says."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# what each notebook must show (regular expressions) when run on a fresh work directory (beyond "no error")
EXPECTED = {
    "01_datanet.ipynb": [
        r"accepted: version 2, accepted \['r000064'\]",  # the valid record of the signed batch (tiny: 64 records)
        r"rejected \(unknown_label\)",  # the other one
        r"False\nFalse",  # a forged contributor and an edited text both break the proof
    ],
    "02_finetune.ipynb": [r"done: 10 steps"],  # 65 records (64 + notebook 1's), 16 per step, 2 epochs
    # the ranking with display names: simulated contributors by index and behaviour, the newcomer by short address
    "03_attribution.ipynb": [r"1\. 0x[0-9a-fA-F]{40}", r"\(label_noise\)", r"0x[0-9a-fA-F]{40}  0x[0-9a-fA-F]{4}…"],
    "04_publish.ipynb": [
        "every link holds",
        "share already claimed",  # the second claim is refused
        "same scores",  # the reproduction matches
        "'max_share_diff_ppm': 0",
        "'matches_published': True",
    ],
    "05_serve_and_pay.ipynb": [
        r"Answer\(\w+-m0: '[^']+'; receipt 0x[0-9a-f]{10}… holds\)",  # the answer's receipt verifies
        r"receipt_id: the body hashes to 0x[0-9a-f]{64}",  # the forged fee is named
        r"'failed',\s+'RewardDistributor\.claim\(.*share already claimed",  # the second claim is refused
        r"(?m)^\[\]$",  # the epoch recomputes from its receipts and holds on chain
    ],
}


def execute(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def texts(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook printed or displayed as text."""
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                out.append(o.text)
            elif o.output_type in ("execute_result", "display_data"):
                out.append(o.data.get("text/plain", ""))
    return "\n".join(out)


def test_notebooks_are_numbered_and_clean():
    assert [p.name[:3] for p in NOTEBOOKS] == [f"{i:02d}_" for i in range(1, len(NOTEBOOKS) + 1)]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} is saved with outputs"
        assert "parameters" in code[0].metadata.get("tags", []), f"{path.name}: first code cell is the parameters"


@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
def test_the_notebooks_run_in_order_top_to_bottom(notebook_env):
    """01..05 in order in one work directory, as a user goes (so in one test: test order is not guaranteed under
    xdist): 02..04 train on the Datanet version that 01's signed contribution made, and 04 reuses 03's cached
    run, which 05 serves. Each must leave no error output, show what it promises, and display a widget."""
    notebook_env("tour")
    for path in NOTEBOOKS:
        nb = execute(path)
        errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, (path.name, [f"{e.ename}: {e.evalue}" for e in errors])
        shown = texts(nb)
        for expected in EXPECTED[path.name]:
            assert re.search(expected, shown), f"{path.name} should show {expected!r}"
        widgets = [
            o
            for c in nb.cells
            for o in c.get("outputs", [])
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
        ]
        assert widgets, f"{path.name} displays no widget"
