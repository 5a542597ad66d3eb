"""The signed-contribution log (`submissions/`) is covered by `olab datanet verify` (issue #13): a Datanet with
accepted, rejected and forged batches verifies; every value of an entry a check covers, edited, makes it exit 1
naming the log and the entry; what `coverage.OUTSIDE_CHAIN` lists for the Datanet folder (lock files, the log's
timestamps and reasons) can change and it still verifies. The CLI runs in this process (`olab.cli.main`)."""

from __future__ import annotations

import dataclasses
import json
from fnmatch import fnmatch
from pathlib import Path

import pytest
from tampering import changed, cli, get_leaf, is_under, leaves, set_leaf

from olab.datanet import Datanet, sign_batch
from olab.pipeline.coverage import DATANET_FOLDER, OUTSIDE_CHAIN

RECORDS = [
    {"text": "Robotics startup unveils a warehouse picking arm", "label": "Sci/Tech"},
    {"text": "Harbour city hosts the sailing championship", "label": "Sports"},
    {"text": "", "label": "World"},  # rejected by validation: the accepted entry lists a rejection
]
MORE = [{"text": "Central bank holds rates steady for a third month", "label": "Business"}]
LINK = "the contribution log (submissions/) does not hold"


def verify(monkeypatch, capsys, path: Path, *extra: str) -> tuple[int, str]:
    """`olab datanet verify PATH` as the console script runs it: (exit code, stdout + stderr)."""
    return cli(monkeypatch, capsys, "datanet", "verify", str(path), "--no-progress", *extra)


@pytest.fixture
def logged(small: Datanet, signers) -> Path:
    """A Datanet with two accepted batches (one with a rejected record), one all-invalid and one forged."""
    assert small.submit(sign_batch(signers[0], small, RECORDS, nonce=1)).ok
    assert small.submit(sign_batch(signers[1], small, [{"text": "x", "label": "Nope"}], nonce=1)).status == "rejected"
    genuine = sign_batch(signers[2], small, MORE, nonce=1)
    forged = dataclasses.replace(genuine, signature=sign_batch(signers[0], small, MORE, nonce=1).signature)
    assert small.submit(forged).status == "rejected"
    assert small.submit(sign_batch(signers[1], small, MORE, nonce=2)).ok
    return Path(small.path)


def outside(rel: str, entry: dict) -> list[str]:
    """The keys of log entry `rel` no check covers (an accepted batch's rejections are its version's, as listed)."""
    keys = [key for pattern, keys in OUTSIDE_CHAIN[DATANET_FOLDER].items() if fnmatch(rel, pattern) for key in keys]
    return [k for k in keys if not (k == "rejections" and entry.get("status") == "accepted")]


def entries(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted((root / "submissions").glob("*.json"))}


def test_every_covered_value_of_the_log_edited_fails_verify(logged: Path, monkeypatch, capsys) -> None:
    code, out = verify(monkeypatch, capsys, logged)
    assert code == 0, out
    statuses = sorted(json.loads(p.read_text())["status"] for p in entries(logged).values())
    assert statuses == ["accepted", "accepted", "rejected", "rejected"]  # two accepted, one invalid, one forged
    caught = []
    for rel, path in entries(logged).items():
        original = path.read_bytes()
        data = json.loads(original)
        for leaf in [p for p in leaves(data) if not any(is_under(p, k) for k in outside(rel, data))]:
            edited = json.loads(original)
            set_leaf(edited, leaf, changed(get_leaf(edited, leaf)))
            path.write_text(json.dumps(edited))
            try:
                code, out = verify(monkeypatch, capsys, logged)
            finally:
                path.write_bytes(original)
            where = f"{rel} {'.'.join(map(str, leaf))}"
            assert code == 1 and out.startswith("error: ") and LINK in out and "Traceback" not in out, (where, out)
            assert path.name in out or "which no accepted entry names" in out, (where, out)
            caught.append(where)
    assert len(caught) >= 30  # ids, signers, hashes, nonces, statuses, versions, signatures, records, rejections
    assert verify(monkeypatch, capsys, logged)[0] == 0  # every edit restored


def accepted_entry(root: Path) -> Path:
    return next(p for p in entries(root).values() if json.loads(p.read_text())["status"] == "accepted")


