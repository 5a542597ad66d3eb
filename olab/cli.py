"""The `olab` command line. Each command is one call into the Python API.

Commands are imported lazily, so `olab --help` stays fast and a command only loads what it uses
(torch and transformers for training, web3 for the chain).
"""

from __future__ import annotations

import importlib
import sys

import click

from olab.errors import OlabError

# command name -> "module:attribute" of its click command or group
COMMANDS = {
    "run": "olab.pipeline.cli:run",
    "verify": "olab.pipeline.cli:verify",
    "reproduce": "olab.pipeline.cli:reproduce",
    "datanet": "olab.datanet.cli:datanet",
    "chain": "olab.ledger.cli:chain",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup)
@click.version_option(package_name="olab")
def cli() -> None:
    """olab: Datanets, LoRA fine-tuning, TRAK attribution and contributor rewards, verifiable on chain."""


def main() -> None:
    """Entry point: user-facing errors print one clear message and exit 2, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except OlabError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
