"""Signing accounts: development accounts for local chains, a key from the environment or a keystore.

A key is only ever held in memory: it is never logged, printed, or written to any file.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from olab.errors import LedgerError
from olab.ledger.config import ChainConfig
from olab.secrets import looks_like_private_key

# Foundry's and Hardhat's public development mnemonic: anvil funds the same ten accounts, so an
# address means the same on the embedded chain and on `olab chain up`. Never use it on a real network.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_HD_PATH = "m/44'/60'/0'/0"
DEV_ACCOUNTS = 10


@functools.cache
def dev_account(index: int) -> LocalAccount:
    """The `index`-th development account (0..9), as anvil derives it."""
    if not 0 <= index < DEV_ACCOUNTS:
        raise LedgerError(f"development account index must be in 0..{DEV_ACCOUNTS - 1}, got {index}")
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"{DEV_HD_PATH}/{index}")


def dev_address(index: int) -> str:
    return dev_account(index).address


def _from_key_env(name: str) -> LocalAccount | None:
    key = os.environ.get(name)
    if not key:
        return None
    if not looks_like_private_key(key):  # exactly 64 hex digits: a short key is not silently padded
        raise LedgerError(
            f"${name} does not hold a valid private key: expected 0x followed by exactly 64 hex digits "
            f"(it holds {len(key.strip())} characters; the value is not shown)"
        )
    try:
        return Account.from_key(key.strip())
    except Exception:
        # never echo the value: it is (meant to be) a secret
        raise LedgerError(
            f"${name} does not hold a valid private key (expected 0x followed by 64 hex digits)"
        ) from None


def _from_keystore(path: str, password_env: str) -> LocalAccount:
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise LedgerError(f"chain.keystore: cannot read the keystore {p}: {e}") from None
    password = os.environ.get(password_env)
    if password is None:
        raise LedgerError(f"chain.keystore {p} is encrypted: set ${password_env} to its password")
    try:
        return Account.from_key(Account.decrypt(data, password))
    except Exception:
        raise LedgerError(
            f"cannot decrypt keystore {p} with the password in ${password_env} (wrong password?)"
        ) from None


def signer(cfg: ChainConfig) -> LocalAccount:
    """The account that signs this ledger's transactions, per the config."""
    if cfg.backend == "embedded":
        return dev_account(cfg.dev_account)
    account = _from_key_env(cfg.key_env)
    if account is None and cfg.keystore:
        account = _from_keystore(cfg.keystore, cfg.keystore_password_env)
    if account is not None:
        return account
    if cfg.backend == "anvil":
        return dev_account(cfg.dev_account)
    raise LedgerError(
        f"no signing key for backend 'rpc': set ${cfg.key_env} to a funded account's private key, "
        "or chain.keystore (with its password in "
        f"${cfg.keystore_password_env})"
    )
