"""The chain config section, the values the ledger accepts, and the contracts' fixed interface."""

from __future__ import annotations

import json

import pytest

from olab.config import validate
from olab.errors import ConfigError, LedgerError
from olab.ledger import ChainConfig, RunCommitment, TxResult
from olab.ledger.accounts import DEV_ACCOUNTS, dev_address
from olab.ledger.config import AnvilConfig
from olab.ledger.contracts import CONTRACT_NAMES, compiled


@pytest.mark.parametrize("model", [ChainConfig, AnvilConfig])
def test_every_field_is_documented(model):
    for name, field in model.model_fields.items():
        assert field.description and len(field.description) > 15, f"{model.__name__}.{name} has no description"


def test_defaults_and_presets():
    cfg = ChainConfig()
    assert (cfg.backend, cfg.state_dir, cfg.key_env, cfg.anvil.chain_id) == (
        "embedded",
        ".olab/chain",
        "OLAB_PRIVATE_KEY",
        161201,
    )
    assert cfg.explorer_base(161201) is None  # local chains have no explorer
    ol = validate(ChainConfig, {"backend": "rpc", "preset": "openledger-testnet"})
    assert (ol.resolved_rpc_url(), ol.expected_chain_id(), ol.explorer_base(161201)) == (
        "https://rpctn.openledger.xyz",
        161201,
        "https://scantn.openledger.xyz",
    )
    sep = ChainConfig(backend="rpc", preset="sepolia")
    assert sep.expected_chain_id() == 11155111 and sep.explorer_base(11155111) == "https://sepolia.etherscan.io"
    own = ChainConfig(backend="rpc", rpc_url="http://127.0.0.1:9", explorer="https://x.example/")
    assert own.explorer_base(5) == "https://x.example" and own.expected_chain_id() is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"preset": "openledger-testnet"}, "set backend: rpc"),
        ({"backend": "rpc"}, "needs rpc_url"),
        ({"backend": "rpc", "preset": "sepolia", "chain_id": 161201}, "contradicts preset 'sepolia'"),
        ({"backend": "ganache"}, "backend"),
        ({"anvil": {"host": "0.0.0.0"}}, "loopback"),
        ({"anvil": {"port": 70000}}, "anvil.port"),
        ({"rpc_ur": "http://x"}, "rpc_ur: unknown key"),
    ],
)
def test_bad_config_names_the_problem(data, message):
    with pytest.raises(ConfigError, match=message):
        validate(ChainConfig, data, source="chain")


def test_run_commitment_accepts_olab_and_hex_hashes():
    h = "ab" * 32
    c = RunCommitment("0x" + "01" * 32, "sha256:" + h, bytes.fromhex(h), "0X" + h.upper(), "0x" + h, "sha256:" + h)
    assert set(c.to_json().values()) == {"0x" + "01" * 32, "0x" + h}
    assert c.as_bytes()["scores_hash"] == bytes.fromhex(h)
    with pytest.raises(LedgerError, match=r"RunCommitment.adapter_hash: expected a 32-byte hash .* got 'sha256:abc'"):
        RunCommitment("0x" + h, "0x" + h, "sha256:abc", "0x" + h, "0x" + h, "0x" + h)
    r = TxResult("0x" + h, 5, 21000, 1, None)
    assert json.loads(json.dumps(r.to_json()))["block"] == 5


def test_dev_accounts_are_anvils():
    assert dev_address(0) == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert dev_address(9) == "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"
    with pytest.raises(LedgerError, match=r"development account index must be in 0\.\.9"):
        dev_address(DEV_ACCOUNTS)


def test_fixed_public_interface():
    abi = {f["name"]: f for f in compiled("AttributionRegistry").abi if f.get("type") == "function"}
    verify = abi["verifyShare"]
    assert [i["type"] for i in verify["inputs"]] == ["bytes32", "address", "uint256", "bytes32[]"]
    assert [i["name"] for i in verify["inputs"]] == ["runId", "contributor", "sharePpm", "proof"]
    assert [o["type"] for o in verify["outputs"]] == ["bool"] and verify["stateMutability"] == "view"
    get_run = abi["getRun"]
    assert [i["type"] for i in get_run["inputs"]] == ["bytes32"] and get_run["stateMutability"] == "view"
    assert [c["name"] for c in get_run["outputs"][0]["components"]] == [
        "datanetRoot", "adapterHash", "scoresHash", "rewardsRoot", "manifestHash", "publisher", "publishedAt", "blockNumber",
    ]  # fmt: skip
    for name in CONTRACT_NAMES:
        assert compiled(name).bytecode.startswith("0x") and compiled(name).runtime_hash.startswith("0x")
