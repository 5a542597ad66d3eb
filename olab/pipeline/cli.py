"""CLI commands for the whole pipeline: `olab run`, `olab verify`, `olab reproduce`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from olab.logs import quiet
from olab.progress import machine_load_note, terminal

SET_HELP = "Override a config value, e.g. --set finetune.epochs=1 (repeatable)."


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--progress/--no-progress", default=True, help="Show progress bars (else one line per stage).")
def run(config: str, overrides: tuple[str, ...], progress: bool) -> None:
    """Run the whole pipeline for CONFIG and write runs/<run id>/."""
    from olab.config import parse_overrides
    from olab.intervals import share_text
    from olab.names import name_of
    from olab.pipeline.runner import run as run_pipeline

    sink = terminal(progress)
    note = machine_load_note()
    if note and not quiet():
        click.echo(note)
    result = run_pipeline(config, overrides=parse_overrides(overrides), progress=sink)
    rewards = result.rewards
    ranked = rewards.ranked()
    shares = [share_text(s.share_ppm, rewards.interval(s.contributor)) for s in ranked]
    how = (
        f" ({rewards.intervals.level:.0%} intervals over the {rewards.intervals.resampled})"
        if rewards.intervals
        else ""
    )
    click.echo(f"\nreward shares{how}:")
    width = max(len(name_of(rewards.names, s.contributor)) for s in ranked)
    share_width = max(map(len, shares))
    for s, text in zip(ranked, shares, strict=True):
        name = name_of(rewards.names, s.contributor)
        click.echo(f"  {name:<{width}}  {text:>{share_width}}  {s.share_ppm:>9,} ppm  {s.contributor}")
    note = rewards.intervals.precision_note(result.attribution.params) if rewards.intervals else None
    if note:
        click.echo(f"note: {note}")
    settled = result.manifest.chain.settlement
    if settled:
        lost = settled["slashed"]
        click.echo(
            f"\nstake settled in Datanet {settled['datanet']!r}: {sum(lost.values()):,} tokens slashed from "
            f"{len(lost)} contributor(s) into the run's pool of {settled['pool']:,}"
        )
        for who, amount in lost.items():
            click.echo(f"  {name_of(rewards.names, who):<{width}}  -{amount:,} (owed {settled['owed'][who]:,})  {who}")
    click.echo(f"\nrun directory: {result.dir}\nreport: {result.dir / 'report.html'}")


@click.command()
@click.argument("run_dir", type=click.Path(exists=True))
@click.option("--chain/--no-chain", default=True, help="Also check the on-chain record.")
@click.option("--datanet", "datanet_path", default=None, help="Where the Datanet is, if it moved.")
@click.option("--epoch", "number", default=None, type=int, help="A receipt store's epoch to check (default: all).")
@click.option("--config", default=None, type=click.Path(dir_okay=False, exists=True),
              help="A receipt store's chain (YAML with a chain: section; default: the chain its epochs recorded).")  # fmt: skip
def verify(run_dir: str, chain: bool, datanet_path: str | None, number: int | None, config: str | None) -> None:
    """Recompute every hash of RUN_DIR and check the chain; exit 0 only if every link holds. RUN_DIR may instead be
    a receipt store (olab serve --receipts): each usage epoch is recomputed from its receipts and checked on chain."""
    from olab.errors import EXIT_OK, EXIT_VERIFICATION_FAILED

    if not Path(run_dir).is_dir():
        from olab.serve.cli import verify_epochs

        sys.exit(EXIT_OK if verify_epochs(run_dir, number, chain, config) else EXIT_VERIFICATION_FAILED)
    from olab.pipeline.verification import verify as verify_run

    report = verify_run(run_dir, chain=chain, datanet_path=datanet_path)
    click.echo(report.summary())
    sys.exit(EXIT_OK if report.ok else EXIT_VERIFICATION_FAILED)


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--attest", is_flag=True, help="Publish the comparison as a reviewer attestation.")
@click.option("--workdir", default=None, help="Where to re-run (default: a new temporary directory).")
@click.option("--datanet", "datanet_path", default=None, help="Where the Datanet is, if it moved.")
@click.option(
    "--max-share-diff",
    "max_share_diff",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Accept a re-run whose hashes differ (another device or BLAS) if no share moved by more than this many ppm.",
)
@click.option("--progress/--no-progress", default=True, help="Show progress bars (else one line per stage).")
def reproduce(
    run_dir: str, attest: bool, workdir: str | None, datanet_path: str | None, max_share_diff: int, progress: bool
) -> None:
    """Re-run RUN_DIR's experiment from its recorded config and compare the results.

    Exits 0 when every hash is the same (or, with --max-share-diff, when no share moved by more than that), else 1."""
    from olab.errors import EXIT_OK, EXIT_VERIFICATION_FAILED
    from olab.pipeline.reproduction import reproduce as reproduce_run

    report = reproduce_run(
        run_dir, attest=attest, work_dir=workdir, datanet_path=datanet_path, progress=terminal(progress)
    )
    click.echo(report.summary())
    click.echo(report.verdict(max_share_diff))
    sys.exit(EXIT_OK if report.reproduced(max_share_diff) else EXIT_VERIFICATION_FAILED)
