"""The ledger: olab's commitments on an EVM chain (embedded py-evm, a local anvil, or a testnet).

`Ledger` deploys or attaches to the contracts and publishes Datanet versions, run commitments,
reward claims and reviewer attestations; `ChainConfig` is the `chain` config section.
"""

from olab._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "olab.ledger.config": ("ChainConfig",),
        "olab.ledger.ledger": ("Ledger",),
        "olab.ledger.records": ("RunCommitment", "TxResult"),
    },
)
