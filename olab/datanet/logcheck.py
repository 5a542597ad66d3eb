"""The contribution log (`submissions/`) against the Datanet's versions: what `Datanet.verify` checks of it.

Every verified entry (accepted, rejected, pending) must still verify: its batch recovers to its recorded signer
under the Datanet's signing domain (that of one of its versions: a build may change the name or chain id), and
its id, batch hash and nonce are the batch's. An accepted entry's version must record that batch as its change
and its rejections, and the records it lists must be in the verified version (unless a later build replaced
the records) with that signer, that batch and the version that added them, their text and label among the
batch's. The other direction: every record in the version that came from a batch (its `batch_id`) has an
accepted entry. An `unverified-*` entry must still fail to verify (an accepted batch cannot be hidden there).
One pass over the records and one read per entry; the parts of an entry no check covers are listed in
`olab.pipeline.coverage.OUTSIDE_CHAIN`.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from olab.datanet.contributions import SignedBatch, signature_problem
from olab.datanet.storage import MANIFEST, SUBMISSIONS, version_dirname
from olab.datanet.submissions import UNVERIFIED
from olab.errors import DatanetError, ValidationError

if TYPE_CHECKING:
    from olab.datanet.store import Datanet

STATUSES = ("accepted", "rejected", "pending")


def log_problems(dn: Datanet, table: pa.Table) -> list[str]:
    """What in `dn`'s contribution log disagrees with its versions and with version `dn.version`'s `table`."""
    storage, version = dn.storage, dn.version
    manifests = {v: storage.read_json(f"{version_dirname(v)}/{MANIFEST}") for v in dn.versions}
    builds = [v for v, m in manifests.items() if v <= version and (m.get("change") or {}).get("kind") == "build"]
    last_build = max(builds, default=0)
    by_batch: dict[str, list[tuple]] = {}
    columns = ("batch_id", "record_id", "contributor", "version_added", "text", "label")
    for batch_id, *row in zip(*(table.column(c).to_pylist() for c in columns), strict=True):
        if batch_id is not None:
            by_batch.setdefault(batch_id, []).append(tuple(row))
    genesis = dn.genesis_root
    domains = [
        {"datanet": name, "chain_id": chain_id, "genesis_root": genesis}
        for name, chain_id in dict.fromkeys((m["name"], m["chain_id"]) for m in manifests.values())
    ]
    problems: list[str] = []
    accepted: dict[str, int] = {}
    nonces: set[tuple[str, int]] = set()
    for name in storage.list(SUBMISSIONS):
        rel = f"{SUBMISSIONS}/{name}"
        if name.endswith(".tmp"):  # a write a killed process left unfinished (see coverage.OUTSIDE_CHAIN)
            continue
        if not name.endswith(".json"):
            problems.append(f"{rel} is not part of the log (entries are <batch id>.json)")
            continue
        try:
            if name.startswith(UNVERIFIED):
                problems += _unverified_problems(dn, rel, domains)
                continue
            entry = storage.read_json(rel)
            found = _entry_problems(rel, name, entry, domains, nonces)
            if not found and entry["status"] == "accepted":
                accepted[entry["batch_id"]] = entry["version"]
                found = _accepted_problems(dn, rel, entry, manifests, by_batch, version, last_build)
            problems += found
        except (DatanetError, ValidationError, KeyError, TypeError, ValueError, AttributeError) as e:
            problems.append(f"{rel} is not a log entry ({type(e).__name__}: {e})")
    for batch_id, rows in by_batch.items():
        if batch_id not in accepted:
            problems.append(f"records {[r[0] for r in rows]} came from batch {batch_id}, which no accepted entry names")
    for v, m in manifests.items():
        change = m.get("change") or {}
        if (
            last_build < v <= version
            and change.get("kind") == "contribution"
            and accepted.get(change.get("batch_id")) != v
        ):
            problems.append(f"version {v} applied batch {change.get('batch_id')}, which no accepted entry names")
    return problems


def _signature(batch: SignedBatch, domains: list[dict[str, Any]]) -> str | None:
    """None when `batch` verifies under one of the Datanet's signing domains, else why not (under the first)."""
    problems = []
    for domain in domains:
        try:
            problem = signature_problem(batch, domain)
        except ValidationError as e:
            problem = f"malformed batch: {e}"
        if problem is None:
            return None
        problems.append(problem)
    return problems[0]


