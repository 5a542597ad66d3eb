"""ReceiptView: a served answer beside its attribution receipt: the training records that shaped it (text,
contributor, score, Merkle proof ✓/✗), the contributors' shares of it in ppm, the fee and the signature status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import traitlets

from olab.widgets._base import OlabWidget, bundle, plain


class ReceiptView(OlabWidget):
    """Shows one `olab.serve.session.Answer` (`show(answer)` replaces it); empty until the first answer.

    `names` ({address: display name}) name contributors, e.g. `ServeSession.names()`."""

    _esm = bundle("receipt_view.js")
    _plots = False

    answer = traitlets.Dict(help="adapter, task, question, text, receipt_id, run_id, fee, signer, timestamp, "
                            "ok, signature_ok, problems").tag(sync=True)  # fmt: skip
    records = traitlets.List(traitlets.Dict(), help="[{rank, record_id, contributor, name, score, text, label, "
                             "proof_ok}]").tag(sync=True)  # fmt: skip
    shares = traitlets.List(traitlets.Dict(), help="[{contributor, name, share_ppm}], largest first").tag(sync=True)

    def __init__(self, answer: Any = None, *, names: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.names = dict(names or {})
        if answer is not None:
            self.show(answer)

    def show(self, answer: Any) -> None:
        """Show `answer` (an Answer from `ServeSession.ask`)."""
        r = answer.receipt
        self.records = plain([{**row, "name": row.get("name") or self.names.get(row["contributor"], "")}
                              for row in answer.records])  # fmt: skip
        self.shares = plain(answer.shares(self.names))
        self.answer = plain({
            "adapter": answer.adapter, "task": answer.task, "question": answer.question, "text": answer.text,
            "receipt_id": r.get("receipt_id"), "run_id": r.get("run_id"), "fee": r.get("fee"),
            "signer": r.get("signer"), "timestamp": r.get("timestamp"), "ok": answer.ok,
            "signature_ok": answer.signature_ok, "problems": list(answer.problems),
        })  # fmt: skip
