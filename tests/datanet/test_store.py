"""Datanet.build/open: real data through `datasets`, caching, append-only versions, atomic writes, fsspec
storage, proofs (property-tested), verification that names a changed record, and the Hub export."""

from __future__ import annotations

import socket
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from olab.datanet import Datanet, record_hash, verify_record_proof
from olab.datanet.storage import MANIFEST, RECORDS
from olab.errors import DatanetError


def test_build_from_agnews_through_datasets(tmp_path: Path, agnews_dev: Path):
    cfg = {
        "name": "agnews",
        "root_dir": str(tmp_path),
        "source": {
            "kind": "files",
            "data_files": str(agnews_dev),
            "column_names": ["text", "label"],
            "max_records": 4000,
        },
        "contributors": {
            "n": 5,
            "seed": 1,
            "strategy": "contiguous",
            "behaviours": [{"contributor": 4, "kind": "label_noise", "rate": 0.25}],
        },
    }
    dn = Datanet.build(cfg, progress=False)
    m = dn.manifest
    assert (dn.version, dn.labels) == (1, ["Business", "Sci/Tech", "Sports", "World"])
    assert m["record_count"] + m["rejected_count"] == 4000 and m["rejected_count"] >= 1  # AG News has exact duplicates
    assert {r["rule"] for r in dn.rejections()} == {"duplicate"}
    assert sum(c["records"] for c in dn.contributors) == m["record_count"]
    noisy = dn.contributors[4]
    assert noisy["behaviour"] == "label_noise" and noisy["rate"] == 0.25
    records = dn.to_pandas()
    flips = records[records.injected == "label_flip"]
    assert set(flips.contributor) == {noisy["address"]} and noisy["injected"] == {"label_flip": len(flips)}
    assert 190 <= len(flips) <= 200  # 25% of the 800 rows of contributor 4, less any rejected as duplicates
    assert m["ground_truth"]["injected_records"] == {"label_flip": noisy["injected"]["label_flip"]}
    assert m["leaf_encoding"] == ["bytes32", "address"] and m["parent_root"] is None and m["merkle_root"] == dn.root
    assert m["source"]["kind"] == "files" and m["source"]["content_hash"].startswith("sha256:")
    # the stored Parquet is a Hugging Face dataset
    loaded = datasets.load_dataset("parquet", data_files=str(tmp_path / "agnews" / "v0001" / RECORDS), split="train")
    assert loaded.num_rows == m["record_count"]
    assert {"record_id", "record_hash", "contributor", "text", "label", "injected", "original_label"} <= set(
        loaded.column_names
    )
    flipped = loaded.filter(lambda r: r["injected"] == "label_flip")
    assert all(r["label"] != r["original_label"] for r in flipped)
    assert dn.to_hf()["text"] == loaded["text"] and list(dn.to_pandas().record_id) == loaded["record_id"]
    dn.verify()


def test_build_from_an_in_memory_dataset_in_column_mode(tmp_path: Path):
    ds = datasets.Dataset.from_dict(
        {
            "sentence": ["the cat sat", "dogs bark loudly", "birds sing at dawn", "fish swim"],
            "tag": ["animal", "animal", "nature", "nature"],
            "author": ["alice", "bob", "0x" + "12" * 20, "alice"],
        }
    )
    cfg = {
        "name": "mem",
        "root_dir": str(tmp_path),
        "columns": {"text": "sentence", "label": "tag", "contributor": "author"},
        "contributors": {"mode": "column", "names": True},
    }
    dn = Datanet.build(cfg, dataset=ds, progress=False)
    assert len(dn) == 4 and dn.manifest["source"]["kind"] == "memory"
    by_name = {c.get("name"): c for c in dn.contributors}
    assert by_name["alice"]["records"] == 2 and by_name["bob"]["records"] == 1
    assert any(c["address"].lower() == "0x" + "12" * 20 and c["records"] == 1 for c in dn.contributors)
    assert dn.to_pandas().contributor.iloc[0] == by_name["alice"]["address"]


def test_same_inputs_return_the_existing_version_untouched(tmp_path: Path, make_config):
    first = Datanet.build(make_config(tmp_path), progress=False)
    manifest = tmp_path / "small" / "v0001" / MANIFEST
    stamp = manifest.stat().st_mtime_ns
    again = Datanet.build(make_config(tmp_path), progress=False)
    assert (again.version, again.root) == (1, first.root) and manifest.stat().st_mtime_ns == stamp
    assert again.reused and not first.reused
    assert Datanet.open(tmp_path / "small").versions == [1]
    # moving root_dir does not change the build, so a rebuilt copy elsewhere has the same root
    elsewhere = Datanet.build(make_config(tmp_path / "other"), progress=False)
    assert elsewhere.root == first.root


