"""Gaming the rewards: does any strategy pay more than contributing the same records honestly?

Reads a finished `olab run` over a simulated Datanet (its real TRAK scores), or runs a config first, and
prints for each strategy its net payout (pool share minus the harm its stake owes) per record, relative
to the mean clean contributor's, under the per_record policy (with near-copy credit to the original)
and under the old contributor-level policy (positive_influence, no near-copy detection):

- honest: the clean contributors (1.00 by definition, their spread shown as min..max);
- copy with edits: a near_duplicate_spam contributor (near-copies of records already there);
- withhold then copy: a near_duplicate_spam contributor all of whose records are near-copies (it holds back
  its own records and contributes only edited copies of records already in);
- paraphrase padding, off-topic padding, flip labels: the paraphrase, off_topic and label_noise contributors;
- split identity: each clean contributor's records dealt over 5 fresh addresses (payout of all five
  relative to the one address), and the label-noise contributor moving its harmful records to a
  second address (relative to keeping them together). Scores do not depend on addresses, so these
  splits are exact on the same run.

    .venv/bin/python experiments/gaming/run.py --run-dir runs/<run id>
    .venv/bin/python experiments/gaming/run.py --config configs/quickstart.yaml
    .venv/bin/python experiments/gaming/run.py --config configs/quickstart_gaming.yaml  # + paraphrase, withhold
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import olab
from olab import rewards
from olab.errors import exit_on_error

OLD = rewards.RewardsConfig(policy="positive_influence", if_all_zero="equal_split")
NEW = rewards.RewardsConfig(policy="per_record", if_all_zero="equal_split")
STRATEGY = {
    "near_duplicate_spam": "copy with edits",
    "paraphrase": "paraphrase padding",
    "off_topic": "off-topic padding",
    "label_noise": "flip labels",
}
WITHHOLD = "withhold then copy"  # a near_duplicate_spam contributor whose every record is a near-copy
FRESH = [f"0x{0xF00D0000 + i:040x}" for i in range(8)]


def net(records: pd.DataFrame, cfg: rewards.RewardsConfig) -> dict[str, int]:
    """{address (lowercase): net ppm} paid for `records` under `cfg`."""
    r = rewards.compute(records, cfg)
    return {a.lower(): v for a, v in r.net_ppm().items()}


def table(run: olab.Run | Path) -> pd.DataFrame:
    """One row per strategy: payout per record relative to honest, under per_record and under the old policy
    (the contributor's records as a whole), and under per_record for its injected records alone."""
    if not isinstance(run, olab.Run):
        run = olab.Run.open(run)  # its Datanet is found in the project the run was made in
    dn, attribution = run.datanet, run.attribution
    credited = attribution.by_record(dn)  # near-copies pay their original
    plain = attribution.record_table(
        dn.table.column("contributor").to_pylist(), dn.table.column("record_id").to_pylist()
    )
    kind = {c["address"].lower(): c["behaviour"] for c in dn.contributors}
    count = credited["contributor"].str.lower().value_counts().to_dict()
    copies_only = {
        c["address"].lower()
        for c in dn.contributors
        if c["behaviour"] == "near_duplicate_spam" and c.get("injected", {}).get("near_duplicate") == c["records"]
    }
    new, old = net(credited, NEW), net(plain, OLD)
    clean = [a for a, b in kind.items() if b == "clean"]

    def per_record(paid: dict[str, int], a: str) -> float:
        return paid.get(a, 0) / count[a]

    honest = {p: sum(per_record(paid, a) for a in clean) / len(clean) for p, paid in (("new", new), ("old", old))}
    rows = [
        {
            "strategy": "honest",
            "who": f"{len(clean)} clean contributors",
            "per_record": f"{min(per_record(new, a) for a in clean) / honest['new']:.2f}..{max(per_record(new, a) for a in clean) / honest['new']:.2f}",
            "positive_influence (old)": f"{min(per_record(old, a) for a in clean) / honest['old']:.2f}..{max(per_record(old, a) for a in clean) / honest['old']:.2f}",
        }
    ]
    # per record under per_record: (positive part - harm) / total positive; the honest rate is the clean records'
    value = credited["influence"].to_numpy()
    injected = dn.table.column("injected").to_pylist()
    who = credited["contributor"].str.lower().to_numpy()
    is_clean = pd.Series(who).map(kind).eq("clean").to_numpy()
    honest_record = value[is_clean].mean()
    for a, b in kind.items():
        if b in STRATEGY:
            mine = [i for i in range(len(value)) if who[i] == a and injected[i]]
            rows.append(
                {
                    "strategy": WITHHOLD if a in copies_only else STRATEGY[b],
                    "who": b,
                    "per_record": f"{per_record(new, a) / honest['new']:.2f}",
                    "positive_influence (old)": f"{per_record(old, a) / honest['old']:.2f}",
                    "its injected records": f"{value[mine].mean() / honest_record:.2f}",
                }
            )
    for a in clean:  # split identity: the same records over 5 addresses
        mine = credited["contributor"].str.lower() == a
        dealt = credited.copy()
        dealt.loc[mine, "contributor"] = [FRESH[i % 5] for i in range(int(mine.sum()))]
        dealt_plain = plain.copy()
        dealt_plain.loc[mine.to_numpy(), "contributor"] = [FRESH[i % 5] for i in range(int(mine.sum()))]
        split_new, split_old = net(dealt, NEW), net(dealt_plain, OLD)
        parts = [f.lower() for f in FRESH[:5]]
        rows.append(
            {
                "strategy": "split identity (5 addresses)",
                "who": f"clean {a[:8]}",
                "per_record": _ratio(sum(split_new.get(p, 0) for p in parts), new[a]),
                "positive_influence (old)": _ratio(sum(split_old.get(p, 0) for p in parts), old[a]),
            }
        )
    noisy = next((a for a, b in kind.items() if b == "label_noise"), None)
    if noisy:  # move the harmful records to a second address
        mine = (credited["contributor"].str.lower() == noisy).to_numpy()
        harmful = mine & (credited["influence"].to_numpy() < 0)
        moved, moved_plain = credited.copy(), plain.copy()
        moved.loc[harmful, "contributor"] = FRESH[7]
        moved_plain.loc[mine & (plain["influence"].to_numpy() < 0), "contributor"] = FRESH[7]
        m_new, m_old = net(moved, NEW), net(moved_plain, OLD)
        rows.append(
            {
                "strategy": "split off harmful records",
                "who": "label_noise",
                "per_record": _delta(m_new.get(noisy, 0) + m_new.get(FRESH[7].lower(), 0), new[noisy]),
                "positive_influence (old)": _delta(m_old.get(noisy, 0) + m_old.get(FRESH[7].lower(), 0), old[noisy]),
            }
        )
    return pd.DataFrame(rows).fillna("")


def _ratio(split: int, whole: int) -> str:
    return f"{split / whole:.4f}" if whole else f"{split} ppm vs 0"


def _delta(split: int, whole: int) -> str:
    return f"{split - whole:+d} ppm"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run-dir", type=Path, help="a finished olab run over a simulated Datanet")
    src.add_argument("--config", type=Path, help="run this config first (olab run), then read its run")
    args = p.parse_args(argv)
    run_dir = args.run_dir
    if args.config:
        run_dir = olab.run(args.config, progress=True).dir
    out = table(run_dir)
    print(f"Payout per record relative to honest contribution (run {run_dir}):")
    print(out.to_string(index=False))
    return 0


if __name__ == "__main__":
    with exit_on_error():
        sys.exit(main())
