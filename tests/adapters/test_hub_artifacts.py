"""An adapter's `adapter/` folder is a Hugging Face repo: PEFT's Auto classes load it with its label names, its
tokenizer travels with it, its card says how to load it, and its recorded base is one `from_pretrained` loads."""

from __future__ import annotations

import socket

import pytest
import torch
from datasets import Dataset
from peft import AutoPeftModelForSequenceClassification, PeftConfig
from transformers import AutoTokenizer

from olab.adapters import finetune, resolve_base_model
from olab.adapters.hub import model_card
from olab.adapters.models import loadable_base
from olab.errors import OlabError

pytestmark = pytest.mark.slow

LABELS = ["World", "Sports", "Business", "Sci/Tech"]
TEXTS = ["Stocks rally as the central bank holds rates", "Late goal wins the cup final", "New chip doubles speed"]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    """A short fine-tune of the packaged MiniLM, named by its local directory: the base is available locally."""
    rows = [f"{word} report number {i}" for i in range(32) for word in [LABELS[i % 4].lower()]]
    train = Dataset.from_dict({"text": rows, "label": [LABELS[i % 4] for i in range(32)]})
    cfg = {"base_model": resolve_base_model("all-MiniLM-L6-v2"), "epochs": 1, "batch_size": 8, "max_length": 16}
    return finetune(train, LABELS, cfg, tmp_path_factory.mktemp("hub") / "minilm", progress=False)


def test_auto_peft_loads_the_adapter_dir_and_predicts_with_its_label_names(adapter):
    hf = AutoPeftModelForSequenceClassification.from_pretrained(adapter.adapter_dir, **adapter.label_maps).eval()
    assert hf.config.id2label == dict(enumerate(LABELS)) and hf.config.label2id["Sci/Tech"] == 3
    ours, tokenizer = adapter.load()
    batch = AutoTokenizer.from_pretrained(adapter.adapter_dir)(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        got, want = hf(**batch).logits, ours(**tokenizer(TEXTS, padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(got, want)  # the same head and LoRA weights, the same tokenizer
    assert [hf.config.id2label[i] for i in got.argmax(-1).tolist()] == [LABELS[i] for i in want.argmax(-1).tolist()]


def test_auto_peft_without_the_label_maps_cannot_fit_the_trained_head(adapter):
    """Why the README's call passes `adapter.label_maps`: PEFT rebuilds the base from `base_model_name_or_path`
    alone, with a 2-class head, and the trained 4-class head does not fit (huggingface/peft#554). Should PEFT
    learn to size the head, this fails, and the README and `Adapter.label_maps` can drop the arguments."""
    with pytest.raises(RuntimeError, match=r"size mismatch .*torch.Size\(\[4, 384\]\).*torch.Size\(\[2, 384\]\)"):
        AutoPeftModelForSequenceClassification.from_pretrained(adapter.adapter_dir)


def test_the_adapter_dir_is_a_hub_repo(adapter):
    files = {p.name for p in adapter.adapter_dir.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "README.md"} <= files
    assert PeftConfig.from_pretrained(adapter.adapter_dir).base_model_name_or_path == resolve_base_model(
        "all-MiniLM-L6-v2"
    )
    card = (adapter.adapter_dir / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: peft" in card and "'Sci/Tech': 3" in card
    assert card == model_card(
        adapter.provenance["base_model"]["name"], "classification", LABELS, adapter.provenance["config"], {}
    )  # deterministic: rebuilt from what the adapter records, byte for byte


def test_aliases_record_their_hub_id_or_their_name_never_a_cache_path():
    assert loadable_base("all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert loadable_base("smollm2-135m-instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert loadable_base("tiny-gpt2") == "tiny-gpt2" and loadable_base("gpt2") == "gpt2"  # never a cache path


def test_push_to_hub_reports_an_unreachable_hub(adapter):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OlabError, match=r"could not push .*adapter to the Hub model 'someone/minilm-lora'"):
        adapter.push_to_hub("someone/minilm-lora", token="hf_test", endpoint=f"http://127.0.0.1:{port}")
