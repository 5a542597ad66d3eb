"""Typed configuration: YAML files validated by the same pydantic models the code uses.

Each stage defines its own section model next to its code (`olab.datanet.config.DatanetConfig`, ...);
this module holds the shared base class and the loader that turns validation failures into one
clear message per bad field: its dotted path, the value given, and what is allowed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from olab.errors import ConfigError
from olab.hashing import hash_json
from olab.secrets import looks_like_private_key, redact

T = TypeVar("T", bound=BaseModel)
SECRET_FIELDS = ("key", "password", "secret", "token")  # a config field whose path has these: its value is not echoed
_PLAIN_NUMBER = re.compile(r"^[-+]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$|^[-+]?\.[0-9]+$")


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, values are checked on assignment."""

    # hide_input_in_errors: pydantic's own messages never echo a value (it may be a key or a credentialed URL);
    # `validate` shows values itself, redacted
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, protected_namespaces=(), hide_input_in_errors=True
    )


def format_validation_error(err: PydanticValidationError, source: str = "config") -> str:
    lines = [f"{source} is invalid ({err.error_count()} problem{'s' if err.error_count() != 1 else ''}):"]
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            lines.append(f"  - {path}: unknown key (check its spelling against the documented keys)")
            continue
        given = e.get("input")
        shown = repr(given) if not isinstance(given, dict) else "{...}"
        if looks_like_private_key(str(given)) or any(w in path.lower() for w in SECRET_FIELDS):
            shown = "a value not shown"
        lines.append(f"  - {path}: {e['msg']} (got {shown[:120]})")
    return "\n".join(lines)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set `a.b.c=value` inside nested dicts (used for CLI `--set` overrides)."""
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot set {dotted!r}: {k!r} is not a mapping")
    node[keys[-1]] = value


def parse_override_value(raw: str) -> Any:
    """A `--set` value as YAML, except that a number not written in plain decimal (0x..., 0o..., 1_000,
    007, 1:30) stays the text it was: hex keys, addresses and ids are strings, not YAML integers."""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:  # not a YAML scalar (a stray quote, a control character): the text as given
        return raw
    if isinstance(value, int | float) and not isinstance(value, bool) and not _PLAIN_NUMBER.match(raw.strip()):
        return raw.strip()
    return value


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Turn `["a.b=1", "c=x"]` into a nested dict; values are parsed as YAML scalars (`parse_override_value`)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {redact(pair)!r} must look like key.path=value")
        key, raw = pair.split("=", 1)
        set_dotted(out, key.strip(), parse_override_value(raw))
    return out


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's mapping, its relative `data_files` paths resolved against the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, not {type(data).__name__}")
    return anchor_data_files(data, path.absolute().parent)


def anchor_data_files(node: Any, base: Path) -> Any:
    """`node` with every relative local path under a `data_files` key joined to `base`: a config names its
    data files relative to itself, wherever it is run from. URLs (`s3://...`) and absolute paths stay."""
    if isinstance(node, list):
        return [anchor_data_files(v, base) for v in node]
    if not isinstance(node, dict):
        return node
    return {k: _anchor(v, base) if k == "data_files" else anchor_data_files(v, base) for k, v in node.items()}


def _anchor(files: Any, base: Path) -> Any:
    if isinstance(files, str):
        local = "://" not in files and not Path(files).expanduser().is_absolute()
        return os.path.normpath(base / files) if local else files
    if isinstance(files, list):
        return [_anchor(f, base) for f in files]
    if isinstance(files, dict):
        return {split: _anchor(f, base) for split, f in files.items()}
    return files


def validate(model: type[T], data: dict[str, Any], source: str = "config") -> T:
    try:
        return model.model_validate(data)
    except PydanticValidationError as e:
        raise ConfigError(format_validation_error(e, source)) from None


def load(model: type[T], path: str | Path, overrides: dict[str, Any] | None = None) -> T:
    """Read YAML at `path`, apply `overrides`, validate against `model`, or raise ConfigError."""
    data = deep_merge(read_yaml(path), overrides or {})
    return validate(model, data, source=str(path))


def config_hash(cfg: BaseModel) -> str:
    """The hash of a resolved config (all defaults filled in)."""
    return hash_json(cfg.model_dump(mode="json"))
