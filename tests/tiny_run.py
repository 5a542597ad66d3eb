"""The tiny project config end-to-end tests run with `olab run`: a synthetic Datanet, the in-code tiny GPT-2 as a
causal LM, one member, small features. Importable from every test folder (tests/ is on sys.path)."""

TINY = {
    "run": {"models": 1},
    "datanet": {
        "name": "tiny",
        "source": {"kind": "synthetic", "n": 48, "seed": 0},
        "contributors": {"mode": "simulate", "n": 3, "seed": 0},
    },
    "targets": {"source": {"kind": "synthetic", "n": 8, "seed": 1}},
    "finetune": {
        "base_model": "tiny-gpt2",
        "task": "causal_lm",
        "epochs": 1,
        "batch_size": 8,
        "max_length": 32,
        "lora": {"target_modules": ["c_attn"]},
        "checkpoints": 1,
    },
    "attribution": {"proj_dim": 256, "batch_size": 8, "max_length": 32},
}


def deep_update(base: dict, patch: dict) -> dict:
    out = dict(base)
    for k, v in patch.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
