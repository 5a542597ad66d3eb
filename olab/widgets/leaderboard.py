"""Leaderboard: contributors ranked by reward share (or any numeric column), with the shares plot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import traitlets

from olab.errors import ValidationError
from olab.widgets._base import OlabWidget, bundle, to_rows


class Leaderboard(OlabWidget):
    """A ranked contributor table; clicking a column header re-ranks by it, clicking a row selects a contributor.

    `table`: rows with `contributor` and numeric columns (e.g. the attribution contributor table);
    `shares`: reward shares (`olab.rewards.Rewards`, a list of shares or `{address: share_ppm}`) merged in
    as `share_ppm`. `labels` ({address: name}) name contributors; by default the shares' own names (a run's
    `rewards.json`). The plot is `olab.viz.contributor_shares` when shares are known.
    """

    _esm = bundle("leaderboard.js")

    rows = traitlets.List(traitlets.Dict(), help="one dict per contributor, ranked, with `rank`").tag(sync=True)
    columns = traitlets.List(traitlets.Unicode(), help="the numeric columns shown after the contributor").tag(sync=True)
    sort_by = traitlets.Unicode("", help="the column ranking the table (largest first)").tag(sync=True)
    contributor = traitlets.Unicode("", help="the selected contributor ('' = none)").tag(sync=True)

    def __init__(
        self,
        table: Any = None,
        *,
        shares: Any = None,
        labels: Mapping[str, str] | None = None,
        colors: Mapping[str, str] | None = None,
        sort_by: str | None = None,
        plot: bool = True,
        **kwargs: Any,
    ) -> None:
        labels = labels or getattr(shares, "names", None)  # olab.rewards.Rewards names its contributors
        rows = _merge(to_rows(table), shares)
        if not rows:
            raise ValidationError("Leaderboard needs at least one contributor (pass `table` and/or `shares`)")
        lowered = {str(k).lower(): v for k, v in (labels or {}).items()}
        for r in rows:
            r["name"] = str(r.get("name") or lowered.get(r["contributor"].lower(), ""))
        columns = [
            c
            for c in dict.fromkeys(k for r in rows for k in r)
            if c not in ("contributor", "name", "rank") and _numeric(rows, c)
        ]
        key = sort_by or next(
            (c for c in ("share_ppm", "positive", "total") if c in columns), columns[0] if columns else ""
        )
        if key and key not in columns:
            raise ValidationError(f"Leaderboard sort_by={key!r} is not a numeric column; choose one of {columns}")
        super().__init__(rows=_ranked(rows, key), columns=columns, sort_by=key, **kwargs)
        if plot and "share_ppm" in columns:
            from olab import viz

            intervals = getattr(shares, "intervals", None)
            self.set_figure(viz.contributor_shares(rows, labels=labels, colors=colors, intervals=intervals))

    @classmethod
    def from_run(cls, run: Any, **kwargs: Any) -> Leaderboard:
        """The leaderboard of a finished run (an `olab.Run` or its directory): each contributor's records,
        positive, negative and total influence (summed over targets), reward share, the harm its stake owes,
        its net payout, its records flagged as near-copies and, when publishing settled the run's stake, the stake
        its harmful records owed and what was slashed; labelled by display name."""
        from olab.widgets._run import open_run

        run = open_run(run)
        table = run.contributors()
        signals = ["contributor", "records", "positive", "negative", "total", "harm_ppm", "net_ppm", "near_copies"]
        return cls(
            table[signals + [c for c in ("stake_owed", "stake_slashed") if c in table]],  # when stake was settled
            shares=run.rewards,
            labels=run.names() | (kwargs.pop("labels", None) or {}),
            **kwargs,
        )

    @traitlets.observe("sort_by")
    def _rerank(self, change: dict[str, Any]) -> None:
        if change["new"] not in self.columns:
            raise ValidationError(
                f"Leaderboard sort_by={change['new']!r} is not a column; choose one of {self.columns}"
            )
        self.rows = _ranked(self.rows, change["new"])

    @property
    def ranking(self) -> list[str]:
        """Contributor addresses in rank order."""
        return [r["contributor"] for r in self.rows]

    def summary(self, unlabelled: str = "") -> str:
        """The ranking as text: one line per contributor with its rank, address and name (else `unlabelled`)."""
        return "\n".join(f"{r['rank']}. {r['contributor']}  {r['name'] or unlabelled}".rstrip() for r in self.rows)


def _merge(rows: list[dict[str, Any]], shares: Any) -> list[dict[str, Any]]:
    """`rows` with `share_ppm` from `shares` (contributors with a share but no row get one; others get 0)."""
    for i, r in enumerate(rows):
        if "contributor" not in r:
            raise ValidationError(f"leaderboard row {i} has no 'contributor' column; columns: {sorted(r)}")
    if shares is None:
        return rows
    from olab import viz

    by_address = {str(r["contributor"]).lower(): r for r in rows}
    intervals = getattr(shares, "intervals", None)  # olab.rewards.Rewards: each share's interval, shown in its cell
    for address, ppm in viz.shares_frame(shares).itertuples(index=False):
        row = by_address.setdefault(str(address).lower(), {"contributor": str(address)})
        row["share_ppm"] = int(ppm)
        bounds = intervals.of(str(address)) if intervals is not None else None
        if bounds is not None:
            row["share_interval"] = list(bounds)
    for r in by_address.values():
        r.setdefault("share_ppm", 0)
    return list(by_address.values())


def _numeric(rows: list[dict[str, Any]], column: str) -> bool:
    values = [r.get(column) for r in rows]
    return all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values)


def _ranked(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    def order(r: dict[str, Any]) -> tuple[float, str]:
        v = r.get(key)
        return (-(v if v is not None else float("-inf")), r["contributor"].lower())

    ranked = sorted(rows, key=order) if key else list(rows)
    return [{**r, "rank": i + 1} for i, r in enumerate(ranked)]
