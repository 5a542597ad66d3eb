"""Datanets: versioned, contributor-attributed datasets committed to by OpenZeppelin-compatible Merkle roots.

dn = Datanet.build("configs/quickstart.yaml")      # or Datanet.open("datanets/quickstart")
dn.proof("r000042"); dn.verify(); dn.submit(sign_batch(account, dn, records, nonce=1))
"""

from olab._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "olab.datanet.config": (
            "BehaviourConfig",
            "ColumnsConfig",
            "ContributorsConfig",
            "DatanetConfig",
            "SourceConfig",
            "ValidationConfig",
        ),
        "olab.datanet.contributions": ("SignedBatch", "sign_batch", "signature_problem"),
        "olab.datanet.contributors": ("address_for_name", "simulated_accounts"),
        "olab.datanet.records": ("record_hash", "verify_record_proof"),
        "olab.datanet.sources": ("load_source",),
        "olab.datanet.store": ("Datanet", "resolve_config"),
        "olab.datanet.submissions": ("SubmitResult",),
        "olab.datanet.validation": ("Rejection",),
    },
)
