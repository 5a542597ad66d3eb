"""Nothing forged passes `olab verify` (issue #13, item 2): a published run on the embedded chain (the tiny project),
and each file of its run directory and of its Datanet version edited in turn, walked rather than picked: a flipped
byte in a binary, a changed character in text, a changed value in JSON (a leaf drawn by a seed from the file's
name, among those a hash covers). Every edit makes the CLI exit 1 naming the broken link; every part
`coverage.OUTSIDE_CHAIN` leaves out can change and the run still verifies (so the list cannot hide a covered
part). A published run cannot be made to look unpublished, and a Datanet manifest's labels or behaviours cannot
be rewritten.

The CLI runs in this process (`olab.cli.main`, the console script's entry point: its error handling and exit
codes) so the walk stays fast; anything but a clean exit is a test error.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from pipeline_helpers import olab, run_dir_from
from tampering import changed, cli, get_leaf, is_under, leaves, set_leaf
from test_inputs import write_config
from tiny_run import TINY

from olab.pipeline import Run
from olab.pipeline.coverage import DATANET_VERSION, OUTSIDE_CHAIN, RUN_DIRECTORY, outside_keys
from olab.pipeline.manifest import compute_manifest_hash, compute_run_id

pytestmark = pytest.mark.xdist_group("tamper")


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run directory of the tiny project, published on the project's embedded chain."""
    cwd = tmp_path_factory.mktemp("tamper")
    done = olab("run", str(write_config(cwd, TINY)), "--no-progress", cwd=cwd)
    run_dir = run_dir_from(done.stdout, cwd)
    assert Run.open(run_dir).manifest.chain.backend == "embedded"
    return run_dir


@pytest.fixture
def project(published: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(published.parent.parent)  # the Datanet and the chain state are where the run was made
    return published


# --- edits ---------------------------------------------------------------------------------------


def edit(path: Path, rel: str, where: str) -> str:
    """Change `path` meaningfully for its type; returns what was changed."""
    data = path.read_bytes()
    if path.suffix == ".json":
        obj = json.loads(data)
        covered = [p for p in leaves(obj) if p and not any(is_under(p, k) for k in outside_keys(where, rel))]
        if not covered:  # an empty container or a bare value: the file's one value changes
            path.write_text(json.dumps(changed(obj) if obj else {"edited": True}))
            return "its value"
        leaf = random.Random(rel).choice(covered)
        set_leaf(obj, leaf, changed(get_leaf(obj, leaf)))
        path.write_text(json.dumps(obj, indent=2))
        return "value at " + ".".join(map(str, leaf))
    if not data:
        path.write_bytes(b'{"record_id": "forged"}\n')
        return "a line added"
    i = len(data) // 2
    if path.suffix in (".html", ".md", ".jsonl", ".txt"):
        while not chr(data[i]).isalnum():
            i += 1
        new = b"1" if data[i : i + 1] != b"1" else b"2"
        path.write_bytes(data[:i] + new + data[i + 1 :])
        return f"character {i}"
    path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])
    return f"byte {i} flipped"


