"""Fuzz: generated files (CSV/TSV/JSONL/JSON/Parquet with random schemas, encodings, types and sizes) and
generated configs go through the real entry points. Every case ends in a valid Datanet that verifies or in
one olab error (never a traceback), and a failed build leaves no version and no temporary behind
(issue #13, item 7). One test runs them all, checks the case count and prints how many distinct errors it saw.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from olab.config import parse_overrides, validate
from olab.datanet import Datanet
from olab.datanet.storage import Storage
from olab.errors import OlabError
from olab.pipeline.config import RunConfig

pytestmark = pytest.mark.xdist_group("fuzz")

FILE_CASES, CONFIG_CASES, OVERRIDE_CASES = 200, 600, 300
SEEN: Counter[str] = Counter()  # normalised error message -> count
CASES: Counter[str] = Counter()  # kind -> cases run


def cases(n: int) -> settings:
    """Hypothesis settings for `n` cases: no deadline (builds do I/O), derandomized so CI is repeatable."""
    return settings(
        max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
    )


# --- values and tables ----------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
cells = st.one_of(
    texts,
    st.sampled_from(["World", "Sports", "pos", "neg", "", " ", "nan", "NaN", "null", "0x123", "0x" + "ab" * 20]),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
)
column_names = st.sampled_from(["text", "label", "contributor", "id", "sentence", "y", "", "text ", "Text"])


@st.composite
def tables(draw) -> tuple[list[str], list[list[Any]]]:
    names = draw(st.lists(column_names, min_size=0, max_size=4))
    if draw(st.booleans()):
        names = ["text", "label", *names]
    rows = draw(st.lists(st.lists(cells, min_size=len(names), max_size=len(names)), max_size=12))
    return names, rows


def _csv_cell(v: Any) -> str:
    return "" if v is None else str(v)


def encode(fmt: str, names: list[str], rows: list[list[Any]], encoding: str, garbage: bytes) -> bytes:
    """The bytes of a file in `fmt` (possibly broken on purpose: a foreign encoding or trailing garbage)."""
    if fmt in ("csv", "tsv"):
        sep = "," if fmt == "csv" else "\t"
        lines = [sep.join(names)] + [sep.join(_csv_cell(v) for v in row) for row in rows]
        data = ("\n".join(lines) + "\n").encode(encoding, errors="replace")
    elif fmt in ("jsonl", "json"):
        records = [dict(zip(names, row, strict=False)) for row in rows]
        if fmt == "jsonl":
            data = "".join(json.dumps(r) + "\n" for r in records).encode(encoding, errors="replace")
        else:
            data = json.dumps(records).encode(encoding, errors="replace")
    else:
        try:
            cols = {
                n or f"c{i}": [None if isinstance(v, list) else str(v) for v in col]
                for i, (n, col) in enumerate(
                    zip(names, zip(*rows, strict=True) if rows else [[] for _ in names], strict=True)
                )
            }
            buf = io.BytesIO()
            pq.write_table(pa.table(cols), buf)
            data = buf.getvalue()
        except (pa.ArrowException, ValueError):
            data = b"PAR1 not really"
    return data + garbage


def normalise(message: str, tmp: str) -> str:
    message = message.replace(tmp, "<tmp>")
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    return re.sub(r"\d+", "#", message)


def outcome(kind: str, fn, tmp: str) -> Any:
    """Run one case: its value, or None after an olab error (recorded); anything else fails the test."""
    CASES[kind] += 1
    try:
        return fn()
    except OlabError as e:
        message = str(e)
        assert message.strip(), f"an empty error message from {type(e).__name__}"
        assert "Traceback" not in message
        SEEN[normalise(message, tmp)] += 1
        return None


# --- files ---------------------------------------------------------------------------------------


@cases(FILE_CASES)
@given(
    table=tables(),
    fmt=st.sampled_from(["csv", "tsv", "jsonl", "json", "parquet"]),
    suffix=st.sampled_from(["same", "csv", "txt", "none"]),
    encoding=st.sampled_from(["utf-8", "utf-8", "latin-1", "utf-16"]),
    garbage=st.sampled_from([b"", b"", b"\xff\xfe\x00garbage", b"\x00" * 5, b'{"text": ']),
    empty=st.booleans(),
    mode=st.sampled_from(["simulate", "column"]),
    declared_names=st.booleans(),
    labels=st.one_of(st.none(), st.lists(st.sampled_from(["World", "pos", "neg", "1"]), min_size=1, max_size=3)),
)
def generated_files_build_a_valid_datanet_or_fail_cleanly(
    table, fmt, suffix, encoding, garbage, empty, mode, declared_names, labels
):
    names, rows = table
    tmp = tempfile.mkdtemp(prefix="olab-fuzz-")
    try:
        ext = {"same": fmt, "csv": "csv", "txt": "txt", "none": ""}[suffix]
        path = Path(tmp) / (f"data.{ext}" if ext else "data")
        path.write_bytes(b"" if empty else encode(fmt, names, rows, encoding, garbage))
        config: dict[str, Any] = {
            "name": "fuzz",
            "root_dir": str(Path(tmp) / "datanets"),
            "source": {"kind": "files", "data_files": str(path), "format": fmt if suffix != "same" else None},
            "contributors": {"mode": mode, "n": 2},
        }
        if mode == "column":
            config["columns"] = {"contributor": "contributor"}
            config["contributors"]["names"] = declared_names
        if labels is not None:
            config["labels"] = sorted(set(labels))
        dn = outcome("file", lambda: Datanet.build(config, progress=False), tmp)
        store = Path(tmp) / "datanets" / "fuzz"
        if dn is None:
            assert not store.exists() or Storage(store).versions() == [], "a failed build left a version"
        else:
            assert dn.verify()["ok"] and len(dn) > 0
        leftovers = [p for p in Path(tmp).rglob("*") if p.name.endswith((".tmp", ".old"))]
        assert leftovers == [], f"temporaries left behind: {leftovers}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- configs -------------------------------------------------------------------------------------

scalars = st.one_of(st.integers(-3, 10**6), st.floats(allow_nan=True), st.text(max_size=12), st.booleans(), st.none())
KEYS = {
    "run": ["name", "runs_dir", "models", "publish", "report_targets", "nonsense"],
    "datanet": ["name", "root_dir", "labels", "policy", "chain_id", "source", "columns", "contributors", "validation"],
    "targets": ["source", "columns"],
    "finetune": ["base_model", "epochs", "learning_rate", "batch_size", "max_length", "lora", "seed", "task"],
    "attribution": ["proj_dim", "batch_size", "max_length", "checkpoints", "damping", "engine"],
    "rewards": ["policy", "temperature", "min_share"],
    "chain": ["backend", "rpc_url", "chain_id", "key_env", "preset", "timeout_s"],
    "bogus": ["x"],
}


@st.composite
def configs(draw) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(scalars, st.lists(scalars, max_size=3)))
    out: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(KEYS)), unique=True, max_size=6)):
        body = {
            k: draw(
                st.one_of(
                    scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=5), scalars, max_size=2)
                )
            )
            for k in draw(st.lists(st.sampled_from(KEYS[section]), unique=True, max_size=4))
        }
        out[section] = draw(st.one_of(st.just(body), scalars)) if draw(st.integers(0, 5)) == 0 else body
    return out


@cases(CONFIG_CASES)
@given(data=configs(), as_file=st.booleans())
def generated_configs_validate_or_fail_with_a_config_error(data, as_file):
    tmp = tempfile.gettempdir()
    if as_file:
        from olab.pipeline.config import load_config

        path = Path(tempfile.mkdtemp(dir=tmp)) / "config.yaml"
        path.write_text(yaml.safe_dump(data) if isinstance(data, dict) else repr(data))
        outcome("config", lambda: load_config(path), tmp)
    else:
        outcome(
            "config",
            lambda: validate(RunConfig, data) if isinstance(data, dict) else validate(RunConfig, {"x": data}),
            tmp,
        )


@cases(OVERRIDE_CASES)
@given(pairs=st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30), max_size=4))
def generated_set_overrides_parse_or_fail_with_a_config_error(pairs):
    tmp = tempfile.gettempdir()

    def apply() -> Any:
        return validate(RunConfig, {"datanet": {"name": "x"}, "targets": {}, **parse_overrides(pairs)})

    outcome("override", apply, tmp)


def test_fuzz_files_configs_and_overrides_give_only_clear_errors():
    """Every generated case (files, configs, --set lists) in one test, so one process counts them all."""
    generated_files_build_a_valid_datanet_or_fail_cleanly()
    generated_configs_validate_or_fail_with_a_config_error()
    generated_set_overrides_parse_or_fail_with_a_config_error()
    total = sum(CASES.values())
    assert total >= 1000, CASES
    print(f"\nfuzz: {total} cases {dict(CASES)}, {len(SEEN)} distinct (normalised) error messages")
    for message, n in SEEN.most_common(8):
        print(f"  {n:4d}  {message[:140]}")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.csv", b"", "EmptyDataError: No columns to parse from file"),
        ("latin.csv", "text,label\ncaf\xe9 au lait,a\n".encode("latin-1"), "(the file is not UTF-8 text"),
        ("empty.json", b"[]", "the file holds no records"),
        ("broken.jsonl", b'{"text": "a", "label": "b"}\n{"text": ', "could not load json files"),
    ],
)
def test_unreadable_files_are_one_clear_error_naming_the_cause(tmp_path, name, content, expected):
    (tmp_path / name).write_bytes(content)
    config = {
        "name": "bad",
        "root_dir": str(tmp_path / "dn"),
        "source": {"kind": "files", "data_files": str(tmp_path / name)},
    }
    with pytest.raises(OlabError, match=re.escape(expected)) as err:
        Datanet.build(config, progress=False)
    assert str(tmp_path / name) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("pair", ['chain.rpc_url="', "run.name=\x1f", "run.name=="])
def test_set_values_that_are_not_yaml_stay_text(pair):
    key, raw = pair.split("=", 1)
    assert parse_overrides([pair]) == {key.split(".")[0]: {key.split(".")[1]: raw}}
