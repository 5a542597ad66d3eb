"""Deploy the ledger's contracts, or attach to the ones recorded for this chain id.

`<state_dir>/deployments.json` maps a chain id to the addresses olab deployed there. A recorded
address is trusted only while the code at it is exactly the compiled contract (so a restarted
node, another network reusing the chain id, or changed contracts lead to a fresh deployment).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from olab.errors import LedgerError
from olab.hashing import keccak
from olab.io import atomic_write_json, read_json
from olab.ledger.chain import Chain
from olab.ledger.config import ChainConfig
from olab.ledger.contracts import CONTRACT_NAMES, compiled

log = logging.getLogger("olab.ledger")

TOKEN_NAME, TOKEN_SYMBOL, TOKEN_DECIMALS = "olab test token", "OLT", 18


def deployments_path(cfg: ChainConfig) -> Path:
    return Path(cfg.state_dir) / "deployments.json"


def _read_deployments(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path)
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise LedgerError(f"{path} is not valid JSON ({e}); fix or remove it to redeploy") from None
    return data if isinstance(data, dict) else {}


def code_matches(chain: Chain, addresses: dict[str, str]) -> list[str]:
    """Names whose address does not hold exactly the compiled contract (empty when all match)."""
    wrong = []
    for name in CONTRACT_NAMES:
        address = addresses.get(name)
        if not address:
            wrong.append(name)
            continue
        code = chain.guard(f"reading the code of {name} at {address}", lambda a=address: chain.w3.eth.get_code(a))
        if "0x" + keccak(bytes(code)).hex() != compiled(name).runtime_hash:
            wrong.append(name)
    return wrong


def attach_or_deploy(chain: Chain, cfg: ChainConfig, signer: Callable[[], LocalAccount]) -> dict[str, str]:
    """Addresses of the contracts on this chain, deploying them first (signed by `signer()`,
    asked for only then) when none are live."""
    path = deployments_path(cfg)
    key = str(chain.chain_id)
    recorded = _read_deployments(path).get(key, {}).get("contracts", {})
    if recorded and not code_matches(chain, recorded):
        return dict(recorded)
    if not cfg.auto_deploy:
        raise LedgerError(
            f"no live olab contracts recorded for chain {chain.chain_id} in {path}; "
            "set chain.auto_deploy: true to deploy them"
        )
    account = signer()
    with chain.writing():  # one deployer at a time (the embedded chain locks across processes)
        recorded = _read_deployments(path).get(key, {}).get("contracts", {})
        if recorded and not code_matches(chain, recorded):
            return dict(recorded)
        if recorded:
            log.warning("contracts recorded for chain %s in %s are not live there; deploying anew", key, path)
        addresses, txs, block = _deploy_all(chain, account)
        data = _read_deployments(path)
        data[key] = {
            "backend": chain.backend,
            "contracts": addresses,
            "deployer": account.address,
            "block": block,
            "tx_hashes": txs,
            "deployed_at": int(time.time()),
        }
        atomic_write_json(path, data)
    return addresses


def _deploy_all(chain: Chain, account: LocalAccount) -> tuple[dict[str, str], dict[str, str], int]:
    addresses: dict[str, str] = {}
    txs: dict[str, str] = {}
    block = 0
    for name in CONTRACT_NAMES:
        c = compiled(name)
        if name == "TestToken":
            args: tuple[Any, ...] = (TOKEN_NAME, TOKEN_SYMBOL, TOKEN_DECIMALS)
        elif name == "RewardDistributor":
            args = (addresses["TestToken"], addresses["AttributionRegistry"])
        elif name == "StakeVault":
            args = (
                addresses["TestToken"],
                addresses["AttributionRegistry"],
                addresses["RewardDistributor"],
                addresses["DatanetRegistry"],
            )
        else:
            args = ()
        factory = chain.w3.eth.contract(abi=c.abi, bytecode=c.bytecode)
        receipt = chain.transact(account, factory.constructor(*args), f"deploying {name}")
        addresses[name] = receipt["contractAddress"]
        txs[name] = "0x" + bytes(receipt["transactionHash"]).hex()
        block = receipt["blockNumber"]
        log.info("deployed %s at %s on chain %s", name, addresses[name], chain.chain_id)
    return addresses, txs, block
