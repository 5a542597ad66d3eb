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
def serve(
    run_dirs: tuple[str, ...],
    host: str | None,
    port: int | None,
    max_tokens: int | None,
    max_prompt_tokens: int | None,
    receipts: str | None,
) -> None:
    """Serve every adapter of RUN_DIR... on one base model: GET /v1/models, POST /v1/completions,
    /v1/chat/completions, /v1/classify. A request's `model` is an adapter id from /v1/models."""
    from pydantic import ValidationError

    from olab.config import format_validation_error
    from olab.errors import ConfigError
    from olab.serve.app import serve as run_server
    from olab.serve.config import ServeConfig

    given = {"host": host, "port": port, "max_tokens": max_tokens, "max_prompt_tokens": max_prompt_tokens,
             "receipts": receipts}  # fmt: skip
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
            scorer = AnswerScorer.prepare(run, member)
    broken = problems(data, run=run, scorer=scorer, signer=signer)
    if broken:
        raise VerificationError(f"receipt {data.get('receipt_id')} does not hold:\n  - " + "\n  - ".join(broken))
    checked = "signature, proofs, shares" + (", run, scores" if scorer is not None else ", run" if run else "")
    click.echo(f"receipt {data['receipt_id']} holds ({checked})")
