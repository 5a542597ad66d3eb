"""What the chain of hashes covers in a run directory and a Datanet version, and the few parts it leaves out.

- Every file `olab run` writes into a run directory is hashed into the manifest's `files`; `manifest_hash`
  covers them and goes on chain. `olab verify` re-hashes every file, refuses a file the manifest does not
  name, and checks what each artifact means in its own link. `manifest.json` is checked by its own hashes
  and the chain, `report.html` by rendering it again from the run's artifacts (`CHECKED_BY_LINK`).
- A Datanet version's data files are hashed into its `manifest.json` (`files`), and that manifest into its
  `metadata_hash` (all but `created`), which the run's manifest records (so its run_id covers it) and the
  Datanet registry holds on chain.
- The Datanet folder's contribution log (`submissions/`) is checked by `Datanet.verify` against the versions
  (`olab.datanet.logcheck`): signatures, signers, batch hashes, accepted records.
- `OUTSIDE_CHAIN` names, in this one place, the parts no hash covers: what the machine measured (timings,
  memory), where it kept things, and notes the publishing call wrote. docs/verify.md quotes it
  (`outside_chain_table`; tests/pipeline/test_coverage.py holds the two equal), and the tamper test edits
  each of them and expects `olab verify` still to pass.
"""

from __future__ import annotations

import json
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from olab.hashing import hash_json, sha256_file

RUN_DIRECTORY, DATANET_VERSION, DATANET_FOLDER = "run directory", "Datanet version directory", "Datanet folder"

# where -> file pattern (relative, `*` any name) -> JSON key path (dots; `*` every item, alone: the whole file) -> why
OUTSIDE_CHAIN: dict[str, dict[str, dict[str, str]]] = {
    RUN_DIRECTORY: {
        "manifest.json": {
            "config.run.runs_dir": "where the run was kept (a run's id does not depend on it)",
            "timings": "seconds each stage took on this machine (report.html shows them and must agree)",
            "created_at": "when the run finished",
            "chain.transactions.*.note": "what the publishing call found, in words",
            "chain.transactions.*.already_recorded": "whether the record was on chain before this run's call",
        },
        "adapters/*/metrics.json": {
            "train_seconds": "training time on this machine",
            "examples_per_second": "training speed on this machine",
        },
        "adapters/*/provenance.json": {"base_model.source": "where the base model is installed on this machine"},
        "attribution/attribution.json": {
            "timings": "seconds featurizing and scoring took on this machine",
            "peak_rss_mb": "memory this machine used",
            "peak_cuda_mb": "GPU memory this machine used",
            "members.*.adapter": "the local cache folder the adapter was read from",
            "members.*.checkpoint": "the local cache folder the checkpoint was read from",
        },
    },
    DATANET_VERSION: {
        "manifest.json": {"created": "when the version was written (so a version rebuilt identically is the same)"},
    },
    DATANET_FOLDER: {
        ".olab-*.lock": {"*": "the locks writers hold while they commit (empty files; what they hold means nothing)"},
        "submissions/*.tmp": {"*": "a log write a killed process left unfinished (nothing reads it)"},
        "submissions/unverified-*.json": {
            "*": "a batch whose signature failed, kept to show the attempt (verify checks only that it still fails)"
        },
        "submissions/*.json": {
            "submitted": "when the batch arrived",
            "decided": "when the batch was decided",
            "decided_at_version": "the latest version when the batch was decided",
            "at_version": "the latest version when the batch arrived (the signature binds the Datanet's name, chain "
            "id and genesis root, not a version)",
            "reason": "why the batch was rejected or held, in words",
            "preview_rejections": "(pending) what validation would reject, shown to the reviewer",
            "rejections": "(rejected) the validator's reasons; an accepted batch's are checked against its "
            "version's rejections.jsonl",
        },
    },
}
CHECKED_BY_LINK = {"manifest.json": "manifest", "report.html": "report"}  # run files with a link of their own


def outside_keys(where: str, rel: str) -> list[str]:
    """The JSON key paths of file `rel` (relative to its directory) that no hash covers."""
    return [key for pattern, keys in OUTSIDE_CHAIN[where].items() if fnmatch(rel, pattern) for key in keys]


def without_outside(where: str, rel: str, data: Any) -> Any:
    """`data` (the JSON of file `rel`) without the parts OUTSIDE_CHAIN leaves out."""
    data = json.loads(json.dumps(data))
    for key in outside_keys(where, rel):
        _drop(data, key.split("."))
    return data


def _drop(node: Any, path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if head == "*":  # every item of a list or mapping
        items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        for item in items:
            _drop(item, rest)
    elif isinstance(node, dict) and not rest:
        node.pop(head, None)
    elif isinstance(node, dict) and head in node:
        _drop(node[head], rest)


def file_digest(path: Path, rel: str) -> str:
    """The hash of one run file: its bytes, or, for a JSON file with parts outside the chain, the rest of it."""
    if not outside_keys(RUN_DIRECTORY, rel):
        return sha256_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return f"unreadable JSON ({type(e).__name__}: {e})"
    return hash_json(without_outside(RUN_DIRECTORY, rel, data))


def run_files(run_dir: Path) -> list[str]:
    """Every file of a run directory (relative POSIX paths, sorted)."""
    return sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())


def run_digests(run_dir: Path) -> dict[str, str]:
    """What the manifest's `files` records: the digest of every file but those with a link of their own."""
    return {rel: file_digest(run_dir / rel, rel) for rel in run_files(run_dir) if rel not in CHECKED_BY_LINK}


def file_problems(run_dir: Path, recorded: dict[str, str]) -> list[str]:
    """Files of the run directory that differ from the manifest's `files`, are missing, or are not named there."""
    problems = []
    on_disk = [rel for rel in run_files(run_dir) if rel not in CHECKED_BY_LINK]
    for rel in on_disk:
        if rel not in recorded:
            problems.append(f"{rel} is not part of the run: the manifest's files do not name it")
        elif (got := file_digest(run_dir / rel, rel)) != recorded[rel]:
            problems.append(f"{rel} hashes to {got}, the manifest's files say {recorded[rel]}")
    problems += [f"{rel} is missing (the manifest's files name it)" for rel in sorted(set(recorded) - set(on_disk))]
    return problems


def outside_chain_table() -> str:
    """OUTSIDE_CHAIN as the Markdown table docs/verify.md quotes."""
    rows = ["| where | file | part | why no hash covers it |", "| --- | --- | --- | --- |"]
    for where, files in OUTSIDE_CHAIN.items():
        for pattern, keys in files.items():
            rows += [f"| {where} | `{pattern}` | `{key}` | {why} |" for key, why in keys.items()]
    return "\n".join(rows)
