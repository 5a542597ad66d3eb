"""The ledger: olab's commitments on an EVM chain (embedded py-evm, a local anvil, or a testnet).

`Ledger` deploys or attaches to the contracts and publishes Datanet versions, run commitments,
reward claims and reviewer attestations; `ChainConfig` is the `chain` config section.
"""

from olab.ledger.config import ChainConfig
from olab.ledger.ledger import Ledger
from olab.ledger.records import RunCommitment, TxResult

__all__ = ["ChainConfig", "Ledger", "RunCommitment", "TxResult"]
