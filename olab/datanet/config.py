"""The `datanet` config section: where the records come from, how they map to text/label/contributor,
how contributors are simulated, and what the owner accepts. Defaults live here and nowhere else.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from olab.config import Section
from olab.ledger.config import OPENLEDGER_TESTNET_CHAIN_ID

FORMATS = ("csv", "tsv", "json", "parquet")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class SourceConfig(Section):
    """A `datasets` source: a hub id, local/fsspec files, or the built-in synthetic generator."""

    kind: Literal["hub", "files", "synthetic"] = Field(
        "synthetic",
        description="hub: `datasets.load_dataset(path, name, revision=...)`; files: local paths, globs or "
        "fsspec URLs in `data_files`; synthetic: olab's offline generator (`generator`, `n`, `seed`).",
    )
    path: str | None = Field(None, description="(hub) The dataset id on the Hugging Face Hub, e.g. 'ag_news'.")
    name: str | None = Field(None, description="(hub) The dataset's config name, if it has several.")
    revision: str | None = Field(None, description="(hub) A git revision (tag, branch or commit) to pin.")
    data_files: str | list[str] | dict[str, str | list[str]] | None = Field(
        None, description="(files) A path, glob or fsspec URL, a list of them, or a mapping split -> files."
    )
    format: Literal["csv", "tsv", "json", "parquet"] | None = Field(
        None, description="(files) File format; inferred from the extension when omitted. tsv is csv with tabs."
    )
    column_names: list[str] | None = Field(
        None, description="(files, csv/tsv) Column names for files without a header row."
    )
    split: str = Field("train", description="Which split to read.")
    max_records: int | None = Field(None, ge=1, description="Keep at most this many records (after shuffling).")
    shuffle_seed: int | None = Field(None, description="Shuffle the records with this seed before `max_records`.")
    n: int = Field(1000, ge=1, description="(synthetic) How many records to generate.")
    seed: int = Field(0, description="(synthetic) The generator's seed; the same seed gives the same records.")
    generator: Literal["news", "instructions"] = Field(
        "news",
        description="(synthetic) news: labelled headlines in four topics (classification); instructions: "
        "questions with one checkable short answer (arithmetic, unit conversions, capitals) as prompt/response "
        "records (instruction tuning, task causal_lm).",
    )

    @model_validator(mode="after")
    def _required_per_kind(self) -> SourceConfig:
        if self.kind == "hub" and not self.path:
            raise ValueError("source.kind 'hub' needs source.path (a dataset id such as 'ag_news')")
        if self.kind == "files":
            if not self.data_files:
                raise ValueError("source.kind 'files' needs source.data_files (a path, glob or fsspec URL)")
            if self.format is None:
                self.resolved_format()  # raises when it cannot be inferred
        return self

    def resolved_format(self) -> str:
        """The file format: `format`, or the one the first data file's extension implies."""
        if self.format is not None:
            return self.format
        files = self.data_files
        if isinstance(files, dict):
            files = next(iter(files.values()), None)
        first = files[0] if isinstance(files, list) and files else files
        suffix = PurePosixPath(str(first or "")).suffix.lower()
        if suffix not in _EXTENSIONS:
            raise ValueError(
                f"cannot infer source.format from {first!r} (extension {suffix or 'none'!r}); "
                f"set source.format to one of {', '.join(FORMATS)}"
            )
        return _EXTENSIONS[suffix]


