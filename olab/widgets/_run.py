"""What the widgets take of a finished run: an `olab.Run`, given or opened from its directory."""

from __future__ import annotations

from typing import Any


def open_run(run: Any) -> Any:
    """`run` as an `olab.Run`: a Run is used as it is, a path is opened."""
    from olab.pipeline.artifact import Run

    return run if isinstance(run, Run) else Run.open(run)