def test_changed_inputs_append_a_version_and_diff_shows_it(tmp_path: Path, make_config):
    v1 = Datanet.build(make_config(tmp_path), progress=False)
    v2 = Datanet.build(make_config(tmp_path, source={"n": 70}), progress=False)
    assert v2.version == 2 and v2.manifest["parent_root"] == v1.root and len(v2) == 70
    d = v2.diff(1)
    assert sum(map(len, d["added"].values())) > 0
    # switching back returns the newest version built from those inputs, not a third one
    assert Datanet.build(make_config(tmp_path, source={"n": 70}), progress=False).version == 2


def test_a_failed_build_leaves_the_previous_version_intact(tmp_path: Path, make_config, monkeypatch):
    v1 = Datanet.build(make_config(tmp_path), progress=False)
    real = Path.write_bytes

    def failing(self: Path, data: bytes) -> int:
        if self.name == MANIFEST:
            raise OSError("disk full")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(DatanetError, match=r"cannot write .*v0002: disk full"):
        Datanet.build(make_config(tmp_path, source={"n": 70}), progress=False)
    monkeypatch.undo()
    left = sorted(p.name for p in (tmp_path / "small").iterdir() if not p.name.endswith(".lock"))
    assert left == ["README.md", "v0001"]  # no v0002, no temp dir left (the card and the writers' locks stay)
    assert Datanet.open(tmp_path / "small").root == v1.root
    with pytest.raises(DatanetError, match="no record of synthetic source passed validation"):
        Datanet.build(make_config(tmp_path, labels=["Nothing"]), progress=False)
    assert Datanet.open(tmp_path / "small").versions == [1]


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_fsspec_storage(tmp_path: Path, make_config, signers, scheme):
    root = f"memory://olab-tests/{tmp_path.name}" if scheme == "memory" else f"file://{tmp_path}"
    dn = Datanet.build(make_config(tmp_path, root_dir=root), progress=False)
    assert dn.path == f"{root}/small"
    opened = Datanet.open(f"{root}/small")
    assert opened.root == dn.root and opened.verify()["ok"]
    rid = opened.table.column("record_id")[3].as_py()
    assert verify_record_proof(opened.proof(rid))
    from olab.datanet import sign_batch

    result = opened.submit(sign_batch(signers[0], opened, [{"text": "A new fsspec record", "label": "World"}], 1))
    assert result.ok and Datanet.open(f"{root}/small").versions == [1, 2]
    Datanet.open(f"{root}/small/v0002").verify()


def test_open_errors_name_the_path_and_versions(tmp_path: Path, small: Datanet):
    with pytest.raises(DatanetError, match=r"no Datanet at .*nothing-here"):
        Datanet.open(tmp_path / "nothing-here")
    with pytest.raises(DatanetError, match=r"has no version 7; its versions are \[1\]"):
        Datanet.open(small.path, version=7)
    with pytest.raises(DatanetError, match="has no record 'nope' \\(ids look like r000000"):
        small.proof("nope")
    assert Datanet.open(f"{small.path}/v0001").version == 1


# --- proofs ---------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_record_proof_verifies_and_any_tampering_fails(small: Datanet, signers, data):
    table = small.to_pandas()
    row = table.iloc[data.draw(st.integers(0, len(table) - 1))]
    proof = small.proof(row.record_id)
    record = {"record_id": row.record_id, "text": row.text, "label": row.label}
    assert verify_record_proof(proof, root=small.root, record=record)
    assert proof["record_hash"] == record_hash(row.record_id, row.text, row.label)

    edit = data.draw(st.text(min_size=1, max_size=3))
    position = data.draw(st.integers(0, len(row.text)))
    changed_text = row.text[:position] + edit + row.text[position:]
    assert not verify_record_proof(proof, root=small.root, record={**record, "text": changed_text})
    other_label = data.draw(st.sampled_from([lab for lab in small.labels if lab != row.label]))
    assert not verify_record_proof(proof, root=small.root, record={**record, "label": other_label})
    assert not verify_record_proof(proof, root=small.root, record={**record, "record_id": row.record_id + "x"})
    other = data.draw(st.sampled_from([s.address for s in signers]))
    assert not verify_record_proof({**proof, "contributor": other}, root=small.root)
    i = data.draw(st.integers(0, len(proof["proof"]) - 1))
    nibble = data.draw(st.integers(2, 65))
    sibling = proof["proof"][i]
    flipped = (
        sibling[:nibble] + format(int(sibling[nibble], 16) ^ data.draw(st.integers(1, 15)), "x") + sibling[nibble + 1 :]
    )
    assert not verify_record_proof(
        {**proof, "proof": [*proof["proof"][:i], flipped, *proof["proof"][i + 1 :]]}, root=small.root
    )
    assert not verify_record_proof({**proof, "proof": proof["proof"][:-1]}, root=small.root)
    assert not verify_record_proof(proof, root="0x" + "00" * 32)


