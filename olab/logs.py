"""What olab prints besides its results: its own logging (`-v`/`-q`), and the third-party noise it keeps out.

- `ignore_warning` is how a module that calls a noisy library silences one warning that is not the user's
  business, narrowly: by category, message and the module that issues it (each call site says why).
- `silence_library_bars` turns off the progress bars of `datasets`, `transformers` and `huggingface_hub`
  (e.g. datasets' "Generating train split"), so `--no-progress` means no bar at all.
- `configure` sets the level of the `olab` loggers from the CLI's `-v`/`-q`.

Nothing heavy is imported at the top: the CLI imports this module before it knows which command runs.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

_level = logging.WARNING


def ignore_warning(category: type[Warning], message: str, module: str) -> None:
    """Ignore warnings of `category` whose text starts with the regex `message`, issued from the module
    whose name matches the regex `module` (as `warnings.filterwarnings` matches them)."""
    warnings.filterwarnings("ignore", message=message, category=category, module=module)


def silence_library_bars() -> None:
    """No progress bars from datasets, transformers or huggingface_hub (olab's own bars obey `progress=`).

    Libraries not imported yet read the environment when they are; those already imported are told directly.
    """
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
    if "huggingface_hub" in sys.modules:
        import huggingface_hub.utils

        huggingface_hub.utils.disable_progress_bars()
    if "transformers" in sys.modules:
        import transformers.utils.logging

        transformers.utils.logging.disable_progress_bar()


def configure(verbose: int = 0, quiet: bool = False) -> None:
    """Log olab's messages to stderr: warnings and errors by default, info with -v, debug with -vv,
    errors only with -q."""
    global _level
    _level = logging.ERROR if quiet else max(logging.DEBUG, logging.WARNING - 10 * verbose)
    logger = logging.getLogger("olab")
    logger.setLevel(_level)
    if not any(getattr(h, "_olab", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[olab] %(levelname)s %(name)s: %(message)s"))
        handler._olab = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def quiet() -> bool:
    """True after `configure(quiet=True)`: commands print their result and errors, no stage lines."""
    return _level >= logging.ERROR


__all__ = ["configure", "ignore_warning", "quiet", "silence_library_bars"]
