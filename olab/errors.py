"""Exceptions olab raises, and how a program ends on one. Each message names what is wrong and what would be right."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

EXIT_OK, EXIT_VERIFICATION_FAILED, EXIT_USAGE = 0, 1, 2


class OlabError(Exception):
    """Base class: any error a user can act on. Its message never shows a URL's credentials."""

    def __str__(self) -> str:
        from olab.secrets import redact

        return redact(super().__str__())


class ConfigError(OlabError, ValueError):
    """A config file or value is invalid (the message names the field path)."""


class DatanetError(OlabError):
    """A Datanet is missing, malformed, or fails verification."""


class ValidationError(OlabError):
    """A record or contribution fails validation."""


class LedgerError(OlabError):
    """A chain call failed: node unreachable, revert (with its reason), or mismatch."""


class VerificationError(OlabError):
    """A hash in a run's chain of artifacts does not match (the message names the link)."""


class DatanetVerificationError(DatanetError, VerificationError):
    """A Datanet's stored records or files do not match what its version committed to."""


@contextlib.contextmanager
def exit_on_error() -> Iterator[None]:
    """For a program's entry point (the CLI, an experiment script): an OlabError inside ends the program with its one
    message on stderr, never a traceback, and exit status 1 when a verification failed, 2 for any other."""
    try:
        yield
    except OlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(EXIT_VERIFICATION_FAILED if isinstance(e, VerificationError) else EXIT_USAGE)
