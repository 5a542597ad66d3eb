"""The rpc backend against a real node: keys from the environment or a keystore, never written or
logged; transient failures retried; an unreachable node, a wrong chain or a stuck transaction
reported clearly, with nothing half-written."""

from __future__ import annotations

import http.server
import json
import logging
import os
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from olab.errors import LedgerError
from olab.ledger import ChainConfig, Ledger
from olab.ledger.accounts import dev_account

pytestmark = pytest.mark.anvil


def _rpc(url: str, method: str, params: list) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read()).get("result")


def _node_url(anvil_cfg: ChainConfig) -> str:
    return f"http://127.0.0.1:{anvil_cfg.anvil.port}"


@pytest.fixture
def funded_key(anvil_cfg) -> str:
    """A fresh private key (0x-hex) whose account anvil has funded."""
    account = Account.create()
    _rpc(_node_url(anvil_cfg), "anvil_setBalance", [account.address, hex(10**21)])
    return "0x" + bytes(account.key).hex()


def _rpc_cfg(anvil_cfg: ChainConfig, state_dir: Path, **kw) -> ChainConfig:
    return ChainConfig(backend="rpc", rpc_url=_node_url(anvil_cfg), state_dir=str(state_dir), **kw)


def _secret_forms(key: str) -> list[str]:
    body = key.lower().removeprefix("0x")
    return [body, body.upper()]


def _assert_nowhere(key: str, state_dir: Path, texts: list[str]) -> None:
    files = [p for p in state_dir.rglob("*") if p.is_file()]
    assert files, "the run wrote nothing to scan"
    for p in files:
        content = p.read_bytes().decode("latin-1").lower()
        assert all(s.lower() not in content for s in _secret_forms(key)), f"the key leaked into {p}"
    for text in texts:
        assert all(s.lower() not in text.lower() for s in _secret_forms(key)), "the key leaked into a log"


def _exercise(ledger: Ledger, new_run) -> None:
    run = new_run(3, [600_000, 300_000, 100_000])
    ledger.register_datanet_version(
        "secret-" + os.urandom(3).hex(), 1, run.commitment.datanet_root, None, 3, 3, None, ""
    )
    ledger.publish_run(run.commitment)
    ledger.fund(run.run_id, 10**6)
    ledger.claim(run.run_id, *run.share(0))
    ledger.with_signer(dev_account(5)).attest(run.run_id, run.tree.root_hex, 0, 1.0)  # a reviewer, not the publisher


def test_key_from_env_signs_and_appears_in_no_file_or_log(
    anvil_cfg, funded_key, tmp_path, monkeypatch, caplog, capfd, new_run
):
    monkeypatch.setenv("OLAB_TEST_KEY", funded_key)
    caplog.set_level(logging.DEBUG)  # web3 logs every request at debug level
    ledger = Ledger(_rpc_cfg(anvil_cfg, tmp_path, key_env="OLAB_TEST_KEY"))
    assert ledger.account == Account.from_key(funded_key).address
    _exercise(ledger, new_run)
    assert json.loads((tmp_path / "deployments.json").read_text())["161201"]["deployer"] == ledger.account
    captured = capfd.readouterr()
    _assert_nowhere(funded_key, tmp_path, [caplog.text, captured.out, captured.err, repr(ledger)])


def test_embedded_dev_key_appears_in_no_file_or_log(tmp_path, caplog, capfd, new_run):
    caplog.set_level(logging.DEBUG)
    ledger = Ledger(ChainConfig(state_dir=str(tmp_path)))
    _exercise(ledger, new_run)
    key = "0x" + bytes(dev_account(0).key).hex()
    captured = capfd.readouterr()
    _assert_nowhere(key, tmp_path, [caplog.text, captured.out, captured.err])


