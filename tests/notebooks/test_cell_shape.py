"""Every notebook cell is one `olab` call or one widget: the logic lives in the package, not in the notebooks.

A code cell may import, assign and display, but make at most one call at its top level (a call's arguments may
hold further calls, e.g. a lambda handed to a widget or an f-string), and holds no loops, branches or
definitions. Marimo apps are held to the same shape, cell by cell (their `test_*` cells are tests, not cells
a user reads). Fast: it parses the files, runs nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef, ast.Match)


def top_level_calls(node: ast.AST) -> int:
    """Calls not nested in another call's arguments; `a().b()` is two calls."""
    if isinstance(node, ast.Call):
        return 1 + top_level_calls(node.func)
    if isinstance(node, ast.Lambda):
        return 0  # a callback handed to a widget runs later, as that widget's one call
    return sum(top_level_calls(child) for child in ast.iter_child_nodes(node))


def shape_problems(statements: list[ast.stmt]) -> list[str]:
    problems = []
    body = [s for s in statements if not isinstance(s, ast.Import | ast.ImportFrom)]
    for s in body:
        if isinstance(s, COMPOUND):
            problems.append(f"line {s.lineno}: {type(s).__name__} statement (logic belongs in olab)")
    calls = sum(top_level_calls(s) for s in body)
    if calls > 1:
        problems.append(f"{calls} calls (one olab call or one widget per cell)")
    return problems


def jupyter_cells() -> list[tuple[str, list[ast.stmt]]]:
    cells = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                cells.append((f"{path.name} cell {cell.id}", ast.parse(cell.source).body))
    return cells


def marimo_cells() -> list[tuple[str, list[ast.stmt]]]:
    cells = []
    for path in sorted(NOTEBOOKS.glob("*.py")):
        tree = ast.parse(path.read_text())
        for fn in tree.body:
            if not isinstance(fn, ast.FunctionDef) or fn.name.startswith("test_"):
                continue
            body = [s for s in fn.body if not isinstance(s, ast.Return)]
            cells.append((f"{path.name} cell at line {fn.lineno}", body))
    return cells


@pytest.mark.parametrize("kind", ["jupyter", "marimo"])
def test_every_cell_is_one_call(kind: str) -> None:
    cells = jupyter_cells() if kind == "jupyter" else marimo_cells()
    assert len(cells) >= 10, cells  # the notebooks were found
    bad = {name: problems for name, body in cells if (problems := shape_problems(body))}
    assert bad == {}, bad


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("import olab\nrun = olab.run(config)\nrun.dir", None),
        ("x = panel.send('fund', lambda: ledger.fund(run.run_id, 1))", None),
        ("print(f'{board.summary()}')", None),
        ("a = olab.run(c)\nprint(a.summary())", "2 calls"),
        ("olab.Datanet.open(p).to_pandas()", "2 calls"),
        ("for r in rows:\n    r", "For statement"),
        ("if x:\n    y", "If statement"),
    ],
)
def test_the_shape_check_counts_what_a_reader_sees(source: str, problem: str | None) -> None:
    problems = shape_problems(ast.parse(source).body)
    assert (problems == []) if problem is None else any(problem in p for p in problems), problems
