"""The whole pipeline: `run`, `verify`, `reproduce`, the `Run` they return or read (and the typed run config)."""

from olab._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "olab.pipeline.artifact": ("Run",),
        "olab.pipeline.config": ("RunConfig", "load_config"),
        "olab.pipeline.reproduction": ("reproduce",),
        "olab.pipeline.runner": ("run",),
        "olab.pipeline.verification": ("verify",),
    },
)
