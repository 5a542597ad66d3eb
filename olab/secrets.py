"""Secrets never leave memory: credentials in URLs are redacted wherever a URL is shown or stored, and
private keys are checked exactly and never echoed.

`redact` is applied to every olab error message (`olab.errors.OlabError`) and to URL fields when a config
is written into an artifact (`redacted_url`), so a `manifest.json`, a log line or an error shows
`https://***@node.example/...` where the config said `https://user:password@node.example/...`.
"""

from __future__ import annotations

import re

_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s@?#]+)@")
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:api[_-]?key|apikey|key|token|access[_-]?token|secret|password|auth)=)[^&#\s]+", re.I
)
PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
HIDDEN = "***"


def redact(text: str) -> str:
    """`text` with the user:password part of any URL, and secret-looking query values, replaced by ***."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{HIDDEN}@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}{HIDDEN}", text)


def redacted_url(value: str | None) -> str | None:
    """A URL as it may be written into an artifact (None stays None)."""
    return None if value is None else redact(value)


def looks_like_private_key(value: object) -> bool:
    """True for 64 hex digits (with or without 0x): what a secp256k1 private key looks like."""
    return isinstance(value, str) and bool(PRIVATE_KEY.match(value.strip()))
