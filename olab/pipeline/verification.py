"""`olab verify RUN_DIR`: recompute every hash of a run from its artifacts and check the chain.

The links, in order (each failure names its link):
  manifest     run_id and manifest_hash recomputed from the manifest's content
  datanet      every stored record re-hashed and the Merkle root rebuilt; equals the manifest's root
  adapter      the adapters' files re-hashed; equal the manifest's hashes; trained on this Datanet
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
from olab.adapters import Adapter
from olab.attribution import Attribution
from olab.datanet import Datanet
from olab.errors import OlabError
from olab.hashing import hash_json, sha256_file
from olab.io import read_json
from olab.pipeline.config import RunConfig
from olab.pipeline.influence import contributor_influence
from olab.pipeline.manifest import RunLayout, compute_manifest_hash, compute_run_id

LINKS = ("manifest", "datanet", "adapter", "attribution", "rewards", "chain")


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
    manifest = read_json(layout.manifest)

    def manifest_link() -> tuple[list[str], None]:
        problems = []
        if compute_run_id(manifest) != manifest.get("run_id"):
            problems.append(f"run_id {manifest.get('run_id')} does not match the manifest's content")
        if compute_manifest_hash(manifest) != manifest.get("manifest_hash"):
            problems.append("manifest_hash does not match the manifest's content")
        return problems, None

    def datanet_link() -> tuple[list[str], Datanet]:
        dn = Datanet.open(datanet_path or manifest["datanet"]["path"], version=manifest["datanet"]["version"])
        dn.verify()
        problems = []
        if dn.root != manifest["datanet"]["root"]:
            problems.append(f"Datanet root {dn.root} != manifest's {manifest['datanet']['root']}")
        return problems, dn

    def adapter_link() -> tuple[list[str], None]:
        recorded = manifest["adapter"]["models"]
        problems = []
        for i, want in enumerate(recorded):
            adapter = Adapter.open(layout.adapter(i))
            if adapter.hash != want:
                problems.append(f"adapter model-{i}: files hash to {adapter.hash}, manifest says {want}")
            trained_on = adapter.provenance.get("datanet", {}).get("root")
            if trained_on != manifest["datanet"]["root"]:
                problems.append(f"adapter model-{i} was trained on Datanet root {trained_on}, not the run's")
        if hash_json(recorded) != manifest["adapter"]["hash"]:
            problems.append("the combined adapter hash does not match the per-model hashes")
        return problems, None

    def attribution_link() -> tuple[list[str], Attribution]:
        attribution = Attribution.open(layout.attribution)
        actual = sha256_file(attribution.path / "scores.npy")
        problems = []
        if actual != manifest["attribution"]["scores_hash"]:
            problems.append(f"scores.npy hashes to {actual}, manifest says {manifest['attribution']['scores_hash']}")
        return problems, attribution

    report.checks["manifest"] = []
    _check(report, "manifest", manifest_link)
    dn = _check(report, "datanet", datanet_link)
    _check(report, "adapter", adapter_link)
    attribution = _check(report, "attribution", attribution_link)

    def rewards_link() -> tuple[list[str], None]:
        problems = rewards_mod.verify_file(layout.rewards)
        if problems:
            return problems, None
        run_id, stored = rewards_mod.load(layout.rewards)
        if run_id != manifest["run_id"]:
            problems.append(f"rewards.json is for run {run_id}, not {manifest['run_id']}")
        if stored.root != manifest["rewards"]["root"]:
            problems.append(f"rewards.json root {stored.root} != manifest's {manifest['rewards']['root']}")
        if dn is not None and attribution is not None:
            cfg = RunConfig.model_validate(manifest["config"])
            expected = rewards_mod.compute(contributor_influence(attribution, dn), cfg.rewards)
            if expected.root != stored.root:
                diff = rewards_mod.share_diff_ppm(expected, stored)
                problems.append(
                    f"shares in rewards.json do not follow from the scores (root {stored.root}, recomputed "
                    f"{expected.root}; largest share difference {diff} ppm)"
                )
        return problems, None

    _check(report, "rewards", rewards_link)

    if chain and manifest.get("chain", {}).get("backend"):
        from olab.pipeline.publish import check_on_chain

        _check(report, "chain", lambda: (check_on_chain(manifest), None))
    return report
