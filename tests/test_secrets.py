"""Secrets never leave memory: URL credentials are redacted in configs written to artifacts and in every
error, keys are checked exactly and never echoed, and `--set` keeps hex text as text (issue #13, item 5)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from repo_paths import REPO

from olab.config import parse_overrides
from olab.errors import LedgerError
from olab.ledger import ChainConfig, Ledger
from olab.ledger.accounts import signer
from olab.pipeline.config import load_config
from olab.secrets import redact

PASSWORD = "hunter2-s3cret"
URL = f"http://alice:{PASSWORD}@127.0.0.1:9/rpc?apikey=tok-{PASSWORD}&chain=1"
KEY = "0x" + "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d"


def test_redact_hides_userinfo_and_secret_query_values():
    assert redact(f"node at {URL} failed") == "node at http://***@127.0.0.1:9/rpc?apikey=***&chain=1 failed"
    assert redact("s3://bucket/path and https://host/x?a=1") == "s3://bucket/path and https://host/x?a=1"


def test_a_config_written_into_an_artifact_holds_no_url_credentials():
    cfg = load_config(REPO / "configs" / "quickstart.yaml", {"chain": {"backend": "rpc", "rpc_url": URL}})
    assert cfg.chain.rpc_url == URL  # the ledger still connects with them
    written = cfg.model_dump_json()
    assert PASSWORD not in written and "http://***@127.0.0.1:9/rpc" in written


def test_errors_about_a_credentialed_node_do_not_show_the_credentials(tmp_path):
    cfg = ChainConfig(backend="rpc", rpc_url=URL, retries=1, timeout_s=2, state_dir=str(tmp_path))
    with pytest.raises(LedgerError) as err:
        Ledger(cfg)
    assert PASSWORD not in str(err.value) and "127.0.0.1:9" in str(err.value)


@pytest.mark.parametrize("value", [KEY[:-1], KEY + "0", KEY[2:-1]])
def test_a_key_that_is_not_exactly_64_hex_digits_is_refused_without_echo(monkeypatch, value):
    monkeypatch.setenv("OLAB_PRIVATE_KEY", value)
    with pytest.raises(LedgerError, match="exactly 64 hex digits") as err:
        signer(ChainConfig(backend="rpc", rpc_url="http://127.0.0.1:9"))
    assert value.removeprefix("0x")[:16] not in str(err.value)


def test_set_keeps_hex_and_non_decimal_numbers_as_text():
    assert parse_overrides([f"a.b={KEY}", "c=0o17", "d=007", "e=12", "f=1.5", "g=true"]) == {
        "a": {"b": KEY},
        "c": "0o17",
        "d": "007",
        "e": 12,
        "f": 1.5,
        "g": True,
    }


def test_a_key_given_on_the_command_line_is_never_printed_back():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "olab.cli",
            "run",
            str(REPO / "configs" / "quickstart.yaml"),
            "--set",
            f"chain.key_env={KEY}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "chain.key_env" in out and "looks like a private key" in out
    for form in (KEY[2:], KEY[2:].upper(), str(int(KEY, 16))):
        assert form[:20] not in out, "the key was echoed"