def test_key_from_encrypted_keystore(anvil_cfg, funded_key, tmp_path, monkeypatch, new_run):
    keystore = tmp_path / "keys" / "publisher.json"
    keystore.parent.mkdir()
    keystore.write_text(json.dumps(Account.encrypt(funded_key, "correct horse", iterations=2)))
    monkeypatch.delenv("OLAB_PRIVATE_KEY", raising=False)
    cfg = _rpc_cfg(anvil_cfg, tmp_path / "state", keystore=str(keystore), keystore_password_env="OLAB_TEST_PW")
    with pytest.raises(LedgerError, match=r"is encrypted: set \$OLAB_TEST_PW"):
        Ledger(cfg)
    monkeypatch.setenv("OLAB_TEST_PW", "wrong")
    with pytest.raises(LedgerError, match="cannot decrypt keystore"):
        Ledger(cfg)
    monkeypatch.setenv("OLAB_TEST_PW", "correct horse")
    ledger = Ledger(cfg)
    run = new_run()
    ledger.publish_run(run.commitment)
    assert ledger.get_run(run.run_id)["publisher"] == Account.from_key(funded_key).address
    _assert_nowhere(funded_key, tmp_path / "state", [])


def test_missing_or_invalid_key_is_a_clear_error(anvil_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("OLAB_PRIVATE_KEY", raising=False)
    with pytest.raises(LedgerError, match=r"no signing key for backend 'rpc': set \$OLAB_PRIVATE_KEY"):
        Ledger(_rpc_cfg(anvil_cfg, tmp_path))
    monkeypatch.setenv("OLAB_PRIVATE_KEY", "0xdeadbeefnotakey")
    with pytest.raises(LedgerError, match=r"\$OLAB_PRIVATE_KEY does not hold a valid private key") as err:
        Ledger(_rpc_cfg(anvil_cfg, tmp_path))
    assert "deadbeef" not in str(err.value)
    assert not (tmp_path / "deployments.json").exists()


def test_read_only_use_needs_no_key(anvil_cfg, tmp_path, monkeypatch, new_run):
    writer = Ledger(anvil_cfg)  # dev account 0 on anvil
    run = new_run()
    writer.publish_run(run.commitment)
    monkeypatch.delenv("OLAB_PRIVATE_KEY", raising=False)
    reader = Ledger(_rpc_cfg(anvil_cfg, tmp_path), addresses=writer.addresses)
    assert reader.verify_run(run.commitment) == []
    assert reader.verify_share(run.run_id, *run.share(1))
    with pytest.raises(LedgerError, match="the given addresses do not hold olab's contracts"):
        Ledger(
            _rpc_cfg(anvil_cfg, tmp_path),
            addresses={**writer.addresses, "TestToken": writer.addresses["DatanetRegistry"]},
        )


def test_unreachable_node_fails_clearly_and_writes_nothing(tmp_path, free_port):
    cfg = ChainConfig(
        backend="rpc",
        rpc_url=f"http://127.0.0.1:{free_port}",
        state_dir=str(tmp_path / "s"),
        retries=2,
        retry_backoff_s=0.01,
    )
    with pytest.raises(
        LedgerError, match=r"cannot reach the rpc node at http://127\.0\.0\.1:\d+ while reading the chain id"
    ):
        Ledger(cfg)
    assert not (tmp_path / "s").exists()


def test_wrong_chain_id_and_preset_explorer_links(anvil_cfg, tmp_path, monkeypatch, new_run):
    with pytest.raises(LedgerError, match="is chain 161201, but the config expects chain 11155111"):
        Ledger(_rpc_cfg(anvil_cfg, tmp_path, chain_id=11155111))
    # an rpc chain with OpenLedger's chain id links transactions to OpenLedger's explorer
    monkeypatch.setenv("OLAB_PRIVATE_KEY", "0x" + bytes(dev_account(0).key).hex())
    ledger = Ledger(_rpc_cfg(anvil_cfg, tmp_path, chain_id=161201))
    r = ledger.publish_run(new_run().commitment)
    assert r.explorer_url == f"https://scantn.openledger.xyz/tx/{r.tx_hash}"
    assert Ledger(anvil_cfg).explorer_url(r.tx_hash) is None  # a local chain has no explorer


class _FlakyProxy(http.server.ThreadingHTTPServer):
    """Forwards JSON-RPC to `upstream`, answering every other request with HTTP 503 instead."""

    def __init__(self, upstream: str):
        self.upstream, self.requests, self.failed = upstream, 0, 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _FlakyHandler)


