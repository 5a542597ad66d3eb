"""`olab chain up|down|status`: a real anvil on loopback whose chain survives a restart."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from olab.cli import cli
from olab.errors import LedgerError
from olab.ledger import ChainConfig, Ledger
from olab.ledger.accounts import dev_account

pytestmark = pytest.mark.anvil


def chain(*args: str) -> str:
    result = CliRunner().invoke(cli, ["chain", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_up_status_down_up_keeps_the_chain(tmp_path, free_port, new_run, monkeypatch, anvil_binary):
    monkeypatch.setenv("OLAB_ANVIL", str(anvil_binary))
    state = str(tmp_path / "chain")
    opts = ["--state-dir", state]
    out = chain("up", *opts, "--port", str(free_port), "--chain-id", "31337")
    assert f"anvil started: http://127.0.0.1:{free_port} chain id 31337" in out
    try:
        assert "already running" in chain("up", *opts)
        status = json.loads(chain("status", *opts, "--json"))
        assert status["running"] and status["answering"] and status["chain_id"] == 31337
        # the anvil backend finds the node `chain up` recorded (not the config's default port)
        cfg = ChainConfig(backend="anvil", state_dir=state)
        ledger = Ledger(cfg)
        assert ledger.chain_id == 31337 and ledger.chain.url.endswith(f":{free_port}")
        run = new_run()
        ledger.publish_run(run.commitment)
        assert "chain 31337: TestToken 0x" in chain("status", *opts)
    finally:
        assert "anvil stopped" in chain("down", *opts)
    assert "anvil not running" in chain("status", *opts)
    assert "no anvil running" in chain("down", *opts)
    with pytest.raises(LedgerError, match="cannot reach the anvil node"):
        ledger.publish_run(new_run().commitment)  # the node is gone: a clear error
    chain("up", *opts, "--port", str(free_port), "--chain-id", "31337")
    try:
        again = Ledger(cfg)
        assert again.addresses == ledger.addresses  # the recorded contracts are still live
        assert again.verify_run(run.commitment) == []
    finally:
        chain("down", *opts)
    log = (tmp_path / "chain" / "anvil.log").read_text()
    assert bytes(dev_account(0).key).hex() not in log.lower()  # anvil prints dev keys on stdout: discarded


def test_non_loopback_host_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("chain:\n  anvil:\n    host: 0.0.0.0\n")
    result = CliRunner().invoke(cli, ["chain", "up", "--config", str(cfg), "--state-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "anvil.host must be a loopback address" in str(result.exception)
