"""The whole pipeline: `run`, `verify`, `reproduce` (and the typed run config)."""

from olab.pipeline.config import RunConfig, load_config
from olab.pipeline.reproduce import reproduce
from olab.pipeline.run import run
from olab.pipeline.verify import verify

__all__ = ["RunConfig", "load_config", "reproduce", "run", "verify"]
