"""`olab datanet build|show|proof|verify`, run through olab's real entry point (exit codes included)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from olab.cli import main
from olab.datanet import Datanet, verify_record_proof


def olab(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["olab", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def built(tmp_path: Path, make_config, monkeypatch, capsys) -> Path:
    config = tmp_path / "datanet.yaml"
    config.write_text(yaml.safe_dump(make_config(tmp_path / "dn")))
    code, out, _ = olab(
        monkeypatch,
        capsys,
        "datanet",
        "build",
        config,
        "--set",
        "source.n=40",
        "--set",
        "contributors.n=2",
        "--no-progress",
    )
    assert code == 0, out
    assert "version 1: 40 records, 2 contributors" in out
    return tmp_path / "dn" / "small"


def test_build_show_proof_verify(built: Path, monkeypatch, capsys):
    dn = Datanet.open(built)
    again = [
        "datanet",
        "build",
        built.parent.parent / "datanet.yaml",
        "--set",
        "source.n=40",
        "--set",
        "contributors.n=2",
    ]
    code, out, _ = olab(monkeypatch, capsys, *again, "--no-progress")
    assert code == 0 and "unchanged" in out and f"merkle root {dn.root}" in out
    assert Datanet.open(built).versions == [1]  # the same inputs again: nothing rewritten

    code, out, _ = olab(monkeypatch, capsys, "datanet", "show", built)
    assert (
        code == 0
        and dn.root in out
        and dn.contributors[0]["address"] in out
        and "Business, Sci/Tech, Sports, World" in out
    )
    code, out, _ = olab(monkeypatch, capsys, "datanet", "show", built, "--json")
    assert json.loads(out)["merkle_root"] == dn.root

    code, out, _ = olab(monkeypatch, capsys, "datanet", "proof", built, "r000011")
    proof = json.loads(out)
    assert code == 0 and proof["record_id"] == "r000011" and verify_record_proof(proof, root=dn.root)

    code, out, _ = olab(monkeypatch, capsys, "datanet", "verify", built, "--no-progress")
    assert code == 0 and out.startswith(f"ok: 40 records of {built} version 1 match root {dn.root}")


def test_verify_fails_naming_the_record_after_one_byte_changes(built: Path, monkeypatch, capsys):
    path = built / "v0001" / "records.parquet"
    table = pq.read_table(path)
    columns = table.to_pydict()
    row = columns["record_id"].index("r000023")
    text = columns["text"][row].encode()
    columns["text"][row] = (text[:10] + bytes([text[10] ^ 0x20]) + text[11:]).decode()  # one byte, one bit
    pq.write_table(type(table).from_pydict(columns, schema=table.schema), path)

    code, out, err = olab(monkeypatch, capsys, "datanet", "verify", built, "--no-progress")
    assert code == 1 and out == ""  # 1: verification failed (2 is for usage and config errors)
    assert "error:" in err and "record 'r000023'" in err and "was changed" in err


def test_errors_are_one_line_with_exit_2(built: Path, tmp_path: Path, monkeypatch, capsys):
    code, _, err = olab(monkeypatch, capsys, "datanet", "proof", built, "missing-id")
    assert code == 2 and "has no record 'missing-id'" in err
    code, _, err = olab(monkeypatch, capsys, "datanet", "show", tmp_path / "nowhere")
    assert code == 2 and "no Datanet at" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncontributors:\n  strategy: alphabetical\n")
    code, _, err = olab(monkeypatch, capsys, "datanet", "build", bad)
    assert code == 2 and "contributors.strategy" in err and "round_robin" in err
