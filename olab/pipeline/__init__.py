"""The whole pipeline: `run`, `verify`, `reproduce` (and the typed run config)."""

from olab.pipeline.config import RunConfig, load_config
from olab.pipeline.reproduction import reproduce
from olab.pipeline.runner import run
from olab.pipeline.verification import verify

__all__ = ["RunConfig", "load_config", "reproduce", "run", "verify"]
