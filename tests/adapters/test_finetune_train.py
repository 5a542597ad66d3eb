"""`finetune` on the in-code tiny GPT-2: determinism, the causal-LM path, checkpoints, events, atomic output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from datasets import ClassLabel, Dataset, Features, Value
from ft_helpers import LABELS, agnews, tiny_cfg
from safetensors import safe_open

from olab.adapters import Adapter, FinetuneConfig, finetune
from olab.adapters.train import evaluate, read_examples
from olab.errors import OlabError, VerificationError
from olab.hashing import sha256_dir, sha256_file


@pytest.fixture(scope="module")
def train_set():
    return agnews("dev", 0, 32)


def test_same_config_and_data_give_bit_identical_adapters(train_set, tmp_path):
    runs = [finetune(train_set, LABELS, tiny_cfg(), tmp_path / f"run{i}", progress=False) for i in range(2)]
    assert runs[0].hash == runs[1].hash
    assert [c.name for c in runs[0].checkpoints] == [c.name for c in runs[1].checkpoints]
    assert all(sha256_dir(a) == sha256_dir(b) for a, b in zip(runs[0].checkpoints, runs[1].checkpoints, strict=True))
    assert [e["loss"] for e in runs[0].metrics["train"]] == [e["loss"] for e in runs[1].metrics["train"]]
    other_seed = finetune(train_set, LABELS, tiny_cfg(seed=1), tmp_path / "seed1", progress=False)
    assert other_seed.hash != runs[0].hash


def test_adapters_hash_alike_across_processes_with_different_hash_seeds(tmp_path):
    """PEFT keeps target_modules as a set; its written order must not follow the process's string-hash seed."""
    script = (
        "import sys\n"
        "from datasets import Dataset\n"
        "from olab.adapters import finetune\n"
        "rows = Dataset.from_dict({'text': ['good match', 'bad loss'] * 8, 'label': ['a', 'b'] * 8})\n"
        "cfg = {'base_model': 'tiny-gpt2', 'epochs': 1, 'batch_size': 8, 'max_length': 16, 'checkpoints': 1,\n"
        "       'lora': {'target_modules': ['c_attn', 'c_proj', 'c_fc']}}\n"
        "print(finetune(rows, ['a', 'b'], cfg, sys.argv[1], progress=False).hash)\n"
    )
    hashes = set()
    for seed in ("1", "2", "3"):
        env = os.environ | {"PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / seed)], env=env, capture_output=True, text=True, check=True
        )
        hashes.add(out.stdout.strip().splitlines()[-1])
    assert len(hashes) == 1, hashes