class ColumnsConfig(Section):
    """Which source columns hold the record's fields (renamed to text, label, contributor, id).

    Instruction records (prompt, response) take the text and label slots: the prompt is stored as the record's
    `text` and the response as its `label`, so the record hash commits to both (see olab.datanet.records).
    """

    text: str = Field("text", description="The column holding the record's text.")
    label: str = Field("label", description="The column holding the label (class-label ints become their names).")
    prompt: str | None = Field(
        None, description="(instruction records) The column holding the prompt; stored as the record's text."
    )
    response: str | None = Field(
        None, description="(instruction records) The column holding the response; stored as the record's label."
    )
    contributor: str | None = Field(
        None,
        description="The column naming each record's contributor (a name or a 0x address); "
        "needed when contributors.mode is 'column'.",
    )
    id: str | None = Field(None, description="A column of unique record ids; default: ids r000000, r000001, ...")
    label_names: list[str] | dict[str, str] | None = Field(
        None,
        description="Names for the label column's values: a list names the values 0, 1, 2, ... in order "
        "(e.g. [negative, positive] for 0/1 labels), a mapping names values one by one ({0: negative, 1: positive}). "
        "The names are the labels everywhere after loading: training, the adapter's id2label, the report. "
        "A run's targets use the Datanet's names unless targets.columns.label_names says otherwise.",
    )

    @field_validator("label_names", mode="before")
    @classmethod
    def _names_as_strings(cls, v: Any) -> Any:
        """YAML reads `{0: negative}` with int keys; the label column's values are compared as strings."""
        return {str(k): v for k, v in v.items()} if isinstance(v, dict) else v

    @field_validator("label_names")
    @classmethod
    def _distinct_names(cls, v: list[str] | dict[str, str] | None) -> list[str] | dict[str, str] | None:
        names = list(v.values()) if isinstance(v, dict) else v
        if names is not None and (not names or len(set(names)) != len(names) or not all(n.strip() for n in names)):
            raise ValueError(f"label_names must be distinct, non-empty names, got {v!r}")
        return v

    def name_of_label(self) -> dict[str, str] | None:
        """{label value as a string: its name}, or None when the values are the labels."""
        if self.label_names is None:
            return None
        if isinstance(self.label_names, dict):
            return dict(self.label_names)
        return {str(i): name for i, name in enumerate(self.label_names)}


class BehaviourConfig(Section):
    """An injected behaviour of one simulated contributor (ground truth for experiments and teaching)."""

    contributor: int = Field(0, ge=0, description="Index of the simulated contributor (0 .. n-1).")
    kind: Literal["clean", "label_noise", "near_duplicate_spam", "paraphrase", "off_topic"] = Field(
        "clean",
        description="label_noise: flip labels to another label; near_duplicate_spam: replace records with "
        "small perturbations of other records; paraphrase: replace records with loose rewrites (three word "
        "edits) of records already there, its own or others'; off_topic: replace texts with text unrelated "
        "to any label.",
    )
    rate: float = Field(0.0, ge=0.0, le=1.0, description="Fraction of that contributor's records affected.")


class ContributorsConfig(Section):
    """Who contributed each record: from a column, or simulated contributors with deterministic keys."""

    mode: Literal["column", "simulate"] = Field(
        "simulate",
        description="column: read columns.contributor (0x addresses kept, names mapped to keyless addresses); "
        "simulate: n contributors with keys derived from seed.",
    )
    n: int = Field(8, ge=1, description="(simulate) Number of contributors.")
    seed: int = Field(0, description="(simulate) Seed for the contributors' keys, the assignment and behaviours.")
    strategy: Literal["round_robin", "random", "contiguous", "skewed"] = Field(
        "round_robin",
        description="(simulate) round_robin: record i -> i mod n; random: uniform; contiguous: equal blocks in "
        "order; skewed: random with weights 1/(k+1)^skew.",
    )
    skew: float = Field(1.0, gt=0.0, description="(simulate, skewed) Exponent of the contributors' weights.")
    behaviours: list[BehaviourConfig] = Field(
        default_factory=list, description="(simulate) Injected behaviours; contributors not listed are clean."
    )
    names: bool = Field(
        False,
        description="(column) Accept contributor values that are names rather than 0x addresses; each maps to a "
        "keyless address nobody can sign or claim for. Off: a name is rejected with its row.",
    )

    @model_validator(mode="after")
    def _behaviours_fit(self) -> ContributorsConfig:
        seen: set[int] = set()
        for i, b in enumerate(self.behaviours):
            if self.mode != "simulate":
                raise ValueError("contributors.behaviours needs contributors.mode 'simulate'")
            if b.contributor >= self.n:
                raise ValueError(
                    f"contributors.behaviours.{i}.contributor is {b.contributor}, but contributors are 0..{self.n - 1}"
                )
            if b.contributor in seen:
                raise ValueError(f"contributors.behaviours.{i}: contributor {b.contributor} already has a behaviour")
            seen.add(b.contributor)
        return self


