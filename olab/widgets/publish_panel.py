"""PublishPanel: where a run went on chain: chain, contracts, transactions (status, explorer links), checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import traitlets

from olab.errors import OlabError, ValidationError
from olab.widgets._base import OlabWidget, bundle, plain


class PublishPanel(OlabWidget):
    """Transactions by label (`pending` -> `confirmed`/`failed`) with explorer links, and verification checks.

    `record(label, tx)` takes an `olab.ledger` TxResult (or its JSON); `pending(label)` shows a call in
    flight; `show_checks(report)` takes `olab.verify(...)`'s report (link -> problems).
    """

    _esm = bundle("publish_panel.js")
    _plots = False

    chain = traitlets.Dict(help="backend, chain_id, explorer").tag(sync=True)
    contracts = traitlets.List(traitlets.Dict(), help="[{name, address, url}]").tag(sync=True)
    transactions = traitlets.List(traitlets.Dict(), help="[{label, tx_hash, status, block, gas_used, url, note}]").tag(
        sync=True
    )
    checks = traitlets.List(traitlets.Dict(), help="[{link, ok, problems}] from olab.verify").tag(sync=True)

    def __init__(
        self,
        *,
        backend: str = "",
        chain_id: int | None = None,
        explorer: str | None = None,
        addresses: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        base = (explorer or "").rstrip("/")
        super().__init__(
            chain={"backend": backend, "chain_id": chain_id, "explorer": base},
            contracts=[
                {"name": name, "address": address, "url": f"{base}/address/{address}" if base else ""}
                for name, address in (addresses or {}).items()
            ],
            **kwargs,
        )

    @classmethod
    def from_run(cls, run: Any, explorer: str | None = None) -> PublishPanel:
        """The panel for a published run (an `olab.Run` or its directory): its chain, contracts and transactions."""
        from olab.widgets._run import open_run

        chain = open_run(run).manifest.chain
        if not chain.backend:
            raise ValidationError("the run was not published (run.publish: false); publish it with `olab run`")
        panel = cls(backend=chain.backend, chain_id=chain.chain_id, explorer=explorer, addresses=chain.addresses)
        for label, tx in chain.transactions.items():
            panel.record(label, tx)
        return panel

    def pending(self, label: str, note: str = "") -> None:
        """Show `label` as sent and not yet mined."""
        self._put({"label": label, "tx_hash": "", "status": "pending", "note": note})

    def record(self, label: str, tx: Any) -> dict[str, Any]:
        """Show the outcome of transaction `label` (a TxResult or its dict); returns the row shown."""
        data = plain(tx.to_json() if hasattr(tx, "to_json") else tx)
        if not isinstance(data, Mapping) or "tx_hash" not in data:
            raise ValidationError(f"transaction {label!r} must be a TxResult or a dict with 'tx_hash'; got {data!r}")
        if data.get("already_recorded"):
            status = "already recorded"
        else:
            status = "confirmed" if data.get("status") in (1, True, "confirmed") else "failed"
        base = self.chain.get("explorer", "")
        url = data.get("explorer_url") or (f"{base}/tx/{data['tx_hash']}" if base else "")
        row = {
            "label": label,
            "tx_hash": data["tx_hash"],
            "status": status,
            "block": data.get("block"),
            "gas_used": data.get("gas_used"),
            "url": url,
            "note": data.get("note") or "",
        }
        self._put(row)
        return row

    def send(self, label: str, call: Callable[[], Any]) -> Any:
        """Show `label` pending, run `call` (a Ledger write returning a TxResult) and show its outcome. A
        refusal (an olab error, e.g. a contract revert) shows as a failed row with its reason, and returns None."""
        self.pending(label)
        try:
            tx = call()
        except OlabError as e:
            self._put({"label": label, "tx_hash": "", "status": "failed", "note": str(e)})
            return None
        except Exception as e:  # a bug, not a refusal: show it, then let it propagate
            self._put({"label": label, "tx_hash": "", "status": "failed", "note": f"{type(e).__name__}: {e}"})
            raise
        self.record(label, tx)
        return tx

    def show_checks(self, report: Any) -> None:
        """Show verification results: `olab.verify(...)` or a mapping link -> list of problems."""
        checks = report.checks if hasattr(report, "checks") else report
        if not isinstance(checks, Mapping):
            raise ValidationError(
                f"show_checks needs a VerifyReport or {{link: [problems]}}; got {type(checks).__name__}"
            )
        self.checks = [
            {"link": link, "ok": not problems, "problems": list(problems)} for link, problems in checks.items()
        ]

    def _put(self, row: dict[str, Any]) -> None:
        rows = [r for r in self.transactions if r["label"] != row["label"]]
        at = next((i for i, r in enumerate(self.transactions) if r["label"] == row["label"]), len(rows))
        rows.insert(at, row)
        self.transactions = rows
