"""Near-duplicate detection at ingestion: simulated near-copy spam is caught, clean records are not
flagged (both measured and printed on the real AG News files), the earliest accepted record is the
original, and the owner's policy rejects or credits the original, within a build and across versions."""

from __future__ import annotations

import pytest
from repo_paths import AGNEWS, needs_agnews

from olab.datanet import Datanet
from olab.datanet.neardup import NearDuplicateIndex, content

SPAM = [{"contributor": 1, "kind": "near_duplicate_spam", "rate": 0.5}]
PARAPHRASE = {"contributor": 2, "kind": "paraphrase", "rate": 0.5}
COPIES = ("near_duplicate", "paraphrase")  # the injected kinds that copy an accepted record


def rates(dn: Datanet, where: str) -> dict[str, float]:
    """{injected kind or "clean": share of its records flagged as a near-copy}, printed with the counts."""
    rows = dn.table.select(["injected", "near_duplicate_of"]).to_pylist()
    out, counts = {}, {}
    for kind in sorted({r["injected"] or "clean" for r in rows}):
        sel = [r for r in rows if (r["injected"] or "clean") == kind]
        out[kind], counts[kind] = sum(r["near_duplicate_of"] is not None for r in sel) / len(sel), len(sel)
    shown = ", ".join(f"{k} {v:.2%} of {counts[k]}" for k, v in out.items())
    print(f"\n{where} ({len(rows)} records), flagged as near-copies at the default threshold: {shown}")
    return out


def assert_caught(flagged: dict[str, float]) -> None:
    assert {k for k in COPIES if k in flagged}, "the Datanet holds no simulated near-copies"
    for kind in COPIES:
        assert flagged.get(kind, 1.0) >= 0.90, f"{kind}: {flagged[kind]:.2%} caught"
    assert flagged["clean"] < 0.01


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
        "contributors": {"mode": "simulate", "n": 4, "seed": 0, "behaviours": [*SPAM, PARAPHRASE]},
    }
    flagged = rates(Datanet.build(cfg, progress=False), "AG News dev")
    assert_caught(flagged)


@pytest.mark.parametrize("config", ["quickstart", "quickstart_gaming"])
def test_every_simulated_copy_kind_is_caught_on_the_shipped_datanets(tmp_path, config):
    from repo_paths import REPO

    from olab.config import read_yaml

    cfg = read_yaml(REPO / "configs" / f"{config}.yaml")["datanet"] | {"root_dir": str(tmp_path)}
    assert_caught(rates(Datanet.build(cfg, progress=False), f"configs/{config}.yaml"))


def test_quickstart_spam_is_credited_to_the_earliest_original(tmp_path):
    cfg = {
        "name": "qs",
        "root_dir": str(tmp_path),
        "source": {"kind": "synthetic", "n": 720, "seed": 0},
        "contributors": {"mode": "simulate", "n": 6, "seed": 0, "behaviours": [SPAM[0] | {"contributor": 3}]},
    }
    dn = Datanet.build(cfg, progress=False)
    assert_caught(rates(dn, "synthetic quickstart, one spammer"))
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


def test_the_exact_similarity_decides_not_the_minhash_estimate():
    """One word of ten replaced: Jaccard 9/11 = 0.818, just above 0.8. The MinHash estimate (standard error 0.035)
    falls under 0.8 for about a third of such pairs; the exact check on LSH candidates finds every one, and two
    words replaced (8/12 = 0.667) none."""
    import random

    rng = random.Random(0)
    idx = NearDuplicateIndex(0.8, ngram=1)
    vocab = [f"w{i}" for i in range(5000)]
    found, spared = 0, 0
    for n in range(60):
        words = rng.sample(vocab, 10)
        idx.add(f"r{n}", " ".join(words))
        hit = idx.find(" ".join([*words[:9], f"x{n}"]))
        found += hit == (f"r{n}", 9 / 11)
        spared += idx.find(" ".join([*words[:8], f"x{n}", f"y{n}"])) is None
    assert (found, spared) == (60, 60)


@pytest.mark.parametrize("threshold", [0.0, 1.5])
def test_threshold_is_validated(tmp_path, threshold):
    from olab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"near_duplicates\.threshold"):
        Datanet.build(
            {"name": "x", "root_dir": str(tmp_path), "validation": {"near_duplicates": {"threshold": threshold}}},
            progress=False,
        )
