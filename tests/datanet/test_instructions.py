"""Instruction Datanets: the offline generator's answers are right and its questions unique, prompt/response
records map into the record commitment, and the simulated behaviours carry over (a wrong-answer contributor
is label noise on responses, recorded as ground truth)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from olab.datanet import Datanet
from olab.datanet.config import ColumnsConfig, SourceConfig
from olab.datanet.records import record_hash
from olab.datanet.sources import load_source
from olab.datanet.synth_instructions import CAPITALS, CONVERSIONS, KINDS, generate

OPS = {"plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}


def expected(prompt: str) -> str:
    """The correct answer, worked out independently of the generator's tables where possible."""
    if m := re.fullmatch(r"What is (\d+) (plus|minus|times) (\d+)\?", prompt):
        return str(OPS[m[2]](int(m[1]), int(m[3])))
    if m := re.fullmatch(r"How many (\w+) are in (\d+) (\w+)\?", prompt):
        factor = next(f for big, small, f in CONVERSIONS if (big, small) == (m[3], m[1]))
        return str(int(m[2]) * factor)
    country = next(c for c in CAPITALS if prompt.endswith(f" {c}?") or prompt.endswith(f" {c}."))
    return CAPITALS[country]


def test_generator_answers_are_correct_unique_balanced_and_deterministic():
    ds = generate(300, seed=4)
    assert all(r == expected(p) for p, r in zip(ds["prompt"], ds["response"], strict=True))
    assert len(set(ds["prompt"])) == 300
    assert {k: ds["kind"].count(k) for k in KINDS} == dict.fromkeys(KINDS, 60)
    assert generate(300, seed=4)["prompt"] == ds["prompt"] and generate(300, seed=5)["prompt"] != ds["prompt"]


def test_instruction_sources_take_the_text_and_label_slots(tmp_path: Path):
    synthetic = load_source(SourceConfig(kind="synthetic", generator="instructions", n=10, seed=4))
    ds = generate(10, seed=4)
    assert synthetic["text"] == ds["prompt"] and synthetic["label"] == ds["response"]
    path = tmp_path / "alpaca.jsonl"
    path.write_text("".join(json.dumps({"instruction": p, "output": r}) + "\n" for p, r in [("Say hi.", "Hi!")]))
    local = load_source(SourceConfig(kind="files", data_files=str(path)), ColumnsConfig(prompt="instruction",
                                                                                       response="output"))  # fmt: skip
    assert (local["text"], local["label"]) == (["Say hi."], ["Hi!"])


def test_wrong_answer_contributor_is_ground_truth_and_hashes_commit_to_prompt_and_response(tmp_path: Path):
    cfg = {
        "name": "qa", "root_dir": str(tmp_path),
        "source": {"kind": "synthetic", "generator": "instructions", "n": 60, "seed": 0},
        "contributors": {"mode": "simulate", "n": 3, "seed": 0,
                         "behaviours": [{"contributor": 2, "kind": "label_noise", "rate": 0.5}]},
    }  # fmt: skip
    dn = Datanet.build(cfg, progress=False)
    df = dn.to_pandas()
    wrong = df[df["injected"].notna()]
    assert len(wrong) == 10 and set(wrong["contributor"]) == {dn.contributors[2]["address"]}
    assert all(r != expected(p) for p, r in zip(wrong["text"], wrong["label"], strict=True))  # wrong answers
    assert all(o == expected(p) for p, o in zip(wrong["text"], wrong["original_label"], strict=True))
    clean = df[df["injected"].isna()]
    assert all(r == expected(p) for p, r in zip(clean["text"], clean["label"], strict=True))
    row = df.iloc[0]
    assert row["record_hash"] == record_hash(row["record_id"], row["text"], row["label"])
    assert dn.verify()["ok"]