class NearDuplicateConfig(Section):
    """Near-copies of accepted records (MinHash LSH candidates, exact word-set Jaccard decides): what the owner
    does with them.

    Defaults measured on the simulated spam (near-copies: one word inserted, dropped, repeated or swapped;
    paraphrases: three such edits): >= 98% of each caught on the quickstart, the gaming quickstart and AG News,
    < 1% of clean AG News records flagged (tests/datanet/test_neardup.py prints every figure).
    """

    policy: Literal["credit_original", "reject", "off"] = Field(
        "credit_original",
        description=(
            "credit_original: accept a near-copy with near_duplicate_of = the earliest accepted record of its "
            "cluster, whose contributor gets the copy's credit; reject: reject it naming that original; off: no check."
        ),
    )
    threshold: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Jaccard similarity of two records' word sets at or above which one is a near-copy.",
    )
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations: more, a finer similarity estimate.")
    ngram: int = Field(1, ge=1, le=5, description="Word n-grams hashed besides the words themselves (1: words only).")


class ValidationConfig(Section):
    """Record validation rules (each rejected record is logged with its rule and reason)."""

    min_chars: int = Field(1, ge=1, description="Shortest accepted text, in characters after stripping whitespace.")
    max_chars: int = Field(5000, ge=1, description="Longest accepted text, in characters.")
    reject_duplicates: bool = Field(
        True, description="Reject texts equal (after Unicode NFKC, case folding, whitespace collapsing) to another."
    )
    near_duplicates: NearDuplicateConfig = Field(
        default_factory=NearDuplicateConfig, description="Near-copies of accepted records and the owner's policy."
    )


class DatanetConfig(Section):
    """A Datanet: its name and storage, its source, the column mapping, contributors and owner policy."""

    name: str = Field("quickstart", description="The Datanet's name (letters, digits, . _ -); also its directory.")
    root_dir: str = Field(
        "datanets", description="Directory or fsspec URL holding Datanets; this one is root_dir/name."
    )
    source: SourceConfig = Field(default_factory=SourceConfig, description="Where the records come from.")
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig, description="Column mapping of the source.")
    labels: list[str] | None = Field(
        None, description="The label set, in order; default: the sorted unique labels of the source."
    )
    contributors: ContributorsConfig = Field(
        default_factory=ContributorsConfig, description="How records get their contributor addresses."
    )
    validation: ValidationConfig = Field(default_factory=ValidationConfig, description="Record validation rules.")
    policy: Literal["auto_accept", "review"] = Field(
        "auto_accept",
        description="auto_accept: valid signed contributions become a new version at once; review: they wait "
        "as pending until the owner approves or rejects them.",
    )
    chain_id: int = Field(
        OPENLEDGER_TESTNET_CHAIN_ID, ge=1, description="Chain id in the contributions' EIP-712 signature domain."
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"name must be 1-100 letters, digits, '.', '_' or '-' (starting with one of the first two), got {v!r}"
            )
        return v

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError(f"labels must be a non-empty list without repeats, got {v!r}")
        return v

    @model_validator(mode="after")
    def _column_mode_needs_column(self) -> DatanetConfig:
        if self.contributors.mode == "column" and not self.columns.contributor:
            raise ValueError("contributors.mode 'column' needs columns.contributor (the column naming contributors)")
        if self.validation.min_chars > self.validation.max_chars:
            raise ValueError(
                f"validation.min_chars ({self.validation.min_chars}) exceeds validation.max_chars ({self.validation.max_chars})"
            )
        return self

    @property
    def instructions(self) -> bool:
        """Whether the records are instructions (the prompt in the text slot, the response in the label slot)
        rather than labelled examples: a prompt/response column mapping or the synthetic instruction generator."""
        mapped = self.columns.prompt is not None or self.columns.response is not None
        return mapped or (self.source.kind == "synthetic" and self.source.generator == "instructions")

    @property
    def path(self) -> str:
        """Where this Datanet lives: root_dir/name (a local path or an fsspec URL)."""
        return self.root_dir.rstrip("/") + "/" + self.name
