"""`olab verify RUN_DIR`: recompute every hash of a run from its artifacts and check the chain.

The links, in order (each failure names its link):
  manifest     run_id and manifest_hash recomputed from the manifest's content
  datanet      every stored record re-hashed and the Merkle root rebuilt; equals the manifest's root
  adapter      the adapters' files re-hashed; equal the manifest's hashes; trained on this Datanet
  targets      the stored target set re-hashed; equals the manifest's targets hash
  attribution  the scores file re-hashed; equals the manifest's scores hash
  rewards      shares recomputed from the scores and the Datanet's contributors under the recorded
               policy; rewards.json's shares, proofs and root equal them and the manifest's root
  chain        the published record (and the Datanet version) on chain equal the manifest's values
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from olab import rewards as rewards_mod
from olab.attribution import Attribution
from olab.datanet import Datanet
from olab.errors import OlabError
from olab.hashing import dataset_hash, hash_json, sha256_file
from olab.pipeline.artifact import Run, parse_manifest, read_manifest
from olab.pipeline.manifest import RunLayout, compute_manifest_hash, compute_run_id

LINKS = ("manifest", "datanet", "adapter", "targets", "attribution", "rewards", "chain")


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
    """Run one link's check; an exception is that link's failure, not a crash."""
    try:
        problems, value = fn()
    except (OlabError, OSError, ValueError, KeyError) as e:
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

    def datanet_link() -> tuple[list[str], Datanet]:
        dn = run.datanet
        dn.verify()
        return ([f"Datanet root {dn.root} != manifest's {m.datanet.root}"] if dn.root != m.datanet.root else []), dn

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
        actual = sha256_file(attribution.path / "scores.npy")
        want = m.attribution.scores_hash
        return ([f"scores.npy hashes to {actual}, manifest says {want}"] if actual != want else []), attribution

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
        return problems, None

    _check(report, "rewards", rewards_link)

    if chain and m.chain.backend:
        from olab.pipeline.publish import check_on_chain

        _check(report, "chain", lambda: (check_on_chain(run), None))
    return report
