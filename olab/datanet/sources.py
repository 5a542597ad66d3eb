"""Load records from any `datasets` source and normalise them to the columns text, label (+ contributor, id).

Used for a Datanet's records and for a run's target (eval) sets alike.
"""

from __future__ import annotations

import csv
import math
from typing import Any

import datasets

from olab.datanet.config import ColumnsConfig, SourceConfig
from olab.errors import ConfigError, DatanetError

_BUILDERS = {"csv": "csv", "tsv": "csv", "json": "json", "parquet": "parquet"}


def load_source(
    source: SourceConfig,
    columns: ColumnsConfig | None = None,
    dataset: datasets.Dataset | datasets.DatasetDict | None = None,
) -> datasets.Dataset:
    """The source's records as a Dataset with string columns `text`, `label` and, when mapped, `contributor`, `id`.

    `dataset` (an in-memory Dataset or DatasetDict) takes the place of `source.kind`'s loader; the split,
    shuffle and `max_records` settings still apply.
    """
    columns = columns or ColumnsConfig()
    ds = _select_split(dataset, source.split) if dataset is not None else _load(source)
    if source.shuffle_seed is not None:
        ds = ds.shuffle(seed=source.shuffle_seed)
    if source.max_records is not None and len(ds) > source.max_records:
        ds = ds.select(range(source.max_records))
    return normalise_columns(ds, columns)


def _load(source: SourceConfig) -> datasets.Dataset:
    if source.kind == "synthetic" and source.generator == "instructions":
        from olab.datanet import synth_instructions

        ds = synth_instructions.generate(source.n, source.seed)
        return ds.rename_columns({"prompt": "text", "response": "label"})  # instruction records' slots
    if source.kind == "synthetic":
        from olab.datanet import synth

        return synth.generate(source.n, source.seed)
    if source.kind == "hub":
        what = f"hub dataset {source.path!r}" + (f" (config {source.name!r})" if source.name else "")
        kwargs: dict[str, Any] = {"revision": source.revision} if source.revision else {}
        return _call(what, lambda: datasets.load_dataset(source.path, source.name, split=source.split, **kwargs))
    fmt = source.resolved_format()
    kwargs = {"data_files": source.data_files, "split": source.split}
    if fmt == "tsv":
        kwargs |= {"delimiter": "\t", "quoting": csv.QUOTE_NONE}  # TSV has no quoting: keep quotes in the text
    if source.column_names:
        if fmt not in ("csv", "tsv"):
            raise ConfigError(f"source.column_names applies to csv/tsv files only, but source.format is {fmt!r}")
        kwargs["column_names"] = source.column_names
    return _call(f"{fmt} files {source.data_files!r}", lambda: datasets.load_dataset(_BUILDERS[fmt], **kwargs))


def _call(what: str, load: Any) -> datasets.Dataset:
    """Run a `load_dataset` call (split already selected), turning its failures into one DatanetError."""
    try:
        return load()
    except Exception as e:  # datasets wraps the builders' errors (pyarrow, pandas, json, codecs) in its own
        cause = root_cause(e)
        shown = str(cause).strip().splitlines()[0][:300] if str(cause).strip() else "no detail"
        if isinstance(cause, StopIteration) or "corresponds to no data" in shown:
            shown = "the file holds no records"
        hint = " (the file is not UTF-8 text: save it as UTF-8)" if isinstance(cause, UnicodeError) else ""
        raise DatanetError(f"could not load {what}: {type(cause).__name__}: {shown}{hint}") from e


def root_cause(e: BaseException) -> BaseException:
    """The error behind `datasets`' DatasetGenerationError wrappers (what the user can act on)."""
    while isinstance(e, datasets.exceptions.DatasetGenerationError) and e.__cause__ is not None:
        e = e.__cause__
    return e


def _select_split(ds: datasets.Dataset | datasets.DatasetDict, split: str) -> datasets.Dataset:
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise ConfigError(f"source.split is {split!r}, but the source's splits are {sorted(ds)}")
        return ds[split]
    if not isinstance(ds, datasets.Dataset):
        raise DatanetError(f"expected a datasets.Dataset or DatasetDict, got {type(ds).__name__}")
    return ds


def normalise_columns(ds: datasets.Dataset, columns: ColumnsConfig) -> datasets.Dataset:
    """Rename the mapped columns to text/label/contributor/id, drop the rest, turn labels into strings."""
    mapping = {
        "text": columns.prompt or columns.text,
        "label": columns.response or columns.label,
        "contributor": columns.contributor,
        "id": columns.id,
    }
    mapping = {k: v for k, v in mapping.items() if v}
    for key, col in mapping.items():
        if col not in ds.column_names:
            raise ConfigError(f"columns.{key}: the source has no column {col!r}; its columns are {ds.column_names}")
    label_feature = ds.features[mapping["label"]]
    raw = ds.select_columns(list(dict.fromkeys(mapping.values()))).to_dict()  # columnar: fast even for 100k rows
    out: dict[str, list[Any]] = {}
    for key, col in mapping.items():
        values = raw[col]
        if key == "label" and isinstance(label_feature, datasets.ClassLabel) and columns.label_names is None:
            values = [label_feature.int2str(v) if v is not None and v >= 0 else None for v in values]
        elif key == "label":
            values = label_strings(values, col, mapped=columns.label_names is not None)
        elif key != "text":
            values = [None if v is None else str(v) for v in values]
        out[key] = list(values)
    names = columns.name_of_label()
    if names is not None:
        out["label"] = _named(out["label"], names)
    features = datasets.Features({k: datasets.Value("string") for k in out})
    if not _all_strings(out["text"]):
        features["text"] = ds.features[mapping["text"]]  # mistyped texts are kept as they are for validation to reject
    return datasets.Dataset.from_dict(out, features=features)


def label_strings(values: list[Any], column: str, mapped: bool = False) -> list[str | None]:
    """Labels as strings; missing and NaN labels become None (validation rejects them with that reason).

    Labels of more than one type (strings and numbers, say) would silently become different classes
    ("3" beside "World"), so unless `columns.label_names` maps them (`mapped`) they are an error naming
    the rows of each type.
    """
    out: list[str | None] = []
    rows: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(None)
            continue
        rows.setdefault(type(v).__name__, []).append(i)
        out.append(str(v))
    if len(rows) > 1 and not mapped:
        shown = "; ".join(
            f"{kind} in rows {', '.join(map(str, idx[:5]))}{', ...' if len(idx) > 5 else ''}"
            for kind, idx in rows.items()
        )
        raise DatanetError(
            f"columns.label: the label column {column!r} mixes types ({shown}); give every label the same type "
            "(all strings, or all integers) so one class is not split in two, or map the values to names "
            "with columns.label_names"
        )
    return out


def _named(values: list[str | None], names: dict[str, str]) -> list[str | None]:
    """Label values replaced by their names; a value without one is a config error, not a silent label."""
    unnamed = sorted({v for v in values if v is not None and v not in names})
    if unnamed:
        raise ConfigError(
            f"columns.label_names names the label values {sorted(names)}, but the label column also holds "
            f"{unnamed[:10]}; give every value a name (a list names 0, 1, 2, ...; a mapping names any value)"
        )
    return [None if v is None else names[v] for v in values]


def _all_strings(values: list[Any]) -> bool:
    return all(v is None or isinstance(v, str) for v in values)
