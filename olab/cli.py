"""The `olab` command line. Each command is one call into the Python API.

Commands are imported lazily and their modules import nothing heavy at the top, so `olab --help`,
every subcommand's `--help` and shell completion answer without loading torch, datasets or web3
(`tests/test_cli_startup.py` checks; `experiments/cli_bench/run.py` times it against `python -c pass`).

Exit codes: 0 ok, 1 a verification failed (a hash, a root or an on-chain record does not match),
2 a usage or config error (bad option, invalid config, missing file), 130 interrupted.
"""

from __future__ import annotations

import gc
import importlib
import sys

import click

from olab.errors import exit_on_error

# command name -> "module:attribute" of its click command or group
COMMANDS = {
    "run": "olab.pipeline.cli:run",
    "verify": "olab.pipeline.cli:verify",
    "reproduce": "olab.pipeline.cli:reproduce",
    "datanet": "olab.datanet.cli:datanet",
    "chain": "olab.ledger.cli:chain",
    "serve": "olab.serve.cli:serve",
    "receipt": "olab.serve.cli:receipt",
    "settle": "olab.serve.cli:settle",
    "claim": "olab.serve.cli:claim",
    "stake": "olab.ledger.cli:stake",
    "withdraw": "olab.ledger.cli:withdraw",
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


@click.group(cls=LazyGroup, epilog="Exit codes: 0 ok, 1 verification failed, 2 usage or config error.")
@click.version_option(package_name="olab")
@click.option("-v", "--verbose", count=True, help="More of olab's own log: -v info, -vv debug.")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors: no stage lines, no bars.")
def cli(verbose: int, quiet: bool) -> None:
    """olab: Datanets, LoRA fine-tuning, TRAK attribution and contributor rewards, verifiable on chain."""
    from olab import logs

    logs.configure(verbose, quiet)


def main() -> None:
    """Entry point: user-facing errors print one clear message (never a traceback) and exit 1 when
    a verification failed, 2 for any other usage or config error."""
    try:
        with exit_on_error():
            cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    finally:
        # free Arrow's readers while Arrow is alive: left to interpreter teardown, a parquet reader thread can
        # abort the process after the command finished ("terminate called without an active exception",
        # exit 134; apache/arrow#34314, seen once in CI on `olab datanet proof`)
        gc.collect()


if __name__ == "__main__":
    main()
