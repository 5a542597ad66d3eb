"""The config of `olab run`: one section per stage, each defined next to its stage's code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from olab import detection
from olab.adapters.config import FinetuneConfig
from olab.attribution.config import AttributionConfig
from olab.config import Section, load
from olab.datanet.config import ColumnsConfig, DatanetConfig, SourceConfig
from olab.ledger.config import ChainConfig
from olab.rewards import RewardsConfig


class RunSection(Section):
    name: str = Field("olab-run", description="A label for the run, shown in the report and CLI output.")
    runs_dir: str = Field("runs", description="Where run directories (runs/<run id>/) and the stage cache live.")
    models: int = Field(
        1, ge=1, description="Independently trained adapters (seeds seed, seed+1, ...) whose attributions are averaged."
    )
    publish: bool = Field(True, description="Publish the Datanet version and the run commitment to the chain.")
    report_targets: int = Field(3, ge=0, description="How many sample targets the report shows proponents for.")
    detector: str = Field(
        detection.DEFAULT,
        description="How training records are ranked as likely harmful (the records' harm_score and the report's "
        f"ROC view): one of {', '.join(detection.METHODS)} (olab/detection.py says how each was measured).",
    )

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: str) -> str:
        return detection.check_method(value)


class TargetsConfig(Section):
    """The examples whose predictions attribution explains (a held-out set, not part of the Datanet)."""

    source: SourceConfig = Field(description="Where the targets come from (same options as datanet.source).")
    columns: ColumnsConfig = Field(
        default_factory=ColumnsConfig, description="Which columns hold the text and the label."
    )
    generate: bool = Field(
        False,
        description="(causal_lm) Explain the adapter's own greedy answers to the targets' prompts instead of their "
        "reference responses; the report then shows the generated answers.",
    )
    max_new_tokens: int = Field(32, ge=1, description="(generate) Longest generated answer, in tokens.")


class RunConfig(Section):
    run: RunSection = Field(default_factory=RunSection, description="Run-wide settings.")
    datanet: DatanetConfig = Field(description="The Datanet to build (or reuse, when unchanged) and train on.")
    targets: TargetsConfig = Field(description="The examples attribution explains.")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig, description="LoRA fine-tuning.")
    attribution: AttributionConfig = Field(default_factory=AttributionConfig, description="TRAK attribution.")
    rewards: RewardsConfig = Field(default_factory=RewardsConfig, description="From influence to reward shares.")
    chain: ChainConfig = Field(default_factory=ChainConfig, description="Where the commitment is published.")

    @model_validator(mode="after")
    def _targets_share_the_label_names(self) -> RunConfig:
        """Targets come from the Datanet's label set, so they name their label values the same way by default."""
        if self.targets.columns.label_names is None and self.datanet.columns.label_names is not None:
            self.targets.columns.label_names = self.datanet.columns.label_names
        return self


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a run config; a bad config fails here, naming the field, before any work."""
    return load(RunConfig, path, overrides)
