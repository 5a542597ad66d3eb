"""`olab chain up|down|status`: a local anvil node standing in for OpenLedger's testnet; `olab stake` and
`olab withdraw`: a contributor's deposit behind their records in a Datanet (StakeVault).

Config models and the node helpers load inside the commands, so `--help` and completion stay instant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from olab.ledger.config import ChainConfig


def chain_section(config: str | None) -> dict[str, Any]:
    """The chain settings of a YAML file: a pipeline config's `chain:` section, or a bare chain section ({} for
    none: the defaults, the embedded chain under .olab/chain)."""
    from olab.config import read_yaml
    from olab.ledger.config import ChainConfig

    if not config:
        return {}
    raw = read_yaml(config)
    if "chain" in raw:
        return dict(raw["chain"] or {})
    return dict(raw) if set(raw) <= set(ChainConfig.model_fields) else {}


def chain_config(config: str | None) -> ChainConfig:
    """The validated ChainConfig of `chain_section(config)`."""
    from olab.config import validate
    from olab.ledger.config import ChainConfig

    return validate(ChainConfig, chain_section(config), source=config or "the default chain")


def _config(config: str | None, state_dir: str | None, port: int | None, chain_id: int | None) -> ChainConfig:
    from olab.config import validate
    from olab.ledger.config import ChainConfig

    data = {**chain_section(config), "backend": "anvil"}
    data.pop("preset", None)
    if state_dir:
        data["state_dir"] = state_dir
    a = dict(data.get("anvil") or {})
    if port is not None:
        a["port"] = port
    if chain_id is not None:
        a["chain_id"] = chain_id
    data["anvil"] = a
    return validate(ChainConfig, data, source=config or "olab chain options")


_options = [
    click.option(
        "--config", type=click.Path(exists=True, dir_okay=False), help="YAML config; its `chain:` section is used."
    ),
    click.option("--state-dir", help="Where anvil's state, pid and log live (default: chain.state_dir)."),
]


def _with_options(fn: Any) -> Any:
    for opt in reversed(_options):
        fn = opt(fn)
    return fn


@click.group()
def chain() -> None:
    """Run a local anvil node (loopback only, state persisted) for the `anvil` backend."""


@chain.command()
@_with_options
@click.option("--port", type=int, help="TCP port (default: chain.anvil.port).")
@click.option(
    "--chain-id", type=int, help="Chain id (default: chain.anvil.chain_id, 161201 like OpenLedger's testnet)."
)
def up(config: str | None, state_dir: str | None, port: int | None, chain_id: int | None) -> None:
    """Start anvil in the background (or report the one already running)."""
    from olab.ledger import anvil

    cfg = _config(config, state_dir, port, chain_id)
    node = anvil.start(cfg)
    verb = "already running" if node.get("already_running") else "started"
    click.echo(f"anvil {verb}: {node['rpc_url']} chain id {node['chain_id']} (pid {node['pid']})")
    click.echo(f"state: {node['state_file']}")
    click.echo("use it with chain.backend: anvil")


@chain.command()
@_with_options
def down(config: str | None, state_dir: str | None) -> None:
    """Stop the anvil started by `olab chain up`; its state is saved for the next `up`."""
    from olab.ledger import anvil

    cfg = _config(config, state_dir, None, None)
    node = anvil.stop(cfg)
    click.echo(f"anvil stopped (pid {node['pid']}); state kept in {node['state_file']}" if node else "no anvil running")


@chain.command()
@_with_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(config: str | None, state_dir: str | None, as_json: bool) -> None:
    """Whether the local anvil runs, where, and the contracts deployed per chain id."""
    from olab.ledger import anvil

    cfg = _config(config, state_dir, None, None)
    out = anvil.status(cfg)
    deployments = Path(cfg.state_dir) / "deployments.json"
    if deployments.exists():
        recorded = json.loads(deployments.read_text())
        out["deployments"] = {cid: d.get("contracts", {}) for cid, d in recorded.items()}
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    if out["running"]:
        answering = f"block {out['block_number']}" if out.get("answering") else "NOT answering"
        click.echo(f"anvil running: {out['rpc_url']} chain id {out['chain_id']} (pid {out['pid']}), {answering}")
    else:
        click.echo(f"anvil not running (state dir {cfg.state_dir})")
    for cid, contracts in out.get("deployments", {}).items():
        click.echo(f"chain {cid}: " + ", ".join(f"{k} {v}" for k, v in contracts.items()))


_datanet = click.argument("datanet")
_owner = click.option(
    "--owner",
    default=None,
    help="Address that registered the Datanet (its stake is keyed by owner and name). Default: found on chain "
    "when DATANET is a Datanet directory.",
)
_signer_config = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML whose chain: section names the chain and the signer (chain.key_env / chain.keystore; on the "
    "embedded chain chain.dev_account). Default: the embedded chain, .olab/chain.",
)


def _stake_key(ledger: Any, datanet: str, owner: str | None) -> tuple[str, str]:
    """(Datanet name, its registrant) of a name or a Datanet directory and --owner."""
    from eth_utils import is_address, to_checksum_address

    from olab.errors import OlabError

    name, root = datanet, None
    if Path(datanet).is_dir():
        from olab.datanet import Datanet

        dn = Datanet.open(datanet)
        name, root = dn.name, dn.root
    if owner is not None:
        if not is_address(owner):
            raise OlabError(
                f"--owner {owner!r} is not an address: give the 0x-prefixed address that registered {name!r}"
            )
        return name, to_checksum_address(owner)
    for version in ledger.versions_with_root(root) if root else []:
        who = version["appended_by"]
        if "0x" + ledger.datanet_id(name, who).hex() == version["datanet_id"]:
            return name, who
    where = f"no version of {datanet} is registered on chain {ledger.chain_id} by its owner" if root else "a name alone"
    raise OlabError(f"whose Datanet {name!r}? {where}: give --owner ADDRESS (the address that registered it)")


@click.command()
@_datanet
@click.argument("amount", type=click.IntRange(min=1))
@_owner
@_signer_config
def stake(datanet: str, amount: int, owner: str | None, config: str | None) -> None:
    """Stake AMOUNT test-token units behind your records in DATANET (a name, or a Datanet directory). It is at risk
    until a run over the Datanet (or a usage epoch paying for one) is settled after this deposit; harmful records
    lose up to their deposit (docs: olab.ledger.settlement)."""
    from olab.ledger import Ledger

    with Ledger(chain_config(config)) as ledger:
        name, registrant = _stake_key(ledger, datanet, owner)
        result = ledger.stake(name, amount, registrant)
        total = ledger.staked(name, ledger.account, registrant)
    click.echo(f"staked {amount:,} in Datanet {name!r} of {registrant} from {ledger.account} in tx {result.tx_hash}"
               f" (now {total:,} at risk)" + (f"; {result.note}" if result.note else ""))  # fmt: skip


@click.command()
@_datanet
@_owner
@_signer_config
def withdraw(datanet: str, owner: str | None, config: str | None) -> None:
    """Take back what is left of your stake in DATANET (a name, or a Datanet directory): refused while it is at risk
    (no run over the Datanet settled since your last deposit)."""
    from olab.ledger import Ledger

    with Ledger(chain_config(config)) as ledger:
        name, registrant = _stake_key(ledger, datanet, owner)
        before = ledger.staked(name, ledger.account, registrant)
        result = ledger.withdraw(name, registrant)
    click.echo(f"withdrew {before:,} from Datanet {name!r} of {registrant} to {ledger.account} in tx {result.tx_hash}")