def test_adapters_hash_alike_wherever_the_model_cache_lives(tmp_path, monkeypatch):
    """The alias's base model is built in $OLAB_CACHE_DIR; no file of the adapter may name that directory."""
    rows = Dataset.from_dict({"prompt": ["What is 2 plus 3?", "Name a colour."] * 4, "response": ["5", "Red"] * 4})
    cfg = tiny_cfg(task="causal_lm", epochs=1, checkpoints=1)
    adapters = []
    for cache in ("cache-a", "elsewhere/cache-b"):
        monkeypatch.setenv("OLAB_CACHE_DIR", str(tmp_path / cache))
        adapters.append(finetune(rows, [], cfg, tmp_path / cache / "adapter", progress=False))
    assert adapters[0].provenance["base_model"]["source"] != adapters[1].provenance["base_model"]["source"]
    assert adapters[0].hash == adapters[1].hash
    recorded = json.loads((adapters[0].adapter_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert recorded == "tiny-gpt2"  # the alias (built in code, on no Hub), which olab resolves on load
    assert adapters[1].load()[0] is not None


def test_classification_head_trains_and_is_saved_with_the_adapter(train_set, tmp_path):
    adapter = finetune(train_set, LABELS, tiny_cfg(), tmp_path / "a", progress=False)
    with safe_open(adapter.adapter_dir / "adapter_model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert any(".score." in k for k in keys), keys  # GPT-2's head, kept via PEFT modules_to_save
    assert any("lora_A" in k for k in keys) and any("lora_B" in k for k in keys)
    config = json.loads((adapter.adapter_dir / "adapter_config.json").read_text())
    # an alias with no Hub id records its name, not the cache directory it was built in
    assert config["base_model_name_or_path"] == "tiny-gpt2"
    assert config["task_type"] == "SEQ_CLS" and config["target_modules"] == ["c_attn"]
    assert sorted(p.name for p in adapter.adapter_dir.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_causal_lm_learns_and_reloads_to_the_same_eval_loss(tmp_path):
    train, held_out = agnews("dev", 0, 64), agnews("dev", 200, 32)
    cfg = FinetuneConfig(**tiny_cfg(task="causal_lm", epochs=3, max_length=64, lora={"target_modules": "all-linear"}))
    adapter = finetune(train.remove_columns("label"), [], cfg, tmp_path / "lm", eval=held_out, progress=False)
    assert adapter.task == "causal_lm" and adapter.labels == []
    losses = [e["loss"] for e in adapter.metrics["train"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 1.0, losses
    evals = adapter.metrics["eval"]
    assert [e["epoch"] for e in evals] == [1, 2, 3] and evals[-1]["perplexity"] < evals[0]["perplexity"]
    model, tok = adapter.load()
    assert type(model).__name__ == "PeftModelForCausalLM" and not model.training
    again = evaluate(model, tok, list(held_out["text"]), None, cfg, device=model.device)
    assert again["loss"] == pytest.approx(evals[-1]["loss"], rel=1e-5)
    first, _ = adapter.load(adapter.checkpoints[0])
    assert evaluate(first, tok, list(held_out["text"]), None, cfg, device=first.device)["loss"] > again["loss"]


def test_checkpoints_are_spread_evenly_and_the_last_is_the_final_adapter(train_set, tmp_path):
    events = []
    cfg = tiny_cfg(epochs=3, checkpoints=3, batch_size=4)  # 32 rows: 8 steps an epoch, 24 in all
    held_out = agnews("dev", 100, 8)
    adapter = finetune(train_set, LABELS, cfg, tmp_path / "a", eval=held_out, progress=events.append)
    assert [c.name for c in adapter.checkpoints] == ["ckpt-8", "ckpt-16", "ckpt-24"]
    assert adapter.metrics["checkpoint_steps"] == [8, 16, 24] and adapter.metrics["total_steps"] == 24
    assert sha256_dir(adapter.adapter_dir) == adapter.provenance["adapter_hash"]
    for name in ("adapter_config.json", "adapter_model.safetensors"):  # the final adapter is the last checkpoint
        assert sha256_file(adapter.checkpoints[-1] / name) == sha256_file(adapter.adapter_dir / name)
    assert adapter.provenance["checkpoints"] == {c.name: sha256_dir(c) for c in adapter.checkpoints}
    assert len({sha256_dir(c) for c in adapter.checkpoints}) == 3
    # the events a notebook draws its live loss curve from
    assert {e.stage for e in events} == {"fine-tune"} and (events[0].kind, events[0].total) == ("start", 24)
    steps = [e for e in events if e.kind == "step"]
    assert [e.done for e in steps] == list(range(1, 25)) and all(e.total == 24 for e in steps)
    lrs = [e.metrics["lr"] for e in steps]
    peak = lrs.index(max(lrs))
    assert lrs[0] < lrs[peak] and 0 < peak < 23 and lrs[-1] < lrs[peak]  # linear warmup, then decay
    assert steps[-1].metrics["epoch"] == pytest.approx(3.0)
    assert [e.done for e in events if e.kind == "checkpoint"] == [8, 16, 24]
    assert [e.metrics["epoch"] for e in events if e.kind == "eval"] == [1, 2, 3]
    assert events[-1].kind == "end" and events[-1].message == f"{tmp_path / 'a'} · {adapter.hash}"
    assert events[-1].metrics["seconds"] >= steps[-1].time - events[0].time > 0
    # files others put beside the adapter (a cache's metadata) do not change its hash ...
    (adapter.path / ".olab-stage.json").write_text("{}")
    assert Adapter.open(adapter.path).hash == adapter.hash
    # ... but every checkpoint is covered (attribution ensembles over them), not only the final adapter
    weights = next(adapter.checkpoints[0].glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    assert Adapter.open(adapter.path).hash != adapter.hash


def test_eval_fraction_holds_out_rows_and_records_the_split(train_set, tmp_path):
    adapter = finetune(train_set, LABELS, tiny_cfg(eval_fraction=0.25), tmp_path / "a", progress=False)
    split = adapter.split
    assert len(split["train"]) == 24 and len(split["eval"]) == 8
    assert sorted(split["train"] + split["eval"]) == list(range(32))
    assert adapter.provenance["data"]["eval_source"] == "split" and adapter.provenance["data"]["train_examples"] == 24
    assert 0 <= adapter.metrics["eval"][-1]["accuracy"] <= 1
    none = finetune(train_set, LABELS, tiny_cfg(eval_fraction=0), tmp_path / "b", progress=False)
    assert none.metrics["eval"] == [] and none.split["eval"] == [] and none.provenance["data"]["eval_source"] == "none"


def test_classlabel_columns_map_ids_to_names():
    features = Features({"text": Value("string"), "label": ClassLabel(names=LABELS)})
    ds = Dataset.from_dict({"text": ["a", "b", "c"], "label": [3, 0, 3]}, features=features)
    assert read_examples(ds, LABELS, "classification", "train") == (["a", "b", "c"], [3, 0, 3])
    reordered = ["Sci/Tech", "World", "Sports", "Business"]
    assert read_examples(ds, reordered, "classification", "train")[1] == [0, 1, 0]


def test_a_failed_run_leaves_nothing_behind(train_set, tmp_path):
    seen = []

    def stop_at_step_3(event):
        seen.append(event)
        if event.kind == "step" and event.done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(train_set, LABELS, tiny_cfg(), tmp_path / "a", progress=stop_at_step_3)
    assert list(tmp_path.iterdir()) == []
    assert (seen[-1].kind, seen[-1].done, seen[-1].message) == ("fail", 3, "KeyboardInterrupt")


def test_out_dir_rules(train_set, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    finetune(train_set, LABELS, tiny_cfg(epochs=1, checkpoints=1), empty, progress=False)  # a staging dir is fine
    with pytest.raises(OlabError, match=r"already exists and is not empty; .*overwrite=True"):
        finetune(train_set, LABELS, tiny_cfg(), empty, progress=False)
    replaced = finetune(
        train_set, LABELS, tiny_cfg(epochs=1, checkpoints=1, seed=5), empty, overwrite=True, progress=False
    )
    assert replaced.provenance["seed"] == 5 and Adapter.open(empty).hash == replaced.hash


def test_loading_over_different_base_weights_is_refused(train_set, tmp_path):
    adapter = finetune(train_set, LABELS, tiny_cfg(epochs=1, checkpoints=1), tmp_path / "a", progress=False)
    adapter.provenance["base_model"]["weight_hash"] = "sha256:" + "0" * 64
    with pytest.raises(VerificationError, match=r"trained on weights hashing to sha256:0000"):
        adapter.load()
    with pytest.raises(OlabError, match="not a fine-tuned adapter directory"):
        Adapter.open(tmp_path)


def test_a_datanet_brings_its_labels_and_provenance(tmp_path):
    from olab.datanet import Datanet

    dn = Datanet.build(
        {
            "name": "tiny",
            "root_dir": str(tmp_path / "datanets"),
            "source": {"kind": "synthetic", "n": 24, "seed": 0},
            "contributors": {"mode": "simulate", "n": 2, "seed": 0},
        },
        progress=False,
    )
    adapter = finetune(dn, cfg=tiny_cfg(epochs=1, checkpoints=1), out_dir=tmp_path / "a", progress=False)
    assert adapter.labels == dn.labels and adapter.provenance["data"]["train_examples"] + len(adapter.split["eval"]) == 24
    assert adapter.provenance["datanet"] == {"name": "tiny", "version": dn.version, "root": dn.root}
    with pytest.raises(OlabError, match=r"pass `labels` \(the label names in id order"):
        finetune(dn.to_hf(), cfg=tiny_cfg(), out_dir=tmp_path / "b", progress=False)
    with pytest.raises(OlabError, match=r"pass `out_dir`"):
        finetune(dn, cfg=tiny_cfg(), progress=False)