def _unverified_problems(dn: Datanet, rel: str, domains: list[dict[str, Any]]) -> list[str]:
    """A batch logged as failing its signature check must still fail it (an entry that is no batch fails it)."""
    try:
        entry = dn.storage.read_json(rel)
        batch = SignedBatch.from_json(entry.get("batch") if isinstance(entry, dict) else None)
    except (DatanetError, ValidationError):
        return []
    if _signature(batch, domains) is not None:
        return []
    return [f"{rel} is logged as a batch whose signature failed, but it verifies (signed by {batch.contributor})"]


def _entry_problems(
    rel: str, name: str, entry: dict[str, Any], domains: list[dict[str, Any]], nonces: set[tuple[str, int]]
) -> list[str]:
    """A verified entry's batch still verifies, and its id, signer, hash, nonce and status are the batch's."""
    batch = SignedBatch.from_json(entry["batch"])
    if (problem := _signature(batch, domains)) is not None:
        return [f"{rel}: {problem}"]
    want = {"batch_id": batch.batch_id, "signer": batch.recover(), "batch_hash": batch.batch_hash, "nonce": batch.nonce}
    problems = [
        f"{rel}: {k} is {entry.get(k)!r}, its signed batch gives {v!r}" for k, v in want.items() if entry.get(k) != v
    ]
    if name != f"{want['batch_id']}.json":
        problems.append(f"{rel} holds batch {want['batch_id']} (its file is named after another batch)")
    if entry["status"] not in STATUSES:
        problems.append(f"{rel}: status {entry['status']!r} is none of {STATUSES}")
    if (want["signer"], batch.nonce) in nonces:
        problems.append(f"{rel}: {want['signer']} used nonce {batch.nonce} for another logged batch as well")
    nonces.add((want["signer"], batch.nonce))
    return problems


def _accepted_problems(
    dn: Datanet,
    rel: str,
    entry: dict[str, Any],
    manifests: dict[int, dict[str, Any]],
    by_batch: dict[str, list[tuple]],
    version: int,
    last_build: int,
) -> list[str]:
    """The version an accepted entry names applied its batch (and rejected what it lists), and the verified version
    holds its records."""
    batch_id, signer, into, ids = entry["batch_id"], entry["signer"], entry["version"], entry["accepted"]
    if into not in manifests:
        return [f"{rel}: accepted into version {into!r}, which this Datanet does not have ({sorted(manifests)})"]
    change = manifests[into].get("change") or {}
    want = {
        "kind": "contribution",
        "batch_id": batch_id,
        "contributor": signer,
        "nonce": entry["nonce"],
        "added": len(ids),
    }
    wrong = sorted(k for k, v in want.items() if change.get(k) != v)
    if wrong:
        return [f"{rel}: version {into}'s change does not record this batch ({', '.join(wrong)} differ)"]
    if entry.get("rejections") != dn.rejections(into):
        return [f"{rel}: its rejections are not the ones version {into}'s rejections.jsonl holds"]
    if not last_build < into <= version:  # a later version, or records a later build replaced
        return []
    rows = by_batch.get(batch_id, [])
    problems = []
    if [r[0] for r in rows] != list(ids):
        problems.append(f"{rel}: accepted records {ids}, but version {version} holds {[r[0] for r in rows]} from it")
    if any(r[1] != signer or r[2] != into for r in rows):
        problems.append(f"{rel}: its records in version {version} are not all {signer}'s, added in version {into}")
    signed = Counter((r.get("text"), r.get("label")) for r in entry["batch"]["records"] if isinstance(r, dict))
    if Counter((r[3], r[4]) for r in rows) - signed:
        problems.append(f"{rel}: its records in version {version} are not the text and labels its batch signed")
    return problems
