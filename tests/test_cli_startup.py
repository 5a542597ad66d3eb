"""The CLI answers `--help` and shell completion without loading the heavy stack, and its exit codes
mean one thing each (0 ok, 1 verification failed, 2 usage or config error)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from repo_paths import REPO

from olab.cli import COMMANDS

HEAVY = ("torch", "datasets", "transformers", "peft", "web3", "pyarrow", "pandas")

# Runs each argv through olab's real entry point in one fresh interpreter, then reports which heavy
# top-level packages that imported and what each call printed.
PROBE = textwrap.dedent(
    """
    import contextlib, io, json, os, sys
    from olab.cli import main
    calls, env, heavy = (json.loads(a) for a in sys.argv[1:4])
    os.environ.update(env)
    outputs = []
    for argv in calls:
        sys.argv = ["olab", *argv]
        buf = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # completion writes bytes to .buffer
        with contextlib.redirect_stdout(buf):
            try:
                main()
                code = 0
            except SystemExit as e:
                code = e.code or 0
        buf.flush()
        outputs.append({"code": code, "out": buf.buffer.getvalue().decode()})
    loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
    print(json.dumps({"outputs": outputs, "heavy": loaded}))
    """
)


def probe(calls: list[list[str]], env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(calls), json.dumps(env or {}), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.splitlines()[-1])


def subcommands() -> list[list[str]]:
    """Every command and subcommand path, e.g. ["datanet", "build"], read from the click tree."""
    import click

    from olab.cli import cli

    paths = []
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        paths.append([name])
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in command.list_commands(click.Context(command))]
    return paths


def test_help_of_every_command_loads_no_heavy_module():
    paths = subcommands()
    assert ["datanet", "build"] in paths and ["chain", "up"] in paths
    result = probe([["--help"]] + [[*p, "--help"] for p in paths])
    assert result["heavy"] == [], f"--help imported {result['heavy']}"
    top, *rest = result["outputs"]
    assert top["code"] == 0 and all(name in top["out"] for name in COMMANDS)
    assert "Exit codes: 0 ok, 1 verification failed, 2 usage or config error" in " ".join(top["out"].split())
    for path, out in zip(paths, rest, strict=True):
        assert out["code"] == 0 and f"Usage: olab {' '.join(path)}" in out["out"], (path, out)


@pytest.mark.parametrize(
    ("words", "expected"), [("olab ", {"run", "datanet", "chain"}), ("olab datanet ", {"build", "proof"})]
)
def test_shell_completion_loads_no_heavy_module(words: str, expected: set[str]):
    env = {"_OLAB_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()))}
    result = probe([[]], env)
    assert result["heavy"] == []
    offered = {line.split(",", 1)[1] for line in result["outputs"][0]["out"].splitlines() if "," in line}
    assert expected <= offered, offered


def test_checking_a_config_loads_no_heavy_module():
    """`load_config` validates a run config through the typed models alone (no torch, datasets, web3)."""
    quickstart = str(REPO / "configs" / "quickstart.yaml")
    code = (
        "import json, sys; from olab.pipeline.config import load_config; "
        f"cfg = load_config({quickstart!r}); "
        "print(json.dumps([cfg.finetune.base_model, sorted({m.split('.')[0] for m in sys.modules})]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    base_model, modules = json.loads(proc.stdout)
    assert base_model and not set(HEAVY) & set(modules), set(HEAVY) & set(modules)
