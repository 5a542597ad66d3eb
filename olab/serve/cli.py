"""`olab serve RUN_DIR [RUN_DIR ...]`: the OpenAI-compatible server over the runs' adapters."""

from __future__ import annotations

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8000).")
@click.option("--max-tokens", default=None, type=int, help="Most new tokens a request may ask for (default 256).")
@click.option("--max-prompt-tokens", default=None, type=int, help="Longest prompt accepted, in tokens (default 512).")
@click.option("--receipts", default=None, type=click.Path(dir_okay=False),
              help="SQLite receipt store: every answer gets a receipt signed with the key in $OLAB_SERVE_KEY.")  # fmt: skip
@click.option("--max-resident", default=None, type=int,
              help="Most adapters loaded at once; the least recently used one unloads (default 32).")  # fmt: skip
@click.option("--device", default=None, type=click.Choice(["auto", "cpu", "cuda"]),
              help="Where the base model and receipt scoring run (default auto: CUDA when present).")  # fmt: skip
@click.option(
    "--fee", default=None, type=int, help="Fee per answer in test-token units, paid out by olab settle (default 0)."
)
def serve(
    run_dirs: tuple[str, ...],
    host: str | None,
    port: int | None,
    max_tokens: int | None,
    max_prompt_tokens: int | None,
    receipts: str | None,
    fee: int | None,
    max_resident: int | None,
    device: str | None,
) -> None:
    """Serve every adapter of RUN_DIR... on one base model: GET /v1/models, POST /v1/completions,
    /v1/chat/completions, /v1/classify. A request's `model` is an adapter id from /v1/models. With
    $OLAB_SERVE_ADMIN_TOKEN set, POST /v1/adapters {"run_dir": ...} and DELETE /v1/adapters/{id} change what is
    served without a restart."""
    from pydantic import ValidationError

    from olab.config import format_validation_error
    from olab.errors import ConfigError
    from olab.serve.app import serve as run_server
    from olab.serve.config import ServeConfig

    given = {"host": host, "port": port, "max_tokens": max_tokens, "max_prompt_tokens": max_prompt_tokens,
             "receipts": receipts, "fee": fee, "max_resident": max_resident, "device": device}  # fmt: skip
    try:
        config = ServeConfig(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "olab serve")) from None
    click.echo(f"olab serve: {len(run_dirs)} run(s) on http://{config.host}:{config.port}/v1", err=True)
    run_server(list(run_dirs), config)


@click.group()
def receipt() -> None:
    """Attribution receipts of served answers."""


@receipt.command()
@click.argument("receipt_file", type=click.Path(dir_okay=False, exists=True))
@click.option("--run", "run_dir", default=None, type=click.Path(file_okay=False, exists=True),
              help="The run the receipt names: check its run id, adapter hash, Datanet root and recompute the scores.")  # fmt: skip
@click.option("--signer", default=None, help="The address the server signs with (else: the receipt's own signer).")
def verify(receipt_file: str, run_dir: str | None, signer: str | None) -> None:
    """Check RECEIPT_FILE (the JSON of GET /v1/receipts/{id}): id, signature, Merkle proofs, shares and, with --run,
    the run's hashes and the recomputed scores. Exit 0 only when every link holds; else name each broken one."""
    from olab.errors import OlabError, VerificationError
    from olab.io import read_json
    from olab.serve.receipts import problems

    try:
        data = read_json(receipt_file)
    except ValueError as e:
        raise OlabError(f"{receipt_file} is not JSON ({e}); give the body of GET /v1/receipts/{{id}}") from None
    run = scorer = None
    if run_dir is not None:
        from olab.pipeline import Run
        from olab.serve.answers import AnswerScorer

        run = Run.open(run_dir)
        member = data.get("adapter", {}).get("member", 0)
        if data.get("inputs") and 0 <= member < len(run.manifest.adapter.models):
            scorer = AnswerScorer.for_receipt(run, data)
    broken = problems(data, run=run, scorer=scorer, signer=signer)
    if broken:
        raise VerificationError(f"receipt {data.get('receipt_id')} does not hold:\n  - " + "\n  - ".join(broken))
    checked = "signature, proofs, shares" + (", run, scores" if scorer is not None else ", run" if run else "")
    click.echo(f"receipt {data['receipt_id']} holds ({checked})")


_store = click.argument("store", type=click.Path(dir_okay=False, exists=True))
_chain = click.option("--config", default=None, type=click.Path(dir_okay=False, exists=True),
                      help="YAML whose chain: section names the chain (default: the embedded chain, .olab/chain).")  # fmt: skip


@click.command()
@_store
@_chain
@click.option("--run", "run_dirs", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="A run whose answers the epoch pays (repeatable): its harmful records' stake is settled.")  # fmt: skip
@click.option("--deposit-per-record", default=None, type=click.IntRange(min=1),
              help="Settle the stake of each --run no publish or earlier epoch settled: a harmful record loses "
              "min(this, ceil(harm_ppm * the run's contributor fees in the epoch / 1e6)).")  # fmt: skip
