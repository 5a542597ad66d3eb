"""`olab verify RUN_DIR`: recompute every hash of a run from its artifacts and check the chain.

The links, in order (each failure names its link):
  manifest     run_id and manifest_hash recomputed from the manifest's content
  files        every file of the run directory re-hashed; equals the manifest's `files` (which manifest_hash
               covers); no file the manifest does not name (what no hash covers: `coverage.OUTSIDE_CHAIN`)
  datanet      every stored record re-hashed and the Merkle root rebuilt; equals the manifest's root; the
               version's manifest agrees with its records and config, and hashes to the recorded metadata_hash
  adapter      the adapters' files re-hashed; equal the manifest's hashes; trained on this Datanet
  targets      the stored target set re-hashed; equals the manifest's targets hash
  attribution  the scores and self-influence files re-hashed; equal attribution.json's and the manifest's
               hashes; attribution.json's parameters (damping, projection, ...) are the manifest's
  rewards      shares (and their intervals) recomputed from the scores and the Datanet's contributors under the
               recorded policy; rewards.json's shares, proofs, root, policy, names and intervals equal them and the manifest's
  report       report.html rendered again from the run's artifacts; the same bytes
  chain        published (the config says so, or the ledger has the run): the record on chain, the Datanet
               version's root and metadata_hash, and each transaction the manifest names (its receipt, status
               and event) equal the manifest's values; not published: the configured ledger has no such run
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from olab import intervals
from olab import rewards as rewards_mod
from olab.attribution import Attribution
from olab.datanet import Datanet
from olab.hashing import dataset_hash, hash_json, sha256_file
from olab.names import share_names
from olab.pipeline.artifact import Run, parse_manifest, read_manifest
from olab.pipeline.coverage import file_problems
from olab.pipeline.manifest import Manifest, RunLayout, compute_manifest_hash, compute_run_id
from olab.pipeline.reporting import write_report

LINKS = ("manifest", "files", "datanet", "adapter", "targets", "attribution", "rewards", "report", "chain")


@dataclass
class VerifyReport:
    run_dir: Path
    checks: dict[str, list[str]] = field(default_factory=dict)  # link -> problems (empty: holds)

    @property
    def ok(self) -> bool:
        return all(not problems for problems in self.checks.values())

    @property
    def broken(self) -> list[str]:
        return [link for link, problems in self.checks.items() if problems]

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())  # what a notebook cell shows

    def summary(self) -> str:
        lines = []
        for link in self.checks:
            problems = self.checks[link]
            lines.append(f"  {'ok  ' if not problems else 'FAIL'} {link}")
            lines.extend(f"       {p}" for p in problems)
        verdict = "every link holds" if self.ok else f"broken link(s): {', '.join(self.broken)}"
        return f"verify {self.run_dir}: {verdict}\n" + "\n".join(lines)


def _check(report: VerifyReport, link: str, fn: Any) -> Any:
    """Run one link's check; an exception is that link's failure, not a crash (tampered files can break a reader
    in any way: a flipped byte in an array, a value of the wrong type in a JSON file)."""
    try:
        problems, value = fn()
    except Exception as e:  # whatever a tampered file makes a reader raise, its link is broken
        problems, value = [f"{type(e).__name__}: {e}"], None
    report.checks[link] = problems
    return value


def verify(run_dir: str | Path, *, chain: bool = True, datanet_path: str | Path | None = None) -> VerifyReport:
    """Check every link of the run in `run_dir`; `report.ok` is True only if all hold."""
    layout = RunLayout(Path(run_dir))
    report = VerifyReport(layout.dir)
    raw = read_manifest(layout.manifest)  # the hashes are over the JSON as written, not over a parsed model

    def manifest_link() -> tuple[list[str], Run]:
        problems = []
        if compute_run_id(raw) != raw.get("run_id"):
            problems.append(f"run_id {raw.get('run_id')} does not match the manifest's content")
        if compute_manifest_hash(raw) != raw.get("manifest_hash"):
            problems.append("manifest_hash does not match the manifest's content")
        return problems, Run(layout.dir, parse_manifest(raw, layout.manifest), datanet_path=datanet_path)

    run = _check(report, "manifest", manifest_link)
    if run is None:
        return report  # the other links are read from the manifest
    m = run.manifest
    _check(report, "files", lambda: (file_problems(layout.dir, m.files), None))

    def datanet_link() -> tuple[list[str], Datanet]:
        dn = run.datanet
        dn.verify()
        problems = [f"Datanet root {dn.root} != manifest's {m.datanet.root}"] if dn.root != m.datanet.root else []
        if dn.metadata_hash != m.datanet.metadata_hash:
            problems.append(
                f"{dn.path} version {dn.version}'s manifest.json hashes to metadata_hash {dn.metadata_hash}, the run "
                f"recorded {m.datanet.metadata_hash}"
            )
        return problems, dn

    def adapter_link() -> tuple[list[str], None]:
        problems = []
        for i, (adapter, want) in enumerate(zip(run.adapters, m.adapter.models, strict=True)):
            if adapter.hash != want:
                problems.append(f"adapter model-{i}: files hash to {adapter.hash}, manifest says {want}")
            trained_on = adapter.provenance.get("datanet", {}).get("root")
            if trained_on != m.datanet.root:
                problems.append(f"adapter model-{i} was trained on Datanet root {trained_on}, not the run's")
        if hash_json(m.adapter.models) != m.adapter.hash:
            problems.append("the combined adapter hash does not match the per-model hashes")
        return problems, None

    def targets_link() -> tuple[list[str], None]:
        got = dataset_hash(run.targets)
        return (
            [f"{m.targets.path} hashes to {got}, manifest says {m.targets.hash}"] if got != m.targets.hash else []
        ), None

    def attribution_link() -> tuple[list[str], Attribution]:
        attribution = run.attribution
        return attribution_problems(attribution, m, run.adapters), attribution

    dn = _check(report, "datanet", datanet_link)
    _check(report, "adapter", adapter_link)
    _check(report, "targets", targets_link)
    attribution = _check(report, "attribution", attribution_link)

    def rewards_link() -> tuple[list[str], None]:
        problems = rewards_mod.verify_file(layout.rewards)
        if problems:
            return problems, None
        stored = run.rewards
        if stored.run_id != m.run_id:
            problems.append(f"rewards.json is for run {stored.run_id}, not {m.run_id}")
        if stored.root != m.rewards.root:
            problems.append(f"rewards.json root {stored.root} != manifest's {m.rewards.root}")
        if not stored.policy == m.rewards.policy == run.config.rewards.policy:
            problems.append(
                f"rewards policy: rewards.json says {stored.policy}, the manifest {m.rewards.policy}, its config "
                f"{run.config.rewards.policy}"
            )
        if dn is not None:
            split = run.config.rewards.split
            expected_names = share_names(dn.contributors, split.recipients() if split else {})
            wrong = sorted(
                a for a in expected_names.keys() | stored.names.keys() if expected_names.get(a) != stored.names.get(a)
            )
            if wrong:
                problems.append(f"names in rewards.json are not the Datanet's and the split's for {', '.join(wrong)}")
        if dn is not None and attribution is not None:
            expected = rewards_mod.compute(attribution.by_record(dn), run.config.rewards)
            if expected.root != stored.root:
                diff = rewards_mod.share_diff_ppm(expected, stored)
                problems.append(
                    f"shares in rewards.json do not follow from the scores (root {stored.root}, recomputed "
                    f"{expected.root}; largest share difference {diff} ppm)"
                )
            elif expected.harm != stored.harm:
                wrong = sorted(
                    a for a in expected.harm.keys() | stored.harm.keys() if expected.harm.get(a) != stored.harm.get(a)
                )
                problems.append(f"harm_ppm in rewards.json does not follow from the scores for {', '.join(wrong)}")
            again = intervals.for_run(attribution, dn, run.config.rewards)
            if again != stored.intervals:
                wrong = sorted(a for a in (again.ppm if again else {}) if stored.interval(a) != again.of(a))
                problems.append(
                    f"intervals in rewards.json do not follow from the scores (a bootstrap over the {again.resampled if again else 'targets'} seeded "
                    f"{intervals.SEED}, rewards.interval_resamples={run.config.rewards.interval_resamples})"
                    + (f" for {', '.join(wrong)}" if wrong else "")
                )
        return problems, None

    _check(report, "rewards", rewards_link)
    _check(report, "report", lambda: (report_problems(run), None))

    if chain:
        from olab.pipeline.publish import check_on_chain

        _check(report, "chain", lambda: (check_on_chain(run), None))
    return report


def attribution_problems(attribution: Attribution, m: Manifest, adapters: list[Any]) -> list[str]:
    """Where the attribution directory disagrees with itself, the manifest or the run's adapters."""
    params, problems = attribution.params, []
    for name, recorded in (
        ("scores.npy", m.attribution.scores_hash),
        ("self_influence.npy", params.get("self_influence_hash")),
        *([("member_scores.npy", params.get("member_scores_hash"))] if attribution.member_scores is not None else []),
    ):
        actual = sha256_file(attribution.path / name)
        if actual != recorded:
            problems.append(f"{name} hashes to {actual}, the run recorded {recorded}")
    if params.get("scores_hash") != m.attribution.scores_hash:
        problems.append(
            f"attribution.json's scores_hash {params.get('scores_hash')} != manifest's {m.attribution.scores_hash}"
        )
    if params.get("config") != m.attribution.config or params.get("engine") != m.attribution.engine:
        changed = sorted(
            k for k in m.attribution.config if (params.get("config") or {}).get(k) != m.attribution.config[k]
        )
        problems.append(
            f"attribution.json's parameters are not the manifest's (differ: {', '.join(changed) or 'engine'})"
        )
    shapes = [params.get("n_train"), params.get("n_targets")], list(m.attribution.shape), list(attribution.scores.shape)
    if not shapes[0] == shapes[1] == shapes[2]:
        problems.append(
            f"attribution shape: attribution.json says {shapes[0]}, the manifest {shapes[1]}, scores.npy {shapes[2]}"
        )
    weights = [[a.provenance.get("adapter_hash"), *a.provenance.get("checkpoints", {}).values()] for a in adapters]
    checkpoints = {h for hashes in weights for h in hashes}
    unknown = [mb.get("weights_hash") for mb in params.get("members", []) if mb.get("weights_hash") not in checkpoints]
    if unknown:
        problems.append(f"attribution.json's members {unknown} are not the run's adapters or their checkpoints")
    return problems


def report_problems(run: Run) -> list[str]:
    """report.html against the page the run's artifacts render (the same bytes, or the difference named)."""
    if not run.layout.report.is_file():
        return [f"{run.layout.report} is missing"]
    with tempfile.TemporaryDirectory(prefix="olab-verify-") as tmp:
        write_report(run, Path(tmp) / "report.html")
        rendered = (Path(tmp) / "report.html").read_bytes()
    if rendered != run.layout.report.read_bytes():
        return ["report.html is not the page the run's artifacts render (rendered again, its bytes differ)"]
    return []