def files_of(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def datanet_version_dir(run_dir: Path) -> Path:
    m = Run.open(run_dir).manifest
    return Path(m.datanet.path) / f"v{m.datanet.version:04d}"


# --- the walk ------------------------------------------------------------------------------------


def test_every_file_edited_breaks_a_named_link(project: Path, monkeypatch, capsys, request) -> None:
    run_dir, version_dir = project, datanet_version_dir(project)
    code, out = cli(monkeypatch, capsys, "verify", str(run_dir))
    assert code == 0, out
    walked = [(RUN_DIRECTORY, run_dir, p) for p in files_of(run_dir)]
    walked += [(DATANET_VERSION, version_dir, p) for p in files_of(version_dir)]
    walked += [(DATANET_VERSION, version_dir.parent, version_dir.parent / "README.md")]  # the card load_dataset reads
    passed, table = [], []
    for where, base, path in walked:
        rel = path.relative_to(base).as_posix()
        original = path.read_bytes()
        try:
            what = edit(path, rel, where)
            code, out = cli(monkeypatch, capsys, "verify", str(run_dir))
            if where == DATANET_VERSION:  # the Datanet alone, with its registration on the project's chain
                dn_code, dn_out = cli(
                    monkeypatch, capsys, "datanet", "verify", str(version_dir.parent), "--no-progress"
                )
                assert dn_code == 1 and dn_out.startswith("error: ") and "Traceback" not in dn_out, (rel, what, dn_out)
        finally:
            path.write_bytes(original)
        broken = out.split("broken link(s): ", 1)[-1].split("\n", 1)[0] if "broken link(s)" in out else "none"
        table.append(f"{where[:7]:<8} {rel:<52} {what:<36} broken: {broken}")
        if code != 1 or "broken link(s)" not in out or "Traceback" in out:
            passed.append(f"{where} {rel} ({what}): exit {code}\n{out}")
        elif where == RUN_DIRECTORY and rel not in ("manifest.json", "report.html"):
            assert "FAIL files" in out and rel in out, out
        elif where == DATANET_VERSION:
            assert "FAIL datanet" in out, out
    if request.config.getoption("capture") == "no":  # the walk, for the record: pytest -s shows it
        with capsys.disabled():
            print("\n" + "\n".join(table))
    assert not passed, "edits verify did not catch:\n" + "\n".join(passed)
    assert len(walked) >= 20  # adapters, checkpoints, attribution, targets, rewards, report, manifest, Datanet files
    assert cli(monkeypatch, capsys, "verify", str(run_dir))[0] == 0  # every file restored


def test_every_part_outside_the_chain_can_change(project: Path, monkeypatch, capsys) -> None:
    """Each part OUTSIDE_CHAIN names exists in the run and changing it alone (report.html rendered again, since it
    shows the timings) leaves every link holding."""
    run_dir = project
    bases = {RUN_DIRECTORY: run_dir, DATANET_VERSION: datanet_version_dir(run_dir)}
    for where, files in OUTSIDE_CHAIN.items():
        if where not in bases:  # the Datanet folder's log: tests/datanet/test_contribution_log.py, with signed batches
            continue
        for pattern, keys in files.items():
            paths = list(bases[where].glob(pattern))
            assert paths, f"OUTSIDE_CHAIN names {where} {pattern}, which the run does not have"
            for key in keys:
                saved = {p: p.read_bytes() for p in [*paths, run_dir / "report.html"]}
                try:
                    hits = 0
                    for path in paths:
                        obj = json.loads(path.read_bytes())
                        for leaf in [p for p in leaves(obj) if is_under(p, key)]:
                            set_leaf(obj, leaf, changed(get_leaf(obj, leaf)))
                            hits += 1
                        path.write_text(json.dumps(obj, indent=2))
                    assert hits, f"OUTSIDE_CHAIN names {pattern} {key}, which is not in the file"
                    Run.open(run_dir).report()
                    code, out = cli(monkeypatch, capsys, "verify", str(run_dir))
                    assert code == 0, f"{pattern} {key} is listed outside the chain, yet editing it fails:\n{out}"
                finally:
                    for p, data in saved.items():
                        p.write_bytes(data)


# --- a published run cannot be made to look unpublished ---------------------------------------------


def rewrite_manifest(run_dir: Path, change: Any) -> None:
    path = run_dir / "manifest.json"
    m = json.loads(path.read_text())
    change(m)
    m["run_id"] = compute_run_id(m)
    m["manifest_hash"] = compute_manifest_hash(m)
    path.write_text(json.dumps(m, indent=2))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.pop("chain"), "the config says run.publish: true, but the manifest has no chain record"),
        (lambda m: m["chain"].update(backend=None), "the config says run.publish: true"),
        (
            lambda m: (m.pop("chain"), m["config"]["run"].update(publish=False)),
            "with these scores published in block",
        ),
    ],
    ids=["chain section removed", "backend nulled", "chain removed and publish: false"],
)
def test_a_published_run_cannot_be_made_to_look_unpublished(project, monkeypatch, capsys, change, expected) -> None:
    path = project / "manifest.json"
    original = path.read_bytes()
    try:
        rewrite_manifest(project, change)
        code, out = cli(monkeypatch, capsys, "verify", str(project))
    finally:
        path.write_bytes(original)
    assert code == 1 and "FAIL chain" in out and expected in out, out


# --- a Datanet's manifest cannot be rewritten ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m["labels"].reverse(), "labels"),
        (lambda m: m["contributors"][1].update(behaviour="label_noise"), "behaviour"),
    ],
    ids=["labels reversed", "behaviour edited"],
)
def test_an_edited_datanet_manifest_fails_both_verifies(project, monkeypatch, capsys, change, expected) -> None:
    path = datanet_version_dir(project) / "manifest.json"
    original = path.read_bytes()
    try:
        m = json.loads(original)
        change(m)
        path.write_text(json.dumps(m, indent=2))
        dn_code, dn_out = cli(monkeypatch, capsys, "datanet", "verify", str(path.parent.parent), "--no-progress")
        code, out = cli(monkeypatch, capsys, "verify", str(project))
    finally:
        path.write_bytes(original)
    assert dn_code == 1 and "manifest.json does not follow" in dn_out and expected in dn_out, dn_out
    assert code == 1 and "FAIL datanet" in out and expected in out, out


# --- the forgeries issue #13 names, each with the link that must catch it ----------------------------------


def _tx(name: str, **change: Any) -> Any:
    return lambda m: m["chain"]["transactions"][name].update(change)


@pytest.mark.parametrize(
    ("rel", "change", "link", "expected"),
    [
        ("manifest.json", _tx("publish_run", tx_hash="0x" + "ab" * 32), "chain", "transaction publish_run"),
        ("manifest.json", _tx("register_datanet_version", block=1), "chain", "block is"),
        ("attribution/attribution.json", lambda a: a["config"].update(damping=1.0), "attribution", "differ: damping"),
        (
            "attribution/attribution.json",
            lambda a: a.update(self_influence_hash="sha256:" + "0" * 64),
            "attribution",
            "self_influence.npy hashes to",
        ),
        ("rewards.json", lambda r: r.update(policy="positive_influence"), "rewards", "rewards policy"),
    ],
    ids=["transaction hash", "transaction block", "damping", "self-influence hash", "rewards policy"],
)
def test_each_named_forgery_breaks_its_link(project, monkeypatch, capsys, rel, change, link, expected) -> None:
    path = project / rel
    original = path.read_bytes()
    try:
        data = json.loads(original)
        change(data)
        path.write_text(json.dumps(data, indent=2))
        code, out = cli(monkeypatch, capsys, "verify", str(project))
    finally:
        path.write_bytes(original)
    assert code == 1 and f"FAIL {link}" in out and expected in out, out
