"""The embedded chain persists across processes through its journal, and survives a half-written one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from olab.errors import LedgerError
from olab.ledger import ChainConfig, Ledger
from olab.ledger.embedded import EmbeddedChain

PUBLISH = """
import json, sys
from olab.ledger import ChainConfig, Ledger, RunCommitment
ledger = Ledger(ChainConfig(state_dir=sys.argv[1]))
out = []
for fields in json.loads(sys.argv[2]):
    c = RunCommitment(*fields)
    out.append({"tx": ledger.publish_run(c).to_json(), "run": ledger.get_run(c.run_id)})
print(json.dumps({"addresses": ledger.addresses, "published": out}))
"""


def journal_entries(state: Path) -> list[dict]:
    return [json.loads(x) for x in (state / "embedded" / "journal.jsonl").read_text().splitlines()[1:]]


def _fields(run) -> list[str]:
    return list(run.commitment.to_json().values())


def _python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    return json.loads(out)


@pytest.mark.slow
def test_publish_in_two_processes_at_once_then_verify_in_this_one(tmp_path, new_run):
    state = str(tmp_path / "chain")
    batches = [[new_run() for _ in range(2)] for _ in range(2)]
    writers = [_python(PUBLISH, state, json.dumps([_fields(r) for r in batch])) for batch in batches]
    published = [_result(w) for w in writers]  # they share a fresh state dir: one deploys, both publish
    assert published[0]["addresses"] == published[1]["addresses"]
    seen = {p["run"]["run_id"]: p["run"] for out in published for p in out["published"]}
    with Ledger(ChainConfig(state_dir=state)) as ledger:  # a third process replays both writers' journal
        assert ledger.addresses == published[0]["addresses"]
        for run in (r for batch in batches for r in batch):
            assert ledger.verify_run(run.commitment) == []
            assert ledger.get_run(run.run_id) == seen[run.run_id]  # same block, same timestamp: exact replay
        assert "is not published" in ledger.verify_run(new_run().commitment)[0]


def test_half_written_journal_entry_is_ignored_then_trimmed(tmp_path, new_run):
    cfg = ChainConfig(state_dir=str(tmp_path))
    a, b = new_run(), new_run()
    with Ledger(cfg) as ledger:
        ledger.publish_run(a.commitment)
    journal = tmp_path / "embedded" / "journal.jsonl"
    lines_before = journal.read_bytes().count(b"\n")
    with open(journal, "ab") as f:  # a writer that died mid-append
        f.write(b'{"tx":"0x02f8b1830bc6b2a8')
    with Ledger(cfg) as ledger:
        assert ledger.verify_run(a.commitment) == []
        ledger.publish_run(b.commitment)
    data = journal.read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == lines_before + 1
    assert all(json.loads(line) for line in data.splitlines())
    with Ledger(cfg) as ledger:
        assert ledger.verify_run(a.commitment) == [] and ledger.verify_run(b.commitment) == []


def test_corrupt_or_foreign_journal_is_a_clear_error(tmp_path, new_run):
    cfg = ChainConfig(state_dir=str(tmp_path))
    with Ledger(cfg) as ledger:
        ledger.publish_run(new_run().commitment)
    journal = tmp_path / "embedded" / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    (tmp_path / "embedded" / "snapshot.bin").unlink(missing_ok=True)
    journal.write_bytes(b"".join([*lines[:3], b"not json\n", *lines[3:]]))
    with pytest.raises(LedgerError, match=r"journal.jsonl: entry 3 is corrupt"):
        Ledger(cfg)
    journal.write_bytes(b"hello\n")
    with pytest.raises(LedgerError, match="is not an olab embedded-chain journal"):
        Ledger(cfg)


def test_snapshot_skips_replay_and_is_ignored_when_stale(tmp_path, new_run, monkeypatch):
    monkeypatch.setattr(EmbeddedChain, "snapshot_every", 3)
    cfg = ChainConfig(state_dir=str(tmp_path))
    runs = [new_run() for _ in range(3)]
    with Ledger(cfg) as ledger:  # 5 deployments + 3 publishes: snapshots after entries 3 and 6
        for r in runs:
            ledger.publish_run(r.commitment)
    snapshot = tmp_path / "embedded" / "snapshot.bin"
    assert json.loads(snapshot.read_bytes().partition(b"\n")[0])["entries"] == 6
    chain = EmbeddedChain(cfg)
    assert chain.replayed == 2  # opened from the snapshot, replaying only the entries after it
    late = new_run()
    with Ledger(cfg, _chain=chain) as ledger:
        ledger.publish_run(late.commitment)
    meta, _, body = snapshot.read_bytes().partition(b"\n")
    stale = json.loads(meta) | {"journal_sha256": "0" * 64}
    snapshot.write_bytes(json.dumps(stale).encode() + b"\n" + body)
    chain = EmbeddedChain(cfg)
    assert chain.replayed == len(journal_entries(tmp_path)) == 9  # the stale snapshot was not trusted
    with Ledger(cfg, _chain=chain) as ledger:
        assert all(ledger.verify_run(r.commitment) == [] for r in [*runs, late])


def test_journal_holds_signed_transactions_and_no_key(tmp_path, new_run):
    cfg = ChainConfig(state_dir=str(tmp_path))
    with Ledger(cfg) as ledger:
        ledger.publish_run(new_run().commitment)
    entries = journal_entries(tmp_path)
    assert entries and all(set(e) == {"tx", "hash", "timestamp", "status"} for e in entries)
