"""`olab serve`: many runs' adapters on one base model behind an OpenAI-compatible HTTP API."""

from olab._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "olab.serve.app": ("Server", "serve"),
        "olab.serve.config": ("ServeConfig",),
        "olab.serve.epochs": ("Epoch", "settle"),
    },
)
