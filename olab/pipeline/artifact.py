"""`olab.Run`: a finished run as one object, reopened from its directory.

`Run.open(run_dir)` (and what `olab.run(...)` returns) gives the typed manifest and every artifact of the
run, each opened on first use from the run directory: the Datanet version, the adapters, the attribution,
the rewards and the targets (stored in the run directory, never reloaded from their source). It also
verifies, reproduces, re-renders its report and attaches to the ledger it was published on.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError as PydanticValidationError

from olab.config import format_validation_error
from olab.errors import OlabError, VerificationError
from olab.io import read_json
from olab.pipeline.manifest import Manifest, RunLayout

if TYPE_CHECKING:
    import datasets
    import pandas as pd

    from olab.adapters import Adapter
    from olab.attribution import Attribution
    from olab.datanet import Datanet
    from olab.ledger import Ledger, TxResult
    from olab.pipeline.config import RunConfig
    from olab.pipeline.reproduction import ReproduceReport
    from olab.pipeline.verification import VerifyReport
    from olab.progress import Progress
    from olab.rewards import Rewards


class Run:
    """A run directory: `manifest` (typed), `config`, and lazily `.datanet`, `.adapters`, `.attribution`,
    `.rewards`, `.targets`; `.records()`, `.contributors()`, `.names()`, `.behaviours()`, `.ledger()`, `.claim()`, `.report()`,
    `.verify()`, `.reproduce()`.

    The config's relative paths (the Datanet, the embedded chain's state) are rooted in `project_dir`, the
    folder the run was made in, whatever the working directory is now. `datanet_path` points at the Datanet
    when it moved since the run (the manifest records where it was).
    """

    def __init__(self, path: str | Path, manifest: Manifest, *, datanet_path: str | Path | None = None) -> None:
        self.dir = Path(path)
        self.layout = RunLayout(self.dir)
        self.manifest = manifest
        self._datanet_path = datanet_path
        self._ledger: Ledger | None = None

    @classmethod
    def open(cls, path: str | Path, *, datanet_path: str | Path | None = None) -> Run:
        """Reopen the run `olab run` wrote to `path` (a directory under runs/)."""
        layout = RunLayout(Path(path))
        if not layout.manifest.is_file():
            raise OlabError(
                f"{path} is not a run directory: it has no manifest.json (a run directory is what `olab run` "
                "writes, runs/<run id>/)"
            )
        return cls(
            layout.dir, parse_manifest(read_manifest(layout.manifest), layout.manifest), datanet_path=datanet_path
        )

    def __repr__(self) -> str:
        m = self.manifest
        return f"Run({str(self.dir)!r}, run_id={m.run_id[:18]}…, datanet={m.datanet.name} v{m.datanet.version})"

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def timings(self) -> dict[str, float]:
        return dict(self.manifest.timings)

    @cached_property
    def project_dir(self) -> Path:
        """The folder the run was made in: the config's relative paths (runs_dir, the Datanet, the chain state)
        are rooted there. It is the run directory's ancestor that holds `run.runs_dir`; the working directory
        when runs_dir is absolute or the run directory no longer sits under it."""
        runs_dir = Path(self.config.run.runs_dir)
        parent, depth = self.dir.resolve().parent, len(runs_dir.parts)
        if runs_dir.is_absolute() or ".." in runs_dir.parts or (depth and parent.parts[-depth:] != runs_dir.parts):
            return Path.cwd()
        return parent.parents[depth - 1] if depth else parent

    def in_project(self, path: str | Path) -> str | Path:
        """`path` from the run's config, rooted in `project_dir` when relative (URLs and absolute paths stay)."""
        return path if "://" in str(path) or Path(path).is_absolute() else self.project_dir / path

    @property
    def datanet_path(self) -> str | Path:
        """Where the run's Datanet is: as given to `Run.open`, else the manifest's path in the project directory."""
        return self._datanet_path if self._datanet_path is not None else self.in_project(self.manifest.datanet.path)

    @cached_property
    def config(self) -> RunConfig:
        """The resolved config the run was made with."""
        from olab.pipeline.config import RunConfig

        return RunConfig.model_validate(self.manifest.config)

    @cached_property
    def datanet(self) -> Datanet:
        """The Datanet at the version the run trained on."""
        from olab.datanet import Datanet

        return Datanet.open(self.datanet_path, version=self.manifest.datanet.version)

    @cached_property
    def adapters(self) -> list[Adapter]:
        """The fine-tuned adapters, one per ensemble member, as stored in the run directory."""
        from olab.adapters import Adapter

        return [Adapter.open(self.layout.adapter(i)) for i in range(len(self.manifest.adapter.models))]

    @cached_property
    def attribution(self) -> Attribution:
        from olab.attribution import Attribution

        return Attribution.open(self.layout.attribution)

    @cached_property
    def rewards(self) -> Rewards:
        from olab.rewards import Rewards

        return Rewards.open(self.layout.rewards)

    @cached_property
    def targets(self) -> datasets.Dataset:
        """The targets the run explained (columns text, label), as stored in the run directory."""
        if self.manifest.targets.path is None:
            raise OlabError(f"run {self.dir} predates stored targets (no targets.parquet); re-run it with `olab run`")
        return read_targets(self.dir / self.manifest.targets.path)

    def records(self) -> pd.DataFrame:
        """The training records (the Datanet version's columns, in score-row order) with each one's influence
        summed over the targets, its self-influence, its training loss under the adapters, and `harm_score`: how
        likely it is harmful under the run's `run.detector` (`olab.detection`; higher: more likely)."""
        import numpy as np

        from olab.detection import harm_scores

        if not self.layout.record_loss.is_file():
            raise OlabError(
                f"run {self.dir} has no {self.layout.record_loss.name} (made before olab kept each record's training "
                "loss); re-run it with `olab run`"
            )
        records = self.datanet.to_pandas()
        self_influence = np.asarray(self.attribution.self_influence, dtype=np.float64)
        loss = np.load(self.layout.record_loss)
        labels = list(records["label"]) if self.config.finetune.task == "classification" else None
        return records.assign(
            influence=self.attribution.record_totals(),
            self_influence=self_influence,
            training_loss=loss,
            harm_score=harm_scores(self_influence, loss, labels, self.config.run.detector),
        )

    def behaviours(self) -> dict[str, str]:
        """{address: behaviour} of the contributors the Datanet simulated (empty for real contributors)."""
        return {c["address"]: c["behaviour"] for c in self.datanet.contributors if c.get("behaviour")}

    def names(self) -> dict[str, str]:
        """{address: display name} of every contributor and share holder, as the CLI, report and widgets show them."""
        from olab.names import display_names

        return display_names(self.datanet.contributors) | self.rewards.names

    def contributors(self) -> pd.DataFrame:
        """Per-contributor influence (the attribution's contributor table over the Datanet's records) and the
        signals behind each payout (`olab.rewards.payout_signals`: harm owed from stake, net payout, records
        flagged as near-copies and whose records they copy, and, when publishing settled the run's stake, the
        stake each contributor's harmful records owed and what was slashed)."""
        from olab.rewards import payout_signals

        t = self.datanet.table
        near = t.column("near_duplicate_of").to_pylist() if "near_duplicate_of" in t.column_names else [None] * len(t)
        return payout_signals(
            self.attribution.by_contributor(self.datanet),
            self.rewards,
            t.column("contributor").to_pylist(),
            t.column("record_id").to_pylist(),
            near,
            self.manifest.chain.settlement,
        )

    def ledger(self) -> Ledger:
        """The ledger the run was published on, attached to the very contracts it used (one per Run object;
        `ledger.with_signer(i)` signs as another account)."""
        if self._ledger is None:
            from olab.pipeline.publish import ledger_for

            self._ledger = ledger_for(self)
        return self._ledger

    def claim(self, contributor: str) -> TxResult:
        """Pay `contributor` its share of the run's reward pool, with the share and proof from rewards.json."""
        share = self.rewards.share(contributor)
        return self.ledger().claim(self.run_id, share.contributor, share.share_ppm, share.proof)

    def report(self) -> Path:
        """(Re)write report.html from the run's artifacts; returns its path."""
        from olab.pipeline.reporting import write_report

        write_report(self)
        return self.layout.report

    def verify(self, *, chain: bool = True) -> VerifyReport:
        """Recompute every hash of the run and check the chain (see `olab verify`)."""
        from olab.pipeline.verification import verify

        return verify(self.dir, chain=chain, datanet_path=self.datanet_path)

    def reproduce(
        self, *, attest: bool = False, work_dir: str | Path | None = None, progress: bool | Progress = True
    ) -> ReproduceReport:
        """Re-run the experiment from its recorded config and Datanet version and compare (see `olab reproduce`)."""
        from olab.pipeline.reproduction import reproduce

        return reproduce(self, attest=attest, work_dir=work_dir, progress=progress)


