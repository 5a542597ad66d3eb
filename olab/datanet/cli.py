"""`olab datanet ...`: build, show, prove and verify Datanets from the command line.

The Datanet store (datasets, pyarrow) loads inside each command, so `olab datanet --help` is instant."""

from __future__ import annotations

import json

import click


@click.group()
def datanet() -> None:
    """Versioned, contributor-attributed datasets committed to by a Merkle root."""


@datanet.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value (repeatable).")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
def build(config: str, overrides: tuple[str, ...], progress: bool) -> None:
    """Build the Datanet CONFIG describes (a Datanet section, or a run config with a `datanet:` section)."""
    from olab.config import parse_overrides
    from olab.datanet.store import Datanet

    if not progress:
        from olab.logs import silence_library_bars

        silence_library_bars()
    dn = Datanet.build(config, overrides=parse_overrides(overrides), progress=progress)
    change = dn.manifest["change"]
    click.echo(f"{dn.path} version {dn.version}: {len(dn)} records, {len(dn.contributors)} contributors")
    if dn.reused:
        click.echo("  unchanged: built from the same config and source before, nothing rewritten")
    elif change["kind"] == "build":
        click.echo(
            f"  accepted {change['added']}, rejected {change['rejected']} (see {dn.path}/v{dn.version:04d}/rejections.jsonl)"
        )
    click.echo(f"  merkle root {dn.root}")


@datanet.command()
@click.argument("path")
@click.option("--version", "version", type=int, default=None, help="Version to show (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole manifest as JSON.")
def show(path: str, version: int | None, as_json: bool) -> None:
    """Summarise the Datanet at PATH: version, root, labels, contributors and their ground truth."""
    from olab.datanet.store import Datanet

    dn = Datanet.open(path, version)
    m = dn.manifest
    if as_json:
        click.echo(json.dumps(m, indent=2))
        return
    click.echo(f"{m['name']}  version {dn.version} of {dn.versions[-1]}  ({dn.path})")
    click.echo(f"  merkle root  {dn.root}")
    click.echo(f"  parent root  {m['parent_root']}")
    click.echo(
        f"  records      {m['record_count']} (this change: {m['change']['kind']}, +{m['change']['added']}, rejected {m['change']['rejected']})"
    )
    click.echo(f"  labels       {', '.join(dn.labels)}")
    click.echo(f"  created      {m['created']}")
    click.echo(f"  contributors {len(dn.contributors)}")
    for c in dn.contributors:
        who = c.get("name") or (f"#{c['index']}" if "index" in c else "")
        injected = ", ".join(f"{k} {v}" for k, v in c["injected"].items()) or "-"
        click.echo(
            f"    {c['address']} {who:>6} {c['records']:>7} records  behaviour {c['behaviour']} (rate {c['rate']})  injected: {injected}"
        )


@datanet.command()
@click.argument("path")
@click.argument("record_id")
@click.option("--version", "version", type=int, default=None, help="Version to prove against (default: the latest).")
def proof(path: str, record_id: str, version: int | None) -> None:
    """Print the JSON inclusion proof of RECORD_ID in the Datanet at PATH."""
    from olab.datanet.store import Datanet

    click.echo(json.dumps(Datanet.open(path, version).proof(record_id), indent=2))


@datanet.command()
@click.argument("path")
@click.option("--version", "version", type=int, default=None, help="Version to verify (default: the latest).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.option(
    "--chain/--no-chain",
    default=True,
    help="Also check the version's metadata_hash where it is registered on the local chain (.olab/chain).",
)
def verify(path: str, version: int | None, progress: bool, chain: bool) -> None:
    """Recompute every record hash and the Merkle root from the stored data, and check the version's manifest;
    exit 0 only if all match."""
    from olab.datanet.storage import Storage
    from olab.datanet.store import Datanet
    from olab.errors import DatanetError, DatanetVerificationError

    try:
        dn = Datanet.open(path, version)
    except DatanetError as e:
        if Storage(path).versions():  # a Datanet is there, but its manifest cannot be read: it is damaged
            raise DatanetVerificationError(str(e)) from None
        raise
    result = dn.verify(progress=progress)
    if chain:
        from olab.ledger import Ledger
        from olab.pipeline.publish import registered_version_problems

        ledger = Ledger.existing()
        problems = registered_version_problems(dn, ledger) if ledger is not None else []
        if problems:
            raise DatanetVerificationError("; ".join(problems))
    click.echo(f"ok: {result['records']} records of {dn.path} version {dn.version} match root {dn.root}")
