"""Every validation rule rejects a bad record with its reason, and the rest of the batch is kept."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from eth_utils import to_checksum_address

from olab.datanet import Datanet, sign_batch
from olab.datanet.validation import RULES
from olab.errors import DatanetError

GOOD_A = {"text": "Local bakery wins regional award for its rye bread", "label": "Business"}
GOOD_B = {"text": "Chess club beats rivals in a tense final round", "label": "Sports"}


@pytest.fixture
def strict(tmp_path: Path, make_config) -> Datanet:
    cfg = make_config(tmp_path, name="strict", validation={"min_chars": 5, "max_chars": 300})
    return Datanet.build(cfg, progress=False)


BAD = {
    "missing_field": ({"text": "A perfectly fine text without label"}, "field 'label' is missing"),
    "mistyped_field": ({"text": "A perfectly fine text", "label": 3}, "field 'label' must be a string, got int 3"),
    "unexpected_field": ({**GOOD_A, "text": "Some other text here", "score": 1}, "unexpected field(s) ['score']"),
    "empty_text": ({"text": "  \n\t ", "label": "World"}, "text is empty"),
    "text_too_short": (
        {"text": " abc ", "label": "World"},
        "text has 3 characters; the minimum is 5 (validation.min_chars)",
    ),
    "text_too_long": (
        {"text": "x" * 301, "label": "World"},
        "text has 301 characters; the maximum is 300 (validation.max_chars)",
    ),
    "unknown_label": (
        {"text": "Cup final ends in a draw", "label": "Spots"},
        "label 'Spots' is not one of the Datanet's labels",
    ),
    "duplicate": (
        {"text": "  LOCAL bakery wins regional award\tfor its RYE bread ", "label": "World"},
        "duplicate of record r",
    ),
}


@pytest.mark.parametrize("rule", sorted(BAD))
def test_a_bad_record_is_rejected_with_its_reason_and_the_rest_kept(strict: Datanet, signers, rule):
    bad, reason = BAD[rule]
    batch = sign_batch(signers[0], strict, [GOOD_A, bad, GOOD_B], nonce=1)
    result = strict.submit(batch)
    assert result.status == "accepted" and result.version == 2
    assert [(r["index"], r["rule"]) for r in result.rejections] == [(1, rule)]
    assert reason in result.rejections[0]["reason"] and result.rejections[0]["reason"].startswith("record 1: ")
    assert result.rejections[0]["record"] == bad or rule == "duplicate"
    records = strict.to_pandas()
    added = records[records.batch_id == batch.batch_id]
    assert list(added.text) == [GOOD_A["text"], GOOD_B["text"]]
    assert set(added.contributor) == {signers[0].address}
    logged = strict.rejections()
    assert [(r["rule"], r["batch_id"], r["contributor"]) for r in logged] == [
        (rule, batch.batch_id, signers[0].address)
    ]
    strict.verify()


def test_duplicate_of_another_contributors_record_across_versions(strict: Datanet, signers):
    existing = strict.to_pandas().iloc[5]
    copy = {"text": existing.text.upper(), "label": existing.label}
    result = strict.submit(sign_batch(signers[1], strict, [copy, GOOD_B], nonce=1))
    assert result.rejections[0]["rule"] == "duplicate"
    assert f"duplicate of record {existing.record_id}" in result.rejections[0]["reason"]
    later = strict.submit(
        sign_batch(signers[2], strict, [{"text": GOOD_B["text"].lower(), "label": "Sports"}, GOOD_A], nonce=1)
    )
    assert [r["rule"] for r in later.rejections] == ["duplicate"] and later.version == 3


def test_bad_signature_rejects_the_batch_and_keeps_the_datanet(strict: Datanet, signers):
    forged = sign_batch(signers[1], strict, [GOOD_A, GOOD_B], nonce=1)
    forged = type(forged)(**{**forged.__dict__, "contributor": signers[0].address})
    result = strict.submit(forged)
    assert result.status == "rejected" and "bad signature" in result.reason
    assert {r["rule"] for r in result.rejections} == {"bad_signature"} and len(result.rejections) == 2
    assert strict.versions == [1]
    # the genuine signer's batch is still accepted afterwards
    assert strict.submit(sign_batch(signers[0], strict, [GOOD_A, GOOD_B], nonce=1)).status == "accepted"


def test_a_batch_with_nothing_valid_makes_no_version(strict: Datanet, signers):
    result = strict.submit(sign_batch(signers[0], strict, [{"text": "", "label": "World"}], nonce=1))
    assert result.status == "rejected" and result.reason == "all 1 records failed validation"
    assert strict.versions == [1]
    entry = strict.submissions.get(result.batch_id)
    assert entry["status"] == "rejected" and entry["rejections"][0]["rule"] == "empty_text"


def test_build_rejects_bad_rows_with_reasons_and_keeps_the_rest(tmp_path: Path):
    rows = [
        ("good one here", "pos", "alice", "1"),
        (None, "pos", "bob", "2"),
        ("no label", None, "bob", "3"),
        ("   ", "neg", "carol", "4"),
        ("y" * 50, "neg", "carol", "5"),
        ("odd label", "meh", "alice", "6"),
        ("GOOD   one here", "neg", "bob", "7"),
        ("fresh text", "neg", "bob", "1"),
        ("no contributor", "neg", None, "9"),
        ("good two", "neg", "carol", "10"),
    ]
    ds = datasets.Dataset.from_dict({k: [r[i] for r in rows] for i, k in enumerate(["t", "y", "who", "key"])})
    cfg = {
        "name": "rows",
        "root_dir": str(tmp_path),
        "columns": {"text": "t", "label": "y", "contributor": "who", "id": "key"},
        "contributors": {"mode": "column", "names": True},
        "labels": ["neg", "pos"],
        "validation": {"max_chars": 40},
    }
    dn = Datanet.build(cfg, dataset=ds, progress=False)
    assert dn.table.column("record_id").to_pylist() == ["1", "10"]
    expected = {
        1: ("missing_field", "row 1: field 'text' is missing"),
        2: ("missing_field", "row 2: field 'label' is missing"),
        3: ("empty_text", "row 3: text is empty"),
        4: ("text_too_long", "row 4: text has 50 characters; the maximum is 40"),
        5: ("unknown_label", "row 5: label 'meh' is not one of the Datanet's labels ['neg', 'pos']"),
        6: ("duplicate", "row 6: duplicate of record 1"),
        7: ("duplicate_id", "row 7: record id '1' is already taken"),
        8: ("missing_field", "row 8: the contributor column 'who' is empty"),
    }
    got = {r["index"]: (r["rule"], r["reason"]) for r in dn.rejections()}
    assert set(got) == set(expected)
    for i, (rule, reason) in expected.items():
        assert got[i][0] == rule and got[i][1].startswith(reason), got[i]
    assert dn.manifest["rejected_count"] == 8 and dn.manifest["change"] == {"kind": "build", "added": 2, "rejected": 8}


def test_build_rejects_mistyped_text_column(tmp_path: Path, make_config):
    ds = datasets.Dataset.from_dict({"text": [1, 2], "label": ["a", "b"]})
    cfg = make_config(tmp_path, name="typed", labels=["a", "b"])
    from olab.errors import DatanetError

    with pytest.raises(DatanetError, match="field 'text' must be a string, got int 1"):
        Datanet.build(cfg, dataset=ds, progress=False)


def test_every_rule_is_tested():
    tested = set(BAD) | {
        "duplicate_id",
        "bad_signature",
        "bad_contributor",
        "near_duplicate",
    }  # near_duplicate: test_neardup.py
    assert tested == set(RULES)


def column_config(tmp_path: Path, **extra) -> dict:
    return {
        "name": "strict-import",
        "root_dir": str(tmp_path),
        "columns": {"contributor": "who"},
        "contributors": {"mode": "column", "names": True},
        **extra,
    }


def test_nan_and_missing_labels_are_rejected_with_their_reason_not_made_a_class(tmp_path: Path):
    ds = datasets.Dataset.from_dict(
        {"text": ["first story", "second story", "third story"], "label": [1.0, float("nan"), None], "who": ["a"] * 3}
    )
    dn = Datanet.build(column_config(tmp_path), dataset=ds, progress=False)
    assert dn.labels == ["1.0"] and len(dn) == 1
    reasons = {r["index"]: (r["rule"], r["reason"]) for r in dn.rejections()}
    for row in (1, 2):
        assert reasons[row][0] == "missing_field" and "label" in reasons[row][1] and "NaN" in reasons[row][1]


def test_mixed_label_types_are_an_error_naming_the_rows(tmp_path: Path):
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps({"text": f"story {i}", "label": "World", "who": "a"}) for i in range(3)]
    lines.insert(1, '{"text": "odd one", "label": 3, "who": "a"}')
    path.write_text("\n".join(lines) + "\n")
    cfg = column_config(tmp_path, source={"kind": "files", "data_files": str(path)})
    with pytest.raises(DatanetError, match=r"mixes types \(str in rows 0, 2, 3; int in rows 1\)"):
        Datanet.build(cfg, progress=False)


GOOD_ADDRESS = "0x" + "ab" * 20
CHECKSUMMED = to_checksum_address("0x" + "5a" * 20)
MISCHECKSUMMED = CHECKSUMMED[:2] + CHECKSUMMED[2:].swapcase()


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("0x123", "looks like an address but is not one"),
        ("0x" + "Z" * 40, "looks like an address but is not one"),
        (MISCHECKSUMMED, "fails its EIP-55 checksum"),
    ],
)
def test_malformed_or_mischecksummed_contributor_addresses_are_rejected(tmp_path: Path, value: str, reason: str):
    ds = datasets.Dataset.from_dict(
        {
            "text": ["kept lower case", "kept checksummed", "the bad one"],
            "label": ["x", "x", "x"],
            "who": [GOOD_ADDRESS, CHECKSUMMED, value],
        }
    )
    dn = Datanet.build(column_config(tmp_path), dataset=ds, progress=False)
    assert sorted(dn.table.column("contributor").to_pylist()) == sorted(
        [to_checksum_address(GOOD_ADDRESS), CHECKSUMMED]
    )
    (rejection,) = dn.rejections()
    assert rejection["rule"] == "bad_contributor" and rejection["index"] == 2 and reason in rejection["reason"]
    assert not any(c.get("name") == value for c in dn.contributors)  # never taken as a name


def test_a_name_is_rejected_with_its_row_unless_the_config_declares_names(tmp_path: Path):
    ds = datasets.Dataset.from_dict(
        {"text": ["by address", "by name"], "label": ["x", "x"], "who": [GOOD_ADDRESS, "alice"]}
    )
    cfg = {**column_config(tmp_path), "contributors": {"mode": "column"}}
    dn = Datanet.build(cfg, dataset=ds, progress=False)
    assert dn.table.column("contributor").to_pylist() == [to_checksum_address(GOOD_ADDRESS)]
    (rejection,) = dn.rejections()
    assert rejection["rule"] == "bad_contributor" and rejection["reason"].startswith(
        "row 1: contributor 'alice' is a name, not an address"
    )
    assert "contributors.names: true" in rejection["reason"]
    named = Datanet.build(
        {**cfg, "name": "named", "contributors": {"mode": "column", "names": True}}, dataset=ds, progress=False
    )
    assert len(named) == 2 and any(c.get("name") == "alice" for c in named.contributors)
