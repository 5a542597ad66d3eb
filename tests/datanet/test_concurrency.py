"""Several processes submit signed batches to one Datanet at once: every batch acknowledged as accepted is in
the latest version, no version is overwritten, and the Datanet verifies (issue #13, item 1)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from olab.datanet import Datanet, sign_batch, simulated_accounts

CTX = mp.get_context("fork")
LABELS = ("World", "Sports", "Business", "Sci/Tech")


def _submitter(path: str, who: int, batches: int, results) -> None:
    signer = simulated_accounts(who + 1, seed=99)[who]
    acked, problems = [], []
    for nonce in range(batches):
        records = [
            {"text": f"Contributor {who} reports story {nonce}.{k} from the field", "label": LABELS[k % 4]}
            for k in range(2)
        ]
        try:
            dn = Datanet.open(path)
            result = dn.submit(sign_batch(signer, dn, records, nonce=nonce))
        except Exception as e:
            problems.append(f"{type(e).__name__}: {e}")
            continue
        if result.ok:
            acked.append((result.batch_id, sorted(result.accepted), result.version))
        else:
            problems.append(result.reason)
    results.put((acked, problems))


def test_every_acknowledged_batch_from_concurrent_submitters_is_in_the_latest_version(tmp_path: Path, make_config):
    dn = Datanet.build(make_config(tmp_path), progress=False)
    procs_n, batches = 4, 6
    results = CTX.Queue()
    procs = [CTX.Process(target=_submitter, args=(dn.path, who, batches, results)) for who in range(procs_n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    acked = [a for got, _ in outcomes for a in got]
    problems = [p for _, p in outcomes for p in p]
    assert problems == [], problems[:3]
    assert len(acked) == procs_n * batches
    assert sorted(v for *_, v in acked) == list(range(2, 2 + procs_n * batches)), "two batches claimed one version"

    latest = Datanet.open(dn.path)
    assert latest.versions == list(range(1, 2 + procs_n * batches))
    table = latest.to_pandas()
    for batch_id, ids, _ in acked:
        assert sorted(table.loc[table.batch_id == batch_id, "record_id"]) == ids, f"batch {batch_id} was lost"
    latest.verify()
    log = {e["batch_id"]: e for e in latest.submissions.entries()}
    assert all(log[b]["status"] == "accepted" for b, *_ in acked)


def _builder(config: dict, results) -> None:
    try:
        dn = Datanet.build(config, progress=False)
        results.put((dn.version, dn.root))
    except Exception as e:
        results.put((None, f"{type(e).__name__}: {e}"))


def test_concurrent_identical_builds_agree_on_one_version(tmp_path: Path, make_config):
    config = make_config(tmp_path)
    results = CTX.Queue()
    procs = [CTX.Process(target=_builder, args=(config, results)) for _ in range(3)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert {v for v, _ in outcomes} == {1}, outcomes
    assert len({root for _, root in outcomes}) == 1
    assert Datanet.build(config, progress=False).versions == [1]