def settle(store: str, config: str | None, run_dirs: tuple[str, ...], deposit_per_record: int | None) -> None:
    """Close a usage epoch over the receipts STORE (olab serve --receipts) holds since the last one: each address's
    share of their fees, published as a reward root and funded in the test token. An unfinished epoch resumes."""
    from olab.errors import ConfigError
    from olab.ledger import Ledger
    from olab.ledger.cli import chain_config
    from olab.pipeline import Run
    from olab.rewards import POOL_REMAINDER
    from olab.serve.epochs import settle as settle_epoch
    from olab.serve.store import open_store

    if run_dirs and deposit_per_record is None:
        raise ConfigError("--run names runs whose stake to settle: give --deposit-per-record UNITS with it")
    runs = {r.manifest.run_id: r for r in map(Run.open, run_dirs)}
    receipts = open_store(store)
    with Ledger(chain_config(config)) as ledger:
        e = settle_epoch(receipts, ledger, runs, deposit_per_record)
    rec, tx = e.record, e.chain["transactions"]
    click.echo(f"epoch {e.number}: {len(rec['receipt_ids'])} receipt(s), seq {rec['first_seq']}..{rec['last_seq']}, "
               f"fees {rec['total_fee']:,}, root {rec['root']}")  # fmt: skip
    for who, amount in sorted(e.amounts().items(), key=lambda t: -t[1]):
        note = "  (pool remainder: nobody claims it)" if who == POOL_REMAINDER else ""
        click.echo(f"  {who}  {amount:,} ({rec['shares_ppm'][who]:,} ppm){note}")
    click.echo(f"published in tx {tx['publish']['tx_hash']}, funded in tx {tx['fund']['tx_hash']} "
               f"(epoch id {e.epoch_id}, chain {e.chain['chain_id']})")  # fmt: skip
    for run_id, rec in (e.chain.get("stake") or {}).items():
        if "not_settled" in rec:
            click.echo(f"stake of run {run_id}: not settled, {rec['not_settled']}")
        elif "settled_before" in rec:
            click.echo(f"stake of run {run_id}: settled before, in tx {rec['settled_before']['tx_hash']}")
        else:
            lost = ", ".join(f"{a} {v:,}" for a, v in rec["slashed"].items()) or "nobody"
            click.echo(f"stake of run {run_id}: slashed {lost} into the run's pool "
                       f"(in tx {rec['transactions']['settle']['tx_hash']})")  # fmt: skip


@click.command()
@click.argument("source", type=click.Path(exists=True))
@click.argument("address")
@click.option("--epoch", "number", default=None, type=int, help="The epoch of a receipt store (default: the latest).")
@_chain
def claim(source: str, address: str, number: int | None, config: str | None) -> None:
    """Pay ADDRESS its share, once, with its proof: of a run's reward pool (SOURCE a run directory) or of a usage
    epoch's fees (SOURCE a receipt store). Anyone may submit it; the tokens go to ADDRESS."""
    from pathlib import Path

    from olab.ledger.cli import chain_config

    if Path(source).is_dir():
        from olab.pipeline import Run

        result = Run.open(source).claim(address)
    else:
        from olab.serve.epochs import epoch, epochs
        from olab.serve.store import open_store

        receipts = open_store(source)
        e = epoch(receipts, number) if number is not None else (epochs(receipts) or [None])[-1]
        if e is None:
            from olab.errors import OlabError

            raise OlabError(f"{source} has no epoch yet: olab settle {source} closes the first")
        with e.ledger(chain_config(config) if config else None) as ledger:
            result = e.claim(address, ledger)
    click.echo(f"claimed in tx {result.tx_hash}" + (f": {result.note}" if result.note else ""))


def verify_epochs(store: str, number: int | None, chain: bool, config: str | None) -> bool:
    """`olab verify STORE`: recompute each epoch (or epoch `number`) of a receipt store from its receipts and check
    it against the chain it was settled on; prints each epoch's verdict, True when all hold."""
    from olab.errors import OlabError
    from olab.ledger.cli import chain_config
    from olab.serve.epochs import epoch, epochs, problems
    from olab.serve.store import open_store

    with open(store, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise OlabError(f"{store} is neither a run directory nor a receipt store (olab serve --receipts FILE)")
    receipts = open_store(store)
    chosen = [epoch(receipts, number)] if number is not None else epochs(receipts)
    if not chosen:
        click.echo(f"{store} has no epoch yet: olab settle {store} closes the first")
        return False
    ok = True
    for e in chosen:
        if chain and e.chain is not None:
            with e.ledger(chain_config(config) if config else None) as ledger:
                broken = problems(receipts, e.number, ledger)
        else:
            broken = problems(receipts, e.number)
        ok &= not broken
        where = f" and on chain {e.chain['chain_id']}" if chain and e.chain else ""
        click.echo(f"epoch {e.number} ({len(e.record['receipt_ids'])} receipts, root {e.record['root']}): "
                   + ("FAILED\n  - " + "\n  - ".join(broken) if broken else f"holds (recomputed from its receipts{where})"))  # fmt: skip
    return ok
