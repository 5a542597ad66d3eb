"""DatanetView: a Datanet's records with their contributor and validation status, filterable by both."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import traitlets

from olab.errors import ValidationError
from olab.names import display_names
from olab.widgets._base import OlabWidget, bundle, to_rows

STATUSES = ("all", "valid", "rejected")


class DatanetView(OlabWidget):
    """Records table (id, contributor, label, status, text) plus a per-contributor summary.

    `records`: rows with `record_id` (or `id`), `contributor`, `text`, `label`, and optionally `status`
    ("valid"/"rejected", default "valid") and `reason`. `labels` maps contributor address -> a human
    name. Clicking a contributor filters the records; the filter is the `contributor` traitlet.
    """

    _esm = bundle("datanet_view.js")

    info = traitlets.Dict(help="name, version, root, n_records of the Datanet").tag(sync=True)
    records = traitlets.List(traitlets.Dict(), help="one dict per record").tag(sync=True)
    contributors = traitlets.List(traitlets.Dict(), help="per contributor: records, valid, rejected").tag(sync=True)
    contributor = traitlets.Unicode("", help="show only this contributor's records ('' = all)").tag(sync=True)
    status = traitlets.Unicode("all", help="show 'all', 'valid' or 'rejected' records").tag(sync=True)
    page_size = traitlets.Int(12, help="records per page").tag(sync=True)

    def __init__(
        self,
        records: Any,
        *,
        info: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        figure: Any = None,
        **kwargs: Any,
    ) -> None:
        rows = [_record(r, i) for i, r in enumerate(to_rows(records))]
        super().__init__(
            records=rows,
            contributors=_summary(rows, labels or {}),
            info=dict(info or {}) | {"n_records": sum(r["status"] == "valid" for r in rows)},
            **kwargs,
        )
        self.set_figure(figure)

    @classmethod
    def from_datanet(cls, datanet: Any, *, rejections: bool = True, **kwargs: Any) -> DatanetView:
        """The view of an `olab.Datanet` version: its records, and (with `rejections`) every record refused
        while making its versions, labelled with each contributor's simulated behaviour when known."""
        rows = datanet.to_pandas().drop(columns=["record_hash", "original_label", "batch_id"], errors="ignore")
        rows = to_rows(rows)
        if rejections:
            for version in datanet.versions:
                if version > datanet.version:
                    break
                for n, r in enumerate(datanet.rejections(version)):
                    record = r.get("record") or {}
                    rows.append(
                        {
                            "record_id": str(record.get("record_id") or f"v{version}-rejected-{n}"),
                            "contributor": str(r.get("contributor") or record.get("contributor") or "unknown"),
                            "text": str(record.get("text", "")),
                            "label": record.get("label"),
                            "status": "rejected",
                            "reason": f"{r['rule']}: {r['reason']}",
                            "version_added": version,
                        }
                    )
        labels = display_names(datanet.contributors)
        info = {"name": datanet.name, "version": datanet.version, "root": datanet.root, "path": str(datanet.path)}
        return cls(rows, info=info, labels=labels | dict(kwargs.pop("labels", None) or {}), **kwargs)

    @traitlets.validate("status")
    def _check_status(self, proposal: dict[str, Any]) -> str:
        if proposal["value"] not in STATUSES:
            raise ValidationError(f"DatanetView.status must be one of {STATUSES}, got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("contributor")
    def _check_contributor(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        known = {c["contributor"].lower(): c["contributor"] for c in self.contributors}
        if value and value.lower() not in known:
            raise ValidationError(f"DatanetView.contributor {value!r} has no records; known: {sorted(known.values())}")
        return known.get(value.lower(), "")

    def visible(self) -> list[dict[str, Any]]:
        """The records the current `contributor` and `status` filters show (what the table pages through)."""
        return [
            r
            for r in self.records
            if (not self.contributor or r["contributor"].lower() == self.contributor.lower())
            and (self.status == "all" or r["status"] == self.status)
        ]


def _record(row: dict[str, Any], index: int) -> dict[str, Any]:
    if "contributor" not in row:
        raise ValidationError(f"record {index} has no 'contributor' column; columns: {sorted(row)}")
    record_id = row.get("record_id", row.get("id", index))
    status = str(row.get("status") or "valid")
    if status not in STATUSES[1:]:
        raise ValidationError(f"record {record_id!r} has status {status!r}; expected 'valid' or 'rejected'")
    return {
        **row,
        "record_id": str(record_id),
        "contributor": str(row["contributor"]),
        "text": str(row.get("text", "")),
        "label": "" if row.get("label") is None else str(row["label"]),
        "status": status,
        "reason": str(row.get("reason") or ""),
    }


def _summary(rows: list[dict[str, Any]], labels: Mapping[str, str]) -> list[dict[str, Any]]:
    total = Counter(r["contributor"] for r in rows)
    rejected = Counter(r["contributor"] for r in rows if r["status"] == "rejected")
    lowered = {str(k).lower(): v for k, v in labels.items()}
    return [
        {
            "contributor": c,
            "name": lowered.get(c.lower(), ""),
            "records": n,
            "valid": n - rejected[c],
            "rejected": rejected[c],
        }
        for c, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0].lower()))
    ]