def read_manifest(path: Path) -> Any:
    """The JSON of a run's manifest.json, or a VerificationError naming the broken link (missing, unreadable,
    not JSON): the run's chain of hashes starts there."""
    try:
        return read_json(path)
    except FileNotFoundError:
        raise VerificationError(f"manifest: {path} is missing, so no link of the run can be checked") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise VerificationError(f"manifest: {path} is not readable JSON ({type(e).__name__}: {e})") from None


def parse_manifest(data: Any, source: str | Path = "manifest.json") -> Manifest:
    """The typed manifest, or a VerificationError naming the fields that are missing or malformed."""
    try:
        return Manifest.model_validate(data)
    except PydanticValidationError as e:
        raise VerificationError(format_validation_error(e, str(source))) from None


# a run's stored target columns; `reference` holds the reference answers when `label` holds generated ones
TARGET_COLUMNS = ("text", "label", "reference")


def write_targets(ds: Any, path: Path) -> None:
    """Store the targets (text, label, and `reference` when the labels are generated answers) as Parquet,
    by temp+rename."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from olab.io import atomic_write_bytes

    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({c: list(ds[c]) for c in TARGET_COLUMNS if c in ds.column_names}), buffer)
    atomic_write_bytes(path, buffer.getvalue().to_pybytes())


def read_targets(path: Path) -> datasets.Dataset:
    import datasets
    import pyarrow.parquet as pq

    return datasets.Dataset(pq.read_table(path))
