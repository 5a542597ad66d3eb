"""`olab serve RUN_DIR [RUN_DIR ...]`: the OpenAI-compatible server over the runs' adapters."""

from __future__ import annotations

import click


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8000).")
@click.option("--max-tokens", default=None, type=int, help="Most new tokens a request may ask for (default 256).")
@click.option("--max-prompt-tokens", default=None, type=int, help="Longest prompt accepted, in tokens (default 512).")
def serve(
    run_dirs: tuple[str, ...], host: str | None, port: int | None, max_tokens: int | None, max_prompt_tokens: int | None
) -> None:
    """Serve every adapter of RUN_DIR... on one base model: GET /v1/models, POST /v1/completions,
    /v1/chat/completions, /v1/classify. A request's `model` is an adapter id from /v1/models."""
    from pydantic import ValidationError

    from olab.config import format_validation_error
    from olab.errors import ConfigError
    from olab.serve.app import serve as run_server
    from olab.serve.config import ServeConfig

    given = {"host": host, "port": port, "max_tokens": max_tokens, "max_prompt_tokens": max_prompt_tokens}
    try:
        config = ServeConfig(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, "olab serve")) from None
    click.echo(f"olab serve: {len(run_dirs)} run(s) on http://{config.host}:{config.port}/v1", err=True)
    run_server(list(run_dirs), config)
