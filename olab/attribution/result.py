"""The attribution artifact: scores.npy (train × targets), self_influence.npy, attribution.json.

`Attribution.open(path)` memory-maps the scores, so a notebook can inspect attributions of any size;
`top` lists proponents/opponents of one target and `contributor_table` aggregates to contributors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from olab.errors import OlabError
from olab.io import read_json
from olab.metrics import top_and_bottom

SCORES_FILE = "scores.npy"
SELF_INFLUENCE_FILE = "self_influence.npy"
MEMBER_SCORES_FILE = "member_scores.npy"  # each ensemble member's own scores (olab engine, local, several members)
PARAMS_FILE = "attribution.json"


def payee_rows(table: Any) -> np.ndarray:
    """For each row of a Datanet table, the row whose record is paid for its influence: a near-copy's original
    (`near_duplicate_of`), else the row itself."""
    ids = table.column("record_id").to_pylist()
    out = np.arange(len(ids))
    if "near_duplicate_of" in table.column_names:
        row = {rid: i for i, rid in enumerate(ids)}
        for i, original in enumerate(table.column("near_duplicate_of").to_pylist()):
            if original:
                out[i] = row[original]
    return out


def to_payees(influence: np.ndarray, payee: np.ndarray) -> np.ndarray:
    """`influence` (one row per record, in place) with each near-copy's row added to its payee's and zeroed."""
    moved = np.flatnonzero(payee != np.arange(len(payee)))
    if len(moved):
        np.add.at(influence, payee[moved], influence[moved])
        influence[moved] = 0.0
    return influence


@dataclass
class Attribution:
    """TRAK scores of each training record (rows) for each target (columns), with how they were made."""

    path: Path
    scores: np.ndarray
    self_influence: np.ndarray
    params: dict[str, Any]
    member_scores: np.ndarray | None = None  # train × members × targets; their mean over members is `scores`

    @classmethod
    def open(cls, path: str | Path) -> Attribution:
        path = Path(path)
        missing = [f for f in (SCORES_FILE, SELF_INFLUENCE_FILE, PARAMS_FILE) if not (path / f).is_file()]
        if missing:
            raise OlabError(f"{path} is not an attribution directory: missing {', '.join(missing)}")
        scores = np.load(path / SCORES_FILE, mmap_mode="r")
        members = None
        if (path / MEMBER_SCORES_FILE).is_file():
            members = np.load(path / MEMBER_SCORES_FILE, mmap_mode="r").reshape(scores.shape[0], -1, scores.shape[1])
        return cls(
            path=path,
            scores=scores,
            self_influence=np.load(path / SELF_INFLUENCE_FILE),
            params=read_json(path / PARAMS_FILE),
            member_scores=members,
        )

    @property
    def scores_hash(self) -> str:
        return self.params["scores_hash"]

    @property
    def n_train(self) -> int:
        return int(self.scores.shape[0])

    @property
    def n_targets(self) -> int:
        return int(self.scores.shape[1])

    def top(self, target_index: int, k: int = 10) -> dict[str, list[tuple[int, float]]]:
        """The k training records that most raise (proponents) and most lower (opponents) a target's output."""
        if not 0 <= target_index < self.n_targets:
            raise OlabError(f"target_index {target_index} is out of range: there are {self.n_targets} targets")
        col = np.asarray(self.scores[:, target_index], dtype=np.float64)
        highest, lowest = top_and_bottom(col, k)
        return {
            "proponents": [(int(i), float(col[i])) for i in highest],
            "opponents": [(int(i), float(col[i])) for i in lowest],
        }

    def record_table(self, contributors: Sequence[str], record_ids: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per training record: record_id, contributor, influence (its score summed over targets).

        What `olab.rewards.compute` pays under its default `per_record` policy. Without `record_ids`
        records are numbered by their training row.
        """
        if len(contributors) != self.n_train:
            raise OlabError(
                f"contributors has {len(contributors)} entries; expected one per training record ({self.n_train})"
            )
        ids = [str(i) for i in range(self.n_train)] if record_ids is None else [str(r) for r in record_ids]
        if len(ids) != self.n_train:
            raise OlabError(f"record_ids has {len(ids)} entries; expected one per training record ({self.n_train})")
        return pd.DataFrame({"record_id": ids, "contributor": list(contributors), "influence": self.record_totals()})

    def record_totals(self, block_size: int = 65536) -> np.ndarray:
        """Each training record's influence summed over all targets (read in blocks of rows)."""
        return (
            np.concatenate(
                [
                    np.asarray(self.scores[i : i + block_size], dtype=np.float64).sum(axis=1)
                    for i in range(0, self.n_train, block_size)
                ]
            )
            if self.n_train
            else np.zeros(0)
        )

    def by_record(self, datanet: Any) -> pd.DataFrame:
        """`record_table` over a Datanet's records: what `olab.rewards.compute` pays under `per_record`.

        A record accepted as a near-copy (`near_duplicate_of` set) earns nothing itself: its influence is
        added to its original's, so the credit (or the harm) of the pair belongs to the original's contributor.
        """
        table = datanet.table
        records = self.record_table(table.column("contributor").to_pylist(), table.column("record_id").to_pylist())
        records["influence"] = to_payees(records["influence"].to_numpy(dtype=np.float64, copy=True), payee_rows(table))
        return records

    def by_contributor(self, datanet: Any) -> pd.DataFrame:
        """`contributor_table` over a Datanet's records (the training rows, in order): the per-contributor
        influence `olab.rewards.compute` turns into shares. `datanet`: the `olab.Datanet` version attributed."""
        table = datanet.table
        per_class = self.params.get("task", "classification") == "classification"  # an LLM's labels are answers
        labels = table.column("label").to_pylist() if per_class else None
        return self.contributor_table(table.column("contributor").to_pylist(), labels=labels)

    def contributor_table(
        self,
        contributors: Sequence[str],
        labels: Sequence[str] | None = None,
        target_labels: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One row per contributor: records, total/positive/negative influence, mean, self_influence_mean.

        A record's influence is its score summed over targets; total, positive and negative sum that,
        its positive part and its negative part over the contributor's records. With `target_labels`
        (one per target) `total[<class>]` sums influence on the targets of each class; with `labels`
        (one per training record) `records[<class>]` counts the contributor's records of each class.
        Sorted by total, highest first.
        """
        if len(contributors) != self.n_train:
            raise OlabError(
                f"contributors has {len(contributors)} entries; expected one per training record ({self.n_train})"
            )
        if labels is not None and len(labels) != self.n_train:
            raise OlabError(f"labels has {len(labels)} entries; expected one per training record ({self.n_train})")
        if target_labels is not None and len(target_labels) != self.n_targets:
            raise OlabError(
                f"target_labels has {len(target_labels)} entries; expected one per target ({self.n_targets})"
            )
        per_record = self.record_totals()
        frame = pd.DataFrame(
            {
                "contributor": list(contributors),
                "total": per_record,
                "positive": np.clip(per_record, 0, None),
                "negative": np.clip(per_record, None, 0),
                "self_influence": np.asarray(self.self_influence, dtype=np.float64),
            }
        )
        if target_labels is not None:
            tl = np.asarray(list(target_labels), dtype=object)
            for cls in sorted(set(tl.tolist())):
                cols = np.flatnonzero(tl == cls)
                frame[f"total[{cls}]"] = np.asarray(self.scores[:, cols], dtype=np.float64).sum(axis=1)
        if labels is not None:
            for cls in sorted(set(labels)):
                frame[f"records[{cls}]"] = (np.asarray(list(labels), dtype=object) == cls).astype(int)
        grouped = frame.groupby("contributor", sort=False)
        table = grouped.agg(
            records=("total", "size"),
            total=("total", "sum"),
            positive=("positive", "sum"),
            negative=("negative", "sum"),
            mean=("total", "mean"),
            self_influence_mean=("self_influence", "mean"),
        )
        extra = [c for c in frame.columns if c.startswith(("total[", "records["))]
        if extra:
            table = table.join(grouped[extra].sum())
        return table.sort_values("total", ascending=False).reset_index()
