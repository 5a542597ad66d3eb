"""Exceptions olab raises. Each message names what is wrong and what would be right."""


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