def test_proof_json_is_self_describing(small: Datanet):
    import json

    proof = json.loads(json.dumps(small.proof("r000004")))
    assert set(proof) >= {"record_id", "record_hash", "contributor", "root", "leaf_encoding", "proof"}
    assert verify_record_proof(proof) and proof["root"] == small.root


# --- verification of stored data ------------------------------------------------------------------


def _rewrite_records(dn: Datanet, change) -> None:
    path = Path(dn.path) / f"v{dn.version:04d}" / RECORDS
    table = pq.read_table(path)
    columns = table.to_pydict()
    change(columns)
    pq.write_table(type(table).from_pydict(columns, schema=table.schema), path)


def test_verify_names_the_record_whose_text_changed_by_one_byte(small: Datanet):
    def one_byte(columns):
        text = columns["text"][17]
        columns["text"][17] = text[:5] + chr(ord(text[5]) ^ 1) + text[6:]

    _rewrite_records(small, one_byte)
    with pytest.raises(DatanetError, match=r"record 'r000017' \(row 17\) was changed: its fields hash to 0x"):
        Datanet.open(small.path).verify()


def test_verify_names_the_record_whose_contributor_changed(small: Datanet, signers):
    def move(columns):
        columns["contributor"][3] = signers[0].address

    _rewrite_records(small, move)
    with pytest.raises(DatanetError, match=r"record 'r000003' \(row 3\) does not match its committed leaf"):
        Datanet.open(small.path).verify()


def test_verify_catches_changes_outside_the_record_hash(small: Datanet):
    def relabel_ground_truth(columns):
        columns["injected"][0] = "off_topic"

    _rewrite_records(small, relabel_ground_truth)
    with pytest.raises(DatanetError, match=r"records\.parquet hashes to .* not the committed"):
        Datanet.open(small.path).verify()


def test_verify_fails_on_a_raw_byte_flip(small: Datanet):
    path = Path(small.path) / "v0001" / RECORDS
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DatanetError):
        Datanet.open(small.path).verify()


def test_verify_catches_a_rewritten_root(small: Datanet):
    import json

    path = Path(small.path) / "v0001" / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["merkle_root"] = "0x" + "ab" * 32
    path.write_text(json.dumps(manifest))
    with pytest.raises(DatanetError, match=r"the records' Merkle root is 0x.*but the manifest commits to 0xabab"):
        Datanet.open(small.path).verify()


# --- sharing --------------------------------------------------------------------------------------


def test_hub_folder_loads_with_datasets(tmp_path: Path, small: Datanet):
    folder = small.export_hub_folder(tmp_path / "hub")
    ds = datasets.load_dataset(str(folder), split="train")
    assert ds["record_id"] == small.to_hf()["record_id"]
    assert small.root in (folder / "README.md").read_text()
    Datanet.open(folder / "v0001").verify()


def test_push_to_hub_reports_an_unreachable_hub(small: Datanet):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatanetError, match=r"could not push .* to the Hub dataset 'someone/small'"):
        small.push_to_hub("someone/small", token="hf_test", endpoint=f"http://127.0.0.1:{port}")


def test_a_record_and_the_label_mix_by_contributor(tmp_path):
    dn = Datanet.build(
        {
            "name": "mix",
            "root_dir": str(tmp_path),
            "source": {"kind": "synthetic", "n": 30, "seed": 0},
            "contributors": {"mode": "simulate", "n": 3, "seed": 0},
        },
        progress=False,
    )
    table = dn.to_pandas()
    first = dn.record(table.record_id[0])
    assert (first["text"], first["contributor"]) == (table.text[0], table.contributor[0])
    mix = dn.label_mix()
    assert mix.to_numpy().sum() == 30 and len(mix) == 3
    one = dn.label_mix(table.contributor[0].lower())  # any case of the address
    assert len(one) == 1 and one.to_numpy().sum() == (table.contributor == table.contributor[0]).sum()
    with pytest.raises(DatanetError, match="has no record 'nope'"):
        dn.record("nope")
