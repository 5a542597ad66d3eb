"""Datanets: versioned, contributor-attributed datasets committed to by OpenZeppelin-compatible Merkle roots.

dn = Datanet.build("configs/quickstart.yaml")      # or Datanet.open("datanets/quickstart")
dn.proof("r000042"); dn.verify(); dn.submit(sign_batch(account, dn.name, 161201, records, nonce=1))
"""

from olab.datanet.config import (
    BehaviourConfig,
    ColumnsConfig,
    ContributorsConfig,
    DatanetConfig,
    SourceConfig,
    ValidationConfig,
)
from olab.datanet.contributions import SignedBatch, sign_batch, signature_problem
from olab.datanet.contributors import address_for_name, simulated_accounts
from olab.datanet.records import record_hash, verify_record_proof
from olab.datanet.sources import load_source
from olab.datanet.store import Datanet, resolve_config
from olab.datanet.submissions import SubmitResult
from olab.datanet.validation import Rejection

__all__ = [
    "BehaviourConfig",
    "ColumnsConfig",
    "ContributorsConfig",
    "Datanet",
    "DatanetConfig",
    "Rejection",
    "SignedBatch",
    "SourceConfig",
    "SubmitResult",
    "ValidationConfig",
    "address_for_name",
    "load_source",
    "record_hash",
    "resolve_config",
    "sign_batch",
    "signature_problem",
    "simulated_accounts",
    "verify_record_proof",
]
