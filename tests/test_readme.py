"""The README's examples run (after litgpt's tests/test_readme.py): a README example that cannot run is a bug.

Every ```python block runs, in README order in one interpreter in a fresh project directory, unless an HTML
comment above it names the test that covers it (`<!-- readme-test: covered by tests/... -->`: the whole
pipeline, which the quickstart fixture runs; a load that needs the base model from the Hub). The step-by-step block runs against `notebooks/tiny.yaml` copied to the path it names, so it
checks the code, not the training time. Every shell line is classified: the `olab datanet` walk-through
runs as written; every other `olab ...` line must parse with the real CLI (command path and options) and
the config it names must validate with its `--set` overrides; scripts, notebooks and make targets exist.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from repo_paths import REPO

from olab.cli import cli
from olab.config import parse_overrides
from olab.pipeline.config import load_config

README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<note>[^>]*?) -->\n)?```(?P<lang>\w+)\n(?P<code>.*?)```", re.S)
BLOCKS = [(m["lang"], m["code"], m["note"]) for m in BLOCK.finditer(README)]
PYTHON = [(code, note) for lang, code, note in BLOCKS if lang == "python"]
SHELL_LINES = [  # one command each: continuations joined, comments dropped, `a; b` split
    command.strip()
    for lang, code, _ in BLOCKS
    if lang == "bash"
    for line in code.replace("\\\n", " ").splitlines()
    for command in re.sub(r"(^|\s)#.*", "", line).split(";")
    if command.strip()
]
# the shell lines the test runs as written (offline, seconds); the rest are checked without running
RUN = re.compile(r"^olab datanet ")


def olab_words(line: str) -> list[str] | None:
    """The arguments of an `olab ...` (or `.venv/bin/olab ...`) command line, placeholders like <run id> filled."""
    words = shlex.split(re.sub(r"<[^>]+>", "PLACEHOLDER", line))
    return words[1:] if words and Path(words[0]).name == "olab" else None


def test_the_readme_has_runnable_examples():
    assert len(PYTHON) >= 2 and any(RUN.match(line) for line in SHELL_LINES)
    for _, note in PYTHON:
        if note:
            covered = re.fullmatch(r"covered by (tests/\S+\.py) .*", note)
            assert covered and (REPO / covered[1]).is_file(), note


@pytest.mark.parametrize("line", SHELL_LINES)
def test_shell_line_is_valid(line: str):
    words = olab_words(line)
    if words is None:
        first, *rest = shlex.split(line)
        if first == "make":
            makefile = (REPO / "Makefile").read_text()
            assert all(re.search(rf"^{t}:", makefile, re.M) for t in rest), line
        elif first.endswith(("/python", "/jupyter", "/marimo")):
            assert all((REPO / p).exists() for p in rest if "/" in p and not p.startswith("-")), line
        elif first == "ray":  # Ray's CLI (olab[ray]): the subcommand exists
            ray = Path(sys.executable).parent / "ray"
            if not ray.exists():
                pytest.skip("Ray is not installed (pip install 'olab[ray]')")
            assert subprocess.run([ray, rest[0], "--help"], capture_output=True).returncode == 0, line
        elif first == "curl":  # a request to olab serve: its path is one of the server's routes
            routes = re.findall(r'@app\.(?:get|post|delete)\("([^"]+)"\)', (REPO / "olab/serve/app.py").read_text())
            path = re.sub(r"^https?://[^/]+", "", next(w for w in rest if w.startswith("http")))
            assert any(re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", r), path) for r in routes), line
        else:
            assert first in {"export", "source"}, f"unclassified README command: {line}"
        return
    # the command path and options exist (--help stops before running anything or checking files)
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, f"{line}\n{result.output}"
    configs = [w for w in words if w.endswith(".yaml")]
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    for config in configs:
        if words[0] == "run":
            load_config(REPO / config, parse_overrides(sets))
        else:
            assert (REPO / config).is_file(), line


def shell_env() -> dict[str, str]:
    """The environment a user with the virtualenv activated has: `olab` on PATH, this checkout importable."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    return {**os.environ, "PATH": path, "PYTHONPATH": str(REPO)}


def test_datanet_walkthrough_runs(tmp_path: Path):
    (tmp_path / "configs").mkdir()
    shutil.copy(REPO / "configs" / "quickstart.yaml", tmp_path / "configs")
    for line in filter(RUN.match, SHELL_LINES):
        proc = subprocess.run(line, shell=True, cwd=tmp_path, env=shell_env(), capture_output=True, text=True)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_python_blocks_run_in_order(tmp_path: Path):
    """The runnable blocks in README order, in one interpreter: later blocks use the names earlier ones define,
    as a reader running them in a session (or a notebook) would."""
    code = "\n".join(code for code, note in PYTHON if not note)
    (tmp_path / "configs").mkdir()
    for name in set(re.findall(r"configs/(\w+\.yaml)", code)):
        shutil.copy(REPO / "notebooks" / "tiny.yaml", tmp_path / "configs" / name)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=shell_env(), capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
