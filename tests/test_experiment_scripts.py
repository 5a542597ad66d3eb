"""Every experiment script ends on an olab error the way the CLI does: one message, no traceback
(tests/test_experiments_lds.py runs one such script on a bad config)."""

from __future__ import annotations

import ast

import pytest
from repo_paths import REPO

SCRIPTS = sorted(p for p in (REPO / "experiments").glob("*/*.py") if 'if __name__ == "__main__":' in p.read_text())


def main_block(tree: ast.Module) -> ast.If:
    [block] = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "__name__ == '__main__'"]
    return block


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_the_entry_point_runs_main_inside_exit_on_error(script):
    block = main_block(ast.parse(script.read_text()))
    assert ast.unparse(block.body[0]).startswith("with exit_on_error():"), (
        f"{script.name}: wrap the call of main() in `with exit_on_error():` (from olab.errors)"
    )


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) >= 15