def rewrite(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e, other: e["batch"].update(signature=other["batch"]["signature"]), "bad signature: it recovers"),
        (lambda e, other: e.update(signer=other["signer"]), "signer is"),
        (lambda e, other: e["accepted"].__setitem__(-1, "r999999"), "accepted records"),
        (lambda e, other: e["accepted"].pop(), "change does not record this batch (added differ)"),
        (lambda e, other: e["batch"]["records"][0].update(text="Forged"), "bad signature"),
        (lambda e, other: e.update(status="rejected"), "which no accepted entry names"),
    ],
    ids=["signature", "signer", "accepted id", "accepted ids fewer", "records", "status"],
)
def test_an_edited_accepted_entry_names_the_log(logged: Path, monkeypatch, capsys, change, expected) -> None:
    path = accepted_entry(logged)
    other = json.loads(
        next(p for p in entries(logged).values() if p != path and "unverified" not in p.name).read_text()
    )
    rewrite(path, lambda e: change(e, other))
    code, out = verify(monkeypatch, capsys, logged)
    assert code == 1 and LINK in out and expected in out, out


def test_a_removed_or_hidden_accepted_entry_fails(logged: Path, monkeypatch, capsys) -> None:
    path = accepted_entry(logged)
    hidden = path.with_name("unverified-0123456789abcdef.json")
    path.rename(hidden)  # an accepted batch moved among the forgeries
    code, out = verify(monkeypatch, capsys, logged)
    assert code == 1 and "which no accepted entry names" in out and "but it verifies" in out, out
    hidden.unlink()
    code, out = verify(monkeypatch, capsys, logged)
    assert code == 1 and f"came from batch {path.stem}, which no accepted entry names" in out, out
    (logged / "submissions" / "notes.txt").write_text("x")
    assert "notes.txt is not part of the log" in verify(monkeypatch, capsys, logged)[1]


def test_every_part_outside_the_chain_can_change(logged: Path, monkeypatch, capsys) -> None:
    """Lock files rewritten, an unfinished write left behind, and each listed key of the log edited: still verifies."""
    (logged / "submissions" / ".x.json.123.abcd.tmp").write_bytes(b"\x00half")
    for pattern, keys in OUTSIDE_CHAIN[DATANET_FOLDER].items():
        paths = [p for p in logged.rglob("*") if p.is_file() and fnmatch(p.relative_to(logged).as_posix(), pattern)]
        assert paths, f"OUTSIDE_CHAIN names {pattern}, which this Datanet folder does not have"
        for key in keys:
            hits = 0
            for path in paths:
                if key == "*" and not path.name.endswith(".json"):  # a lock file or an unfinished write: any bytes
                    path.write_bytes(b"edited")
                    hits += 1
                    continue
                obj = json.loads(path.read_text())
                if key not in outside(path.relative_to(logged).as_posix(), obj):
                    continue
                for leaf in [p for p in leaves(obj) if is_under(p, key)]:
                    set_leaf(obj, leaf, changed(get_leaf(obj, leaf)))
                    hits += 1
                path.write_text(json.dumps(obj))
            code, out = verify(monkeypatch, capsys, logged)
            assert code == 0, f"{pattern} {key} is listed outside the chain, yet editing it fails:\n{out}"
            assert hits or key == "preview_rejections", f"{pattern} {key} is in no file"  # pending: the test below


def test_pending_entries_and_a_later_build_verify(review: Datanet, signers, make_config, tmp_path, monkeypatch, capsys):
    """A pending batch's signature is checked; an approved one is in its version; a later build that replaces the
    records leaves the log verifying against every version."""
    root = Path(review.path)
    held = sign_batch(signers[0], review, MORE, nonce=1)
    assert review.submit(held).status == "pending"
    assert verify(monkeypatch, capsys, root)[0] == 0
    path = root / "submissions" / f"{held.batch_id}.json"
    original = path.read_bytes()
    rewrite(path, lambda e: e.update(preview_rejections=[{"rule": "edited"}]))  # listed outside the chain
    assert verify(monkeypatch, capsys, root)[0] == 0
    rewrite(path, lambda e: e["batch"].update(nonce=2))
    code, out = verify(monkeypatch, capsys, root)
    assert code == 1 and LINK in out and path.name in out, out
    path.write_bytes(original)
    assert review.approve(held.batch_id).ok and verify(monkeypatch, capsys, root)[0] == 0
    rebuilt = Datanet.build(make_config(tmp_path, name="reviewed", policy="review", source={"seed": 2}), progress=False)
    assert rebuilt.version == 3 and rebuilt.manifest["change"]["kind"] == "build"
    for version in (1, 2, 3):
        code, out = verify(monkeypatch, capsys, root, "--version", str(version))
        assert code == 0, (version, out)
