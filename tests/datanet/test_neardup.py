"""Near-duplicate detection at ingestion: simulated near-copy spam is caught, clean records are not
flagged (both measured and printed on the real AG News files), the earliest accepted record is the
original, and the owner's policy rejects or credits the original, within a build and across versions."""

from __future__ import annotations

import pytest
from repo_paths import AGNEWS, needs_agnews

from olab.datanet import Datanet
from olab.datanet.neardup import NearDuplicateIndex, content

SPAM = [{"contributor": 1, "kind": "near_duplicate_spam", "rate": 0.5}]


def rates(dn: Datanet) -> tuple[float, float, int, int]:
    """(share of near-copy spam caught, share of clean records flagged, spam count, clean count)."""
    rows = dn.table.select(["injected", "near_duplicate_of"]).to_pylist()
    spam = [r for r in rows if r["injected"] == "near_duplicate"]
    clean = [r for r in rows if r["injected"] is None]
    caught = sum(r["near_duplicate_of"] is not None for r in spam) / len(spam)
    flagged = sum(r["near_duplicate_of"] is not None for r in clean) / len(clean)
    return caught, flagged, len(spam), len(clean)


@needs_agnews
def test_default_thresholds_catch_near_copy_spam_and_spare_clean_agnews_records(tmp_path):
    cfg = {
        "name": "agnews",
        "root_dir": str(tmp_path),
        "source": {
            "kind": "files",
            "data_files": str(AGNEWS / "dev.tsv"),
            "format": "tsv",
            "column_names": ["text", "label"],
        },
        "contributors": {"mode": "simulate", "n": 4, "seed": 0, "behaviours": SPAM},
    }
    dn = Datanet.build(cfg, progress=False)
    caught, flagged, n_spam, n_clean = rates(dn)
    print(
        f"\nAG News dev ({len(dn.table)} records): near-copy spam caught {caught:.1%} of {n_spam}; "
        f"clean records flagged {flagged:.2%} of {n_clean} (default threshold 0.8, 128 permutations, words)"
    )
    assert caught >= 0.90
    assert flagged < 0.01


def test_quickstart_spam_is_credited_to_the_earliest_original(tmp_path):
    cfg = {
        "name": "qs",
        "root_dir": str(tmp_path),
        "source": {"kind": "synthetic", "n": 720, "seed": 0},
        "contributors": {"mode": "simulate", "n": 6, "seed": 0, "behaviours": [SPAM[0] | {"contributor": 3}]},
    }
    dn = Datanet.build(cfg, progress=False)
    caught, flagged, n_spam, n_clean = rates(dn)
    print(f"\nsynthetic quickstart: spam caught {caught:.1%} of {n_spam}; clean flagged {flagged:.2%} of {n_clean}")
    assert caught >= 0.90 and flagged < 0.01
    rows = dn.table.to_pylist()
    row = {r["record_id"]: i for i, r in enumerate(rows)}
    for i, r in enumerate(rows):
        if r["near_duplicate_of"]:
            original = rows[row[r["near_duplicate_of"]]]
            assert row[original["record_id"]] < i and original["near_duplicate_of"] is None


def test_reject_policy_names_the_original_across_versions(tmp_path):
    from eth_account import Account

    from olab.datanet.contributions import sign_batch

    cfg = {
        "name": "own",
        "root_dir": str(tmp_path),
        "source": {"kind": "synthetic", "n": 40, "seed": 0},
        "contributors": {"mode": "simulate", "n": 2, "seed": 0},
        "validation": {"near_duplicates": {"policy": "reject"}},
    }
    dn = Datanet.build(cfg, progress=False)
    first = dn.table.to_pylist()[0]
    words = first["text"].split()
    copy = " ".join([*words[:2], "reportedly", *words[2:]])
    spammer = Account.create()
    fresh = "A wholly new sentence about tides, moons and the price of fish in a small harbour town."
    records = [{"text": copy, "label": first["label"]}, {"text": fresh, "label": first["label"]}]
    result = dn.submit(sign_batch(spammer, dn, records, nonce=1))
    assert result.status == "accepted" and len(result.accepted) == 1
    (rejection,) = result.rejections
    assert rejection["rule"] == "near_duplicate"
    assert f"near-copy of record {first['record_id']}" in rejection["reason"]


def test_index_is_field_agnostic_and_the_earliest_wins():
    idx = NearDuplicateIndex(0.8)
    a = {"prompt": "Summarise the quarterly report of the shipping company", "response": "Profits rose by ten percent"}
    b = a | {"response": "Profits rose by ten percent overall"}
    assert content(a) == f"{a['prompt']}\n{a['response']}" and content({"label": "x", "id": "1"}) == ""
    idx.add("r1", content(a))
    idx.add("r2", content(b))
    hit = idx.find(content(b) + " indeed")
    assert hit is not None and hit[0] == "r1"  # both match; the earlier one is the original
    assert idx.find("Completely unrelated words about gardening tools and spring") is None


@pytest.mark.parametrize("threshold", [0.0, 1.5])
def test_threshold_is_validated(tmp_path, threshold):
    from olab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"near_duplicates\.threshold"):
        Datanet.build(
            {"name": "x", "root_dir": str(tmp_path), "validation": {"near_duplicates": {"threshold": threshold}}},
            progress=False,
        )
