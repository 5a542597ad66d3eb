"""How a run turns attribution scores into per-contributor influence: one definition, used by
`run` (to pay), `verify` (to recompute what was paid) and the report (to show it)."""

from __future__ import annotations

import pandas as pd

from olab.attribution import Attribution
from olab.datanet import Datanet


def contributor_influence(attribution: Attribution, dn: Datanet) -> pd.DataFrame:
    """The attribution's contributor table, with the Datanet's records in training order."""
    return attribution.contributor_table(
        dn.table.column("contributor").to_pylist(), labels=dn.table.column("label").to_pylist()
    )
