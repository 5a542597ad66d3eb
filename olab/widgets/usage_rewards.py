"""UsageRewards: what contributors have earned from a served model's answers, claimed, settled and not yet settled,
per contributor (`olab.viz.usage_rewards`), and the usage epochs settled so far."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import traitlets

from olab.widgets._base import OlabWidget, bundle, plain, to_rows


class UsageRewards(OlabWidget):
    """`show(usage, epochs)`: `usage` rows (or a DataFrame) of address, name, pending, settled, claimed
    (`ServeSession.usage()`), `epochs` the settled epochs (`ServeSession.epochs()`). `ServeSession` users call
    `refresh(session)`, which does both."""

    _esm = bundle("usage_rewards.js")

    rows = traitlets.List(traitlets.Dict(), help="[{address, name, pending, settled, claimed}]").tag(sync=True)
    epochs = traitlets.List(traitlets.Dict(), help="[{number, receipts, total_fee, root, epoch_id}]").tag(sync=True)

    def __init__(self, usage: Any = None, epochs: Any = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if usage is not None:
            self.show(usage, epochs)

    @classmethod
    def of(cls, session: Any) -> UsageRewards:
        """The rewards of a `ServeSession` so far."""
        view = cls()
        view.refresh(session)
        return view

    def refresh(self, session: Any) -> None:
        """Show a `ServeSession`'s usage rewards and epochs as they are now."""
        self.show(session.usage(), session.epochs())

    def show(self, usage: Any, epochs: Any = ()) -> None:
        from olab import viz

        rows = to_rows(usage)
        labels: Mapping[str, str] = {r["address"]: r["name"] for r in rows if r.get("name")}
        self.rows = rows
        self.epochs = plain([{"number": e.number, "receipts": len(e.record["receipt_ids"]),
                              "total_fee": e.record["total_fee"], "root": e.record["root"], "epoch_id": e.epoch_id,
                              "settled": e.chain is not None} for e in epochs])  # fmt: skip
        self.set_figure(viz.usage_rewards(rows, labels=labels, title=None) if rows else None)