class _FlakyHandler(http.server.BaseHTTPRequestHandler):
    server: _FlakyProxy

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.requests += 1
            fail = self.server.requests % 2 == 0
            self.server.failed += fail
        if fail:
            self.send_response(503)
            self.end_headers()
            return
        req = urllib.request.Request(self.server.upstream, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_url(anvil_cfg) -> Iterator[tuple[str, _FlakyProxy]]:
    proxy = _FlakyProxy(_node_url(anvil_cfg))
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{proxy.server_address[1]}", proxy
    proxy.shutdown()
    proxy.server_close()


def test_transient_http_errors_are_retried(flaky_url, tmp_path, monkeypatch, new_run):
    url, proxy = flaky_url
    monkeypatch.setenv("OLAB_PRIVATE_KEY", "0x" + bytes(dev_account(2).key).hex())
    cfg = ChainConfig(backend="rpc", rpc_url=url, state_dir=str(tmp_path), retries=4, retry_backoff_s=0.01)
    ledger = Ledger(cfg)  # deploys through the flaky proxy
    run = new_run()
    r = ledger.publish_run(run.commitment)
    assert r.status == 1 and ledger.verify_run(run.commitment) == []
    assert proxy.failed >= 10  # about half of all requests failed, and every operation still succeeded


def test_stuck_transaction_times_out_then_publish_is_idempotent(anvil_cfg, tmp_path, new_run):
    url = _node_url(anvil_cfg)
    ledger = Ledger(anvil_cfg)
    slow = Ledger(
        anvil_cfg.model_copy(update={"receipt_timeout_s": 1.0, "poll_interval_s": 0.1}), addresses=ledger.addresses
    )
    run = new_run()
    _rpc(url, "evm_setAutomine", [False])
    try:
        with pytest.raises(LedgerError, match=r"transaction 0x[0-9a-f]{64} was sent but not mined within 1s"):
            slow.publish_run(run.commitment)
    finally:
        _rpc(url, "evm_setAutomine", [True])
    _rpc(url, "evm_mine", [])
    again = ledger.publish_run(run.commitment)
    assert again.already_recorded and again.status == 1
    assert Web3.to_hex(hexstr=again.tx_hash) == again.tx_hash


def test_a_claim_that_loses_a_race_reports_the_contracts_reason(anvil_cfg, new_run):
    url = _node_url(anvil_cfg)
    owner = Ledger(anvil_cfg)
    run = new_run(2, [700_000, 300_000])
    owner.publish_run(run.commitment)
    owner.fund(run.run_id, 10**6)
    # two submitters, each with its own connection, claim the same share in the same block
    racers = [Ledger(anvil_cfg, addresses=owner.addresses, signer=i) for i in (4, 5)]
    results: list[object] = [None, None]

    def claim(i: int) -> None:
        try:
            results[i] = racers[i].claim(run.run_id, *run.share(0))
        except LedgerError as e:
            results[i] = e

    _rpc(url, "evm_setAutomine", [False])
    try:
        threads = [threading.Thread(target=claim, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while int(_rpc(url, "txpool_status", [])["pending"], 16) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        _rpc(url, "evm_mine", [])
    finally:
        _rpc(url, "evm_setAutomine", [True])
    for t in threads:
        t.join(timeout=30)
    errors = [r for r in results if isinstance(r, LedgerError)]
    assert len(errors) == 1 and sum(getattr(r, "status", 0) == 1 for r in results) == 1, results
    assert re.search(r"reverted on chain in tx 0x[0-9a-f]{64}: share already claimed", str(errors[0]))
