"""What a person reads for a contributor: a display name instead of a bare address, defined once.

Used by the CLI, `rewards.json` (as metadata beside the hashed shares), the report and the widgets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eth_utils import is_address, to_checksum_address


def short_address(address: str) -> str:
    """`0x1234…abcd`: enough to tell contributors apart at a glance."""
    a = to_checksum_address(address) if is_address(address) else str(address)
    return a if len(a) <= 12 else f"{a[:6]}…{a[-4:]}"


def display_name(entry: Mapping[str, Any]) -> str:
    """A Datanet contributor entry (`Datanet.contributors`) as a person reads it: the name from the
    contributor column, else the simulation's index and behaviour, else the short address."""
    if entry.get("name"):
        return str(entry["name"])
    if entry.get("index") is not None:
        return f"contributor {entry['index']} ({entry.get('behaviour') or 'clean'})"
    return short_address(str(entry["address"]))


def display_names(contributors: Iterable[Mapping[str, Any]], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """{checksummed address: display name} for a Datanet's contributors, plus `extra` (e.g. a fee split's
    developer and stakers addresses, named by their role)."""
    names = {to_checksum_address(c["address"]): display_name(c) for c in contributors}
    names.update({to_checksum_address(a): n for a, n in (extra or {}).items()})
    return names


def name_of(names: Mapping[str, str] | None, address: str) -> str:
    """The display name of `address` in `names` (case-insensitive), else its short address."""
    if names:
        if address in names:
            return names[address]
        if is_address(address):
            found = names.get(to_checksum_address(address))
            if found:
                return found
    return short_address(address)


__all__ = ["display_name", "display_names", "name_of", "short_address"]


POOL_REMAINDER_NAME = "rounding (stays in the pool)"


def share_names(contributors: Iterable[Mapping[str, Any]], roles: Mapping[str, str]) -> dict[str, str]:
    """The names `rewards.json` stores (and `olab verify` recomputes): every contributor's, the fee split's roles
    (`roles`: address -> role) and the pool's rounding leaf."""
    from olab.rewards import POOL_REMAINDER

    return display_names(contributors, {**roles, POOL_REMAINDER: POOL_REMAINDER_NAME})
