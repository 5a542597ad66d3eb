"""Quiet by default: olab's log level from -v/-q, no library bars with --no-progress, third-party noise filtered."""

from __future__ import annotations

import logging
import subprocess
import sys

from click.testing import CliRunner

from olab import logs, progress
from olab.cli import cli


def test_verbosity_sets_the_olab_log_level_and_quiet_drops_the_stage_lines(capsys):
    try:
        for args, level in (([], logging.WARNING), (["-v"], logging.INFO), (["-vv"], logging.DEBUG)):
            assert CliRunner().invoke(cli, [*args, "chain", "--help"]).exit_code == 0
            assert logging.getLogger("olab").level == level and not logs.quiet()
        progress.terminal(bars=False)(progress.Event("finetune", "start"))
        assert "[olab] finetune ..." in capsys.readouterr().out
        assert CliRunner().invoke(cli, ["-q", "chain", "--help"]).exit_code == 0
        assert logging.getLogger("olab").level == logging.ERROR and logs.quiet()
        progress.terminal(bars=False)(progress.Event("finetune", "start"))
        assert capsys.readouterr().out == ""
    finally:
        logs.configure()


def test_no_progress_silences_library_bars_in_a_fresh_process():
    code = (
        "from olab.progress import terminal; terminal(False)\n"
        "import datasets, huggingface_hub.utils as hub\n"
        "assert datasets.is_progress_bar_enabled() is False and hub.are_progress_bars_disabled()\n"
        "ds = datasets.Dataset.from_dict({'text': ['a', 'b']}).map(lambda r: r)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Map" not in proc.stderr and "%|" not in proc.stderr, proc.stderr


def test_peft_wrapping_a_model_prints_no_transformers_deprecation():
    code = (
        "from olab.adapters.models import load_base_model\n"
        "from peft import LoraConfig, get_peft_model\n"
        "model, _ = load_base_model('tiny-gpt2', 'causal_lm')\n"
        "get_peft_model(model, LoraConfig(r=2, target_modules=['c_attn'], fan_in_fan_out=True))\n"
    )
    proc = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr
